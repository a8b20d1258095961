// Optimizers: single and repeated steps of SGD (plain, momentum with weight decay, dampening,
// Nesterov), Adam, Adam with L2 decay and AdamW against values computed by hand with PyTorch's
// update rules (float64, to 1e-15 relative); the vectorised Adam update against the scalar one, bit
// for bit; state export/import; option and state errors.
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/grad_mode.h"
#include "nn/linear.h"
#include "nn/optim.h"

namespace mech::nn {
namespace {

const auto f64 = TensorOptions().dtype(DType::Float64);

Tensor parameter(std::vector<double> values) {
  Tensor p = from_vector(values, {static_cast<std::int64_t>(values.size())}, f64);
  p.requires_grad_(true);
  return p;
}

void set_gradient(const Tensor& p, std::vector<double> values) {
  p.set_grad(from_vector(values, {static_cast<std::int64_t>(values.size())}, f64));
}

void expect_values(const Tensor& t, const std::vector<double>& expected) {
  auto actual = t.to_vector<double>();
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t i = 0; i < actual.size(); ++i)
    EXPECT_NEAR(actual[i], expected[i], 1e-15 * std::max(1.0, std::abs(expected[i]))) << "element " << i;
}

Tensor state_entry(const NamedTensors& state, const std::string& name) {
  for (const auto& entry : state)
    if (entry.first == name) return entry.second;
  return Tensor();
}

// Hand values: p = [1, -2], constant gradient g = [0.5, 0.25], lr = 0.1.
TEST(SGD, PlainStep) {
  Tensor p = parameter({1.0, -2.0});
  SGD optimizer({p}, SGDOptions(0.1));
  set_gradient(p, {0.5, 0.25});
  optimizer.step();
  expect_values(p, {0.95, -2.025});
  optimizer.step();
  expect_values(p, {0.9, -2.05});
}

TEST(SGD, MomentumWithWeightDecay) {
  // d = g + 0.01 p; first buffer = d; then b = 0.9 b + d.
  Tensor p = parameter({1.0, -2.0});
  SGD optimizer({p}, SGDOptions(0.1).momentum(0.9).weight_decay(0.01));
  set_gradient(p, {0.5, 0.25});
  optimizer.step();
  expect_values(p, {0.949, -2.023});
  expect_values(state_entry(optimizer.state_dict(), "momentum_buffer.0"), {0.51, 0.23});
  optimizer.step();
  expect_values(p, {0.852151, -2.066677});
  expect_values(state_entry(optimizer.state_dict(), "momentum_buffer.0"), {0.96849, 0.43677});
  optimizer.step();
  expect_values(p, {0.714134749, -2.128919623});
}

TEST(SGD, DampeningAndNesterov) {
  Tensor p = parameter({1.0, -2.0});
  SGD damped({p}, SGDOptions(0.1).momentum(0.9).dampening(0.5));
  set_gradient(p, {0.5, 0.25});
  damped.step();  // the first step ignores dampening
  expect_values(p, {0.95, -2.025});
  damped.step();  // b = 0.9 [0.5, 0.25] + 0.5 [0.5, 0.25]
  expect_values(p, {0.88, -2.06});

  Tensor q = parameter({1.0, -2.0});
  SGD nesterov({q}, SGDOptions(0.1).momentum(0.9).nesterov(true));
  set_gradient(q, {0.5, 0.25});
  nesterov.step();  // d = g + 0.9 g
  expect_values(q, {0.905, -2.0475});
  nesterov.step();  // b = 1.9 g, d = g + 0.9 b
  expect_values(q, {0.7695, -2.11525});
}

TEST(SGD, SkipsParametersWithoutGradientAndZeroGradClears) {
  Tensor a = parameter({1.0});
  Tensor b = parameter({2.0});
  SGD optimizer({a, b}, SGDOptions(1.0).momentum(0.5));
  set_gradient(a, {1.0});
  optimizer.step();
  expect_values(a, {0.0});
  expect_values(b, {2.0});
  EXPECT_FALSE(state_entry(optimizer.state_dict(), "momentum_buffer.1").defined());
  optimizer.zero_grad();
  EXPECT_FALSE(a.grad().defined());
}

TEST(SGD, Float32StepAgreesWithFloat64ToSinglePrecision) {
  Tensor p32 = from_vector<float>({1.0f, -2.0f}, {2});
  p32.requires_grad_(true);
  SGD optimizer({p32}, SGDOptions(0.1).momentum(0.9).weight_decay(0.01));
  p32.set_grad(from_vector<float>({0.5f, 0.25f}, {2}));
  optimizer.step();
  optimizer.step();
  auto v = p32.to_vector<float>();
  EXPECT_NEAR(v[0], 0.852151, 1e-6);
  EXPECT_NEAR(v[1], -2.066677, 1e-6);
}

TEST(SGD, RejectsBadOptionsAndMismatchedGradients) {
  Tensor p = parameter({1.0});
  EXPECT_THROW(SGD({p}, SGDOptions(-0.1)), Error);
  EXPECT_THROW(SGD({p}, SGDOptions(0.1).nesterov(true)), Error);
  EXPECT_THROW(SGD({p, p}, SGDOptions(0.1)), Error);
  SGD optimizer({p}, SGDOptions(0.1));
  p.set_grad(from_vector<float>({1.0f}, {1}));
  EXPECT_THROW(optimizer.step(), Error);
}

// Hand values: p = [1, -2, 0.5], gradients [0.5, -0.25, 0] then [-1, 0.75, 2], lr 0.01.
TEST(Adam, TwoStepsMatchHandValues) {
  Tensor p = parameter({1.0, -2.0, 0.5});
  Adam optimizer({p}, AdamOptions(0.01));
  set_gradient(p, {0.5, -0.25, 0.0});
  optimizer.step();
  expect_values(p, {0.9900000002, -1.9900000004, 0.5});
  set_gradient(p, {-1.0, 0.75, 2.0});
  optimizer.step();
  expect_values(p, {0.9936610354240566, -1.9949418986445853, 0.49255863181693543});
  const auto state = optimizer.state_dict();
  expect_values(state_entry(state, "exp_avg.0"), {-0.055, 0.0525, 0.2});
  expect_values(state_entry(state, "exp_avg_sq.0"), {0.00124975, 0.0006249375, 0.004});
  EXPECT_EQ(state_entry(state, "step.0").to_vector<std::int64_t>()[0], 2);
  EXPECT_EQ(optimizer.step_count(0), 2);
}

TEST(Adam, L2WeightDecayAddsToTheGradient) {
  Tensor p = parameter({1.0, -2.0, 0.5});
  Adam optimizer({p}, AdamOptions(0.01).weight_decay(0.1));
  set_gradient(p, {0.5, -0.25, 0.0});
  optimizer.step();
  expect_values(p, {0.9900000001666667, -1.9900000002222222, 0.4900000019999996});
  set_gradient(p, {-1.0, 0.75, 2.0});
  optimizer.step();
  expect_values(p, {0.9924819887658624, -1.9915274746468745, 0.48239746790978966});
}

TEST(AdamW, DecoupledWeightDecayShrinksTheWeight) {
  Tensor p = parameter({1.0, -2.0, 0.5});
  AdamW optimizer({p}, AdamOptions(0.01).betas({0.9, 0.999}).eps(1e-8).weight_decay(0.1));
  set_gradient(p, {0.5, -0.25, 0.0});
  optimizer.step();
  expect_values(p, {0.9890000002, -1.9880000004, 0.4995});
  set_gradient(p, {-1.0, 0.75, 2.0});
  optimizer.step();
  expect_values(p, {0.9916720354238566, -1.9909538986441853, 0.49155913181693545});
  EXPECT_EQ(optimizer.type_name(), "AdamW");
}

// The update of a long tensor runs vectorised; of a one-element tensor, scalar. Both must give
// the same bits, in both dtypes and every weight-decay mode: 1003 elements (not a multiple of any
// vector width) as one parameter against 1003 one-element parameters, three steps.
template <class Optimizer, class T>
void expect_vector_and_scalar_updates_agree(const AdamOptions& options) {
  const auto dtype = TensorOptions().dtype(std::is_same_v<T, float> ? DType::Float32 : DType::Float64);
  constexpr std::int64_t n = 1003;
  std::vector<T> start(n), gradient(n);
  for (std::int64_t i = 0; i < n; ++i) {
    start[i] = static_cast<T>(std::sin(0.37 * i) * 2.0);
    gradient[i] = static_cast<T>(std::cos(1.3 * i) * std::pow(10.0, (i % 7) - 4.0));
  }
  Tensor whole = from_vector(start, {n}, dtype);
  whole.requires_grad_(true);
  std::vector<Tensor> pieces;
  for (std::int64_t i = 0; i < n; ++i) {
    pieces.push_back(from_vector(std::vector<T>{start[i]}, {1}, dtype));
    pieces.back().requires_grad_(true);
  }
  Optimizer vectorised({whole}, options);
  Optimizer scalar(pieces, options);
  for (int step = 0; step < 3; ++step) {
    for (auto& g : gradient) g = static_cast<T>(-0.5 * g + T(1e-3));
    whole.set_grad(from_vector(gradient, {n}, dtype));
    for (std::int64_t i = 0; i < n; ++i) pieces[i].set_grad(from_vector(std::vector<T>{gradient[i]}, {1}, dtype));
    vectorised.step();
    scalar.step();
  }
  const std::vector<T> result = whole.template to_vector<T>();
  for (std::int64_t i = 0; i < n; ++i)
    ASSERT_EQ(result[i], pieces[i].template to_vector<T>()[0]) << "element " << i;
}

TEST(Adam, VectorisedUpdateGivesTheScalarBits) {
  expect_vector_and_scalar_updates_agree<Adam, float>(AdamOptions(0.01));
  expect_vector_and_scalar_updates_agree<Adam, double>(AdamOptions(0.01));
  expect_vector_and_scalar_updates_agree<Adam, float>(AdamOptions(0.01).weight_decay(0.1));
  expect_vector_and_scalar_updates_agree<Adam, double>(AdamOptions(0.01).weight_decay(0.1));
  expect_vector_and_scalar_updates_agree<AdamW, float>(AdamOptions(0.01).weight_decay(0.1));
  expect_vector_and_scalar_updates_agree<AdamW, double>(AdamOptions(0.01).weight_decay(0.1));
}

TEST(Adam, StateRoundTripContinuesIdentically) {
  Tensor a = parameter({1.0, -2.0, 0.5});
  Tensor b = parameter({1.0, -2.0, 0.5});
  Adam first({a}, AdamOptions(0.01));
  set_gradient(a, {0.5, -0.25, 0.0});
  first.step();
  // Copy a's value into b and first's state into a fresh optimizer over b.
  b.set_grad(Tensor());
  {
    NoGradGuard no_grad;
    b.copy_(a);
  }
  Adam second({b}, AdamOptions(0.5));  // its own lr is replaced by the loaded one
  second.load_state_dict(first.state_dict());
  EXPECT_EQ(second.lr(), 0.01);
  set_gradient(a, {-1.0, 0.75, 2.0});
  set_gradient(b, {-1.0, 0.75, 2.0});
  first.step();
  second.step();
  EXPECT_EQ(a.to_vector<double>(), b.to_vector<double>());
}

TEST(Adam, LoadStateRejectsUnknownKeysWrongShapesAndIncompleteEntries) {
  Tensor p = parameter({1.0, 2.0});
  Adam optimizer({p}, AdamOptions(0.01));
  set_gradient(p, {1.0, 1.0});
  optimizer.step();
  const NamedTensors good = optimizer.state_dict();
  auto with = [&](const std::string& name, const Tensor& value) {
    NamedTensors state = good;
    bool replaced = false;
    for (auto& entry : state)
      if (entry.first == name) entry.second = value, replaced = true;
    if (!replaced) state.emplace_back(name, value);
    return state;
  };
  EXPECT_THROW(optimizer.load_state_dict(with("exp_avg.0", zeros({3}, f64))), Error);
  EXPECT_THROW(optimizer.load_state_dict(with("exp_avg.1", zeros({2}, f64))), Error);   // no parameter 1
  EXPECT_THROW(optimizer.load_state_dict(with("momentum.0", zeros({2}, f64))), Error);  // unknown name
  NamedTensors incomplete;
  for (const auto& entry : good)
    if (entry.first != "exp_avg_sq.0") incomplete.push_back(entry);
  EXPECT_THROW(optimizer.load_state_dict(incomplete), Error);
  NamedTensors no_lr(good.begin() + 1, good.end());
  EXPECT_THROW(optimizer.load_state_dict(no_lr), Error);
  // The failed loads changed nothing.
  EXPECT_EQ(optimizer.step_count(0), 1);
  EXPECT_THROW(Adam({p}, AdamOptions(0.01).betas({1.0, 0.999})), Error);
}

TEST(Optimizer, LearningRateGetSet) {
  Tensor p = parameter({1.0});
  SGD sgd({p}, SGDOptions(0.1));
  sgd.set_lr(0.05);
  EXPECT_EQ(sgd.lr(), 0.05);
  EXPECT_EQ(state_entry(sgd.state_dict(), "lr").item(), 0.05);
  EXPECT_THROW(sgd.set_lr(-1.0), Error);
  Adam adam({p}, AdamOptions());
  EXPECT_EQ(adam.lr(), 1e-3);
}

}  // namespace
}  // namespace mech::nn

namespace mech::nn {
namespace {

TEST(Optimizer, StateFollowsAModuleConvertedAfterTheFirstStep) {
  // Converting the model after the optimizer has state must not feed the fused kernel a float64
  // moment next to a float32 parameter.
  Linear layer(LinearOptions(2, 1).dtype(DType::Float64));
  Adam optimizer(layer.parameters(), AdamOptions(0.1));
  Tensor x = ones({3, 2}, TensorOptions().dtype(DType::Float64));
  layer.forward(x).sum().backward();
  optimizer.step();
  layer.to(DType::Float32);
  optimizer.zero_grad();
  layer.forward(ones({3, 2})).sum().backward();
  optimizer.step();
  for (const auto& [name, value] : optimizer.state_dict())
    if (name != "lr" && name.rfind("step", 0) != 0) {
      EXPECT_EQ(value.dtype(), DType::Float32) << name;
    }
  EXPECT_EQ(optimizer.step_count(0), 2);
}

}  // namespace
}  // namespace mech::nn
