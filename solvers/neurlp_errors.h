// NeuRLP's input checks and error messages, one set for every formulation and device: the size
// check, the validator of one system's inputs (host-device: the CPU driver runs it on a suspect
// lane, a CUDA kernel on its own system) and the messages of its failures and of a failed
// factorisation. Every solver reports a bad system as mech::SolverError "<op>: batch element b:
// <message>", so a caller sees the same words whichever path solved it.
#pragma once

#include <cstdint>
#include <string>

#include "solvers/neurlp_cholesky.h"
#include "solvers/neurlp_rows.h"

namespace mech::neurlp_core {

// Throws mech::Error when the sizes are out of range (grid, orders, row capacity, S <= T, n_iv < K,
// weights), and mech::SolverError (batch element 0) when a hermite4 system has fewer rows than
// unknowns (its normal matrix is then singular whatever the values). `op` starts the message.
void check_sizes(const Sizes& sizes, const char* op);

// What is wrong with one system's inputs (or its upstream gradient), and where.
enum class InputFault : int { None = 0, Coefficient = 1, Rhs = 2, InitialValue = 3, Step = 4, Upstream = 5 };

struct InputStatus {
  InputFault fault = InputFault::None;
  std::int64_t index = -1;   // flat index into the offending array of the system
  double value = 0.0;        // the offending value
};

template <class T>
MECH_HOST_DEVICE inline bool is_finite_value(T x) {
  return x == x && x - x == T(0);   // false for NaN and for +-Inf (Inf - Inf is NaN)
}

// The first bad input of one system: a non-finite coefficient, rhs or initial value, or a step
// that is not finite and positive (iv may be null when S * n_iv == 0).
template <class T>
MECH_HOST_DEVICE InputStatus validate_system(const Sizes& z, const SystemInputs<T>& in) {
  const std::int64_t coeffs = std::int64_t(z.E) * z.T * z.D * z.K, rhs = std::int64_t(z.E) * z.T,
                     iv = std::int64_t(z.S) * z.D * z.n_iv, steps = std::int64_t(z.T - 1) * z.D;
  InputStatus status;
  auto scan = [&](const T* data, std::int64_t count, InputFault fault) {
    for (std::int64_t i = 0; i < count; ++i)
      if (!is_finite_value(data[i])) {
        status = {fault, i, static_cast<double>(data[i])};
        return true;
      }
    return false;
  };
  if (scan(in.coeffs, coeffs, InputFault::Coefficient) || scan(in.rhs, rhs, InputFault::Rhs)) return status;
  if (iv > 0 && in.iv && scan(in.iv, iv, InputFault::InitialValue)) return status;
  for (std::int64_t i = 0; i < steps; ++i)
    if (!(is_finite_value(in.steps[i]) && in.steps[i] > T(0))) return {InputFault::Step, i, static_cast<double>(in.steps[i])};
  return status;
}

// The first non-finite entry of one system's upstream gradient (grad_u of `count`, grad_eps).
template <class T>
MECH_HOST_DEVICE InputStatus validate_upstream(const T* grad_u, std::int64_t count, const T* grad_eps) {
  for (std::int64_t i = 0; i < count; ++i)
    if (!is_finite_value(grad_u[i])) return {InputFault::Upstream, i, static_cast<double>(grad_u[i])};
  if (grad_eps && !is_finite_value(*grad_eps)) return {InputFault::Upstream, count, static_cast<double>(*grad_eps)};
  return {};
}

// "coeffs holds a non-finite value (nan) at [e=0, t=3, d=0, k=1]", "step size at [t=2, d=0] is
// -0.1; expected a positive finite value", ...
std::string input_message(const Sizes& sizes, const InputStatus& status);

// Why the factorisation failed: the singular pivot (which unknown, its value against the
// tolerance) or the eps border, and what to check; `single_precision` adds the float32 hint.
std::string factor_message(const Sizes& sizes, const FactorStatus& status, bool single_precision);

// Throws mech::SolverError("<op>: batch element <element>: <message>", element).
[[noreturn]] void throw_system_error(const char* op, std::int64_t element, const std::string& message);

}  // namespace mech::neurlp_core
