// Layers: Linear and Conv1d against hand-computed outputs, activations, initialisation bounds and
// statistics, and finite-difference checks of a small model's gradients (input and parameters).
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/gradcheck.h"
#include "autograd/grad_mode.h"
#include "nn/nn.h"

namespace mech::nn {
namespace {

const auto f64 = TensorOptions().dtype(DType::Float64);

void expect_near_all(const std::vector<double>& actual, const std::vector<double>& expected, double tolerance) {
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t i = 0; i < actual.size(); ++i) EXPECT_NEAR(actual[i], expected[i], tolerance) << "element " << i;
}

TEST(Linear, ForwardMatchesHandValues) {
  Linear layer(LinearOptions(2, 3).dtype(DType::Float64));
  {
    NoGradGuard no_grad;
    Tensor weight = layer.weight();
    weight.copy_(from_vector<double>({1, 2, 3, 4, 5, 6}, {3, 2}));
    Tensor bias = layer.bias();
    bias.copy_(from_vector<double>({0.5, -1, 2}, {3}));
  }
  Tensor y = layer.forward(from_vector<double>({1, -1, 2, 0.5}, {2, 2}));
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  expect_near_all(y.to_vector<double>(), {-0.5, -2, 1, 3.5, 7, 15}, 1e-14);
  // Leading batch dimensions pass through.
  EXPECT_EQ(layer.forward(zeros({4, 5, 2}, f64)).shape(), (Shape{4, 5, 3}));
  EXPECT_THROW(layer.forward(zeros({2, 3}, f64)), Error);
}

TEST(Linear, WithoutBiasHasOnlyAWeight) {
  Linear layer(LinearOptions(4, 2).bias(false));
  EXPECT_FALSE(layer.bias().defined());
  EXPECT_EQ(layer.named_parameters().size(), 1u);
}

TEST(Linear, DefaultInitStaysWithinOneOverSqrtFanIn) {
  Generator generator(7);
  Linear layer(LinearOptions(16, 64).dtype(DType::Float64), &generator);
  const double bound = 1.0 / std::sqrt(16.0);
  double largest = 0.0;
  for (double v : layer.weight().to_vector<double>()) largest = std::max(largest, std::abs(v));
  for (double v : layer.bias().to_vector<double>()) EXPECT_LE(std::abs(v), bound);
  EXPECT_LE(largest, bound);
  EXPECT_GT(largest, 0.9 * bound);  // 1024 uniform draws come close to the bound
}

Tensor conv_input() { return from_vector<double>({1, 2, 3, 4, 5}, {1, 1, 5}); }

void set_conv(Conv1d& conv) {
  NoGradGuard no_grad;
  Tensor weight = conv.weight();
  weight.copy_(from_vector<double>({1, 2, 3}, {1, 1, 3}));
  Tensor bias = conv.bias();
  bias.fill_(0.5);
}

TEST(Conv1d, ForwardMatchesHandValuesForPaddingStrideDilation) {
  auto base = Conv1dOptions(1, 1, 3).dtype(DType::Float64);
  struct Case {
    Conv1dOptions options;
    std::vector<double> expected;
  };
  const std::vector<Case> cases = {
      {base, {14.5, 20.5, 26.5}},
      {Conv1dOptions(base).padding(1), {8.5, 14.5, 20.5, 26.5, 14.5}},
      {Conv1dOptions(base).padding(1).padding_mode(PaddingMode::Circular), {13.5, 14.5, 20.5, 26.5, 17.5}},
      {Conv1dOptions(base).stride(2), {14.5, 26.5}},
      {Conv1dOptions(base).dilation(2), {22.5}},
  };
  for (const auto& c : cases) {
    Conv1d conv(c.options);
    set_conv(conv);
    Tensor y = conv.forward(conv_input());
    expect_near_all(y.to_vector<double>(), c.expected, 1e-13);
  }
}

TEST(Conv1d, ShapesChannelsAndErrors) {
  Conv1d conv(Conv1dOptions(3, 5, 3).padding(1));
  EXPECT_EQ(conv.weight().shape(), (Shape{5, 3, 3}));
  EXPECT_EQ(conv.forward(randn({2, 3, 10})).shape(), (Shape{2, 5, 10}));
  EXPECT_THROW(conv.forward(randn({2, 4, 10})), Error);
  EXPECT_THROW(conv.forward(randn({3, 10})), Error);
  EXPECT_THROW(Conv1d(Conv1dOptions(3, 5, 0)), Error);
  EXPECT_THROW(Conv1d(Conv1dOptions(3, 5, 3).stride(0)), Error);
}

TEST(Activations, MatchTheirFunctions) {
  Tensor x = from_vector<double>({-2.0, -0.5, 0.0, 0.5, 3.0}, {5});
  const std::vector<double> values = x.to_vector<double>();
  auto check = [&](Module& module, auto function) {
    auto out = module.forward(x).to_vector<double>();
    for (std::size_t i = 0; i < values.size(); ++i) EXPECT_NEAR(out[i], function(values[i]), 1e-14) << module.type_name();
  };
  Tanh tanh_module;
  ReLU relu_module;
  ELU elu_module(0.5);
  Sigmoid sigmoid_module;
  Softplus softplus_module(2.0);
  GELU gelu_module;
  GELU gelu_tanh_module(GeluApproximation::Tanh);
  Identity identity;
  check(tanh_module, [](double v) { return std::tanh(v); });
  check(relu_module, [](double v) { return v > 0 ? v : 0.0; });
  check(elu_module, [](double v) { return v > 0 ? v : 0.5 * (std::exp(v) - 1.0); });
  check(sigmoid_module, [](double v) { return 1.0 / (1.0 + std::exp(-v)); });
  check(softplus_module, [](double v) { return std::log1p(std::exp(2.0 * v)) / 2.0; });
  check(gelu_module, [](double v) { return 0.5 * v * std::erfc(-v / std::sqrt(2.0)); });
  check(gelu_tanh_module, [](double v) {
    return 0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
  });
  check(identity, [](double v) { return v; });
  EXPECT_EQ(gelu_tanh_module.approximate(), GeluApproximation::Tanh);
  EXPECT_EQ(parse_activation("GELU"), Activation::GELU);
  EXPECT_EQ(make_activation(Activation::GELU)->type_name(), "GELU");
}

TEST(Init, BoundsAndMomentsFollowTheFormulas) {
  Generator generator(3);
  Tensor w = empty({200, 50}, f64);  // fan_in 50, fan_out 200
  auto stats = [](const Tensor& t) {
    auto v = t.to_vector<double>();
    double mean = 0, square = 0, largest = 0;
    for (double x : v) {
      mean += x;
      square += x * x;
      largest = std::max(largest, std::abs(x));
    }
    mean /= v.size();
    return std::tuple{mean, std::sqrt(square / v.size() - mean * mean), largest};
  };
  // 10 000 draws: the sample std is within a few percent of the target.
  init::kaiming_uniform_(w, 0.0, init::FanMode::FanIn, init::Nonlinearity::Relu, &generator);
  auto [mean1, std1, max1] = stats(w);
  EXPECT_LE(max1, std::sqrt(6.0 / 50.0));
  EXPECT_NEAR(std1, std::sqrt(2.0 / 50.0), 0.03 * std::sqrt(2.0 / 50.0));
  init::kaiming_normal_(w, 0.0, init::FanMode::FanOut, init::Nonlinearity::Relu, &generator);
  auto [mean2, std2, max2] = stats(w);
  EXPECT_NEAR(std2, std::sqrt(2.0 / 200.0), 0.03 * std::sqrt(2.0 / 200.0));
  EXPECT_NEAR(mean2, 0.0, 0.05 * std::sqrt(2.0 / 200.0));
  init::xavier_uniform_(w, 1.0, &generator);
  auto [mean3, std3, max3] = stats(w);
  EXPECT_LE(max3, std::sqrt(6.0 / 250.0));
  EXPECT_NEAR(std3, std::sqrt(2.0 / 250.0), 0.03 * std::sqrt(2.0 / 250.0));
  init::xavier_normal_(w, 2.0, &generator);
  auto [mean4, std4, max4] = stats(w);
  EXPECT_NEAR(std4, 2.0 * std::sqrt(2.0 / 250.0), 0.03 * 2.0 * std::sqrt(2.0 / 250.0));
  init::uniform_(w, 2.0, 3.0, &generator);
  auto [mean5, std5, max5] = stats(w);
  EXPECT_NEAR(mean5, 2.5, 0.01);
  EXPECT_LE(max5, 3.0);
  init::constant_(w, 0.25);
  for (double v : w.to_vector<double>()) ASSERT_EQ(v, 0.25);
  init::zeros_(w);
  EXPECT_EQ(w.sum().item(), 0.0);
  init::ones_(w);
  EXPECT_EQ(w.sum().item(), 10000.0);
  EXPECT_NEAR(init::calculate_gain(init::Nonlinearity::Tanh), 5.0 / 3.0, 1e-15);
  EXPECT_THROW(init::fan_in_and_fan_out(zeros({3})), Error);
  (void)mean1; (void)mean3; (void)mean4; (void)max2; (void)max4; (void)std5;
}

TEST(Init, SameSeedSameValuesAcrossDTypes) {
  Generator a(11);
  Generator b(11);
  Tensor w64 = empty({4, 3}, f64);
  Tensor w32 = empty({4, 3});
  init::xavier_uniform_(w64, 1.0, &a);
  init::xavier_uniform_(w32, 1.0, &b);
  auto v64 = w64.to_vector<double>();
  auto v32 = w32.to_vector<float>();
  for (std::size_t i = 0; i < v64.size(); ++i) EXPECT_EQ(v32[i], static_cast<float>(v64[i]));
}

TEST(Gradients, SmallModelInputGradientPassesGradcheck) {
  Generator generator(5);
  auto net = make_mlp(MLPOptions({3, 4, 2}).activation(Activation::Tanh).dtype(DType::Float64), &generator);
  auto result = gradcheck([&](const std::vector<Tensor>& in) { return net->forward(in[0]); },
                          {randn({5, 3}, f64, &generator)});
  EXPECT_TRUE(result.ok) << result.message;
  Conv1d conv(Conv1dOptions(2, 3, 3).padding(1).padding_mode(PaddingMode::Circular).dtype(DType::Float64), &generator);
  auto conv_result = gradcheck([&](const std::vector<Tensor>& in) { return tanh(conv.forward(in[0])); },
                               {randn({2, 2, 6}, f64, &generator)});
  EXPECT_TRUE(conv_result.ok) << conv_result.message;
}

// Central differences of the loss with respect to every parameter element, compared with the tape's
// gradients: checks that modules register and use their parameters the way backward sees them.
void check_parameter_gradients(Module& model, const std::function<Tensor()>& loss_function) {
  model.zero_grad();
  loss_function().backward();
  const double step = 1e-6;
  for (const auto& [name, parameter] : model.named_parameters()) {
    ASSERT_TRUE(parameter.grad().defined()) << name;
    const auto analytic = parameter.grad().to_vector<double>();
    double* data = parameter.data_ptr<double>();
    for (std::int64_t i = 0; i < parameter.numel(); ++i) {
      NoGradGuard no_grad;
      const double saved = data[i];
      data[i] = saved + step;
      const double plus = loss_function().item();
      data[i] = saved - step;
      const double minus = loss_function().item();
      data[i] = saved;
      const double numeric = (plus - minus) / (2 * step);
      EXPECT_NEAR(analytic[static_cast<std::size_t>(i)], numeric, 1e-6 + 1e-5 * std::abs(numeric))
          << name << "[" << i << "]";
    }
  }
}

TEST(Gradients, SmallModelParameterGradientsMatchFiniteDifferences) {
  Generator generator(9);
  auto net = make_mlp(MLPOptions({2, 5, 5, 1}).activation(Activation::Softplus).dtype(DType::Float64), &generator);
  Tensor x = randn({7, 2}, f64, &generator);
  Tensor y = randn({7, 1}, f64, &generator);
  check_parameter_gradients(*net, [&] { return mse_loss(net->forward(x), y); });

  Sequential conv_net{std::make_shared<Conv1d>(Conv1dOptions(1, 2, 3).stride(2).dilation(1).dtype(DType::Float64), &generator),
                      std::make_shared<ELU>(),
                      std::make_shared<Conv1d>(Conv1dOptions(2, 1, 2).padding(1).dtype(DType::Float64), &generator)};
  Tensor signal = randn({3, 1, 9}, f64, &generator);
  check_parameter_gradients(conv_net, [&] { return pow(conv_net.forward(signal), 2.0).mean(); });
}

}  // namespace
}  // namespace mech::nn
