// Decoding a byte string into mech-solve's inputs and running the validation and the solve.
#include "tools/common/solve_bytes.h"

#include <algorithm>
#include <cstdint>

#include "core/error.h"
#include "core/npy.h"
#include "tools/common/solve_inputs.h"

namespace mech::tools {
namespace {

// The next chunk of `bytes` at `at`: its 2-byte length, then the bytes (clamped to what is left).
std::string_view next_chunk(std::string_view bytes, std::size_t& at) {
  if (at + 2 > bytes.size()) {
    at = bytes.size();
    return {};
  }
  const std::size_t length = static_cast<std::uint8_t>(bytes[at]) | (static_cast<std::uint8_t>(bytes[at + 1]) << 8);
  at += 2;
  const std::size_t taken = std::min(length, bytes.size() - at);
  const std::string_view chunk = bytes.substr(at, taken);
  at += taken;
  return chunk;
}

}  // namespace

std::string encode_solve_bytes(unsigned flags, const std::string& coeffs, const std::string& rhs,
                               const std::string& steps, const std::string& iv) {
  std::string bytes(1, static_cast<char>(flags));
  for (const std::string* chunk : {&coeffs, &rhs, &steps, &iv}) {
    const std::size_t length = std::min<std::size_t>(chunk->size(), 0xffff);
    bytes += static_cast<char>(length & 0xff);
    bytes += static_cast<char>(length >> 8);
    bytes += chunk->substr(0, length);
  }
  return bytes;
}

bool run_solve_bytes(std::string_view bytes) {
  if (bytes.empty()) return false;
  const unsigned flags = static_cast<std::uint8_t>(bytes[0]);
  std::size_t at = 1;
  const std::string_view coeffs = next_chunk(bytes, at), rhs = next_chunk(bytes, at), steps = next_chunk(bytes, at),
                         iv = next_chunk(bytes, at);
  try {
    SolveInputs inputs;
    inputs.coeffs = {load_npy_from_bytes(coeffs, "coeffs.npy"), "coeffs.npy"};
    inputs.rhs = {load_npy_from_bytes(rhs, "rhs.npy"), "rhs.npy"};
    inputs.steps = {load_npy_from_bytes(steps, "steps.npy"), "steps.npy"};
    if (flags & 4u) inputs.iv = {load_npy_from_bytes(iv, "iv.npy"), "iv.npy"};
    SolveSettings settings;
    settings.dtype = (flags & 1u) ? DType::Float32 : DType::Float64;
    settings.variant = (flags & 2u) ? "scalable" : "mnn";
    // grad_u needs u's shape, known only once coeffs has been validated: a first pass without it.
    SolveProblem problem = prepare_solve(inputs, settings);
    if (flags & 8u) {
      const neurlp_core::Sizes& sizes = problem.sizes;
      inputs.grad_u = {ones({problem.batch, sizes.T, sizes.D, sizes.K}), "grad_u.npy"};
      if (flags & 16u) inputs.grad_eps = {ones({problem.batch}), "grad_eps.npy"};
      problem = prepare_solve(inputs, settings);
    }
    const std::int64_t block = std::int64_t{problem.sizes.D} * problem.sizes.K;
    if (block > 64 || problem.batch * problem.sizes.T * block > (std::int64_t{1} << 16)) return false;
    run_solve(problem);
    return true;
  } catch (const Error&) {
    return false;
  }
}

}  // namespace mech::tools
