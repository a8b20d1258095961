// One byte string as a whole mech-solve run, for the fuzz target (tools/fuzz_mech_solve.cpp) and
// the replay of its findings (tests/tools/test_tool_robustness.cpp): the bytes are split into the
// .npy files mech-solve reads and go through the same validation and solve (solve_inputs.h).
//
// Layout: one flags byte, then four chunks (coeffs, rhs, steps, iv), each a 2-byte little-endian
// length and that many bytes (a length past the end takes what is left). Flags: bit 0 float32
// solve, bit 1 the scalable formulation, bit 2 use the iv chunk, bit 3 run backward with
// grad_u = 1 (and bit 4 grad_eps = 1).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mech::tools {

// Bytes in the layout above (for seeding a corpus).
std::string encode_solve_bytes(unsigned flags, const std::string& coeffs, const std::string& rhs,
                               const std::string& steps, const std::string& iv);

// Decodes and runs. Returns true when it solved, false when the input was refused; every refusal
// is a mech::Error caught here, anything else propagates. Problems whose block (D*K) exceeds 64 or
// that have more than 2^16 unknowns are validated but not solved (time, not correctness).
bool run_solve_bytes(std::string_view bytes);

}  // namespace mech::tools
