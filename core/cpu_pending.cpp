// TEMPORARY: CPU kernels whose real implementations are being written in their own files
// (cpu_matmul.cpp, cpu_conv.cpp, cpu_index.cpp, cpu_optim.cpp). Each is removed from here as its
// file lands; this file is deleted when empty.
#include "core/cpu_kernels.h"

namespace mech::cpu {
namespace {
[[noreturn]] void pending(const char* what) { throw Error(fmt::format("{}: not implemented yet", what)); }
}  // namespace

void conv1d(const Tensor&, const Tensor&, const Tensor&, const Tensor&, std::int64_t, std::int64_t, std::int64_t,
            PaddingMode) {
  pending("conv1d");
}
void conv1d_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, std::int64_t,
                     std::int64_t, std::int64_t, PaddingMode) {
  pending("conv1d_backward");
}
void index_select(const Tensor&, std::int64_t, const Tensor&, const Tensor&) { pending("index_select"); }
void index_add(const Tensor&, std::int64_t, const Tensor&, const Tensor&) { pending("index_add"); }

}  // namespace mech::cpu
