// The KdV data set of the paper's PDE experiment, generated here: random periodic initial states
// evolved by the Korteweg-de Vries equation u_t + u u_x + u_xxx = 0, discretised pseudo-spectrally
// in space and integrated with ETDRK4 in time; its .npy files; and the training windows cut from it.
//
//   auto train = mech::models::generate_kdv(512, /*seed=*/1);      // the "easy" recipe
//   mech::models::save_kdv(train, "data/train");                   // u.npy, t.npy, x.npy
//   auto windows = mech::models::kdv_windows(train, {0, 1, 122}, mech::DType::Float32);  // (3, 19, 256)
//
// The recipe (per trajectory, independent draws): length L ~ U(115.2, 140.8), grid x_j = j L / P;
// end time T ~ U(45, 55) ("easy") or U(90, 110) ("default"); output times t_n = n T / (O - 1),
// n < O = 250, of which the last S = 140 are stored; u0(x) = sum of 10 waves
// A sin(2 pi l x / L + phi), A ~ U(-0.5, 0.5), phi ~ U(0, 2 pi), l uniform in {1, 2}.
// The semi-discrete system and the integrator are described in models/README.md.
#pragma once

#include <complex>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/fft.h"
#include "core/tensor.h"
#include "models/kdv_model.h"

namespace mech::models {

enum class KdvSet { Easy, Default };
KdvSet parse_kdv_set(const std::string& name);  // "easy" | "default"; anything else: mech::Error
const char* kdv_set_name(KdvSet set);

// The recipe above; the sizes are fields so that tests can shrink it.
struct KdvRecipe {
  KdvSet set = KdvSet::Easy;
  std::int64_t points = 256, output_times = 250, stored_times = 140, waves = 10;
  double max_step = 0.01;  // ETDRK4 step bound: h = dt / ceil(dt / max_step), dt = T / (O - 1)
};

struct KdvData {
  Tensor u;  // (N, S, P) float64: N trajectories, S stored times, P points
  Tensor t;  // (N, S) float64, the stored times
  Tensor x;  // (N, P) float64, the grid j L / P
};

// N trajectories of the recipe. Deterministic for (count, seed, recipe) whatever the thread
// count: trajectory i draws from its own Generator, seeded from (seed, i). Runs in parallel over
// trajectories. progress(done), when given, is called once per finished trajectory with the number
// finished so far (strictly increasing, ending at count); the calls are serialised under a lock but
// may come from worker threads.
KdvData generate_kdv(std::int64_t count, std::uint64_t seed, const KdvRecipe& recipe = {},
                     const std::function<void(std::int64_t done)>& progress = {});

// Writes dir/u.npy, dir/t.npy and dir/x.npy, each atomically; creates dir if needed.
void save_kdv(const KdvData& data, const std::string& dir);
// Reads them back. A missing, truncated or corrupt file, a wrong dtype or shape, an inconsistent
// trajectory count or a NaN/Inf value throws mech::IoError (one line, naming the file; for a
// non-finite value also its first index).
KdvData load_kdv(const std::string& dir);

// Training windows: kKdvWindowFrames (19) consecutive stored frames of one trajectory. Window id =
// trajectory * per_trajectory + start, start in [0, S - 19].
std::int64_t kdv_windows_per_trajectory(const KdvData& data);  // S - 18: 122 for the recipe
std::int64_t kdv_window_count(const KdvData& data);            // N * per_trajectory
// (ids.size(), 19, P) in dtype (float32 or float64); an id outside [0, kdv_window_count) throws.
Tensor kdv_windows(const KdvData& data, const std::vector<std::int64_t>& ids, DType dtype);

// ---- the pieces generate_kdv is made of (the tests check each one) ----------------------------

// One trajectory's draws: its length, end time and initial state on the grid (P values).
struct KdvTrajectory {
  double length = 0.0;
  double end_time = 0.0;
  std::vector<double> initial;
};
KdvTrajectory kdv_trajectory(std::uint64_t seed, std::int64_t index, const KdvRecipe& recipe = {});

// The number of ETDRK4 steps between two output times dt apart: ceil(dt / max_step).
std::int64_t kdv_substeps(double dt, double max_step);

// ETDRK4's weights for one mode, divided by the step h, at z = h L (Kassam and Trefethen's Q, alpha,
// beta, gamma over h): half = (e^{z/2} - 1) / z, f1 = phi1 - 3 phi2 + 4 phi3, f2 = phi2 - 2 phi3,
// f3 = -phi2 + 4 phi3 (phi_n(z) = sum_k z^k / (k + n)!). Evaluated as the mean of their closed forms
// over `contour_points` points of a circle around z that keeps every point at distance >= 1 from 0,
// where the closed forms cancel catastrophically.
struct Etdrk4Weights {
  std::complex<double> half, f1, f2, f3;
};
Etdrk4Weights etdrk4_weights(std::complex<double> z, std::int64_t contour_points = 64);

// The semi-discrete KdV system on one periodic grid of P points (P even) over [0, L), and its
// ETDRK4 integrator with a fixed step h. Derivatives are spectral with wavenumbers 2 pi m / L and
// the Nyquist mode (m = P/2) zeroed; the nonlinear term is the pointwise product u * u_x (no
// dealiasing). In Fourier space v' = i k^3 v + N(v), N(v) = -F(u * u_x): ETDRK4 (Kassam and
// Trefethen) treats the linear part exactly, its phi-function coefficients evaluated as means over
// `contour_points` points of a circle around h L (no cancellation near h L = 0).
// Owns scratch space: one object per thread.
class KdvIntegrator {
 public:
  using Complex = fft::Complex;

  KdvIntegrator(std::int64_t points, double length, double step, std::int64_t contour_points = 64);

  std::int64_t points() const { return points_; }
  double length() const { return length_; }
  double step() const { return step_; }

  // out = d^order u / dx^order (order 1, 2 or 3), P values each.
  void derivative(const double* u, double* out, int order);
  // out = -u u_x - u_xxx, the right-hand side of the semi-discrete system.
  void rhs(const double* u, double* out);
  // `steps` ETDRK4 steps of size step(), in place on u (P values).
  void advance(double* u, std::int64_t steps);

 private:
  // spectrum -> -F(u * u_x) in `out`; uses the physical-space scratch.
  void nonlinear(const Complex* spectrum, Complex* out);

  std::int64_t points_, modes_;  // modes_ = P/2 + 1
  double length_, step_;
  const fft::Plan* plan_;  // the shared length-P plan, looked up once (the lookup takes a lock)
  std::vector<double> wavenumber_;  // 2 pi m / L, 0 at the Nyquist mode
  // ETDRK4 coefficients per mode: exp(hL), exp(hL/2), and the phi-function weights.
  std::vector<Complex> exp_full_, exp_half_, half_weight_, weight1_, weight2_, weight3_;
  // scratch
  std::vector<Complex> spectrum_, derivative_spectrum_, stage_a_, stage_b_, stage_c_;
  std::vector<Complex> nonlinear_v_, nonlinear_a_, nonlinear_b_, nonlinear_c_;
  std::vector<double> physical_u_, physical_ux_;
};

}  // namespace mech::models
