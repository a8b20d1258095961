// The CPU FFT (core/fft.h): radix-2 butterflies, Bluestein for other lengths, real transforms by
// even/odd packing.
#include "core/fft.h"

#include <cmath>
#include <map>
#include <mutex>
#include <numbers>

#include "core/error.h"

namespace mech::fft {
namespace {

bool is_power_of_two(std::int64_t n) { return n > 0 && (n & (n - 1)) == 0; }

// exp(sign 2 pi i k / n), with k reduced first so the angle stays small and exact multiples of
// a quarter turn come out exact.
Complex unit_root(std::int64_t k, std::int64_t n, double sign) {
  k %= n;
  if (k < 0) k += n;
  if (4 * k == n) return {0.0, sign};
  if (2 * k == n) return {-1.0, 0.0};
  if (4 * k == 3 * n) return {0.0, -sign};
  const double angle = sign * 2.0 * std::numbers::pi * static_cast<double>(k) / static_cast<double>(n);
  return {std::cos(angle), std::sin(angle)};
}

}  // namespace

Plan::Plan(std::int64_t n) : n_(n), power_of_two_(is_power_of_two(n)) {
  if (n < 1) throw Error(fmt::format("fft: length {} is not positive", n));
  if (power_of_two_) {
    int bits = 0;
    while ((std::int64_t{1} << bits) < n) ++bits;
    bit_reverse_.resize(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
      std::int64_t reversed = 0;
      for (int b = 0; b < bits; ++b)
        if (i & (std::int64_t{1} << b)) reversed |= std::int64_t{1} << (bits - 1 - b);
      bit_reverse_[static_cast<std::size_t>(i)] = reversed;
    }
    twiddles_.resize(static_cast<std::size_t>(n / 2));
    for (std::int64_t k = 0; k < n / 2; ++k) twiddles_[static_cast<std::size_t>(k)] = unit_root(k, n, -1.0);
  } else {
    std::int64_t m = 1;
    while (m < 2 * n - 1) m *= 2;
    convolution_plan_ = std::make_unique<Plan>(m);
    chirp_.resize(static_cast<std::size_t>(n));
    // w_k = exp(-i pi k^2 / n) = exp(-2 pi i (k^2 mod 2n) / 2n): reducing k^2 keeps the angle exact.
    for (std::int64_t k = 0; k < n; ++k) chirp_[static_cast<std::size_t>(k)] = unit_root((k * k) % (2 * n), 2 * n, -1.0);
    kernel_spectrum_.assign(static_cast<std::size_t>(m), Complex{});
    kernel_spectrum_[0] = std::conj(chirp_[0]);
    for (std::int64_t k = 1; k < n; ++k) {
      kernel_spectrum_[static_cast<std::size_t>(k)] = std::conj(chirp_[static_cast<std::size_t>(k)]);
      kernel_spectrum_[static_cast<std::size_t>(m - k)] = std::conj(chirp_[static_cast<std::size_t>(k)]);
    }
    convolution_plan_->forward(kernel_spectrum_.data());
  }
  if (n % 2 == 0) {
    half_plan_ = std::make_unique<Plan>(n / 2);
    real_twiddles_.resize(static_cast<std::size_t>(n / 2 + 1));
    for (std::int64_t k = 0; k <= n / 2; ++k) real_twiddles_[static_cast<std::size_t>(k)] = unit_root(k, n, -1.0);
  }
}

Plan::~Plan() = default;

void Plan::forward(Complex* data) const { transform(data, false); }
void Plan::inverse(Complex* data) const { transform(data, true); }

void Plan::transform(Complex* data, bool inverse) const {
  if (power_of_two_)
    radix2(data, inverse);
  else
    bluestein(data, inverse);
}

void Plan::radix2(Complex* data, bool inverse) const {
  for (std::int64_t i = 0; i < n_; ++i) {
    const std::int64_t j = bit_reverse_[static_cast<std::size_t>(i)];
    if (i < j) std::swap(data[i], data[j]);
  }
  const double sign = inverse ? -1.0 : 1.0;  // the inverse uses the conjugate twiddles
  for (std::int64_t length = 2; length <= n_; length *= 2) {
    const std::int64_t half = length / 2, stride = n_ / length;
    for (std::int64_t start = 0; start < n_; start += length) {
      for (std::int64_t j = 0; j < half; ++j) {
        const Complex twiddle = twiddles_[static_cast<std::size_t>(j * stride)];
        const Complex w{twiddle.real(), sign * twiddle.imag()};
        const Complex even = data[start + j];
        const Complex odd = multiply(data[start + j + half], w);
        data[start + j] = even + odd;
        data[start + j + half] = even - odd;
      }
    }
  }
}

// X_k = w_k sum_j (x_j w_j) conj(w_{k-j}): a convolution with the conjugate chirp, done on the
// power-of-two length m. The inverse is the conjugate of the forward of the conjugate.
void Plan::bluestein(Complex* data, bool inverse) const {
  const std::int64_t m = convolution_plan_->size();
  std::vector<Complex> work(static_cast<std::size_t>(m), Complex{});
  for (std::int64_t k = 0; k < n_; ++k) {
    const Complex x = inverse ? std::conj(data[k]) : data[k];
    work[static_cast<std::size_t>(k)] = multiply(x, chirp_[static_cast<std::size_t>(k)]);
  }
  convolution_plan_->forward(work.data());
  for (std::int64_t k = 0; k < m; ++k) {
    auto& value = work[static_cast<std::size_t>(k)];
    value = multiply(value, kernel_spectrum_[static_cast<std::size_t>(k)]);
  }
  convolution_plan_->inverse(work.data());
  const double scale = 1.0 / static_cast<double>(m);
  for (std::int64_t k = 0; k < n_; ++k) {
    const Complex value = multiply(work[static_cast<std::size_t>(k)] * scale, chirp_[static_cast<std::size_t>(k)]);
    data[k] = inverse ? std::conj(value) : value;
  }
}

// Even n: z_j = x_2j + i x_2j+1 transformed at half length gives the spectra E (even samples)
// and O (odd samples) as E_k = (Z_k + conj Z_{h-k}) / 2, O_k = (Z_k - conj Z_{h-k}) / 2i, and
// X_k = E_k + exp(-2 pi i k / n) O_k.
void Plan::forward_real(const double* input, Complex* output) const {
  if (n_ % 2 != 0) {
    std::vector<Complex> work(input, input + n_);
    forward(work.data());
    for (std::int64_t k = 0; k <= n_ / 2; ++k) output[k] = work[static_cast<std::size_t>(k)];
    return;
  }
  const std::int64_t h = n_ / 2;
  std::vector<Complex> z(static_cast<std::size_t>(h));
  for (std::int64_t j = 0; j < h; ++j) z[static_cast<std::size_t>(j)] = {input[2 * j], input[2 * j + 1]};
  half_plan_->forward(z.data());
  for (std::int64_t k = 0; k <= h; ++k) {
    const Complex zk = z[static_cast<std::size_t>(k % h)];
    const Complex zr = std::conj(z[static_cast<std::size_t>((h - k) % h)]);
    const Complex even = 0.5 * (zk + zr);
    const Complex difference = zk - zr;
    const Complex odd{0.5 * difference.imag(), -0.5 * difference.real()};  // (zk - zr) / 2i
    output[k] = even + multiply(real_twiddles_[static_cast<std::size_t>(k)], odd);
  }
}

// The packing above run backwards: E_k = (X_k + conj X_{h-k}) / 2,
// O_k = (X_k - conj X_{h-k}) conj(exp(-2 pi i k / n)) / 2, Z_k = E_k + i O_k.
void Plan::inverse_real(const Complex* input, double* output) const {
  if (n_ % 2 != 0) {
    const double scale = 1.0 / static_cast<double>(n_);
    std::vector<Complex> work(static_cast<std::size_t>(n_));
    work[0] = {input[0].real(), 0.0};
    for (std::int64_t k = 1; k <= n_ / 2; ++k) {
      work[static_cast<std::size_t>(k)] = input[k];
      work[static_cast<std::size_t>(n_ - k)] = std::conj(input[k]);
    }
    inverse(work.data());
    for (std::int64_t j = 0; j < n_; ++j) output[j] = work[static_cast<std::size_t>(j)].real() * scale;
    return;
  }
  const std::int64_t h = n_ / 2;
  auto coefficient = [&](std::int64_t k) {
    return (k == 0 || k == h) ? Complex{input[k].real(), 0.0} : input[k];
  };
  std::vector<Complex> z(static_cast<std::size_t>(h));
  for (std::int64_t k = 0; k < h; ++k) {
    const Complex xk = coefficient(k);
    const Complex xr = std::conj(coefficient(h - k));
    const Complex even = 0.5 * (xk + xr);
    const Complex odd = multiply(0.5 * (xk - xr), std::conj(real_twiddles_[static_cast<std::size_t>(k)]));
    z[static_cast<std::size_t>(k)] = even + Complex{-odd.imag(), odd.real()};  // even + i odd
  }
  half_plan_->inverse(z.data());
  const double half_scale = 1.0 / static_cast<double>(h);
  for (std::int64_t j = 0; j < h; ++j) {
    output[2 * j] = z[static_cast<std::size_t>(j)].real() * half_scale;
    output[2 * j + 1] = z[static_cast<std::size_t>(j)].imag() * half_scale;
  }
}

const Plan& plan(std::int64_t n) {
  static std::mutex mutex;
  static std::map<std::int64_t, std::unique_ptr<Plan>> plans;
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = plans[n];
  if (!slot) slot = std::make_unique<Plan>(n);
  return *slot;
}

void dft(const Complex* input, Complex* output, std::int64_t n, bool inverse) {
  const double sign = inverse ? 1.0 : -1.0;
  for (std::int64_t k = 0; k < n; ++k) {
    Complex sum{};
    for (std::int64_t j = 0; j < n; ++j) sum += input[j] * unit_root((j * k) % n, n, sign);
    output[k] = sum;
  }
}

}  // namespace mech::fft
