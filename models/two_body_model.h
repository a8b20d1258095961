// Two-body trajectory prediction with NeuRLP: an encoder reads the last W observed states and
// writes a linear second-order ODE for the four position coordinates over the next segment,
//     u''_e(t) + sum_d C[e][d](t) u_d(t) = r_e(t),    e, d over (x1, y1, x2, y2),
// with time-varying coupling C (T x 4 x 4) and forcing r (T x 4) from the encoder, started from the
// last state (positions and velocities). The solution u and u' on the segment's grid are the
// predicted positions and velocities; appending them to the window and encoding again rolls the
// prediction forward. Gravity has exactly this form with C = G/|x1 - x2|^3 [[m2 I, -m2 I],
// [-m1 I, m1 I]], so the encoder has to infer the masses and the distance's course from the window.
//
//   mech::models::TwoBodyModel model(mech::models::TwoBodyModelOptions{});
//   auto segment = model.predict_segment(window);     // window (B, W, 8) -> (B, segment, 8)
//   auto path = model.rollout(window, 150);           // (B, 150, 8)
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/generator.h"
#include "models/mechanistic_block.h"
#include "nn/module.h"
#include "nn/sequential.h"

namespace mech::models {

struct TwoBodyModelOptions {
  std::int64_t window = 50;   // W, observed states the encoder reads
  std::int64_t segment = 10;  // states predicted per solve (the grid has segment + 1 points)
  double dt = 0.05;           // sampling interval (the solver's fixed step)
  std::int64_t hidden = 256;  // width of the encoder's two hidden layers
  double gamma = 0.5, alpha = 0.1;
};

class TwoBodyModel : public nn::Module {
 public:
  explicit TwoBodyModel(const TwoBodyModelOptions& options = {}, Generator* generator = nullptr);

  // window (B, W, 8): x1, y1, x2, y2, vx1, vy1, vx2, vy2 per state (any float dtype). Returns the
  // next `segment` states (B, segment, 8) in float64.
  Tensor predict_segment(const Tensor& window);
  // Rolls forward autoregressively: `steps` states after the window (B, steps, 8).
  Tensor rollout(const Tensor& window, std::int64_t steps);
  // Mean squared error of the rollout against `future` (B, n, 8), any n >= 1 (n = segment: one
  // solve; longer: the model is trained on its own predictions, as it is used); positions and
  // velocities weigh alike.
  Tensor loss(const Tensor& window, const Tensor& future);

  const TwoBodyModelOptions& options() const { return options_; }

 private:
  TwoBodyModelOptions options_;
  std::shared_ptr<nn::Sequential> encoder_;
  std::shared_ptr<MechanisticBlock> block_;  // order 2, D = E = 4, positions and velocities given
};

// Euclidean position error of each predicted step, averaged over the two bodies and the batch:
// prediction and truth (B, steps, 8) -> (steps).
std::vector<double> position_error_by_step(const Tensor& prediction, const Tensor& truth);

// The baseline a learned model must beat: every body keeps its last velocity (on the CPU).
Tensor constant_velocity_rollout(const Tensor& window, std::int64_t steps, double dt);

}  // namespace mech::models
