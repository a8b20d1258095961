// Differentiable real FFTs over the last dimension, as torch.view_as_real(torch.fft.rfft(x)) and
// torch.fft.irfft(torch.view_as_complex(z), n) with norm "backward": complex values are (re, im)
// pairs in a trailing dimension of size 2.
//
// The gradients are the exact adjoints of the real-linear maps the forwards compute. With
// m = n/2+1 bins and G_k = g_re_k + i g_im_k the incoming gradient of rfft,
//   d/dx_j = Re sum_{k<m} G_k exp(+2 pi i j k / n),
// which is n * irfft(G') where G' halves the bins 1..ceil(n/2)-1: irfft counts those twice
// (they stand for themselves and their conjugate mirror), bin 0 and, for even n, bin n/2 once.
// Conversely irfft's gradient is rfft(g) / n with those interior bins doubled and the imaginary
// parts of bin 0 and (even n) bin n/2 zeroed, since irfft ignores them. Both backwards are built
// from the forward ops, so they are differentiable again.
#include <vector>

#include "autograd/node.h"
#include "autograd/ops_common.h"

namespace mech {

namespace {

// Whether bin k of an n-point real spectrum stands for a conjugate pair (counted twice by irfft).
bool paired_bin(std::int64_t k, std::int64_t n) { return k > 0 && 2 * k < n; }

// A constant (m, width) tensor of per-bin factors, in like's dtype and on its device.
Tensor bin_factors(const std::vector<double>& values, std::int64_t bins, std::int64_t width, const Tensor& like) {
  return from_vector<double>(values, {bins, width}).to(like.dtype()).to(like.device());
}

}  // namespace

Tensor rfft(const Tensor& input) {
  detail::check_float("rfft", input);
  MECH_CHECK(input.dim() >= 1 && input.size(-1) >= 1,
             "rfft: expected a real input (..., n) with n >= 1 over its last dimension, got shape {}",
             shape_str(input.shape()));
  const std::int64_t n = input.size(-1), bins = n / 2 + 1;
  Shape out_shape = input.shape();
  out_shape.back() = bins;
  out_shape.push_back(2);
  Tensor out = empty(out_shape, detail::options_of(input));
  kernels::fft_real_forward(input.detach().contiguous(), out);
  if (detail::will_record("rfft", {input}, out)) {
    record("rfft", {input}, {out}, [n, bins](const std::vector<Tensor>& g) {
      std::vector<double> weights(static_cast<std::size_t>(bins));
      for (std::int64_t k = 0; k < bins; ++k) weights[static_cast<std::size_t>(k)] = paired_bin(k, n) ? 0.5 : 1.0;
      const Tensor halved = g[0] * bin_factors(weights, bins, 1, g[0]);
      return std::vector<Tensor>{irfft(halved, n) * static_cast<double>(n)};
    });
  }
  return out;
}

Tensor irfft(const Tensor& input, std::int64_t n) {
  detail::check_float("irfft", input);
  MECH_CHECK(n >= 1, "irfft: output length n must be >= 1, got {} (input shape {})", n, shape_str(input.shape()));
  const std::int64_t bins = n / 2 + 1;
  MECH_CHECK(input.dim() >= 2 && input.size(-1) == 2 && input.size(-2) == bins,
             "irfft: expected (re, im) pairs (..., {}, 2) for output length {} (n/2+1 bins), got shape {}", bins, n,
             shape_str(input.shape()));
  Shape out_shape(input.shape().begin(), input.shape().end() - 1);
  out_shape.back() = n;
  Tensor out = empty(out_shape, detail::options_of(input));
  kernels::fft_real_inverse(input.detach().contiguous(), out);
  if (detail::will_record("irfft", {input}, out)) {
    record("irfft", {input}, {out}, [n, bins](const std::vector<Tensor>& g) {
      std::vector<double> factors(static_cast<std::size_t>(2 * bins));
      const double scale = 1.0 / static_cast<double>(n);
      for (std::int64_t k = 0; k < bins; ++k) {
        const bool paired = paired_bin(k, n);
        factors[static_cast<std::size_t>(2 * k)] = paired ? 2.0 * scale : scale;
        factors[static_cast<std::size_t>(2 * k + 1)] = paired ? 2.0 * scale : 0.0;
      }
      return std::vector<Tensor>{rfft(g[0]) * bin_factors(factors, bins, 2, g[0])};
    });
  }
  return out;
}

}  // namespace mech
