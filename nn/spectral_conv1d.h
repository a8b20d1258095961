// SpectralConv1d: the Fourier layer of a Fourier Neural Operator over (N, C_in, P) -> (N, C_out, P).
// The input's real FFT over space keeps its first `modes` bins; each kept bin's C_in complex
// values are mixed into C_out by a learned complex matrix of its own; the other bins are zeroed and
// the inverse FFT returns to P points:
//   out[n, o] = irfft_P( k < modes ? sum_i rfft(x[n, i])_k W[i, o, k] : 0 ).
// Weight (C_in, C_out, modes, 2): real and imaginary parts, both uniform in [0, 1/(C_in C_out)).
// Built from differentiable framework ops (rfft, matmul, cat, irfft), so it runs on any device
// those run on. No bias: an FNO block adds a pointwise convolution beside it.
#pragma once

#include <cstdint>

#include "core/generator.h"
#include "nn/module.h"

namespace mech::nn {

// The layer as a function: input (N, C_in, P), weight (C_in, C_out, modes, 2) -> (N, C_out, P).
Tensor spectral_conv1d(const Tensor& input, const Tensor& weight);

struct SpectralConv1dOptions {
  SpectralConv1dOptions(std::int64_t in_channels, std::int64_t out_channels, std::int64_t modes)
      : in_channels_(in_channels), out_channels_(out_channels), modes_(modes) {}
  SpectralConv1dOptions& dtype(DType value) { dtype_ = value; return *this; }
  std::int64_t in_channels() const { return in_channels_; }
  std::int64_t out_channels() const { return out_channels_; }
  std::int64_t modes() const { return modes_; }  // kept bins: at most P/2 + 1 for P points
  DType dtype() const { return dtype_; }

 private:
  std::int64_t in_channels_;
  std::int64_t out_channels_;
  std::int64_t modes_;
  DType dtype_ = DType::Float32;
};

class SpectralConv1d : public Module {
 public:
  explicit SpectralConv1d(const SpectralConv1dOptions& options, Generator* generator = nullptr);

  // input (N, C_in, P) with P/2 + 1 >= modes -> (N, C_out, P).
  Tensor forward(const Tensor& input) override;
  void reset_parameters(Generator* generator = nullptr);

  const SpectralConv1dOptions& options() const { return options_; }
  Tensor weight() const { return weight_; }

 protected:
  std::string extra_repr() const override;

 private:
  SpectralConv1dOptions options_;
  Tensor weight_;
};

}  // namespace mech::nn
