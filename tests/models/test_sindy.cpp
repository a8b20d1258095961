// Tests of the SINDy baseline: least squares against known solutions, derivative estimates on
// polynomials (exact) and smooth signals (order of accuracy), thresholded regression recovering
// known sparse systems, and the discovery score.
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"
#include "core/generator.h"
#include "models/datasets.h"
#include "models/sindy.h"

namespace mech::models {
namespace {

TEST(LeastSquares, RecoversAnExactSolutionForSeveralRightHandSides) {
  Generator generator(1);
  const size_t rows = 60, cols = 5, rhs = 2;
  std::vector<double> a(rows * cols), x_true(cols * rhs), b(rows * rhs, 0.0);
  for (double& value : a) value = generator.normal();
  for (double& value : x_true) value = generator.normal();
  for (size_t i = 0; i < rows; ++i)
    for (size_t k = 0; k < cols; ++k)
      for (size_t j = 0; j < rhs; ++j) b[i * rhs + j] += a[i * cols + k] * x_true[k * rhs + j];
  std::vector<double> x = least_squares(a, rows, cols, b, rhs);
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(x[i], x_true[i], 1e-12);
}

TEST(LeastSquares, MatchesTheNormalEquationsWithAResidual) {
  // Fit a line to (0, 1), (1, 2), (2, 2): the normal equations give intercept 7/6, slope 1/2.
  std::vector<double> a = {1, 0, 1, 1, 1, 2}, b = {1, 2, 2};
  std::vector<double> x = least_squares(a, 3, 2, b, 1);
  EXPECT_NEAR(x[0], 7.0 / 6.0, 1e-14);
  EXPECT_NEAR(x[1], 0.5, 1e-14);
}

TEST(LeastSquares, ReportsRankDeficiencyAndBadShapes) {
  std::vector<double> a = {1, 2, 2, 4, 3, 6}, b = {1, 2, 3};  // second column = 2 x first
  EXPECT_THROW(least_squares(a, 3, 2, b, 1), mech::Error);
  EXPECT_THROW(least_squares({1, 2}, 1, 2, {1}, 1), mech::Error);  // fewer rows than columns
  EXPECT_THROW(least_squares({1, 2, 3}, 3, 1, {1, 2}, 1), mech::Error);
}

TEST(Derivatives, FiniteDifferencesAreExactForQuadratics) {
  const double dt = 0.1;
  std::vector<double> values;
  for (int i = 0; i < 20; ++i) {
    double t = i * dt;
    values.push_back(3 * t * t - t + 2);
    values.push_back(-t * t);
  }
  std::vector<double> derivative = finite_difference_derivative(values, 2, dt);
  for (int i = 0; i < 20; ++i) {
    double t = i * dt;
    EXPECT_NEAR(derivative[i * 2], 6 * t - 1, 1e-12) << i;
    EXPECT_NEAR(derivative[i * 2 + 1], -2 * t, 1e-12) << i;
  }
}

TEST(Derivatives, FiniteDifferencesAreSecondOrder) {
  auto worst_error = [](double dt) {
    std::vector<double> values;
    for (double t = 0; t <= 2.0 + 1e-12; t += dt) values.push_back(std::sin(t));
    std::vector<double> derivative = finite_difference_derivative(values, 1, dt);
    double worst = 0;
    for (size_t i = 0; i < values.size(); ++i) worst = std::max(worst, std::fabs(derivative[i] - std::cos(i * dt)));
    return worst;
  };
  double ratio = worst_error(0.02) / worst_error(0.01);
  EXPECT_NEAR(ratio, 4.0, 0.3);
}

TEST(Derivatives, SavitzkyGolayReproducesPolynomialsUpToItsOrder) {
  const double dt = 0.05;
  const int order = 3;
  std::vector<double> values;
  auto cubic = [](double t) { return 0.5 * t * t * t - 2 * t * t + t - 4; };
  auto cubic_slope = [](double t) { return 1.5 * t * t - 4 * t + 1; };
  for (int i = 0; i < 40; ++i) values.push_back(cubic(i * dt));
  SavitzkyGolay result = savitzky_golay(values, 1, dt, 9, order);
  for (int i = 0; i < 40; ++i) {  // the shifted windows at the ends are exact too
    EXPECT_NEAR(result.smoothed[i], cubic(i * dt), 1e-10) << i;
    EXPECT_NEAR(result.derivative[i], cubic_slope(i * dt), 1e-9) << i;
  }
}

TEST(Derivatives, SavitzkyGolayBeatsFiniteDifferencesOnNoise) {
  const double dt = 0.01;
  Generator generator(9);
  std::vector<double> values, slopes;
  for (int i = 0; i < 1000; ++i) {
    values.push_back(std::sin(i * dt) + 0.01 * generator.normal());
    slopes.push_back(std::cos(i * dt));
  }
  std::vector<double> difference = finite_difference_derivative(values, 1, dt);
  SavitzkyGolay smoothed = savitzky_golay(values, 1, dt, 31, 3);
  double difference_error = 0, smoothed_error = 0;
  for (size_t i = 20; i + 20 < values.size(); ++i) {
    difference_error += std::pow(difference[i] - slopes[i], 2);
    smoothed_error += std::pow(smoothed.derivative[i] - slopes[i], 2);
  }
  // Noise 0.01 through a central difference at dt 0.01 has a standard deviation of about 0.7;
  // a 31-point cubic fit cuts it by more than an order of magnitude.
  EXPECT_LT(smoothed_error * 100, difference_error);
}

TEST(Derivatives, RejectBadWindows) {
  std::vector<double> values(20, 1.0);
  EXPECT_THROW(savitzky_golay(values, 1, 0.1, 8, 3), mech::Error);   // even
  EXPECT_THROW(savitzky_golay(values, 1, 0.1, 5, 5), mech::Error);   // order too high
  EXPECT_THROW(savitzky_golay(values, 1, 0.1, 21, 3), mech::Error);  // longer than the data
  EXPECT_THROW(finite_difference_derivative({1.0, 2.0}, 1, 0.1), mech::Error);
}

TEST(Sindy, LorenzCoefficientsInLibraryOrder) {
  PolynomialLibrary library;
  std::vector<double> xi = lorenz_coefficients(library, 10, 28, 8.0 / 3.0);
  // rows 1, x, y, z, xx, xy, xz, yy, yz, zz; columns dx, dy, dz
  std::vector<double> expected = {0, 0, 0,  -10, 28, 0, 10, -1, 0, 0, 0, -8.0 / 3.0, 0, 0, 0,
                                  0, 0, 1,  0, -1, 0,  0, 0, 0,  0, 0, 0, 0, 0, 0};
  EXPECT_EQ(xi, expected);
}

TEST(Sindy, RecoversLorenzFromExactDerivatives) {
  LorenzOptions options;
  options.length = 2000;
  options.sigma = 8, options.rho = 20, options.beta = 3;  // nothing tuned to the default values
  LorenzData data = make_lorenz(options);
  PolynomialLibrary library;
  std::vector<double> derivatives(data.clean.size());
  OdeRhs rhs = lorenz_rhs(8, 20, 3);
  for (size_t row = 0; row < options.length; ++row) {
    std::vector<double> state(data.clean.begin() + row * 3, data.clean.begin() + row * 3 + 3), slope(3);
    rhs(0.0, state, slope);
    std::copy(slope.begin(), slope.end(), derivatives.begin() + row * 3);
  }
  SindyResult result = fit_sindy(library, data.clean, derivatives, 3);
  std::vector<double> truth = lorenz_coefficients(library, 8, 20, 3);
  for (size_t i = 0; i < truth.size(); ++i) EXPECT_NEAR(result.coefficients[i], truth[i], 1e-9) << i;
  EXPECT_TRUE(result.converged);
  EXPECT_EQ(result.mask.active_count(), 7u);
  DiscoveryScore score = score_discovery(truth, result.coefficients);
  EXPECT_EQ(score.stray_terms, 0u);
  EXPECT_EQ(score.active_terms, 7u);
}

TEST(Sindy, RecoversLorenzFromSampledDataWithEitherDerivative) {
  // The whole baseline on clean samples at dt = 0.01. Measured: central differences leave 3.9%
  // on the smallest coefficient (their O(dt^2) truncation on fast Lorenz dynamics), Savitzky-Golay
  // (window 21, order 5) 0.56%; both find exactly the 7 true terms.
  LorenzData data = make_lorenz(LorenzOptions{});
  PolynomialLibrary library;
  std::vector<double> truth = lorenz_coefficients(library, 10, 28, 8.0 / 3.0);
  const size_t rows = data.times.size();
  std::vector<double> difference = finite_difference_derivative(data.noisy, 3, 0.01);
  DiscoveryScore by_difference = score_discovery(truth, fit_sindy(library, data.noisy, difference, 3).coefficients);
  EXPECT_EQ(by_difference.stray_terms, 0u);
  EXPECT_EQ(by_difference.missing_terms, 0u);
  EXPECT_LT(by_difference.max_relative_error, 0.05);
  SavitzkyGolay smoothed = savitzky_golay(data.noisy, 3, 0.01, 21, 5);
  // Leave out the ten samples at each end, where the windows are shifted off-centre.
  std::vector<double> states(smoothed.smoothed.begin() + 30, smoothed.smoothed.begin() + (rows - 10) * 3);
  std::vector<double> slopes(smoothed.derivative.begin() + 30, smoothed.derivative.begin() + (rows - 10) * 3);
  DiscoveryScore by_smoothing = score_discovery(truth, fit_sindy(library, states, slopes, 3).coefficients);
  EXPECT_EQ(by_smoothing.stray_terms, 0u);
  EXPECT_LT(by_smoothing.max_relative_error, 0.01);
  EXPECT_LT(by_smoothing.max_relative_error, by_difference.max_relative_error);
}

TEST(Sindy, ThresholdPrunesSmallTrueTermsAndRefits) {
  // y' = 2 x - 0.05 xy over random states: with threshold 0.1 the xy term is pruned and the refit
  // absorbs what it can; with threshold 0.01 both terms are found exactly.
  PolynomialLibrary library({"x", "y"}, 2);
  Generator generator(4);
  std::vector<double> states, derivatives;
  for (int i = 0; i < 200; ++i) {
    double x = generator.normal(), y = generator.normal();
    states.push_back(x), states.push_back(y);
    derivatives.push_back(2 * x - 0.05 * x * y);
  }
  SindyOptions options;
  options.threshold = 0.01;
  SindyResult exact = fit_sindy(library, states, derivatives, 1, options);
  EXPECT_NEAR(exact.coefficients[library.term_index("x")], 2.0, 1e-12);
  EXPECT_NEAR(exact.coefficients[library.term_index("xy")], -0.05, 1e-12);
  EXPECT_EQ(exact.mask.active_count(), 2u);
  options.threshold = 0.1;
  SindyResult coarse = fit_sindy(library, states, derivatives, 1, options);
  EXPECT_EQ(coarse.mask.active_count(), 1u);
  EXPECT_EQ(coarse.coefficients[library.term_index("xy")], 0.0);
  EXPECT_NEAR(coarse.coefficients[library.term_index("x")], 2.0, 0.05);
  EXPECT_GE(coarse.iterations, 1);
}

TEST(Sindy, ScoreCountsStrayAndMissingTerms) {
  std::vector<double> truth = {0, 2, -4, 0}, estimate = {0.5, 2.2, 0, 0};
  DiscoveryScore score = score_discovery(truth, estimate);
  EXPECT_EQ(score.active_terms, 2u);
  EXPECT_EQ(score.stray_terms, 1u);
  EXPECT_EQ(score.missing_terms, 1u);
  EXPECT_DOUBLE_EQ(score.max_relative_error, 1.0);
  EXPECT_DOUBLE_EQ(score.mean_relative_error, (0.1 + 1.0) / 2);
}

}  // namespace
}  // namespace mech::models
