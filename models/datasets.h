// Synthetic data sets for the paper's tasks, all generated here and deterministic for a seed:
// a Lorenz trajectory with measurement noise, logistic growth curves with random parameters,
// two-body gravitational orbits, and a noisy damped sine.
//
// Arrays are flat and row-major; every generator returns the clean values next to the noisy ones
// so that a driver can report errors against the truth. Noise is Gaussian from mech::Generator
// (xoshiro256**), so a seed gives the same data on every platform.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "models/ode_integrator.h"

namespace mech::models {

// ---- Lorenz -----------------------------------------------------------------------------------

struct LorenzOptions {
  double sigma = 10.0;
  double rho = 28.0;
  double beta = 8.0 / 3.0;
  std::array<double, 3> initial_state = {-8.0, 7.0, 27.0};
  double dt = 0.01;
  size_t length = 5000;  // number of samples, the first at t = 0
  // Standard deviation of the Gaussian noise on each coordinate, as a fraction of that
  // coordinate's standard deviation over the clean trajectory (0.01 = 1 %).
  double noise = 0.0;
  std::uint64_t seed = 0;
};

struct LorenzData {
  std::vector<double> times;  // (length)
  std::vector<double> clean;  // (length, 3): x, y, z
  std::vector<double> noisy;  // (length, 3); equal to clean when noise is 0
  std::array<double, 3> coordinate_std{};  // of the clean data, the unit of the noise
};

// dx = sigma (y - x), dy = x (rho - z) - y, dz = x y - beta z.
OdeRhs lorenz_rhs(double sigma, double rho, double beta);
LorenzData make_lorenz(const LorenzOptions& options);

// ---- logistic growth --------------------------------------------------------------------------

struct LogisticOptions {
  size_t count = 256;   // trajectories
  size_t length = 100;  // samples per trajectory, the first at t = 0
  double dt = 0.1;
  double rate_min = 0.5, rate_max = 2.0;          // r
  double capacity_min = 0.5, capacity_max = 2.0;  // K
  double start_fraction_min = 0.05, start_fraction_max = 0.5;  // x0 / K
  double noise = 0.0;  // absolute standard deviation of additive Gaussian noise
  std::uint64_t seed = 0;
};

struct LogisticData {
  std::vector<double> times;       // (length)
  std::vector<double> clean;       // (count, length)
  std::vector<double> noisy;       // (count, length)
  std::vector<double> rate;        // (count) r
  std::vector<double> capacity;    // (count) K
  std::vector<double> start;       // (count) x0
};

// x' = r x (1 - x/K) has the closed form x(t) = K / (1 + (K/x0 - 1) exp(-r t)); no integration error.
double logistic_solution(double rate, double capacity, double start, double t);
LogisticData make_logistic(const LogisticOptions& options);

// ---- two-body orbits --------------------------------------------------------------------------

struct TwoBodyOptions {
  size_t count = 64;    // orbits
  size_t length = 200;  // samples per orbit, the first at t = 0
  double dt = 0.05;
  double gravity = 1.0;  // G
  double mass_min = 0.5, mass_max = 1.5;             // each body
  double semi_major_min = 0.8, semi_major_max = 1.2;  // of the relative orbit
  double eccentricity_min = 0.0, eccentricity_max = 0.5;
  double noise = 0.0;  // absolute standard deviation on positions and velocities
  std::uint64_t seed = 0;
};

// State layout of one sample: x1, y1, x2, y2, vx1, vy1, vx2, vy2 in the centre-of-mass frame.
inline constexpr size_t kTwoBodyStateSize = 8;

struct TwoBodyData {
  std::vector<double> times;  // (length)
  std::vector<double> clean;  // (count, length, 8)
  std::vector<double> noisy;  // (count, length, 8)
  std::vector<double> mass1, mass2, semi_major, eccentricity, period;  // (count) each
};

OdeRhs two_body_rhs(double gravity, double mass1, double mass2);
// The bound orbit starting at periapsis, rotated by `angle`, in the centre-of-mass frame.
std::array<double, kTwoBodyStateSize> two_body_initial_state(double gravity, double mass1, double mass2,
                                                             double semi_major, double eccentricity, double angle);
// Kinetic plus potential energy of one state: conserved along an exact orbit.
double two_body_energy(const double* state, double gravity, double mass1, double mass2);
TwoBodyData make_two_body(const TwoBodyOptions& options);

// ---- damped sine ------------------------------------------------------------------------------

struct DampedSineOptions {
  size_t length = 200;
  double dt = 0.05;
  double amplitude = 1.0;
  double damping = 0.1;            // gamma in exp(-gamma t)
  double angular_frequency = 2.0;  // omega
  double phase = 0.0;
  double noise = 0.0;  // absolute standard deviation
  std::uint64_t seed = 0;
};

struct DampedSineData {
  std::vector<double> times;  // (length)
  std::vector<double> clean;  // (length): A exp(-gamma t) sin(omega t + phase)
  std::vector<double> noisy;  // (length)
  // The ODE the clean signal solves: u'' + damping_coefficient u' + stiffness u = 0, with
  // damping_coefficient = 2 gamma and stiffness = omega^2 + gamma^2.
  double damping_coefficient = 0.0, stiffness = 0.0;
};

DampedSineData make_damped_sine(const DampedSineOptions& options);

// ---- shared helpers ---------------------------------------------------------------------------

// Standard deviation of each column of a (rows, columns) row-major array.
std::vector<double> column_std(const std::vector<double>& values, size_t columns);

}  // namespace mech::models
