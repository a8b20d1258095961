// The training check the NeuRLP op tests share (the op, its hermite4 formulation, and
// MechanisticBlock in tests/models): data from u'' + 0.3 u' + 2 u = 0 with u(0) = 1, u'(0) = 0, and
// plain gradient descent on (a, b) of u'' + a u' + b u = 0 from a wrong start, through whatever
// solves it. Recovering (0.3, 2) shows the gradients reaching the coefficients are right in
// direction and size, not only that they exist.
#pragma once

#include <functional>
#include <vector>

#include <gtest/gtest.h>

#include "autograd/grad_mode.h"
#include "core/tensor.h"

namespace mech::neurlp_training {

// The op's inputs for u'' + a u' + b u = 0 on T points of step h, u(0) = 1, u'(0) = 0: coeffs
// (1,1,T,1,3) rebuilt from a and b (shape [1] each, so gradients flow back to them), rhs (1,1,T)
// zero, iv (1,1,1,2), steps (1,T-1,1).
struct Oscillator {
  int T;
  Tensor rhs, iv, steps;

  Oscillator(int points, double h)
      : T(points),
        rhs(zeros({1, 1, points}, TensorOptions().dtype(DType::Float64))),
        iv(from_vector(std::vector<double>{1, 0}, {1, 1, 1, 2}, TensorOptions().dtype(DType::Float64))),
        steps(full({1, points - 1, 1}, h, TensorOptions().dtype(DType::Float64))) {}

  // (c_0, c_1, c_2) = (b, a, 1) at every step.
  Tensor coeffs(const Tensor& a, const Tensor& b) const {
    return stack({b, a, ones({1}, TensorOptions().dtype(DType::Float64))}, 0).view({1, 1, 1, 1, 3}).expand({1, 1, T, 1, 3});
  }
};

// `solve(a, b)`: what the loss compares (a solution or one derivative of it). The target is
// solve(0.3, 2) without grad; then 400 steps of gradient descent at rate 0.5 on the mean squared
// error, from (a_start, b_start), must bring the loss below 1e-8 and (a, b) within 1e-3 of (0.3, 2).
inline void expect_training_recovers_coefficients(const std::function<Tensor(const Tensor& a, const Tensor& b)>& solve,
                                                  double a_start, double b_start) {
  const TensorOptions f64 = TensorOptions().dtype(DType::Float64);
  Tensor target;
  {
    NoGradGuard no_grad;
    target = solve(full({1}, 0.3, f64), full({1}, 2.0, f64));
  }
  Tensor a = full({1}, a_start, f64).requires_grad_(true);
  Tensor b = full({1}, b_start, f64).requires_grad_(true);
  double loss_value = 0.0;
  for (int iteration = 0; iteration < 400; ++iteration) {
    a.zero_grad();
    b.zero_grad();
    Tensor loss = mse_loss(solve(a, b), target);
    loss.backward();
    loss_value = loss.item();
    NoGradGuard no_grad;
    a.add_(a.grad(), -0.5);
    b.add_(b.grad(), -0.5);
  }
  EXPECT_LT(loss_value, 1e-8);
  EXPECT_NEAR(a.item(), 0.3, 1e-3);
  EXPECT_NEAR(b.item(), 2.0, 1e-3);
}

}  // namespace mech::neurlp_training
