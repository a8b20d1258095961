// The tape: gradient values on small hand-computed graphs, accumulation, broadcasting, grad mode,
// retain_graph, and the errors users hit.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "autograd/anomaly.h"
#include "autograd/grad_mode.h"
#include "autograd/gradcheck.h"
#include "autograd/node.h"
#include "core/tensor.h"

using namespace mech;

namespace {
const TensorOptions f64 = TensorOptions().dtype(DType::Float64);
}

TEST(Engine, ProductRuleByHand) {
  Tensor x = from_vector<double>({2.0, 3.0}, {2}, f64.requires_grad());
  Tensor y = from_vector<double>({5.0, 7.0}, {2}, f64.requires_grad());
  Tensor loss = (x * y + x * x).sum();  // d/dx = y + 2x, d/dy = x
  loss.backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{9.0, 13.0}));
  EXPECT_EQ(y.grad().to_vector<double>(), (std::vector<double>{2.0, 3.0}));
  EXPECT_DOUBLE_EQ(loss.item(), 2 * 5 + 3 * 7 + 4 + 9);
}

TEST(Engine, GradientsAccumulateAcrossBackwardCalls) {
  Tensor x = from_vector<double>({1.0, -2.0}, {2}, f64.requires_grad());
  (x * 3.0).sum().backward();
  (x * 3.0).sum().backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{6.0, 6.0}));
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
}

// A leaf's first gradient is taken over only when nothing else holds it: gradients that alias the
// caller's tensor (a view's backward passes the incoming gradient through) or one leaf's gradient
// reaching another are copied, so changing one never changes another.
TEST(Engine, LeafGradientsNeverAliasWhatOthersHold) {
  Tensor x = from_vector<double>({1.0, 2.0, 3.0, 4.0}, {4}, f64.requires_grad());
  Tensor upstream = from_vector<double>({1.0, 1.0, 1.0, 1.0}, {2, 2}, f64);
  x.view({2, 2}).backward(upstream);   // the view's backward hands back upstream's storage
  upstream.fill_(5.0);
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{1.0, 1.0, 1.0, 1.0}));

  Tensor a = from_vector<double>({1.0, 2.0}, {2}, f64.requires_grad());
  Tensor b = from_vector<double>({3.0, 4.0}, {2}, f64.requires_grad());
  (a + b).sum().backward();            // both leaves receive gradients from one node
  a.grad().fill_(7.0);
  EXPECT_EQ(b.grad().to_vector<double>(), (std::vector<double>{1.0, 1.0}));

  Tensor c = from_vector<double>({1.0, 2.0}, {2}, f64.requires_grad());
  (c * 2.0).sum().backward();          // a fresh gradient nobody holds: kept, and correct
  EXPECT_EQ(c.grad().to_vector<double>(), (std::vector<double>{2.0, 2.0}));
  (c * 2.0).sum().backward();
  EXPECT_EQ(c.grad().to_vector<double>(), (std::vector<double>{4.0, 4.0}));
}

TEST(Engine, BroadcastGradientsReduceToInputShape) {
  Tensor a = ones({3, 1}, f64.requires_grad());
  Tensor b = ones({4}, f64.requires_grad());
  (a * b).sum().backward();
  EXPECT_EQ(a.grad().shape(), (Shape{3, 1}));
  EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>(3, 4.0)));
  EXPECT_EQ(b.grad().to_vector<double>(), (std::vector<double>(4, 3.0)));
}

TEST(Engine, DiamondGraphSumsBothPaths) {
  Tensor x = scalar_tensor(1.5, f64.requires_grad());
  Tensor h = exp(x);
  Tensor loss = h * h + h;  // d/dx = 2 e^{2x} + e^x
  loss.backward();
  EXPECT_NEAR(x.grad().item(), 2 * std::exp(3.0) + std::exp(1.5), 1e-12);
}

TEST(Engine, NoGradGuardRecordsNothing) {
  Tensor x = ones({2}, f64.requires_grad());
  Tensor y;
  {
    NoGradGuard guard;
    y = x * 2.0;
  }
  EXPECT_FALSE(y.requires_grad());
  EXPECT_EQ(y.grad_fn(), nullptr);
}

TEST(Engine, SecondBackwardWithoutRetainGraphThrows) {
  Tensor x = ones({2}, f64.requires_grad());
  Tensor loss = (exp(x) * x).sum();
  loss.backward();
  try {
    loss.backward();
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("second time"), std::string::npos) << error.what();
  }
}

TEST(Engine, RetainGraphAllowsSecondBackward) {
  Tensor x = ones({2}, f64.requires_grad());
  Tensor loss = (exp(x) * x).sum();
  loss.backward(Tensor(), /*retain_graph=*/true);
  loss.backward();
  EXPECT_NEAR(x.grad().to_vector<double>()[0], 2 * (2 * std::exp(1.0)), 1e-12);
}

TEST(Engine, NonScalarBackwardNeedsAGradient) {
  Tensor x = ones({2, 3}, f64.requires_grad());
  Tensor y = x * 2.0;
  EXPECT_THROW(y.backward(), Error);
  y.backward(ones({2, 3}, f64));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>(6, 2.0)));
  EXPECT_THROW((x * 2.0).backward(ones({3}, f64)), Error);
}

TEST(Engine, BackwardOnTensorWithoutHistoryThrows) {
  Tensor x = ones({1}, f64);
  EXPECT_THROW(x.backward(), Error);
}

TEST(Engine, DetachStopsGradient) {
  Tensor x = scalar_tensor(2.0, f64.requires_grad());
  Tensor loss = x * x.detach();
  loss.backward();
  EXPECT_DOUBLE_EQ(x.grad().item(), 2.0);
}

