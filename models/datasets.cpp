// The synthetic data generators: ODE right-hand sides, parameter draws, integration, noise.
#include "models/datasets.h"

#include <cmath>
#include <numbers>

#include "core/error.h"
#include "core/generator.h"

namespace mech::models {
namespace {

// Parameters and noise come from separate streams, so the noise level (or turning noise on)
// never changes which parameters a seed draws.
constexpr std::uint64_t kNoiseStream = 0x6e6f697365ULL;  // "noise"

// Accurate enough that integration error is far below any noise level a driver would use.
IntegratorOptions data_accuracy() {
  IntegratorOptions options;
  options.rtol = 1e-10;
  options.atol = 1e-12;
  return options;
}

double uniform_between(Generator& generator, double low, double high) {
  return low + (high - low) * generator.uniform();
}

void check_range(const char* op, const char* name, double low, double high) {
  MECH_CHECK(std::isfinite(low) && std::isfinite(high) && low <= high, "{}: {} range [{}, {}] must be finite and ordered",
             op, name, low, high);
}

void check_grid(const char* op, size_t length, double dt) {
  MECH_CHECK(length > 0, "{}: length must be positive", op);
  MECH_CHECK(std::isfinite(dt) && dt > 0, "{}: dt={} must be positive and finite", op, dt);
}

void check_noise(const char* op, double noise) {
  MECH_CHECK(std::isfinite(noise) && noise >= 0, "{}: noise={} must be non-negative", op, noise);
}

}  // namespace

std::vector<double> column_std(const std::vector<double>& values, size_t columns) {
  MECH_CHECK(columns > 0 && values.size() % columns == 0, "column_std: {} values do not form rows of {} columns",
             values.size(), columns);
  size_t rows = values.size() / columns;
  std::vector<double> mean(columns, 0.0), deviation(columns, 0.0);
  if (rows == 0) return deviation;
  for (size_t row = 0; row < rows; ++row)
    for (size_t column = 0; column < columns; ++column) mean[column] += values[row * columns + column];
  for (double& value : mean) value /= static_cast<double>(rows);
  for (size_t row = 0; row < rows; ++row) {
    for (size_t column = 0; column < columns; ++column) {
      double difference = values[row * columns + column] - mean[column];
      deviation[column] += difference * difference;
    }
  }
  for (double& value : deviation) value = std::sqrt(value / static_cast<double>(rows));
  return deviation;
}

// ---- Lorenz -------------------------------------------------------------------------------------

OdeRhs lorenz_rhs(double sigma, double rho, double beta) {
  return [sigma, rho, beta](double, const std::vector<double>& s, std::vector<double>& d) {
    d[0] = sigma * (s[1] - s[0]);
    d[1] = s[0] * (rho - s[2]) - s[1];
    d[2] = s[0] * s[1] - beta * s[2];
  };
}

LorenzData make_lorenz(const LorenzOptions& options) {
  check_grid("make_lorenz", options.length, options.dt);
  check_noise("make_lorenz", options.noise);
  LorenzData data;
  data.times = uniform_times(0.0, options.dt, options.length);
  std::vector<double> start(options.initial_state.begin(), options.initial_state.end());
  Trajectory trajectory =
      integrate_ode(lorenz_rhs(options.sigma, options.rho, options.beta), 0.0, start, data.times, data_accuracy());
  data.clean = std::move(trajectory.states);
  std::vector<double> deviation = column_std(data.clean, 3);
  for (size_t d = 0; d < 3; ++d) data.coordinate_std[d] = deviation[d];
  data.noisy = data.clean;
  if (options.noise > 0) {
    Generator generator(options.seed ^ kNoiseStream);
    for (size_t i = 0; i < data.noisy.size(); ++i) data.noisy[i] += options.noise * deviation[i % 3] * generator.normal();
  }
  return data;
}

// ---- logistic -----------------------------------------------------------------------------------

double logistic_solution(double rate, double capacity, double start, double t) {
  return capacity / (1.0 + (capacity / start - 1.0) * std::exp(-rate * t));
}

LogisticData make_logistic(const LogisticOptions& options) {
  check_grid("make_logistic", options.length, options.dt);
  check_noise("make_logistic", options.noise);
  check_range("make_logistic", "rate", options.rate_min, options.rate_max);
  check_range("make_logistic", "capacity", options.capacity_min, options.capacity_max);
  check_range("make_logistic", "start fraction", options.start_fraction_min, options.start_fraction_max);
  MECH_CHECK(options.capacity_min > 0 && options.start_fraction_min > 0,
             "make_logistic: capacities and start fractions must be positive, got minima {} and {}",
             options.capacity_min, options.start_fraction_min);
  LogisticData data;
  data.times = uniform_times(0.0, options.dt, options.length);
  Generator parameters(options.seed), noise(options.seed ^ kNoiseStream);
  data.clean.resize(options.count * options.length);
  for (size_t index = 0; index < options.count; ++index) {
    double rate = uniform_between(parameters, options.rate_min, options.rate_max);
    double capacity = uniform_between(parameters, options.capacity_min, options.capacity_max);
    double start = capacity * uniform_between(parameters, options.start_fraction_min, options.start_fraction_max);
    data.rate.push_back(rate);
    data.capacity.push_back(capacity);
    data.start.push_back(start);
    for (size_t step = 0; step < options.length; ++step)
      data.clean[index * options.length + step] = logistic_solution(rate, capacity, start, data.times[step]);
  }
  data.noisy = data.clean;
  if (options.noise > 0)
    for (double& value : data.noisy) value += options.noise * noise.normal();
  return data;
}

// ---- two-body -----------------------------------------------------------------------------------

OdeRhs two_body_rhs(double gravity, double mass1, double mass2) {
  return [gravity, mass1, mass2](double, const std::vector<double>& s, std::vector<double>& d) {
    double dx = s[2] - s[0], dy = s[3] - s[1];
    double distance = std::sqrt(dx * dx + dy * dy);
    double inverse_cube = 1.0 / (distance * distance * distance);
    // Newton: each body accelerates towards the other with G m_other / r^2.
    d[0] = s[4], d[1] = s[5], d[2] = s[6], d[3] = s[7];
    d[4] = gravity * mass2 * dx * inverse_cube;
    d[5] = gravity * mass2 * dy * inverse_cube;
    d[6] = -gravity * mass1 * dx * inverse_cube;
    d[7] = -gravity * mass1 * dy * inverse_cube;
  };
}

std::array<double, kTwoBodyStateSize> two_body_initial_state(double gravity, double mass1, double mass2,
                                                             double semi_major, double eccentricity, double angle) {
  MECH_CHECK(gravity > 0 && mass1 > 0 && mass2 > 0 && semi_major > 0 && eccentricity >= 0 && eccentricity < 1,
             "two_body_initial_state: need G, masses, semi-major axis > 0 and 0 <= e < 1, got G={} m1={} m2={} a={} e={}",
             gravity, mass1, mass2, semi_major, eccentricity);
  double total = mass1 + mass2;
  // Relative orbit r = r2 - r1 at periapsis: distance a(1-e), speed from the vis-viva equation.
  double distance = semi_major * (1.0 - eccentricity);
  double speed = std::sqrt(gravity * total * (1.0 + eccentricity) / distance);
  double cosine = std::cos(angle), sine = std::sin(angle);
  double rx = distance * cosine, ry = distance * sine;
  double vx = -speed * sine, vy = speed * cosine;
  // Centre of mass at rest at the origin.
  double share1 = mass2 / total, share2 = mass1 / total;
  return {-share1 * rx, -share1 * ry, share2 * rx, share2 * ry, -share1 * vx, -share1 * vy, share2 * vx, share2 * vy};
}

double two_body_energy(const double* s, double gravity, double mass1, double mass2) {
  double kinetic = 0.5 * mass1 * (s[4] * s[4] + s[5] * s[5]) + 0.5 * mass2 * (s[6] * s[6] + s[7] * s[7]);
  double distance = std::hypot(s[2] - s[0], s[3] - s[1]);
  return kinetic - gravity * mass1 * mass2 / distance;
}

TwoBodyData make_two_body(const TwoBodyOptions& options) {
  check_grid("make_two_body", options.length, options.dt);
  check_noise("make_two_body", options.noise);
  check_range("make_two_body", "mass", options.mass_min, options.mass_max);
  check_range("make_two_body", "semi-major axis", options.semi_major_min, options.semi_major_max);
  check_range("make_two_body", "eccentricity", options.eccentricity_min, options.eccentricity_max);
  MECH_CHECK(options.mass_min > 0 && options.semi_major_min > 0 && options.eccentricity_min >= 0 &&
                 options.eccentricity_max < 1 && options.gravity > 0,
             "make_two_body: need positive G, masses and axes and eccentricities in [0, 1)");
  TwoBodyData data;
  data.times = uniform_times(0.0, options.dt, options.length);
  Generator parameters(options.seed), noise(options.seed ^ kNoiseStream);
  const size_t sample_size = options.length * kTwoBodyStateSize;
  data.clean.resize(options.count * sample_size);
  for (size_t index = 0; index < options.count; ++index) {
    double mass1 = uniform_between(parameters, options.mass_min, options.mass_max);
    double mass2 = uniform_between(parameters, options.mass_min, options.mass_max);
    double semi_major = uniform_between(parameters, options.semi_major_min, options.semi_major_max);
    double eccentricity = uniform_between(parameters, options.eccentricity_min, options.eccentricity_max);
    double angle = uniform_between(parameters, 0.0, 2.0 * std::numbers::pi);
    auto start = two_body_initial_state(options.gravity, mass1, mass2, semi_major, eccentricity, angle);
    Trajectory orbit = integrate_ode(two_body_rhs(options.gravity, mass1, mass2), 0.0,
                                     std::vector<double>(start.begin(), start.end()), data.times, data_accuracy());
    std::copy(orbit.states.begin(), orbit.states.end(), data.clean.begin() + static_cast<long>(index * sample_size));
    data.mass1.push_back(mass1);
    data.mass2.push_back(mass2);
    data.semi_major.push_back(semi_major);
    data.eccentricity.push_back(eccentricity);
    data.period.push_back(2.0 * std::numbers::pi *
                          std::sqrt(semi_major * semi_major * semi_major / (options.gravity * (mass1 + mass2))));
  }
  data.noisy = data.clean;
  if (options.noise > 0)
    for (double& value : data.noisy) value += options.noise * noise.normal();
  return data;
}

// ---- damped sine --------------------------------------------------------------------------------

DampedSineData make_damped_sine(const DampedSineOptions& options) {
  check_grid("make_damped_sine", options.length, options.dt);
  check_noise("make_damped_sine", options.noise);
  DampedSineData data;
  data.times = uniform_times(0.0, options.dt, options.length);
  data.clean.resize(options.length);
  for (size_t step = 0; step < options.length; ++step) {
    double t = data.times[step];
    data.clean[step] = options.amplitude * std::exp(-options.damping * t) *
                       std::sin(options.angular_frequency * t + options.phase);
  }
  data.noisy = data.clean;
  if (options.noise > 0) {
    Generator noise(options.seed ^ kNoiseStream);
    for (double& value : data.noisy) value += options.noise * noise.normal();
  }
  data.damping_coefficient = 2.0 * options.damping;
  data.stiffness = options.angular_frequency * options.angular_frequency + options.damping * options.damping;
  return data;
}

}  // namespace mech::models
