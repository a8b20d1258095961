// What the DistributedDataParallel tests share (tests/nn on one process, tests/distributed under
// mpiexec): a small float64 model with an optional parameter that only some passes use, and the
// data of one global batch.
#pragma once

#include <memory>

#include "core/generator.h"
#include "nn/nn.h"

namespace mech::nn::testing {

inline const auto f64 = TensorOptions().dtype(DType::Float64);

// tanh MLP 3 -> width -> 1, plus `extra`, a parameter that loss() adds only when asked.
class SmallNet : public Module {
 public:
  explicit SmallNet(std::int64_t width = 8, std::uint64_t seed = 7) : Module("SmallNet") {
    Generator generator(seed);
    first = register_module("first", std::make_shared<Linear>(LinearOptions(3, width).dtype(DType::Float64), &generator));
    second = register_module("second", std::make_shared<Linear>(LinearOptions(width, 1).dtype(DType::Float64), &generator));
    extra = register_parameter("extra", full({2}, 0.5, f64));
    never = register_parameter("never", full({3}, 1.0, f64));  // no loss uses it
  }
  Tensor forward(const Tensor& x) override { return second->forward(tanh(first->forward(x))); }
  Tensor loss(const Tensor& x, const Tensor& target, bool use_extra = false) {
    Tensor value = mse_loss(forward(x), target);
    return use_extra ? value + (extra * extra).sum() : value;
  }
  std::shared_ptr<Linear> first, second;
  Tensor extra, never;
};

// Rows [begin, end) of a deterministic global batch of `rows` inputs (3 columns) and targets.
struct Batch {
  Tensor inputs, targets;
};
inline Batch global_batch(std::int64_t rows, std::uint64_t step) {
  Generator generator(1000 + step);
  Tensor inputs = randn({rows, 3}, f64, &generator);
  Tensor targets = tanh(inputs.sum({1}, true) * 0.7);
  return {inputs, targets};
}
inline Batch rows_of(const Batch& batch, std::int64_t begin, std::int64_t end) {
  return {batch.inputs.slice(0, begin, end).contiguous(), batch.targets.slice(0, begin, end).contiguous()};
}

}  // namespace mech::nn::testing
