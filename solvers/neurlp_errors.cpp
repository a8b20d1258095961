// NeuRLP's size check and messages (see neurlp_errors.h).
#include "solvers/neurlp_errors.h"

#include <cmath>
#include <initializer_list>
#include <utility>

#include "core/error.h"

namespace mech::neurlp_core {

namespace {

// Total rows of a hermite4 system's A; fewer than the unknowns means M is singular whatever the
// values.
std::int64_t hermite4_row_count(const Sizes& z) {
  return 2 * std::int64_t(z.E) * z.T + std::int64_t(z.S) * z.D * z.n_iv + std::int64_t(z.T - 1) * z.D * (z.K - 1);
}

// Unravels a flat index over the named dimensions (innermost last): "[e=0, t=3]".
std::string index_text(std::int64_t flat, std::initializer_list<std::pair<const char*, std::int64_t>> dims) {
  std::int64_t values[8] = {};
  const std::size_t count = dims.size();
  std::size_t i = count;
  for (auto it = std::rbegin(dims); it != std::rend(dims); ++it) {
    values[--i] = flat % it->second;
    flat /= it->second;
  }
  std::string text = "[";
  i = 0;
  for (const auto& [name, size] : dims) {
    text += fmt::format("{}{}={}", i ? ", " : "", name, values[i]);
    ++i;
  }
  return text + "]";
}

}  // namespace

void check_sizes(const Sizes& z, const char* op) {
  const bool hermite4 = z.formulation == Formulation::Hermite4;
  MECH_CHECK(z.formulation == Formulation::Mnn || z.formulation == Formulation::Scalable || hermite4,
             "{}: unknown formulation {}", op, static_cast<int>(z.formulation));
  MECH_CHECK(z.T >= 2, "{}: expected at least 2 grid points, got T = {}", op, z.T);
  MECH_CHECK(z.D >= 1 && z.E >= 1, "{}: expected D >= 1 and E >= 1, got D = {}, E = {}", op, z.D, z.E);
  MECH_CHECK(z.K >= 2 && z.K - 1 <= kMaxOrder, "{}: expected an order P = K-1 in 1..{}, got K = {}", op, kMaxOrder,
             z.K);
  MECH_CHECK(z.block() <= kMaxRowEntries,
             "{}: expected {} <= {} unknowns per time block (an equation row touches a whole block), got D = {}, "
             "K = {}",
             op, hermite4 ? "D*(K+1)" : "D*K", kMaxRowEntries, z.D, z.K);
  MECH_CHECK(z.S >= 0 && z.S <= z.T, "{}: expected 0 <= S <= T initial grid points, got S = {}, T = {}", op, z.S,
             z.T);
  MECH_CHECK(z.n_iv >= 0 && z.n_iv < z.K, "{}: expected 0 <= n_iv < K = {} initial derivatives, got n_iv = {}", op,
             z.K, z.n_iv);
  MECH_CHECK(std::isfinite(z.gamma_alpha), "{}: gamma*alpha must be finite, got {}", op, z.gamma_alpha);
  MECH_CHECK(std::isfinite(z.equation_weight) && std::isfinite(z.initial_weight) && std::isfinite(z.smooth_weight) &&
                 z.equation_weight > 0 && z.initial_weight > 0 && z.smooth_weight > 0,
             "{}: row weights must be positive and finite, got equation {}, initial {}, smooth {}", op,
             z.equation_weight, z.initial_weight, z.smooth_weight);
  const std::int64_t unknowns = std::int64_t(z.T) * z.block();
  MECH_CHECK(unknowns < (std::int64_t(1) << 30), "{}: {} unknowns per system is too large", op, unknowns);
  if (hermite4 && hermite4_row_count(z) < unknowns)
    throw_system_error(op, 0,
                       fmt::format("the hermite4 system has {} rows for {} unknowns and is singular (E = {} "
                                   "equations, S*n_iv = {} initial values per dimension; it needs E >= D and P = {} "
                                   "initial values)",
                                   hermite4_row_count(z), unknowns, z.E, z.S * z.n_iv, z.K - 1));
}

std::string input_message(const Sizes& z, const InputStatus& status) {
  const double value = status.value;
  switch (status.fault) {
    case InputFault::Coefficient:
      return fmt::format("coeffs holds a non-finite value ({}) at {}", value,
                         index_text(status.index, {{"e", z.E}, {"t", z.T}, {"d", z.D}, {"k", z.K}}));
    case InputFault::Rhs:
      return fmt::format("rhs holds a non-finite value ({}) at {}", value,
                         index_text(status.index, {{"e", z.E}, {"t", z.T}}));
    case InputFault::InitialValue:
      return fmt::format("iv holds a non-finite value ({}) at {}", value,
                         index_text(status.index, {{"s", z.S}, {"d", z.D}, {"i", z.n_iv}}));
    case InputFault::Step:
      return fmt::format("step size at {} is {}; expected a positive finite value",
                         index_text(status.index, {{"t", z.T - 1}, {"d", z.D}}), value);
    case InputFault::Upstream:
      return fmt::format("the upstream gradient holds a non-finite value ({})", value);
    case InputFault::None: break;
  }
  return "no input fault";
}

std::string factor_message(const Sizes& z, const FactorStatus& status, bool single_precision) {
  const double tolerance = single_precision ? pivot_tolerance<float>() : pivot_tolerance<double>();
  const std::string hint = fmt::format(
      "; check that the equations and initial values determine the solution (a non-zero coefficient of the "
      "highest derivative at every t, enough initial values){}",
      single_precision ? ", and that the steps are not too small for float32 (use float64)" : "");
  if (status.status == Status::BorderNotPositive)
    return fmt::format("the eps border pivot a - w^T M_uu^{{-1}} w is {:.6g}, expected above {:.3g} x a = {:.6g} "
                       "(the eps column is numerically dependent on u){}",
                       status.pivot, tolerance, status.diagonal, hint);
  const int m = z.block(), W = z.width();
  const int t = status.index / m, d = (status.index % m) / W, k = status.index % W;
  return fmt::format("the normal matrix is {} at t={} (the Cholesky pivot of u[t={}][d={}][k={}] is {:.6g}, expected "
                     "above {:.3g} x its diagonal {:.6g}){}",
                     status.status == Status::PivotTiny ? "numerically singular" : "singular or not positive definite",
                     t, t, d, k, status.pivot, tolerance, status.diagonal, hint);
}

void throw_system_error(const char* op, std::int64_t element, const std::string& message) {
  throw SolverError(fmt::format("{}: batch element {}: {}", op, element, message), static_cast<long>(element));
}

}  // namespace mech::neurlp_core
