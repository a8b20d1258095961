// Conv1d: 1-D cross-correlation over (N, C_in, L) -> (N, C_out, L_out), as torch::nn::Conv1d,
// with stride, dilation and zero or circular padding. L_out = (L + 2 padding - dilation (K - 1) - 1)
// / stride + 1. Weight (C_out, C_in, K) and bias (C_out) start uniform in +-1/sqrt(C_in K).
#pragma once

#include <cstdint>

#include "core/generator.h"
#include "nn/module.h"

namespace mech::nn {

struct Conv1dOptions {
  Conv1dOptions(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}
  Conv1dOptions& stride(std::int64_t value) { stride_ = value; return *this; }
  Conv1dOptions& padding(std::int64_t value) { padding_ = value; return *this; }
  Conv1dOptions& dilation(std::int64_t value) { dilation_ = value; return *this; }
  Conv1dOptions& padding_mode(PaddingMode value) { padding_mode_ = value; return *this; }
  Conv1dOptions& bias(bool value) { bias_ = value; return *this; }
  Conv1dOptions& dtype(DType value) { dtype_ = value; return *this; }
  std::int64_t in_channels() const { return in_channels_; }
  std::int64_t out_channels() const { return out_channels_; }
  std::int64_t kernel_size() const { return kernel_size_; }
  std::int64_t stride() const { return stride_; }
  std::int64_t padding() const { return padding_; }
  std::int64_t dilation() const { return dilation_; }
  PaddingMode padding_mode() const { return padding_mode_; }
  bool bias() const { return bias_; }
  DType dtype() const { return dtype_; }

 private:
  std::int64_t in_channels_;
  std::int64_t out_channels_;
  std::int64_t kernel_size_;
  std::int64_t stride_ = 1;
  std::int64_t padding_ = 0;
  std::int64_t dilation_ = 1;
  PaddingMode padding_mode_ = PaddingMode::Zeros;
  bool bias_ = true;
  DType dtype_ = DType::Float32;
};

class Conv1d : public Module {
 public:
  explicit Conv1d(const Conv1dOptions& options, Generator* generator = nullptr);

  Tensor forward(const Tensor& input) override;
  void reset_parameters(Generator* generator = nullptr);

  const Conv1dOptions& options() const { return options_; }
  Tensor weight() const { return weight_; }
  Tensor bias() const { return bias_; }

 protected:
  std::string extra_repr() const override;

 private:
  Conv1dOptions options_;
  Tensor weight_;
  Tensor bias_;
};

}  // namespace mech::nn
