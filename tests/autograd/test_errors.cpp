// Bad input gives mech::Error whose message names the op and the shapes involved: mismatched
// matmul, wrong dtype, wrong device, reshape to a wrong size, backward on a non-scalar without a
// gradient, and the argument checks of cat/stack/index_select/conv1d/losses.
#include <gtest/gtest.h>

#include <memory>

#include "cuda/backend.h"
#include "test_ops_helpers.h"

using namespace mech;
using namespace mech::testing;

namespace {

// Runs `action`, expects a mech::Error, and checks that its message contains every fragment.
void expect_error(const std::function<void()>& action, const std::vector<std::string>& fragments) {
  try {
    action();
  } catch (const Error& error) {
    const std::string message = error.what();
    for (const auto& fragment : fragments) {
      EXPECT_NE(message.find(fragment), std::string::npos) << "message \"" << message << "\" lacks \"" << fragment << "\"";
    }
    return;
  } catch (const std::exception& other) {
    ADD_FAILURE() << "expected mech::Error, got another exception: " << other.what();
    return;
  }
  ADD_FAILURE() << "expected mech::Error, nothing was thrown";
}

// An empty tensor whose storage claims to live on cuda:0. Creating zero bytes there touches no
// device, so the device checks can be exercised in a CPU-only build.
Tensor empty_on_cuda(const Shape& shape, DType dtype = DType::Float32) {
  EXPECT_EQ(shape_numel(shape), 0);
  auto storage = std::make_shared<Storage>(0, Device::cuda(0));
  return Tensor(storage, 0, shape, contiguous_strides(shape), dtype);
}

}  // namespace

TEST(Errors, MismatchedMatmul) {
  expect_error([] { matmul(zeros({2, 3}), zeros({4, 5})); }, {"matmul", "[2, 3]", "[4, 5]"});
  expect_error([] { matmul(zeros({3}), zeros({4})); }, {"matmul", "[3]", "[4]"});
  expect_error([] { matmul(zeros({2, 3}), zeros({2})); }, {"matmul", "[2, 3]", "[2]"});
  expect_error([] { matmul(zeros({2, 2, 3}), zeros({3, 3, 4})); }, {"matmul", "[2, 2, 3]", "[3, 3, 4]"});
  expect_error([] { matmul(zeros({}), zeros({3})); }, {"matmul", "[]", "[3]"});
}

TEST(Errors, WrongDtype) {
  expect_error([] { matmul(zeros({2, 2}), zeros({2, 2}, f64)); }, {"matmul", "float32", "float64", "[2, 2]"});
  expect_error([] { zeros({2}) + zeros({2}, f64); }, {"add", "float32", "float64", "[2]"});
  expect_error([] { matmul(zeros({2, 2}, TensorOptions().dtype(DType::Int64)), zeros({2, 2}, TensorOptions().dtype(DType::Int64))); },
               {"matmul", "int64", "[2, 2]"});
  expect_error([] { exp(zeros({3}, TensorOptions().dtype(DType::Int64))); }, {"exp", "int64", "[3]"});
  expect_error([] { conv1d(zeros({1, 2, 5}), zeros({3, 2, 2}, f64)); }, {"conv1d", "float32", "float64"});
  expect_error([] { mse_loss(zeros({3}), zeros({3}, f64)); }, {"mse_loss", "float32", "float64", "[3]"});
  expect_error([] { cat({zeros({2}), zeros({2}, f64)}, 0); }, {"cat", "float32", "float64"});
  expect_error([] { index_select(zeros({3}), 0, zeros({2})); }, {"index_select", "int64", "float32", "[2]"});
  expect_error([] { zeros({2}, TensorOptions().dtype(DType::Int64)).requires_grad_(true); },
               {"requires_grad_", "int64"});
}

TEST(Errors, WrongDevice) {
  // to(cuda) in a build or on a machine without a device says so and names the shape.
  if (!cuda::is_available()) {
    expect_error([] { zeros({2, 3}).to(Device::cuda()); }, {"to(cuda:0)", "[2, 3]", "CUDA"});
  }
  const Tensor remote = empty_on_cuda({0, 3});
  expect_error([&] { matmul(zeros({2, 0}), remote); }, {"matmul", "cpu", "cuda:0", "[2, 0]", "[0, 3]"});
  expect_error([&] { zeros({0, 3}) + remote; }, {"add", "cpu", "cuda:0"});
  expect_error([&] { cat({zeros({0, 3}), remote}, 0); }, {"cat", "cpu", "cuda:0"});
  expect_error([&] { where(zeros({0, 3}), remote, remote); }, {"where", "cpu", "cuda:0"});
  expect_error([&] { l1_loss(zeros({0, 3}), remote); }, {"l1_loss", "cpu", "cuda:0"});
  expect_error([&] { index_select(zeros({3}), 0, empty_on_cuda({0}, DType::Int64)); }, {"index_select", "cpu", "cuda:0"});
}

