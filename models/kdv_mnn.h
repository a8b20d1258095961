// The paper's MNN model for KdV: one scalar linear ODE of order 4 in time per spatial point,
// written by ResNet encoders over the 10 input frames and solved by the Mechanistic Block on 10
// grid points (models/README.md, "KdV").
//
//   coefficients: ResNet1d -> Conv1d to 10 steps x 5 coefficients per point  c_k(t, x)
//   rhs:          ResNet1d -> Conv1d to 10 values per point                   r(t, x)
//   iv:           small CNN -> Linear to u', u'', u''' per point; u(0) = the last input frame
//   step:         small CNN -> Linear to one step per sample (sigmoid, starts at 0.05, >= 1e-3)
//   sum_k c_k(t, x) d^k u / dt^k = r(t, x), solved for B x P systems in ONE NeuRLP call (float64,
//   gamma*alpha = 0: plain least squares); the solution's grid points 1..9 are the 9 frames.
//
//   auto model = std::make_shared<KdvMnn>(KdvMnnOptions::demo());
//   Tensor next = model->predict(frames);   // (B, 10, P) -> (B, 9, P)
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/generator.h"
#include "models/kdv_model.h"
#include "models/kdv_resnet.h"
#include "models/mechanistic_block.h"
#include "nn/linear.h"
#include "nn/sequential.h"

namespace mech::models {

// A plain strided CNN (circular padding, ReLU between layers) flattened into a Linear layer.
struct KdvCnnHeadOptions {
  std::vector<std::int64_t> widths;   // output channels per layer
  std::vector<std::int64_t> strides;  // one per layer
  std::int64_t kernel_size = 5;
  // Points after the strides for P input points.
  std::int64_t out_points(std::int64_t points) const;
};

struct KdvMnnOptions {
  KdvMnnOptions& width(std::int64_t value) { width_ = value; return *this; }
  KdvMnnOptions& kernel_size(std::int64_t value) { kernel_size_ = value; return *this; }
  KdvMnnOptions& blocks(std::int64_t value) { blocks_ = value; return *this; }
  KdvMnnOptions& widen_every(std::int64_t value) { widen_every_ = value; return *this; }
  KdvMnnOptions& head_kernel_size(std::int64_t value) { head_kernel_size_ = value; return *this; }
  KdvMnnOptions& iv_head(const KdvCnnHeadOptions& value) { iv_head_ = value; return *this; }
  KdvMnnOptions& step_head(const KdvCnnHeadOptions& value) { step_head_ = value; return *this; }
  KdvMnnOptions& points(std::int64_t value) { points_ = value; return *this; }
  KdvMnnOptions& initial_step(double value) { initial_step_ = value; return *this; }
  KdvMnnOptions& min_step(double value) { min_step_ = value; return *this; }
  // One trunk feeding both the coefficient and the rhs heads (the paper has two).
  KdvMnnOptions& shared_trunk(bool value) { shared_trunk_ = value; return *this; }
  // Start the coefficient head near the first-order ODE u' = r (bias c_1 = 1, c_4 = 0.1, the
  // others 0; weights scaled by coefficient_init_scale) instead of PyTorch's default random init
  // (the paper's).
  KdvMnnOptions& first_order_start(bool value) { first_order_start_ = value; return *this; }
  KdvMnnOptions& coefficient_init_scale(double value) { coefficient_init_scale_ = value; return *this; }
  // Multiplies the iv head's initial Linear weights and bias (1: PyTorch's default init, the
  // paper's); small values start u', u'', u''' near zero, the solution near the last frame.
  KdvMnnOptions& iv_init_scale(double value) { iv_init_scale_ = value; return *this; }
  std::int64_t width() const { return width_; }
  std::int64_t kernel_size() const { return kernel_size_; }
  std::int64_t blocks() const { return blocks_; }
  std::int64_t widen_every() const { return widen_every_; }
  std::int64_t head_kernel_size() const { return head_kernel_size_; }
  const KdvCnnHeadOptions& iv_head() const { return iv_head_; }
  const KdvCnnHeadOptions& step_head() const { return step_head_; }
  std::int64_t points() const { return points_; }
  double initial_step() const { return initial_step_; }
  double min_step() const { return min_step_; }
  bool shared_trunk() const { return shared_trunk_; }
  bool first_order_start() const { return first_order_start_; }
  double coefficient_init_scale() const { return coefficient_init_scale_; }
  double iv_init_scale() const { return iv_init_scale_; }
  // The two encoders' trunk (zero-padded skips, as the paper's).
  ResNet1dOptions trunk() const;

  // The 2-core CPU demo (10-minute budget).
  static KdvMnnOptions demo();
  // The paper's: width 64 -> 128 -> 256, kernel 9, 10 blocks, the paper's iv and step CNNs.
  static KdvMnnOptions paper();

 private:
  std::int64_t width_ = 64;
  std::int64_t kernel_size_ = 9;
  std::int64_t blocks_ = 10;
  std::int64_t widen_every_ = 4;
  std::int64_t head_kernel_size_ = 7;
  KdvCnnHeadOptions iv_head_;
  KdvCnnHeadOptions step_head_;
  std::int64_t points_ = 256;
  double initial_step_ = 0.05;
  double min_step_ = 1e-3;
  bool shared_trunk_ = false;
  bool first_order_start_ = false;
  double coefficient_init_scale_ = 0.1;
  double iv_init_scale_ = 1.0;
};

class KdvMnn : public KdvModel {
 public:
  static constexpr int kOrder = 4;  // u'''' is the highest derivative; K = 5 coefficients
  static constexpr std::int64_t kGridPoints = kKdvAdvance + 1;  // the iv and the 9 predicted frames

  explicit KdvMnn(const KdvMnnOptions& options = KdvMnnOptions::demo(), Generator* generator = nullptr);
  // The 9 frames after frames' last: the solution's grid points 1..9.
  Tensor predict(const Tensor& frames) override;
  std::string kind() const override { return "mnn"; }
  // The whole solution for frames (B, 10, P): (B, 10, P, 5), u, u', ..., u'''' at the 10 grid
  // points (grid point 0 is the initial value).
  Tensor solve(const Tensor& frames);
  // The step size per sample (B) for frames (B, 10, P).
  Tensor steps(const Tensor& frames);
  const KdvMnnOptions& options() const { return options_; }

 private:
  Tensor step_logits(const Tensor& frames);

  KdvMnnOptions options_;
  std::shared_ptr<ResNet1d> coefficient_trunk_, rhs_trunk_;
  std::shared_ptr<nn::Conv1d> coefficient_head_, rhs_head_;
  std::shared_ptr<nn::Sequential> iv_cnn_, step_cnn_;
  std::shared_ptr<nn::Linear> iv_out_, step_out_;
  std::shared_ptr<MechanisticBlock> block_;
};

}  // namespace mech::models
