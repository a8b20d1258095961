// Module: registration and dotted naming, iteration order, train/eval, in-place conversions,
// state dict round trips and the errors of load_state_dict; Sequential and the MLP builder.
#include <gtest/gtest.h>

#include "cuda/backend.h"

#include "autograd/grad_mode.h"
#include "nn/nn.h"

namespace mech::nn {
namespace {

const auto f64 = TensorOptions().dtype(DType::Float64);

class Block : public Module {
 public:
  explicit Block(std::int64_t width) : Module("Block") {
    scale = register_parameter("scale", ones({width}, f64));
    count = register_buffer("count", zeros({1}, TensorOptions().dtype(DType::Int64)));
    inner = register_module("inner", std::make_shared<Linear>(LinearOptions(width, width).dtype(DType::Float64)));
  }
  Tensor forward(const Tensor& x) override { return inner->forward(x) * scale; }
  Tensor scale;
  Tensor count;
  std::shared_ptr<Linear> inner;
};

class Net : public Module {
 public:
  Net() : Module("Net") {
    first = register_module("first", std::make_shared<Block>(3));
    second = register_module("second", std::make_shared<Block>(3));
    gain = register_parameter("gain", full({}, 2.0, f64));
  }
  Tensor forward(const Tensor& x) override { return second->forward(first->forward(x)) * gain; }
  std::shared_ptr<Block> first;
  std::shared_ptr<Block> second;
  Tensor gain;
};

std::vector<std::string> names_of(const NamedTensors& tensors) {
  std::vector<std::string> names;
  for (const auto& entry : tensors) names.push_back(entry.first);
  return names;
}

TEST(Module, NamesParametersRecursivelyInRegistrationOrder) {
  Net net;
  EXPECT_EQ(names_of(net.named_parameters()),
            (std::vector<std::string>{"gain", "first.scale", "first.inner.weight", "first.inner.bias", "second.scale",
                                      "second.inner.weight", "second.inner.bias"}));
  EXPECT_EQ(names_of(net.named_parameters(/*recurse=*/false)), (std::vector<std::string>{"gain"}));
  EXPECT_EQ(names_of(net.named_buffers()), (std::vector<std::string>{"first.count", "second.count"}));
  EXPECT_EQ(net.parameters().size(), 7u);
  EXPECT_EQ(net.parameter_count(), 1 + 2 * (3 + 9 + 3));
  for (const auto& p : net.parameters()) EXPECT_TRUE(p.requires_grad());
  EXPECT_FALSE(net.first->count.requires_grad());
  // Handles returned by registration are the module's own tensors.
  EXPECT_TRUE(net.find_tensor("first.inner.weight").is_same(net.first->inner->weight()));
  auto modules = net.named_modules();
  ASSERT_EQ(modules.size(), 5u);
  EXPECT_EQ(modules[0].first, "");
  EXPECT_EQ(modules[2].first, "first.inner");
  EXPECT_EQ(modules[4].first, "second.inner");
}

TEST(Module, RejectsBadOrDuplicateNames) {
  Module module;
  module.register_parameter("w", zeros({2}));
  EXPECT_THROW(module.register_parameter("w", zeros({2})), Error);
  EXPECT_THROW(module.register_buffer("w", zeros({2})), Error);
  EXPECT_THROW(module.register_parameter("a.b", zeros({2})), Error);
  EXPECT_THROW(module.register_parameter("", zeros({2})), Error);
  EXPECT_THROW(module.register_parameter("i", zeros({2}, TensorOptions().dtype(DType::Int64))), Error);
  EXPECT_THROW(module.register_module("w", std::make_shared<Tanh>()), Error);
  EXPECT_THROW(module.find_tensor("nope"), Error);
  EXPECT_THROW(module.forward(zeros({1})), Error);
}

TEST(Module, TrainEvalIsRecursive) {
  Net net;
  EXPECT_TRUE(net.first->inner->is_training());
  net.eval();
  EXPECT_FALSE(net.is_training());
  EXPECT_FALSE(net.second->inner->is_training());
  net.train();
  EXPECT_TRUE(net.second->is_training());
}

TEST(Module, StateDictRoundTripCopiesIntoTheSameTensors) {
  Net source;
  Net target;
  {
    NoGradGuard no_grad;
    source.first->inner->weight().copy_(randn({3, 3}, f64));
    source.gain.fill_(-0.5);
    source.second->count.fill_(7);
  }
  const Tensor target_weight = target.first->inner->weight();
  target.load_state_dict(source.state_dict());
  EXPECT_TRUE(target.first->inner->weight().is_same(target_weight));
  for (const auto& [name, tensor] : source.state_dict()) {
    EXPECT_EQ(target.find_tensor(name).to_vector<double>(), tensor.to_vector<double>()) << name;
  }
  // The loaded values are copies: changing the source leaves the target alone.
  {
    NoGradGuard no_grad;
    source.gain.fill_(3.0);
  }
  EXPECT_EQ(target.gain.item(), -0.5);
}

TEST(Module, LoadStateDictReportsMissingUnexpectedAndShapeErrorsAndChangesNothing) {
  Net net;
  const auto before = net.gain.item();
  NamedTensors state = Net().state_dict();
  for (auto& entry : state)
    if (entry.first == "gain") entry.second = full({}, 9.0, f64);

  NamedTensors missing;
  for (const auto& entry : state)
    if (entry.first != "first.scale") missing.push_back(entry);
  try {
    net.load_state_dict(missing);
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("missing keys: first.scale"), std::string::npos) << error.what();
  }
  EXPECT_EQ(net.gain.item(), before);

