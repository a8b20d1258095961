// The FNO1d baseline for KdV (LPSDA style; models/README.md, "FNO baseline"): the 10 input frames
// (and optionally a grid channel x/L) are lifted pointwise to `width` channels, pass `layers` Fourier layers
// (a SpectralConv1d keeping `modes` bins beside a pointwise Conv1d, summed, then GELU but after
// the last), and are projected pointwise through 128 channels to the 9 increments that are added
// to the last input frame.
//
//   auto fno = std::make_shared<KdvFno>(KdvFnoOptions::demo());
//   Tensor next = fno->predict(frames);   // (B, 10, P) -> (B, 9, P), P/2 + 1 >= modes
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/generator.h"
#include "models/kdv_model.h"
#include "nn/conv1d.h"
#include "nn/spectral_conv1d.h"

namespace mech::models {

struct KdvFnoOptions {
  KdvFnoOptions& width(std::int64_t value) { width_ = value; return *this; }
  KdvFnoOptions& modes(std::int64_t value) { modes_ = value; return *this; }
  KdvFnoOptions& layers(std::int64_t value) { layers_ = value; return *this; }
  KdvFnoOptions& projection_width(std::int64_t value) { projection_width_ = value; return *this; }
  // Append the grid x/L = j/P as an input channel (the FNO reference does). Off by default: without
  // it the model commutes with circular shifts of space, as the periodic KdV dynamics does.
  KdvFnoOptions& grid(bool value) { grid_ = value; return *this; }
  std::int64_t width() const { return width_; }
  std::int64_t modes() const { return modes_; }
  std::int64_t layers() const { return layers_; }
  std::int64_t projection_width() const { return projection_width_; }
  bool grid() const { return grid_; }

  // The 2-core CPU demo (10-minute budget): width 48, 16 modes, 4 layers.
  static KdvFnoOptions demo();
  // The paper-scale baseline: width 256, 32 modes, 5 layers.
  static KdvFnoOptions paper();

 private:
  std::int64_t width_ = 48;
  std::int64_t modes_ = 16;
  std::int64_t layers_ = 4;
  std::int64_t projection_width_ = 128;
  bool grid_ = false;
};

class KdvFno : public KdvModel {
 public:
  explicit KdvFno(const KdvFnoOptions& options = KdvFnoOptions::demo(), Generator* generator = nullptr);
  Tensor predict(const Tensor& frames) override;
  std::string kind() const override { return "fno"; }
  const KdvFnoOptions& options() const { return options_; }

 protected:
  std::string extra_repr() const override;

 private:
  KdvFnoOptions options_;
  std::shared_ptr<nn::Conv1d> lift_;
  std::vector<std::shared_ptr<nn::SpectralConv1d>> spectral_;
  std::vector<std::shared_ptr<nn::Conv1d>> pointwise_;
  std::shared_ptr<nn::Conv1d> project_hidden_, project_out_;
};

}  // namespace mech::models
