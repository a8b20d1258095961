// CPU real FFT kernels (fft_real_forward, fft_real_inverse of core/kernel_list.h) over the last
// dimension, one row per task, through the shared float64 plans of core/fft.h; float32 rows are
// widened to double and rounded once at the end.
#include <algorithm>
#include <vector>

#include "core/cpu_kernels.h"
#include "core/fft.h"
#include "core/parallel.h"

namespace mech::cpu {

namespace {

// Rows per task: enough that a task does ~16k butterflies' worth of work.
std::int64_t grain_for(std::int64_t n) { return std::max<std::int64_t>(1, 16384 / std::max<std::int64_t>(n, 1)); }

// R rows of n reals <-> R rows of m = n/2+1 (re, im) pairs, forward or inverse; both contiguous.
template <class T>
void transform_rows(const T* input, T* out, std::int64_t rows, std::int64_t n, bool inverse) {
  const fft::Plan& plan = fft::plan(n);
  const std::int64_t bins = n / 2 + 1;
  parallel_for(0, rows, grain_for(n), [&](std::int64_t begin, std::int64_t end) {
    std::vector<double> signal(static_cast<std::size_t>(n));
    std::vector<fft::Complex> spectrum(static_cast<std::size_t>(bins));
    for (std::int64_t r = begin; r < end; ++r) {
      if (inverse) {
        const T* pairs = input + r * bins * 2;
        for (std::int64_t k = 0; k < bins; ++k)
          spectrum[static_cast<std::size_t>(k)] = {static_cast<double>(pairs[2 * k]), static_cast<double>(pairs[2 * k + 1])};
        plan.inverse_real(spectrum.data(), signal.data());
        for (std::int64_t j = 0; j < n; ++j) out[r * n + j] = static_cast<T>(signal[static_cast<std::size_t>(j)]);
        continue;
      }
      for (std::int64_t j = 0; j < n; ++j) signal[static_cast<std::size_t>(j)] = static_cast<double>(input[r * n + j]);
      plan.forward_real(signal.data(), spectrum.data());
      for (std::int64_t k = 0; k < bins; ++k) {
        out[r * bins * 2 + 2 * k] = static_cast<T>(spectrum[static_cast<std::size_t>(k)].real());
        out[r * bins * 2 + 2 * k + 1] = static_cast<T>(spectrum[static_cast<std::size_t>(k)].imag());
      }
    }
  });
}

// Checks the operands, then runs the rows of a forward (n = input's last dim) or inverse (n =
// out's last dim) transform in the operands' dtype.
void run_rows(const char* kernel, const Tensor& input, const Tensor& out, bool inverse) {
  MECH_CHECK(input.dtype() == out.dtype() && (out.dtype() == DType::Float32 || out.dtype() == DType::Float64),
             "{}: expected float32 or float64 input and out of one dtype, got {} and {}", kernel,
             dtype_name(input.dtype()), dtype_name(out.dtype()));
  MECH_CHECK(input.is_contiguous() && out.is_contiguous(), "{}: expected contiguous input and out (shapes {} and {})",
             kernel, shape_str(input.shape()), shape_str(out.shape()));
  if (out.numel() == 0) return;
  const std::int64_t n = inverse ? out.size(-1) : input.size(-1);
  const std::int64_t rows = (inverse ? out.numel() : input.numel()) / n;
  MECH_DISPATCH_FLOAT(out.dtype(), kernel, [&]<class T>() {
    transform_rows(input.data_ptr<T>(), out.data_ptr<T>(), rows, n, inverse);
  });
}

}  // namespace

void fft_real_forward(const Tensor& input, const Tensor& out) { run_rows("cpu::fft_real_forward", input, out, false); }

void fft_real_inverse(const Tensor& input, const Tensor& out) { run_rows("cpu::fft_real_inverse", input, out, true); }

}  // namespace mech::cpu
