// gradcheck: compares the tape's gradients with central finite differences, in float64.
//
//   auto result = mech::gradcheck([](const std::vector<Tensor>& in) { return mech::tanh(in[0]) * in[1]; },
//                                 {mech::randn({3, 4}, f64), mech::randn({4}, f64)});
//   EXPECT_TRUE(result.ok) << result.message;
//
// The scalar checked is L = sum(fn(inputs) * W) with a fixed random W, so every output element
// matters. Inputs must be float64; those with requires_grad set (all, if none is set) are checked.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace mech {

struct GradcheckOptions {
  double step = 1e-6;        // finite-difference step
  double atol = 1e-6;
  double rtol = 1e-4;
  GradcheckOptions& with_step(double value) { step = value; return *this; }
  GradcheckOptions& with_atol(double value) { atol = value; return *this; }
  GradcheckOptions& with_rtol(double value) { rtol = value; return *this; }
};

struct GradcheckResult {
  bool ok = true;
  double max_abs_error = 0.0;
  std::string message;  // the first mismatch: input, element, analytic and numerical values
};

GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& function,
                          const std::vector<Tensor>& inputs, const GradcheckOptions& options = {});

}  // namespace mech
