// Fast Fourier transforms on the CPU, in float64: an iterative radix-2 transform for power-of-two
// lengths, Bluestein's chirp-z for every other length (one power-of-two convolution), real
// transforms by packing n reals into n/2 complex values, and the direct O(n^2) DFT the tests hold
// them against. The rfft/irfft ops and the KdV data generator build on this.
//
//   const mech::fft::Plan& plan = mech::fft::plan(256);   // built once per length, shared
//   plan.forward_real(u, spectrum);                        // 256 reals -> 129 coefficients
//   plan.inverse_real(spectrum, u);                        // and back (divided by n)
//
// Conventions (those of numpy.fft and torch.fft with norm "backward"):
//   forward  X_k = sum_j x_j exp(-2 pi i j k / n)            (unnormalised)
//   inverse  x_j = sum_k X_k exp(+2 pi i j k / n)            (unnormalised: forward then inverse = n x)
//   forward_real  the first n/2+1 values of forward on real input
//   inverse_real  x = (1/n) inverse of the Hermitian-extended spectrum; the imaginary parts of X_0
//                 and (even n) X_{n/2} are ignored, as in numpy.fft.irfft
#pragma once

#include <complex>
#include <cstdint>
#include <memory>
#include <vector>

namespace mech::fft {

using Complex = std::complex<double>;

// a * b written out. std::complex's operator* checks each product for NaN and then calls a library
// routine (C99 Annex G); in the transforms' inner loops that took a fifth of the time.
inline Complex multiply(Complex a, Complex b) {
  return {a.real() * b.real() - a.imag() * b.imag(), a.real() * b.imag() + a.imag() * b.real()};
}

class Plan {
 public:
  explicit Plan(std::int64_t n);  // n >= 1
  ~Plan();
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;

  std::int64_t size() const { return n_; }

  // In place over n values. Thread-safe: the plan is read-only after construction; scratch
  // space is per call.
  void forward(Complex* data) const;
  void inverse(Complex* data) const;

  // n reals -> n/2+1 coefficients, and back (divided by n).
  void forward_real(const double* input, Complex* output) const;
  void inverse_real(const Complex* input, double* output) const;

 private:
  void transform(Complex* data, bool inverse) const;
  void radix2(Complex* data, bool inverse) const;
  void bluestein(Complex* data, bool inverse) const;

  std::int64_t n_;
  bool power_of_two_;
  std::vector<std::int64_t> bit_reverse_;  // radix-2: the input permutation
  std::vector<Complex> twiddles_;          // radix-2: exp(-2 pi i k / n), k < n/2
  // Bluestein: chirp w_k = exp(-i pi k^2 / n) and the transformed kernel, on a power-of-two
  // length m >= 2n - 1.
  std::vector<Complex> chirp_;
  std::vector<Complex> kernel_spectrum_;
  std::unique_ptr<Plan> convolution_plan_;
  // Real transforms of even n: the half-length plan and exp(-2 pi i k / n), k <= n/2.
  std::unique_ptr<Plan> half_plan_;
  std::vector<Complex> real_twiddles_;
};

// The shared plan for length n, built on first use (thread-safe).
const Plan& plan(std::int64_t n);

// The direct DFT (forward or unnormalised inverse), O(n^2): the reference for the tests.
void dft(const Complex* input, Complex* output, std::int64_t n, bool inverse);

}  // namespace mech::fft
