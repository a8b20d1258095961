// Helpers shared by the model tests: run a test on one thread, and compare a loss's autograd
// gradient with float64 central finite differences at chosen entries of a parameter.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include "autograd/grad_mode.h"
#include "core/parallel.h"
#include "core/tensor.h"

namespace mech::model_tests {

// Runs the enclosing scope on one thread (the models are small; see the drivers' --threads).
struct OneThread {
  int previous = get_num_threads();
  OneThread() { set_num_threads(1); }
  ~OneThread() { set_num_threads(previous); }
};

// Float64 central finite differences of `loss` against its autograd gradient, at a few entries of
// `parameter` (flat indices), with step h. Tolerance 1e-4 relative plus 1e-8 absolute. The central
// difference is off by at most h^2/6 |f'''| (truncation) + eps/h (rounding), eps the rounding
// error of one loss evaluation, which passes through a solve of the normal equations (condition
// number squared): the step must keep both terms below the tolerance. The default h = 1e-6 holds
// for losses whose rounding stays near 1e-15; a loss that rounds more needs a larger step (see
// SineFit.GradientsMatchFiniteDifferences).
template <class LossFunction>
void expect_gradient_matches_finite_differences(const Tensor& parameter, const std::vector<std::int64_t>& indices,
                                                LossFunction loss_function, const char* name,
                                                double step = 1e-6) {
  parameter.zero_grad();
  loss_function().backward();
  ASSERT_TRUE(parameter.grad().defined()) << name;
  const std::vector<double> analytic = parameter.grad().to_vector<double>();
  Tensor flat = parameter.detach().reshape({-1});
  for (std::int64_t index : indices) {
    const double h = step;
    double original = 0.0, plus = 0.0, minus = 0.0;
    {
      NoGradGuard no_grad;
      original = flat.select(0, index).item();
      flat.select(0, index).fill_(original + h);
      plus = loss_function().item();
      flat.select(0, index).fill_(original - h);
      minus = loss_function().item();
      flat.select(0, index).fill_(original);
    }
    const double numeric = (plus - minus) / (2 * h);
    const double expected = analytic[static_cast<size_t>(index)];
    EXPECT_NEAR(expected, numeric, 1e-4 * std::abs(numeric) + 1e-8) << name << "[" << index << "]";
  }
}

}  // namespace mech::model_tests
