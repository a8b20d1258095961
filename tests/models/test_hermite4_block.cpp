// MechanisticBlock with the hermite4 formulation (what a model or driver gets from
// --formulation hermite4): the block's solution agrees with the exact one at fourth-order
// accuracy, eps is zero, and a training loop through the block (coefficients and learned steps)
// recovers the ODE behind the data.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/tensor.h"
#include "models/mechanistic_block.h"
#include "solvers/neurlp.h"
#include "solvers/neurlp_training_util.h"

namespace mech::models {
namespace {

const TensorOptions f64 = TensorOptions().dtype(DType::Float64);

TEST(Hermite4Block, SolvesTheDampedOscillatorThroughTheBlock) {
  auto block = std::make_shared<MechanisticBlock>(
      MechanisticBlockOptions().order(2).formulation(parse_formulation("hermite4")));
  const int T = 201;
  const double h = 0.05;
  Tensor coefficients = from_vector(std::vector<double>{4.0, 0.4, 1.0}, {1, 1, 1, 3}, f64);
  Tensor rhs = zeros({1, 1, T}, f64);
  Tensor iv = from_vector(std::vector<double>{1.0, 0.0}, {1, 1, 1, 2}, f64);
  MechanisticSolution out = block->forward_with_steps(coefficients, rhs, iv, full({1, T - 1, 1}, h, f64));
  const auto u = out.value().to_vector<double>();
  const double wd = 2.0 * std::sqrt(0.99);
  double error = 0.0;
  for (int t = 0; t < T; ++t) {
    const double time = t * h;
    error = std::max(error, std::abs(u[t] - std::exp(-0.2 * time) * (std::cos(wd * time) + 0.2 / wd * std::sin(wd * time))));
  }
  EXPECT_LE(error, 2e-6);   // measured 5.1e-7 at h = 0.05 (mech-convergence); mnn gives ~6e-3
  EXPECT_EQ(out.eps.to_vector<double>()[0], 0.0);
}

TEST(Hermite4Block, TrainingThroughTheBlockRecoversTheEquation) {
  // Data from u'' + 0.3 u' + 2 u = 0 on a grid of T = 60 points with h = 0.1; learn the constant
  // coefficients (a, b) from a wrong start (0.1, 1.2), with the grid's steps fixed.
  auto block = std::make_shared<MechanisticBlock>(
      MechanisticBlockOptions().order(2).formulation(Formulation::Hermite4));
  const neurlp_training::Oscillator ode(60, 0.1);
  neurlp_training::expect_training_recovers_coefficients(
      [&](const Tensor& a, const Tensor& b) {
        // The block takes coefficients (B,E,D,K) constant in time.
        const Tensor coefficients = stack({b, a, ones({1}, f64)}, 0).view({1, 1, 1, 3});
        return block->forward_with_steps(coefficients, ode.rhs, ode.iv, ode.steps).value();
      },
      0.1, 1.2);
}

}  // namespace
}  // namespace mech::models