  NamedTensors extra = state;
  extra.emplace_back("third.weight", zeros({1}, f64));
  try {
    net.load_state_dict(extra);
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("unexpected keys: third.weight"), std::string::npos) << error.what();
  }
  EXPECT_EQ(net.gain.item(), before);
  // Non-strict loading ignores the extra key and loads the rest.
  net.load_state_dict(extra, /*strict=*/false);
  EXPECT_EQ(net.gain.item(), 9.0);

  NamedTensors wrong_shape = state;
  for (auto& entry : wrong_shape)
    if (entry.first == "first.inner.weight") entry.second = zeros({3, 4}, f64);
  try {
    net.load_state_dict(wrong_shape);
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("[3, 4]"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("first.inner.weight"), std::string::npos) << error.what();
  }
}

TEST(Module, ToDTypeConvertsInPlaceKeepingHandlesAndIntBuffers) {
  Net net;
  const Tensor weight = net.first->inner->weight();
  const auto values = weight.to_vector<double>();
  net.to(DType::Float32);
  EXPECT_EQ(weight.dtype(), DType::Float32);
  EXPECT_TRUE(weight.requires_grad());
  EXPECT_EQ(net.first->count.dtype(), DType::Int64);
  const auto converted = weight.to_vector<double>();
  for (std::size_t i = 0; i < values.size(); ++i) EXPECT_EQ(converted[i], static_cast<double>(static_cast<float>(values[i])));
  // The module still computes, in float32.
  Tensor out = net.forward(ones({2, 3}));
  EXPECT_EQ(out.dtype(), DType::Float32);
  EXPECT_THROW(net.to(DType::Int64), Error);
}

TEST(Module, ZeroGradDropsGradients) {
  Net net;
  net.forward(ones({2, 3}, f64)).sum().backward();
  for (const auto& p : net.parameters()) EXPECT_TRUE(p.grad().defined());
  net.zero_grad();
  for (const auto& p : net.parameters()) EXPECT_FALSE(p.grad().defined());
}

TEST(Module, ToCudaWithoutDeviceIsAClearError) {
  if (cuda::is_available()) GTEST_SKIP() << "a CUDA device is present: the CUDA suite covers to(cuda)";
  Net net;
  EXPECT_THROW(net.to(Device::cuda()), Error);
}

TEST(Sequential, NamesChildrenByIndexAndChainsForward) {
  Sequential net{std::make_shared<Linear>(LinearOptions(2, 4).dtype(DType::Float64)), std::make_shared<ReLU>(),
                 std::make_shared<Linear>(LinearOptions(4, 1).dtype(DType::Float64))};
  EXPECT_EQ(net.size(), 3u);
  EXPECT_EQ(names_of(net.named_parameters()), (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"}));
  Tensor x = randn({5, 2}, f64);
  Tensor expected = net[2]->forward(relu(net[0]->forward(x)));
  EXPECT_EQ(net.forward(x).to_vector<double>(), expected.to_vector<double>());
  EXPECT_THROW(net[3], Error);
}

TEST(MLP, BuildsLayersActivationsAndOptionalFinalActivation) {
  auto net = make_mlp(MLPOptions({1, 8, 8, 2}).activation(Activation::ELU).dtype(DType::Float64));
  ASSERT_EQ(net->size(), 5u);
  EXPECT_EQ((*net)[1]->type_name(), "ELU");
  EXPECT_EQ((*net)[4]->type_name(), "Linear");
  EXPECT_EQ(net->parameter_count(), (1 * 8 + 8) + (8 * 8 + 8) + (8 * 2 + 2));
  auto with_final = make_mlp(MLPOptions({3, 4}).final_activation(Activation::Sigmoid));
  ASSERT_EQ(with_final->size(), 2u);
  EXPECT_EQ((*with_final)[1]->type_name(), "Sigmoid");
  auto out = with_final->forward(randn({6, 3}));
  EXPECT_EQ(out.shape(), (Shape{6, 4}));
  for (float v : out.to_vector<float>()) {
    EXPECT_GT(v, 0.0f);
    EXPECT_LT(v, 1.0f);
  }
  EXPECT_THROW(make_mlp(MLPOptions({3})), Error);
  EXPECT_EQ(parse_activation("Softplus"), Activation::Softplus);
  EXPECT_THROW(parse_activation("swish"), Error);
}

TEST(MLP, SameGeneratorSeedGivesTheSameInitialWeights) {
  Generator a(42);
  Generator b(42);
  auto net_a = make_mlp(MLPOptions({2, 5, 1}), &a);
  auto net_b = make_mlp(MLPOptions({2, 5, 1}), &b);
  auto pa = net_a->parameters();
  auto pb = net_b->parameters();
  for (std::size_t i = 0; i < pa.size(); ++i) EXPECT_EQ(pa[i].to_vector<float>(), pb[i].to_vector<float>());
}

TEST(Module, StrShowsTheTree) {
  auto net = make_mlp(MLPOptions({1, 4, 1}));
  const std::string text = net->str();
  EXPECT_NE(text.find("Sequential()"), std::string::npos) << text;
  EXPECT_NE(text.find("(0): Linear(in_features=1, out_features=4, bias=true)"), std::string::npos) << text;
  EXPECT_NE(text.find("(1): Tanh()"), std::string::npos) << text;
}

}  // namespace
}  // namespace mech::nn