TEST(Errors, ReshapeToWrongSize) {
  expect_error([] { zeros({2, 3}).reshape({4, 2}); }, {"reshape", "[4, 2]", "[2, 3]"});
  expect_error([] { zeros({2, 3}).view({5}); }, {"view", "[5]", "[2, 3]"});
  expect_error([] { zeros({2, 3}).reshape({-1, 4}); }, {"reshape", "[-1, 4]", "[2, 3]"});
  expect_error([] { zeros({2, 3}).reshape({-1, -1}); }, {"reshape", "[-1, -1]"});
  expect_error([] { zeros({2, 3}).t().view({6}); }, {"view", "[3, 2]", "reshape"});
}

TEST(Errors, BackwardOnNonScalarWithoutGradient) {
  Tensor x = ones({2, 3}, f64.requires_grad());
  Tensor y = x * 2.0;
  expect_error([&] { y.backward(); }, {"backward", "non-scalar", "[2, 3]"});
  expect_error([&] { y.backward(ones({3, 2}, f64)); }, {"backward", "[3, 2]", "[2, 3]"});
  expect_error([] { ones({2}).backward(); }, {"backward", "[2]", "does not require grad"});
}

TEST(Errors, ShapeOps) {
  expect_error([] { cat({zeros({2, 3}), zeros({2, 4})}, 0); }, {"cat", "[2, 3]", "[2, 4]"});
  expect_error([] { cat({zeros({2, 3}), zeros({2, 3, 1})}, 0); }, {"cat", "[2, 3]", "[2, 3, 1]"});
  expect_error([] { cat({}, 0); }, {"cat", "at least one"});
  expect_error([] { cat({zeros({2})}, 1); }, {"cat", "1"});
  expect_error([] { stack({zeros({2, 3}), zeros({3, 2})}, 0); }, {"stack", "[2, 3]", "[3, 2]"});
  expect_error([] { index_select(zeros({3, 2}), 0, from_vector<std::int64_t>({0, 3}, {2})); },
               {"index_select", "3", "out of range", "size 3"});
  expect_error([] { index_select(zeros({3, 2}), 1, from_vector<std::int64_t>({-1}, {1})); },
               {"index_select", "-1", "out of range"});
  expect_error([] { index_select(zeros({3}), 0, from_vector<std::int64_t>({0, 1}, {1, 2})); },
               {"index_select", "[1, 2]", "1-D"});
  expect_error([] { zeros({2, 3}).narrow(1, 2, 2); }, {"narrow", "[2, 3]"});
  expect_error([] { zeros({2, 3}).permute({0, 0}); }, {"permute", "repeated"});
  expect_error([] { zeros({2, 3}).expand({4, 3}); }, {"expand", "[2, 3]", "[4, 3]"});
  expect_error([] { zeros({2, 3}).sum({2}); }, {"sum", "2"});
}

TEST(Errors, Conv1dArguments) {
  expect_error([] { conv1d(zeros({1, 2, 5}), zeros({3, 4, 2})); }, {"conv1d", "[1, 2, 5]", "[3, 4, 2]", "channels"});
  expect_error([] { conv1d(zeros({2, 5}), zeros({3, 2, 2})); }, {"conv1d", "(N, C_in, L)", "[2, 5]"});
  expect_error([] { conv1d(zeros({1, 2, 5}), zeros({3, 2})); }, {"conv1d", "(C_out, C_in, K)", "[3, 2]"});
  expect_error([] { conv1d(zeros({1, 2, 5}), zeros({3, 2, 2}), zeros({2})); }, {"conv1d", "bias", "[3]", "[2]"});
  expect_error([] { conv1d(zeros({1, 2, 3}), zeros({3, 2, 5})); }, {"conv1d", "[1, 2, 3]", "[3, 2, 5]", "span"});
  expect_error([] { conv1d(zeros({1, 2, 5}), zeros({3, 2, 2}), Tensor(), 0); }, {"conv1d", "stride"});
  expect_error([] { conv1d(zeros({1, 2, 3}), zeros({3, 2, 2}), Tensor(), 1, 4, 1, PaddingMode::Circular); },
               {"conv1d", "circular", "[1, 2, 3]"});
}

TEST(Errors, Losses) {
  expect_error([] { mse_loss(zeros({4, 1}), zeros({4})); }, {"mse_loss", "[4, 1]", "[4]"});
  expect_error([] { l1_loss(zeros({2, 3}), zeros({3, 2})); }, {"l1_loss", "[2, 3]", "[3, 2]"});
}

TEST(Errors, BroadcastAndClamp) {
  expect_error([] { zeros({2, 3}) * zeros({4}); }, {"mul", "[2, 3]", "[4]"});
  expect_error([] { clamp(zeros({2}), 1.0, -1.0); }, {"clamp", "min", "max"});
}
