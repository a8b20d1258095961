// Tests of models/MechanisticBlock: analytic solutions through the block (harmonic oscillator with
// constant coefficients, the same with time-varying coefficients), float64 gradient checks of every
// input including the step logits, gradients reaching an encoder, step clipping and shape errors.
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "autograd/gradcheck.h"
#include "core/error.h"
#include "core/generator.h"
#include "models/mechanistic_block.h"
#include "nn/linear.h"

namespace mech::models {
namespace {

const TensorOptions kF64 = TensorOptions().dtype(DType::Float64);

// u'' + u = 0, u(0) = 0, u'(0) = 1 on T points of step h: the solution is sin t.
struct Oscillator {
  std::int64_t T = 201;
  double h = 0.01;
  Tensor coefficients() const { return from_vector<double>({1.0, 0.0, 1.0}, {1, 1, 1, 3}, kF64); }
  Tensor rhs() const { return zeros({1, 1, T}, kF64); }
  Tensor iv() const { return from_vector<double>({0.0, 1.0}, {1, 1, 1, 2}, kF64); }
  // The logit whose sigmoid, times max_step, is h.
  Tensor step_logits(double max_step) const {
    double p = h / max_step;
    return full({1, T - 1, 1}, std::log(p / (1 - p)), kF64);
  }
};

double max_error_against(const Tensor& values, double h, double (*truth)(double)) {
  std::vector<double> v = values.to_vector<double>();
  double worst = 0.0;
  for (size_t t = 0; t < v.size(); ++t) worst = std::max(worst, std::abs(v[t] - truth(h * static_cast<double>(t))));
  return worst;
}

TEST(MechanisticBlock, HarmonicOscillatorMatchesSinAndCos) {
  Oscillator problem;
  // gamma*alpha = 0: the paper's rows are then second order (the formulations: solvers/README.md),
  // about 5.5e-4 at h = 0.01 over 10 s; here over 2 s the error is smaller still.
  MechanisticBlock block(MechanisticBlockOptions().order(2).iv_count(2).gamma(0.0).max_step(0.1));
  MechanisticSolution out = block.forward(problem.coefficients(), problem.rhs(), problem.iv(), problem.step_logits(0.1));
  ASSERT_EQ(out.u.shape(), Shape({1, problem.T, 1, 3}));
  EXPECT_NEAR(out.steps.to_vector<double>()[7], problem.h, 1e-15);
  double value_error = max_error_against(out.value(), problem.h, [](double t) { return std::sin(t); });
  double slope_error = max_error_against(out.derivative(1), problem.h, [](double t) { return std::cos(t); });
  double curvature_error = max_error_against(out.derivative(2), problem.h, [](double t) { return -std::sin(t); });
  EXPECT_LT(value_error, 1e-4);
  EXPECT_LT(slope_error, 1e-4);
  EXPECT_LT(curvature_error, 1e-4);
  // And it is the ODE's solution, not a coincidence of the grid: a tenth of the step is more accurate.
  Oscillator fine;
  fine.T = 2001, fine.h = 0.001;
  MechanisticSolution finer = block.forward(fine.coefficients(), fine.rhs(), fine.iv(), fine.step_logits(0.1));
  EXPECT_LT(max_error_against(finer.value(), fine.h, [](double t) { return std::sin(t); }), value_error / 20);
}

TEST(MechanisticBlock, DefaultRelaxationStaysNearTheSolution) {
  // gamma*alpha = 0.05 (the paper's default) leaves a floor near 1e-3 at h = 0.01 (solvers/README.md).
  Oscillator problem;
  MechanisticBlock block(MechanisticBlockOptions().order(2).iv_count(2));
  MechanisticSolution out = block.forward(problem.coefficients(), problem.rhs(), problem.iv(), problem.step_logits(0.1));
  EXPECT_LT(max_error_against(out.value(), problem.h, [](double t) { return std::sin(t); }), 5e-3);
}

TEST(MechanisticBlock, TimeVaryingCoefficientsEqualToConstantGiveTheSameSolution) {
  Oscillator problem;
  problem.T = 40;
  MechanisticBlock block(MechanisticBlockOptions().order(2).iv_count(2));
  Tensor constant = problem.coefficients();
  Tensor varying = constant.unsqueeze(2).expand({1, 1, problem.T, 1, 3}).contiguous();
  Tensor logits = problem.step_logits(0.1);
  std::vector<double> a = block.forward(constant, problem.rhs(), problem.iv(), logits).u.to_vector<double>();
  std::vector<double> b = block.forward(varying, problem.rhs(), problem.iv(), logits).u.to_vector<double>();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << i;
}

TEST(MechanisticBlock, StepsAreSigmoidScaledAndClippedBelow) {
  MechanisticBlock block(MechanisticBlockOptions().min_step(0.01).max_step(0.2));
  std::vector<double> steps = block.steps_from_logits(from_vector<double>({-20.0, 0.0, 20.0}, {3}, kF64)).to_vector<double>();
  EXPECT_DOUBLE_EQ(steps[0], 0.01);  // 0.2 * sigmoid(-20) ~ 4e-10 is clipped
  EXPECT_DOUBLE_EQ(steps[1], 0.1);
  EXPECT_NEAR(steps[2], 0.2, 1e-9);
}

TEST(MechanisticBlock, GradcheckOfEveryInput) {
  // B 2, E 2, T 6, D 2, K 3, S 1, n_iv 2, mnn: every input of the block against central differences.
  // (Coupled equations, E = D, so the system is determined by its ODE rather than only by the
  // smoothness rows.)
  Generator generator(11);
  const std::int64_t B = 2, T = 6, D = 2;
  MechanisticBlock block(MechanisticBlockOptions().order(2).dimensions(D).equations(D).iv_count(2).max_step(0.5));
  Tensor coefficients = rand({B, D, D, 3}, kF64, &generator, 0.5, 1.5);
  Tensor rhs = randn({B, D, T}, kF64, &generator);
  Tensor iv = randn({B, 1, D, 2}, kF64, &generator);
  Tensor logits = randn({B, T - 1, D}, kF64, &generator);
  auto function = [&](const std::vector<Tensor>& in) { return block.forward(in[0], in[1], in[2], in[3]).u; };
  GradcheckResult result = gradcheck(function, {coefficients, rhs, iv, logits},
                                     GradcheckOptions().with_step(1e-6).with_atol(1e-6).with_rtol(1e-4));
  EXPECT_TRUE(result.ok) << result.message;
}

TEST(MechanisticBlock, GradcheckOfTimeVaryingCoefficientsInTheScalableFormulation) {
  Generator generator(12);
  const std::int64_t B = 1, T = 5;
  MechanisticBlock block(MechanisticBlockOptions().order(1).iv_count(1).formulation(Formulation::Scalable).smooth_weight(2.0));
  Tensor coefficients = rand({B, 1, T, 1, 2}, kF64, &generator, 0.5, 1.5);
  Tensor rhs = randn({B, 1, T}, kF64, &generator);
  Tensor iv = randn({B, 1, 1, 1}, kF64, &generator);
  Tensor logits = randn({B, T - 1, 1}, kF64, &generator);
  auto function = [&](const std::vector<Tensor>& in) { return block.forward(in[0], in[1], in[2], in[3]).u; };
  GradcheckResult result = gradcheck(function, {coefficients, rhs, iv, logits});
  EXPECT_TRUE(result.ok) << result.message;
}

TEST(MechanisticBlock, GradientsReachTheEncoder) {
  // A Linear encoder maps a feature vector to the coefficients, rhs and initial values; the loss on
  // u must give every encoder parameter a gradient, and it must match central differences.
  Generator generator(5);
  const std::int64_t B = 2, T = 6;
  auto encoder = std::make_shared<nn::Linear>(nn::LinearOptions(3, 3 + T + 2).dtype(DType::Float64), &generator);
  MechanisticBlock block(MechanisticBlockOptions().order(2).iv_count(2));
  Tensor features = randn({B, 3}, kF64, &generator);
  Tensor logits = full({B, T - 1, 1}, -1.0, kF64);
  auto solve = [&](const Tensor& weight) {
    Tensor code = matmul(features, weight.t()) + encoder->bias();
    Tensor coefficients = (code.narrow(1, 0, 3) + 2.0).reshape({B, 1, 1, 3});
    Tensor rhs = code.narrow(1, 3, T).reshape({B, 1, T});
    Tensor iv = code.narrow(1, 3 + T, 2).reshape({B, 1, 1, 2});
    return block.forward(coefficients, rhs, iv, logits).value();
  };
  Tensor loss = pow(solve(encoder->weight()), 2.0).sum();
  loss.backward();
  ASSERT_TRUE(encoder->weight().grad().defined());
  ASSERT_TRUE(encoder->bias().grad().defined());
  double norm = 0.0;
  for (double g : encoder->weight().grad().to_vector<double>()) norm += g * g;
  EXPECT_GT(norm, 0.0);
  GradcheckResult result = gradcheck([&](const std::vector<Tensor>& in) { return solve(in[0]); },
                                     {encoder->weight().detach().clone()});
  EXPECT_TRUE(result.ok) << result.message;
}

TEST(MechanisticBlock, ShapeErrorsNameTheBlockAndTheShapes) {
  MechanisticBlock block(MechanisticBlockOptions().order(2).iv_count(2));
  Tensor rhs = zeros({1, 1, 8}, kF64), iv = zeros({1, 1, 1, 2}, kF64), logits = zeros({1, 7, 1}, kF64);
  try {
    block.forward(zeros({1, 1, 1, 2}, kF64), rhs, iv, logits);
    FAIL() << "wrong K accepted";
  } catch (const Error& error) {
    std::string message = error.what();
    EXPECT_NE(message.find("MechanisticBlock"), std::string::npos) << message;
    EXPECT_NE(message.find("[1, 1, 1, 2]"), std::string::npos) << message;
  }
  EXPECT_THROW(block.forward(zeros({1, 1, 1, 3}, kF64), rhs, iv, zeros({1, 8, 1}, kF64)), Error);
  EXPECT_THROW(block.forward(zeros({1, 1, 1, 3}, kF64), rhs, zeros({1, 1, 1, 1}, kF64), logits), Error);
  EXPECT_THROW(block.forward(zeros({1, 1, 5, 1, 3}, kF64), rhs, iv, logits), Error);
  EXPECT_THROW(MechanisticBlock(MechanisticBlockOptions().order(2).iv_count(3)), Error);
  EXPECT_THROW(MechanisticBlock(MechanisticBlockOptions().min_step(0.2).max_step(0.1)), Error);
}

}  // namespace
}  // namespace mech::models
