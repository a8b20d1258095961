// The SINDy baseline: sparse regression of estimated derivatives on a polynomial library by
// sequentially thresholded least squares (Brunton, Proctor & Kutz 2016), with derivatives from
// central finite differences or Savitzky-Golay smoothing. All linear algebra is done here on small
// dense matrices (Householder QR), without the tensor engine.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "models/polynomial_library.h"

namespace mech::models {

// ---- derivative estimates ---------------------------------------------------------------------
// values are (rows, columns) row-major samples on a uniform grid of step dt; results have the same layout.

// Second-order central differences inside, second-order one-sided differences at both ends.
std::vector<double> finite_difference_derivative(const std::vector<double>& values, size_t columns, double dt);

// Savitzky-Golay: a least-squares polynomial of `order` through each window of `window` (odd)
// samples, evaluated (with its derivative) at the sample. Near the ends the window is shifted
// inwards and the polynomial evaluated off-centre, so every sample gets an estimate.
struct SavitzkyGolay {
  std::vector<double> smoothed;    // (rows, columns)
  std::vector<double> derivative;  // (rows, columns)
};
SavitzkyGolay savitzky_golay(const std::vector<double>& values, size_t columns, double dt, size_t window, int order);

// ---- least squares ----------------------------------------------------------------------------

// Minimises ||A X - B|| column by column by Householder QR. A is (rows, cols) with rows >= cols
// and full column rank; B is (rows, rhs). Returns X (cols, rhs). Throws mech::Error when A is
// rank deficient (a zero or relatively tiny pivot of R).
std::vector<double> least_squares(const std::vector<double>& a, size_t rows, size_t cols,
                                  const std::vector<double>& b, size_t rhs);

// ---- sequentially thresholded least squares ---------------------------------------------------

struct SindyOptions {
  double threshold = 0.1;  // coefficients with |xi| < threshold are pruned, in the data's units
  int max_iterations = 20;
};

struct SindyResult {
  std::vector<double> coefficients;  // (terms, outputs) row-major; pruned entries exactly 0
  SparsityMask mask{1, 1};
  int iterations = 0;  // refits done after the first full least-squares fit
  bool converged = false;  // the active set stopped changing before max_iterations
};

// states (rows, library.variable_count()), derivatives (rows, outputs).
SindyResult fit_sindy(const PolynomialLibrary& library, const std::vector<double>& states,
                      const std::vector<double>& derivatives, size_t outputs, const SindyOptions& options = {});

// ---- scoring a discovered system against the truth --------------------------------------------

struct DiscoveryScore {
  double max_relative_error = 0.0;  // over the truth's non-zero coefficients
  double mean_relative_error = 0.0;
  size_t active_terms = 0;  // non-zero in the truth
  size_t stray_terms = 0;   // non-zero in the estimate, zero in the truth
  size_t missing_terms = 0; // zero in the estimate, non-zero in the truth
};
DiscoveryScore score_discovery(const std::vector<double>& truth, const std::vector<double>& estimate);

// The Lorenz system's coefficients in a library over (x, y, z) of degree >= 2, (terms, 3).
std::vector<double> lorenz_coefficients(const PolynomialLibrary& library, double sigma, double rho, double beta);

}  // namespace mech::models