TEST(Engine, InPlaceUpdateOfGradTensorRefusedUnderGradMode) {
  Tensor x = ones({2}, f64.requires_grad());
  EXPECT_THROW(x.add_(ones({2}, f64)), Error);
  NoGradGuard guard;
  x.add_(ones({2}, f64), 0.5);
  EXPECT_EQ(x.to_vector<double>(), (std::vector<double>{1.5, 1.5}));
}

TEST(Engine, AnomalyModeNamesTheOp) {
  Tensor x = from_vector<double>({-1.0, 4.0}, {2}, f64.requires_grad());
  AnomalyGuard anomaly;
  try {
    Tensor y = sqrt(x);
    FAIL() << "expected an anomaly error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("'sqrt'"), std::string::npos) << error.what();
  }
}

// Anomaly mode checks every op, not only those that record: here no input requires grad, or grad
// mode is off, so nothing is recorded, and each op must still be named for the Inf or NaN it makes
// (from finite inputs where the op can; pass-through ops from an Inf they are given).
TEST(Engine, AnomalyModeChecksOpsThatDoNotRecord) {
  const Tensor negative = from_vector<double>({-1.0, 4.0}, {2}, f64);
  const Tensor zero = zeros({2}, f64);
  const Tensor huge = full({2}, 1e200, f64);
  const Tensor infinite = from_vector<double>({1.0, INFINITY}, {2}, f64);
  const Tensor not_a_number = from_vector<double>({1.0, NAN}, {2}, f64);
  const Tensor index = from_vector<std::int64_t>({1}, {1}, TensorOptions().dtype(DType::Int64));
  const std::vector<std::pair<std::string, std::function<Tensor()>>> ops = {
      {"sqrt", [&] { return sqrt(negative); }},
      {"log", [&] { return log(zero); }},
      {"exp", [&] { return exp(huge); }},
      {"pow", [&] { return pow(negative, 0.5); }},
      {"mul", [&] { return huge * huge; }},
      {"div", [&] { return ones({2}, f64) / zero; }},
      {"matmul", [&] { return matmul(huge.reshape({1, 2}), huge.reshape({2, 1})); }},
      {"conv1d", [&] { return conv1d(huge.reshape({1, 1, 2}), huge.reshape({1, 1, 2})); }},
      {"abs", [&] { return abs(infinite); }},
      {"tanh", [&] { return tanh(not_a_number); }},
      {"relu", [&] { return relu(infinite); }},
      {"elu", [&] { return elu(infinite); }},
      {"softplus", [&] { return softplus(infinite); }},
      {"sigmoid", [&] { return sigmoid(not_a_number); }},
      {"clamp", [&] { return clamp(infinite, 0.0, std::nullopt); }},
      {"where", [&] { return where(ones({2}, f64), infinite, zero); }},
      {"max", [&] { return max(infinite, 0); }},
      {"cat", [&] { return cat({infinite, zero}, 0); }},
      {"index_select", [&] { return index_select(infinite, 0, index); }},
  };
  for (const bool grad_mode_on : {true, false}) {
    for (const auto& [name, op] : ops) {
      SCOPED_TRACE(name + (grad_mode_on ? " (grad mode on)" : " (grad mode off)"));
      std::optional<NoGradGuard> no_grad;
      if (!grad_mode_on) no_grad.emplace();
      // Off, the op runs as always: the bad value comes back.
      EXPECT_FALSE(all_finite(op()));
      AnomalyGuard anomaly;
      try {
        (void)op();
        ADD_FAILURE() << "expected an anomaly error naming '" << name << "'";
      } catch (const Error& error) {
        EXPECT_NE(std::string(error.what()).find("'" + name + "'"), std::string::npos) << error.what();
      }
    }
  }
  // Grad mode off also stops recording for inputs that require grad: still checked.
  const Tensor requiring_grad = from_vector<double>({-1.0}, {1}, f64.requires_grad());
  NoGradGuard no_grad;
  AnomalyGuard anomaly;
  EXPECT_THROW((void)sqrt(requiring_grad), Error);
}

// float32 outputs are checked in their own dtype: converting them to float64 for the check ran the
// to_dtype op, whose own check then named to_dtype instead of the op that made the Inf.
TEST(Engine, AnomalyModeNamesTheOpOfAFloat32Output) {
  const Tensor huge = full({2}, 1e30, TensorOptions().dtype(DType::Float32));
  for (const bool requires_grad : {false, true}) {
    const Tensor x = requires_grad ? huge.detach().requires_grad_(true) : huge;
    AnomalyGuard anomaly;
    try {
      (void)(x * x);
      ADD_FAILURE() << "expected an anomaly error naming 'mul'";
    } catch (const Error& error) {
      EXPECT_NE(std::string(error.what()).find("anomaly: op 'mul'"), std::string::npos) << error.what();
    }
  }
}

TEST(Engine, DeepChainRunsWithoutRecursion) {
  // A recursive backward would overflow the stack long before 300000 nodes (in backward or in freeing the graph).
  Tensor x = scalar_tensor(1.0, f64.requires_grad());
  Tensor y = x;
  for (int i = 0; i < 300000; ++i) y = y + 1e-6;
  y.backward();
  EXPECT_DOUBLE_EQ(x.grad().item(), 1.0);
}

TEST(Gradcheck, DetectsAWrongGradient) {
  // A deliberately wrong backward must be caught: the checker itself can fail.
  auto wrong = [](const std::vector<Tensor>& in) {
    Tensor out = in[0].detach() * 3.0;
    record("wrong_triple", {in[0]}, {out}, [](const std::vector<Tensor>& g) { return std::vector<Tensor>{g[0] * 2.0}; });
    return out;
  };
  auto result = gradcheck(wrong, {randn({3}, f64)});
  EXPECT_FALSE(result.ok);
}
