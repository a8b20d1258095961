// SINDy: derivative estimates (finite differences, Savitzky-Golay), Householder least squares,
// sequentially thresholded least squares, and scoring against known coefficients.
#include "models/sindy.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/error.h"

namespace mech::models {
namespace {

void check_samples(const char* op, const std::vector<double>& values, size_t columns, size_t minimum_rows, double dt) {
  MECH_CHECK(columns > 0 && values.size() % columns == 0, "{}: {} values are not rows of {} columns", op,
             values.size(), columns);
  MECH_CHECK(values.size() / columns >= minimum_rows, "{}: {} rows, need at least {}", op, values.size() / columns,
             minimum_rows);
  MECH_CHECK(std::isfinite(dt) && dt > 0, "{}: dt={} must be positive and finite", op, dt);
}

}  // namespace

// ---- derivatives --------------------------------------------------------------------------------

std::vector<double> finite_difference_derivative(const std::vector<double>& values, size_t columns, double dt) {
  check_samples("finite_difference_derivative", values, columns, 3, dt);
  size_t rows = values.size() / columns;
  std::vector<double> derivative(values.size());
  auto at = [&](size_t row, size_t column) { return values[row * columns + column]; };
  for (size_t c = 0; c < columns; ++c) {
    derivative[c] = (-3 * at(0, c) + 4 * at(1, c) - at(2, c)) / (2 * dt);
    for (size_t row = 1; row + 1 < rows; ++row) derivative[row * columns + c] = (at(row + 1, c) - at(row - 1, c)) / (2 * dt);
    derivative[(rows - 1) * columns + c] = (3 * at(rows - 1, c) - 4 * at(rows - 2, c) + at(rows - 3, c)) / (2 * dt);
  }
  return derivative;
}

SavitzkyGolay savitzky_golay(const std::vector<double>& values, size_t columns, double dt, size_t window, int order) {
  MECH_CHECK(window >= 3 && window % 2 == 1, "savitzky_golay: window {} must be odd and at least 3", window);
  MECH_CHECK(order >= 1 && static_cast<size_t>(order) < window,
             "savitzky_golay: polynomial order {} must be in [1, window - 1] for window {}", order, window);
  check_samples("savitzky_golay", values, columns, window, dt);
  const size_t rows = values.size() / columns, half = window / 2, powers = static_cast<size_t>(order) + 1;

  // Vandermonde matrix of the window on u in [-1, 1] (scaled offsets keep it well conditioned),
  // and its pseudo-inverse, which maps window samples to polynomial coefficients.
  std::vector<double> vandermonde(window * powers), identity(window * window, 0.0);
  for (size_t j = 0; j < window; ++j) {
    double u = (static_cast<double>(j) - static_cast<double>(half)) / static_cast<double>(half);
    double power = 1.0;
    for (size_t k = 0; k < powers; ++k, power *= u) vandermonde[j * powers + k] = power;
    identity[j * window + j] = 1.0;
  }
  std::vector<double> pseudo_inverse = least_squares(vandermonde, window, powers, identity, window);  // (powers, window)

  // Weights for evaluating the fit (and its derivative) at each position of the window.
  std::vector<double> value_weights(window * window), slope_weights(window * window);
  double slope_scale = 1.0 / (static_cast<double>(half) * dt);  // du/dt
  for (size_t position = 0; position < window; ++position) {
    double u = (static_cast<double>(position) - static_cast<double>(half)) / static_cast<double>(half);
    for (size_t j = 0; j < window; ++j) {
      double value = 0.0, slope = 0.0, power = 1.0;
      for (size_t k = 0; k < powers; ++k) {
        value += power * pseudo_inverse[k * window + j];
        if (k + 1 < powers) slope += static_cast<double>(k + 1) * power * pseudo_inverse[(k + 1) * window + j];
        power *= u;
      }
      value_weights[position * window + j] = value;
      slope_weights[position * window + j] = slope * slope_scale;
    }
  }

  SavitzkyGolay result;
  result.smoothed.assign(values.size(), 0.0);
  result.derivative.assign(values.size(), 0.0);
  for (size_t row = 0; row < rows; ++row) {
    // The window centred on the row, shifted inwards at the ends.
    size_t start = row < half ? 0 : std::min(row - half, rows - window);
    size_t position = row - start;
    const double* value_weight = &value_weights[position * window];
    const double* slope_weight = &slope_weights[position * window];
    for (size_t c = 0; c < columns; ++c) {
      double value = 0.0, slope = 0.0;
      for (size_t j = 0; j < window; ++j) {
        double sample = values[(start + j) * columns + c];
        value += value_weight[j] * sample;
        slope += slope_weight[j] * sample;
      }
      result.smoothed[row * columns + c] = value;
      result.derivative[row * columns + c] = slope;
    }
  }
  return result;
}

// ---- least squares ------------------------------------------------------------------------------

std::vector<double> least_squares(const std::vector<double>& a, size_t rows, size_t cols, const std::vector<double>& b,
                                  size_t rhs) {
  MECH_CHECK(cols > 0 && rhs > 0 && a.size() == rows * cols && b.size() == rows * rhs,
             "least_squares: A has {} entries for {} x {}, B has {} entries for {} x {}", a.size(), rows, cols,
             b.size(), rows, rhs);
  MECH_CHECK(rows >= cols, "least_squares: A is {} x {}; need at least as many rows as columns", rows, cols);
  // Column-major copies: every Householder update runs down columns.
  std::vector<double> r(rows * cols), y(rows * rhs);
  for (size_t i = 0; i < rows; ++i) {
    for (size_t j = 0; j < cols; ++j) r[j * rows + i] = a[i * cols + j];
    for (size_t j = 0; j < rhs; ++j) y[j * rows + i] = b[i * rhs + j];
  }
  std::vector<double> column_norm(cols, 0.0), diagonal(cols, 0.0);
  for (size_t j = 0; j < cols; ++j) {
    double sum = 0.0;
    for (size_t i = 0; i < rows; ++i) sum += r[j * rows + i] * r[j * rows + i];
    column_norm[j] = std::sqrt(sum);
    MECH_CHECK(std::isfinite(column_norm[j]), "least_squares: column {} of A is not finite", j);
  }
  std::vector<double> reflector(rows);
  for (size_t k = 0; k < cols; ++k) {
    double* column = &r[k * rows];
    double norm = 0.0;
    for (size_t i = k; i < rows; ++i) norm += column[i] * column[i];
    norm = std::sqrt(norm);
    // A pivot tiny next to the column's own size means the column is (nearly) a combination of earlier ones.
    if (norm <= 1e-12 * std::max(column_norm[k], 1e-300) || norm == 0.0)
      throw Error(fmt::format("least_squares: A ({} x {}) is rank deficient at column {}", rows, cols, k));
    double alpha = column[k] > 0 ? -norm : norm;
    for (size_t i = k; i < rows; ++i) reflector[i] = column[i];
    reflector[k] -= alpha;
    double reflector_norm2 = 0.0;
    for (size_t i = k; i < rows; ++i) reflector_norm2 += reflector[i] * reflector[i];
    auto reflect = [&](double* target) {
      double dot = 0.0;
      for (size_t i = k; i < rows; ++i) dot += reflector[i] * target[i];
      double scale = 2.0 * dot / reflector_norm2;
      for (size_t i = k; i < rows; ++i) target[i] -= scale * reflector[i];
    };
    for (size_t j = k + 1; j < cols; ++j) reflect(&r[j * rows]);
    for (size_t j = 0; j < rhs; ++j) reflect(&y[j * rows]);
    diagonal[k] = alpha;
  }
  // Back substitution R X = Q^T B.
  std::vector<double> x(cols * rhs);
  for (size_t j = 0; j < rhs; ++j) {
    for (size_t k = cols; k-- > 0;) {
      double sum = y[j * rows + k];
      for (size_t l = k + 1; l < cols; ++l) sum -= r[l * rows + k] * x[l * rhs + j];
      x[k * rhs + j] = sum / diagonal[k];
    }
  }
  return x;
}

// ---- STLSQ --------------------------------------------------------------------------------------

SindyResult fit_sindy(const PolynomialLibrary& library, const std::vector<double>& states,
                      const std::vector<double>& derivatives, size_t outputs, const SindyOptions& options) {
  const size_t variables = library.variable_count(), terms = library.term_count();
  MECH_CHECK(outputs > 0 && states.size() % variables == 0 && derivatives.size() % outputs == 0 &&
                 states.size() / variables == derivatives.size() / outputs,
             "fit_sindy: states have {} values for {} variables and derivatives {} values for {} outputs; expected the "
             "same number of rows",
             states.size(), variables, derivatives.size(), outputs);
  MECH_CHECK(options.threshold >= 0 && options.max_iterations >= 0, "fit_sindy: threshold {} and max_iterations {} must be >= 0",
             options.threshold, options.max_iterations);
  const size_t rows = states.size() / variables;
  std::vector<double> theta = library.evaluate(states);  // (rows, terms)

  SindyResult result{least_squares(theta, rows, terms, derivatives, outputs), SparsityMask(terms, outputs), 0, false};
  std::vector<double> sub_theta, target(rows);
  while (true) {
    if (result.mask.prune(result.coefficients, options.threshold) == 0) {
      result.converged = true;
      break;
    }
    if (result.iterations >= options.max_iterations) break;
    // Refit each output on its surviving terms only.
    for (size_t output = 0; output < outputs; ++output) {
      std::vector<size_t> active;
      for (size_t term = 0; term < terms; ++term)
        if (result.mask.active(term, output)) active.push_back(term);
      if (active.empty()) continue;
      sub_theta.resize(rows * active.size());
      for (size_t row = 0; row < rows; ++row) {
        for (size_t i = 0; i < active.size(); ++i) sub_theta[row * active.size() + i] = theta[row * terms + active[i]];
        target[row] = derivatives[row * outputs + output];
      }
      std::vector<double> refit = least_squares(sub_theta, rows, active.size(), target, 1);
      for (size_t i = 0; i < active.size(); ++i) result.coefficients[active[i] * outputs + output] = refit[i];
    }
    ++result.iterations;
  }
  return result;
}

// ---- scoring ------------------------------------------------------------------------------------

DiscoveryScore score_discovery(const std::vector<double>& truth, const std::vector<double>& estimate) {
  MECH_CHECK(truth.size() == estimate.size(), "score_discovery: truth has {} coefficients, estimate {}", truth.size(),
             estimate.size());
  DiscoveryScore score;
  double total = 0.0;
  for (size_t i = 0; i < truth.size(); ++i) {
    if (truth[i] != 0.0) {
      ++score.active_terms;
      double relative = std::fabs(estimate[i] - truth[i]) / std::fabs(truth[i]);
      score.max_relative_error = std::max(score.max_relative_error, relative);
      total += relative;
      if (estimate[i] == 0.0) ++score.missing_terms;
    } else if (estimate[i] != 0.0) {
      ++score.stray_terms;
    }
  }
  if (score.active_terms > 0) score.mean_relative_error = total / static_cast<double>(score.active_terms);
  return score;
}

std::vector<double> lorenz_coefficients(const PolynomialLibrary& library, double sigma, double rho, double beta) {
  MECH_CHECK(library.variable_count() == 3 && library.degree() >= 2,
             "lorenz_coefficients: need a library over 3 variables of degree >= 2, got {} variables, degree {}",
             library.variable_count(), library.degree());
  const auto& names = library.variable_names();
  auto term = [&](std::initializer_list<size_t> variables) {
    std::vector<int> powers(3, 0);
    for (size_t variable : variables) ++powers[variable];
    for (size_t index = 0; index < library.term_count(); ++index)
      if (library.exponents()[index] == powers) return index;
    throw Error(fmt::format("lorenz_coefficients: library over {}, {}, {} lacks a term", names[0], names[1], names[2]));
  };
  std::vector<double> xi(library.term_count() * 3, 0.0);
  xi[term({0}) * 3 + 0] = -sigma;
  xi[term({1}) * 3 + 0] = sigma;
  xi[term({0}) * 3 + 1] = rho;
  xi[term({1}) * 3 + 1] = -1.0;
  xi[term({0, 2}) * 3 + 1] = -1.0;
  xi[term({2}) * 3 + 2] = -beta;
  xi[term({0, 1}) * 3 + 2] = 1.0;
  return xi;
}

}  // namespace mech::models
