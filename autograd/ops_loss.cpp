// Regression losses (mean squared error, mean absolute error), composed from differentiable ops so
// their gradients (to input and target alike) come from the tape.
#include "autograd/node.h"
#include "autograd/ops_common.h"

namespace mech {

namespace {

void check_loss(const char* op, const Tensor& input, const Tensor& target) {
  check_defined(op, input, "input");
  check_defined(op, target, "target");
  check_same_device(op, input, target);
  check_same_dtype(op, input, target);
  detail::check_float(op, input);
  // Silent broadcasting of (N, 1) against (N) is a classic bug; require equal shapes.
  MECH_CHECK(input.shape() == target.shape(), "{}: input shape {} and target shape {} must be equal", op,
             shape_str(input.shape()), shape_str(target.shape()));
}

Tensor reduce(const Tensor& elementwise, Reduction reduction) {
  switch (reduction) {
    case Reduction::None: return elementwise;
    case Reduction::Sum: return sum(elementwise);
    case Reduction::Mean: return mean(elementwise);
  }
  return elementwise;
}

}  // namespace

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  check_loss("mse_loss", input, target);
  const Tensor difference = input - target;
  return reduce(difference * difference, reduction);
}

Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  check_loss("l1_loss", input, target);
  return reduce(abs(input - target), reduction);
}

}  // namespace mech
