// The FNO1d KdV baseline: shapes, parameter counts of both presets, the increment over the last
// frame, circular-shift equivariance (and the grid channel breaking it), gradients reaching every
// parameter, fitting a tiny batch of travelling waves, and its errors.
#include <cmath>
#include <cstdint>
#include <numbers>
#include <vector>

#include <gtest/gtest.h>

#include "autograd/grad_mode.h"
#include "core/error.h"
#include "core/generator.h"
#include "models/kdv_fno.h"
#include "models/model_test_helpers.h"
#include "nn/adam.h"

namespace mech::models {
namespace {

using namespace mech::model_tests;

KdvFnoOptions tiny() { return KdvFnoOptions().width(8).modes(5).layers(2).projection_width(16); }

// (B, F, P) float32 frames of two travelling sine modes per sample, u = sum_m a_m sin(2 pi m (x/P -
// c_m t) + phi_m), amplitudes, speeds and phases drawn from `seed`.
Tensor sine_waves(std::int64_t batch, std::int64_t frames, std::int64_t points, std::uint64_t seed) {
  Generator generator(seed);
  // Per sample and mode: amplitude, speed (fraction of the domain per frame), phase.
  const auto draws = rand({batch, 2, 3}, TensorOptions().dtype(DType::Float64), &generator).to_vector<double>();
  std::vector<float> u(static_cast<std::size_t>(batch * frames * points));
  for (std::int64_t b = 0; b < batch; ++b) {
    for (std::int64_t m = 1; m <= 2; ++m) {
      const double* d = &draws[static_cast<std::size_t>((b * 2 + m - 1) * 3)];
      const double amplitude = 0.2 + 0.8 * d[0], speed = 0.005 + 0.015 * d[1], phase = 2 * std::numbers::pi * d[2];
      for (std::int64_t t = 0; t < frames; ++t) {
        for (std::int64_t j = 0; j < points; ++j) {
          const double x = static_cast<double>(j) / static_cast<double>(points);
          u[static_cast<std::size_t>((b * frames + t) * points + j)] += static_cast<float>(
              amplitude * std::sin(2 * std::numbers::pi * static_cast<double>(m) * (x - speed * static_cast<double>(t)) + phase));
        }
      }
    }
  }
  return from_vector<float>(u, {batch, frames, points});
}

Tensor roll_space(const Tensor& x, std::int64_t shift) {
  const std::int64_t points = x.size(-1);
  return cat({x.narrow(-1, points - shift, shift), x.narrow(-1, 0, points - shift)}, -1);
}

TEST(KdvFno, PredictsNineFramesOfTheInputShape) {
  OneThread one_thread;
  KdvFno model(tiny());
  EXPECT_EQ(model.kind(), "fno");
  const Tensor frames = sine_waves(3, kKdvInputFrames, 16, 1);
  const Tensor next = model.predict(frames);
  EXPECT_EQ(next.shape(), (Shape{3, kKdvAdvance, 16}));
  EXPECT_EQ(next.dtype(), DType::Float32);
  // float64 frames are read as float32, like the other KdV models.
  EXPECT_EQ(model.predict(frames.to(DType::Float64)).dtype(), DType::Float32);
  EXPECT_NE(model.str().find("modes=5"), std::string::npos) << model.str();
}

TEST(KdvFno, ParameterCountsOfThePresets) {
  // lift (10 [+ grid]) w + w; per layer the spectral weight w w modes 2 and the pointwise w w + w;
  // the projection w h + h and h 9 + 9.
  auto expected = [](std::int64_t w, std::int64_t modes, std::int64_t layers, bool grid, std::int64_t h) {
    return (10 + (grid ? 1 : 0)) * w + w + layers * (w * w * modes * 2 + w * w + w) + w * h + h + h * 9 + 9;
  };
  EXPECT_EQ(KdvFno(KdvFnoOptions::demo()).parameter_count(), expected(48, 16, 4, false, 128));
  EXPECT_EQ(expected(48, 16, 4, false, 128), 312281);
  // The paper preset is not built here (21 M parameters take seconds to draw).
  const KdvFnoOptions paper = KdvFnoOptions::paper();
  EXPECT_EQ(expected(paper.width(), paper.modes(), paper.layers(), paper.grid(), paper.projection_width()),
            21337353);
  EXPECT_EQ(KdvFno(tiny().grid(true)).parameter_count(), expected(8, 5, 2, true, 16));
}

// The network predicts increments: with a zero last layer every predicted frame is the last input.
TEST(KdvFno, PredictsIncrementsOverTheLastFrame) {
  OneThread one_thread;
  KdvFno model(tiny());
  {
    NoGradGuard no_grad;
    model.find_tensor("project_out.weight").fill_(0.0);
    model.find_tensor("project_out.bias").fill_(0.0);
  }
  const Tensor frames = sine_waves(2, kKdvInputFrames, 16, 2);
  const auto predicted = model.predict(frames).contiguous().to_vector<float>();
  const auto last = frames.narrow(1, kKdvInputFrames - 1, 1).expand({2, kKdvAdvance, 16}).contiguous().to_vector<float>();
  ASSERT_EQ(predicted.size(), last.size());
  for (std::size_t i = 0; i < last.size(); ++i) ASSERT_EQ(predicted[i], last[i]) << i;
}

TEST(KdvFno, IsEquivariantToCircularShiftsWithoutTheGrid) {
  OneThread one_thread;
  Generator generator(3);
  const Tensor frames = sine_waves(2, kKdvInputFrames, 16, 3);
  NoGradGuard no_grad;
  KdvFno model(tiny(), &generator);
  const auto shifted = model.predict(roll_space(frames, 5)).contiguous().to_vector<float>();
  const auto expected = roll_space(model.predict(frames), 5).contiguous().to_vector<float>();
  for (std::size_t i = 0; i < shifted.size(); ++i) ASSERT_NEAR(shifted[i], expected[i], 1e-5) << i;
  // The grid channel tells the layers where they are: no longer equivariant.
  KdvFno located(tiny().grid(true), &generator);
  const auto a = located.predict(roll_space(frames, 5)).contiguous().to_vector<float>();
  const auto b = roll_space(located.predict(frames), 5).contiguous().to_vector<float>();
  double apart = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) apart = std::max(apart, static_cast<double>(std::abs(a[i] - b[i])));
  EXPECT_GT(apart, 1e-3);
}

TEST(KdvFno, GradientsReachEveryParameter) {
  OneThread one_thread;
  for (const bool grid : {false, true}) {
    KdvFno model(tiny().grid(grid));
    model.loss(sine_waves(2, kKdvWindowFrames, 16, 4)).backward();
    for (const auto& [name, parameter] : model.named_parameters()) {
      ASSERT_TRUE(parameter.grad().defined()) << name;
      const double norm = sum(parameter.grad() * parameter.grad()).item();
      EXPECT_GT(norm, 0.0) << name;
      EXPECT_TRUE(std::isfinite(norm)) << name;
    }
  }
}

TEST(KdvFno, FitsATinyBatchOfTravellingWaves) {
  OneThread one_thread;
  Generator generator(5);
  KdvFno model(KdvFnoOptions().width(16).modes(6).layers(2).projection_width(32), &generator);
  const Tensor window = sine_waves(4, kKdvWindowFrames, 32, 6);
  // Measured: 9.2 -> 0.5 (lr 3e-3 gives 9.2 -> 1.2, 3e-2 9.2 -> 1.0).
  nn::Adam optimizer(model.parameters(), nn::AdamOptions(1e-2));
  double first = 0.0, last = 0.0;
  for (int step = 0; step < 60; ++step) {
    optimizer.zero_grad();
    const Tensor loss = model.loss(window);
    loss.backward();
    optimizer.step();
    (step == 0 ? first : last) = loss.item();
  }
  EXPECT_LT(last, first / 10.0) << first << " -> " << last;
}

TEST(KdvFno, BadFramesAndOptionsAreErrors) {
  KdvFno model(tiny());
  try {
    model.predict(zeros({2, 9, 16}));
    ADD_FAILURE() << "no error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("KdvFno::predict"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("[2, 9, 16]"), std::string::npos) << error.what();
  }
  // 5 modes need P/2 + 1 >= 5.
  try {
    model.predict(zeros({2, kKdvInputFrames, 7}));
    ADD_FAILURE() << "no error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("5 Fourier modes"), std::string::npos) << error.what();
  }
  EXPECT_THROW(KdvFno(tiny().modes(0)), Error);
  EXPECT_THROW(KdvFno(tiny().width(0)), Error);
}

}  // namespace
}  // namespace mech::models
