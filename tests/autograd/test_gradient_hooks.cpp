// Leaf gradient observers (autograd/gradient_hooks.h): when the engine reports a leaf's gradient
// final, that it reports each reached leaf once per pass, after every contribution, and that it
// ends every pass with backward_finished.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "autograd/gradient_hooks.h"
#include "autograd/node.h"

namespace mech {
namespace {

const auto f64 = TensorOptions().dtype(DType::Float64);

// Records each event, and the value of the leaf's gradient when it was reported final.
class Recorder : public LeafGradientObserver {
 public:
  explicit Recorder(std::vector<Tensor> leaves) : leaves_(std::move(leaves)) {}
  void gradient_final(std::size_t index) override {
    const Tensor grad = leaves_[index].grad();
    events.push_back(std::to_string(index));
    values.push_back(grad.defined() ? grad.sum().item() : -1.0);
  }
  void backward_finished() override { events.push_back("end"); }
  std::vector<std::string> events;
  std::vector<double> values;

 private:
  std::vector<Tensor> leaves_;
};

TEST(GradientHooks, ReportsEachLeafOnceWithItsCompleteGradientThenTheEnd) {
  Tensor a = full({2}, 2.0, f64.requires_grad());
  Tensor b = full({2}, 3.0, f64.requires_grad());
  Recorder recorder({a, b});
  auto registration = observe_leaf_gradients({a, b}, &recorder);
  // a feeds two nodes recorded far apart: its gradient is complete only after the earlier one.
  Tensor first = a * b;            // d/da = b = 3 per element
  Tensor second = (first * first).sum() + (a * 5.0).sum();  // a's second edge: 5 per element
  second.backward();
  // b's only edge is in `first`, which runs after (a * 5) in reverse order; a is final with it.
  ASSERT_EQ(recorder.events.size(), 3u);
  EXPECT_EQ(recorder.events.back(), "end");
  for (std::size_t i = 0; i < 2; ++i) {
    const double expected = recorder.events[i] == "0" ? a.grad().sum().item() : b.grad().sum().item();
    EXPECT_DOUBLE_EQ(recorder.values[i], expected) << "leaf " << recorder.events[i] << " reported before its last contribution";
  }
}

TEST(GradientHooks, ALeafTheGraphDoesNotReachIsNotReportedButTheEndIs) {
  Tensor used = ones({3}, f64.requires_grad());
  Tensor unused = ones({3}, f64.requires_grad());
  Recorder recorder({used, unused});
  auto registration = observe_leaf_gradients({used, unused}, &recorder);
  (used * 2.0).sum().backward();
  EXPECT_EQ(recorder.events, (std::vector<std::string>{"0", "end"}));
  EXPECT_FALSE(unused.grad().defined());
}

TEST(GradientHooks, ALeafBehindANodeThatGotNoGradientIsStillReportedFinal) {
  Tensor x = ones({2}, f64.requires_grad());
  Recorder recorder({x});
  auto registration = observe_leaf_gradients({x}, &recorder);
  Tensor y = x * 3.0;
  // An op whose backward gives its input no gradient: the node of y is reached but skipped.
  Tensor out = y.detach().clone();
  record("no_gradient", {y}, {out}, [](const std::vector<Tensor>&) { return std::vector<Tensor>{Tensor()}; });
  out.sum().backward();
  EXPECT_EQ(recorder.events, (std::vector<std::string>{"0", "end"}));
  EXPECT_EQ(recorder.values, (std::vector<double>{-1.0}));  // final, and without a gradient
}

TEST(GradientHooks, RegistrationEndsWithItsHandleAndRefusesNonLeaves) {
  Tensor x = ones({2}, f64.requires_grad());
  Recorder recorder({x});
  {
    auto registration = observe_leaf_gradients({x}, &recorder);
    EXPECT_THROW((void)observe_leaf_gradients({x}, &recorder), Error);  // twice
  }
  (x * 2.0).sum().backward();
  EXPECT_TRUE(recorder.events.empty());
  Tensor not_leaf = x * 2.0;
  EXPECT_THROW((void)observe_leaf_gradients({not_leaf}, &recorder), Error);
}

}  // namespace
}  // namespace mech
