// The KdV data generator (pseudo-spectral space, ETDRK4 time), its .npy files and training windows.
#include "models/kdv_data.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <mutex>
#include <numbers>

#include "core/error.h"
#include "core/fft.h"
#include "core/generator.h"
#include "core/npy.h"
#include "core/parallel.h"

namespace mech::models {

using fft::multiply;

namespace {

constexpr double kTwoPi = 2.0 * std::numbers::pi;

// The recipe's ranges: L = (0.9..1.1) x 128 for both sets, T = (0.9..1.1) x 50 or x 100.
constexpr double kLengthLow = 115.2, kLengthHigh = 140.8;

void end_time_range(KdvSet set, double& low, double& high) {
  if (set == KdvSet::Easy) {
    low = 45.0, high = 55.0;
  } else {
    low = 90.0, high = 110.0;
  }
}

void check_recipe(const KdvRecipe& recipe) {
  MECH_CHECK(recipe.points >= 4 && recipe.points % 2 == 0,
             "kdv: points must be even and >= 4, got {}", recipe.points);
  MECH_CHECK(recipe.output_times >= 2, "kdv: output_times must be >= 2, got {}", recipe.output_times);
  MECH_CHECK(recipe.stored_times >= 1 && recipe.stored_times <= recipe.output_times,
             "kdv: stored_times must be in [1, output_times = {}], got {}", recipe.output_times,
             recipe.stored_times);
  MECH_CHECK(recipe.waves >= 1, "kdv: waves must be >= 1, got {}", recipe.waves);
  MECH_CHECK(std::isfinite(recipe.max_step) && recipe.max_step > 0.0,
             "kdv: max_step must be positive and finite, got {}", recipe.max_step);
}

// A 64-bit mix of (seed, index) for the trajectory's own stream (splitmix64's finaliser).
std::uint64_t trajectory_seed(std::uint64_t seed, std::int64_t index) {
  std::uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (static_cast<std::uint64_t>(index) + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return z ^ (seed * 0xd1b54a32d192ed03ULL);
}

double uniform(Generator& generator, double low, double high) {
  return low + (high - low) * generator.uniform();
}

}  // namespace

KdvSet parse_kdv_set(const std::string& name) {
  if (name == "easy") return KdvSet::Easy;
  if (name == "default") return KdvSet::Default;
  throw Error("kdv: unknown data set '" + name + "': expected easy or default");
}

const char* kdv_set_name(KdvSet set) { return set == KdvSet::Easy ? "easy" : "default"; }

std::int64_t kdv_substeps(double dt, double max_step) {
  MECH_CHECK(std::isfinite(dt) && dt > 0.0 && std::isfinite(max_step) && max_step > 0.0,
             "kdv_substeps: dt {} and max_step {} must be positive and finite", dt, max_step);
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(dt / max_step)));
}

KdvTrajectory kdv_trajectory(std::uint64_t seed, std::int64_t index, const KdvRecipe& recipe) {
  check_recipe(recipe);
  MECH_CHECK(index >= 0, "kdv_trajectory: index must be >= 0, got {}", index);
  Generator generator(trajectory_seed(seed, index));
  KdvTrajectory trajectory;
  trajectory.length = uniform(generator, kLengthLow, kLengthHigh);
  double low = 0, high = 0;
  end_time_range(recipe.set, low, high);
  trajectory.end_time = uniform(generator, low, high);
  trajectory.initial.assign(static_cast<std::size_t>(recipe.points), 0.0);
  for (std::int64_t wave = 0; wave < recipe.waves; ++wave) {
    const double amplitude = uniform(generator, -0.5, 0.5);
    const double phase = uniform(generator, 0.0, kTwoPi);
    const double mode = generator.uniform() < 0.5 ? 1.0 : 2.0;
    for (std::int64_t j = 0; j < recipe.points; ++j) {
      const double x = static_cast<double>(j) * trajectory.length / static_cast<double>(recipe.points);
      trajectory.initial[static_cast<std::size_t>(j)] +=
          amplitude * std::sin(kTwoPi * mode * x / trajectory.length + phase);
    }
  }
  return trajectory;
}

// ---- the integrator -----------------------------------------------------------------------------

// The weights are means of entire functions over a circle around z. Radius 1 + |z| for |z| < 2 and
// 1 beyond keeps every point at distance >= 1 from 0. A larger circle would not do: the trapezoid
// rule's error on a circle of radius R grows like R^M / M! and the terms like e^R / R, so a
// radius 1 + |z| gives f1 wrong by 1e3 at |z| = 27 (|h L| at h = 0.08 on the recipe's grid).
Etdrk4Weights etdrk4_weights(std::complex<double> z0, std::int64_t contour_points) {
  using Complex = std::complex<double>;
  MECH_CHECK(contour_points >= 8, "etdrk4_weights: contour_points must be >= 8, got {}", contour_points);
  MECH_CHECK(std::isfinite(z0.real()) && std::isfinite(z0.imag()), "etdrk4_weights: z must be finite");
  const double radius = std::abs(z0) < 2.0 ? 1.0 + std::abs(z0) : 1.0;
  Complex q{}, f1{}, f2{}, f3{};
  for (std::int64_t p = 0; p < contour_points; ++p) {
    const double angle = kTwoPi * (static_cast<double>(p) + 0.5) / static_cast<double>(contour_points);
    const Complex z = z0 + radius * Complex{std::cos(angle), std::sin(angle)};
    const Complex ez = std::exp(z), z3 = z * z * z;
    q += (std::exp(0.5 * z) - 1.0) / z;
    f1 += (-4.0 - z + ez * (4.0 - 3.0 * z + z * z)) / z3;
    f2 += (2.0 + z + ez * (z - 2.0)) / z3;
    f3 += (-4.0 - 3.0 * z - z * z + ez * (4.0 - z)) / z3;
  }
  const double scale = 1.0 / static_cast<double>(contour_points);
  return {q * scale, f1 * scale, f2 * scale, f3 * scale};
}

KdvIntegrator::KdvIntegrator(std::int64_t points, double length, double step, std::int64_t contour_points)
    : points_(points), modes_(points / 2 + 1), length_(length), step_(step), plan_(nullptr) {
  MECH_CHECK(points >= 4 && points % 2 == 0, "KdvIntegrator: points must be even and >= 4, got {}", points);
  MECH_CHECK(std::isfinite(length) && length > 0.0, "KdvIntegrator: length must be positive, got {}", length);
  MECH_CHECK(std::isfinite(step) && step > 0.0, "KdvIntegrator: step must be positive, got {}", step);
  plan_ = &fft::plan(points);
  const auto modes = static_cast<std::size_t>(modes_);
  wavenumber_.resize(modes);
  for (std::size_t m = 0; m < modes; ++m) wavenumber_[m] = kTwoPi * static_cast<double>(m) / length;
  wavenumber_[modes - 1] = 0.0;  // the Nyquist mode has no derivative

  for (auto* table : {&exp_full_, &exp_half_, &half_weight_, &weight1_, &weight2_, &weight3_})
    table->resize(modes);
  const Complex i{0.0, 1.0};
  for (std::size_t m = 0; m < modes; ++m) {
    const double k = wavenumber_[m];
    const Complex z = i * (step * k * k * k);  // h L, L = i k^3: u_t = -u_xxx on exp(i k x)
    exp_full_[m] = std::exp(z);
    exp_half_[m] = std::exp(0.5 * z);
    const Etdrk4Weights weights = etdrk4_weights(z, contour_points);
    half_weight_[m] = weights.half * step;
    weight1_[m] = weights.f1 * step;
    weight2_[m] = weights.f2 * step;
    weight3_[m] = weights.f3 * step;
  }

  for (auto* buffer : {&spectrum_, &derivative_spectrum_, &stage_a_, &stage_b_, &stage_c_, &nonlinear_v_,
                       &nonlinear_a_, &nonlinear_b_, &nonlinear_c_})
    buffer->resize(modes);
  physical_u_.resize(static_cast<std::size_t>(points));
  physical_ux_.resize(static_cast<std::size_t>(points));
}

void KdvIntegrator::derivative(const double* u, double* out, int order) {
  MECH_CHECK(order >= 1 && order <= 3, "KdvIntegrator::derivative: order must be 1, 2 or 3, got {}", order);
  const fft::Plan& plan = *plan_;
  plan.forward_real(u, spectrum_.data());
  for (std::int64_t m = 0; m < modes_; ++m) {
    const double k = wavenumber_[static_cast<std::size_t>(m)];
    const Complex factor = order == 1 ? Complex{0.0, k} : order == 2 ? Complex{-k * k, 0.0} : Complex{0.0, -k * k * k};
    spectrum_[static_cast<std::size_t>(m)] *= factor;
  }
  plan.inverse_real(spectrum_.data(), out);
}

void KdvIntegrator::rhs(const double* u, double* out) {
  const fft::Plan& plan = *plan_;
  plan.forward_real(u, spectrum_.data());
  nonlinear(spectrum_.data(), nonlinear_v_.data());
  for (std::int64_t m = 0; m < modes_; ++m) {
    const double k = wavenumber_[static_cast<std::size_t>(m)];
    nonlinear_v_[static_cast<std::size_t>(m)] += Complex{0.0, k * k * k} * spectrum_[static_cast<std::size_t>(m)];
  }
  plan.inverse_real(nonlinear_v_.data(), out);
}

void KdvIntegrator::nonlinear(const Complex* spectrum, Complex* out) {
  const fft::Plan& plan = *plan_;
  for (std::int64_t m = 0; m < modes_; ++m) {
    const double k = wavenumber_[static_cast<std::size_t>(m)];
    derivative_spectrum_[static_cast<std::size_t>(m)] = {-k * spectrum[m].imag(), k * spectrum[m].real()};  // i k v
  }
  plan.inverse_real(spectrum, physical_u_.data());
  plan.inverse_real(derivative_spectrum_.data(), physical_ux_.data());
  for (std::int64_t j = 0; j < points_; ++j)
    physical_u_[static_cast<std::size_t>(j)] *= -physical_ux_[static_cast<std::size_t>(j)];
  plan.forward_real(physical_u_.data(), out);
}

// Kassam and Trefethen's ETDRK4 for v' = L v + N(v):
//   a = e^{hL/2} v + Q N(v),  b = e^{hL/2} v + Q N(a),  c = e^{hL/2} a + Q (2 N(b) - N(v)),
//   v <- e^{hL} v + f1 N(v) + 2 f2 (N(a) + N(b)) + f3 N(c).
void KdvIntegrator::advance(double* u, std::int64_t steps) {
  MECH_CHECK(steps >= 0, "KdvIntegrator::advance: steps must be >= 0, got {}", steps);
  const fft::Plan& plan = *plan_;
  Complex* v = spectrum_.data();
  Complex *a = stage_a_.data(), *b = stage_b_.data(), *c = stage_c_.data();
  Complex *nv = nonlinear_v_.data(), *na = nonlinear_a_.data(), *nb = nonlinear_b_.data(), *nc = nonlinear_c_.data();
  const Complex *e = exp_full_.data(), *e2 = exp_half_.data(), *q = half_weight_.data();
  const Complex *f1 = weight1_.data(), *f2 = weight2_.data(), *f3 = weight3_.data();
  const std::int64_t modes = modes_;
  plan.forward_real(u, v);
  for (std::int64_t step = 0; step < steps; ++step) {
    nonlinear(v, nv);
    for (std::int64_t m = 0; m < modes; ++m) a[m] = multiply(e2[m], v[m]) + multiply(q[m], nv[m]);
    nonlinear(a, na);
    for (std::int64_t m = 0; m < modes; ++m) b[m] = multiply(e2[m], v[m]) + multiply(q[m], na[m]);
    nonlinear(b, nb);
    for (std::int64_t m = 0; m < modes; ++m) c[m] = multiply(e2[m], a[m]) + multiply(q[m], 2.0 * nb[m] - nv[m]);
    nonlinear(c, nc);
    for (std::int64_t m = 0; m < modes; ++m)
      v[m] = multiply(e[m], v[m]) + multiply(f1[m], nv[m]) + multiply(f2[m], 2.0 * (na[m] + nb[m])) +
             multiply(f3[m], nc[m]);
  }
  plan.inverse_real(v, u);
}

// ---- the data set -------------------------------------------------------------------------------

KdvData generate_kdv(std::int64_t count, std::uint64_t seed, const KdvRecipe& recipe,
                     const std::function<void(std::int64_t done)>& progress) {
  check_recipe(recipe);
  MECH_CHECK(count >= 0, "generate_kdv: count must be >= 0, got {}", count);
  const std::int64_t points = recipe.points, stored = recipe.stored_times, outputs = recipe.output_times;
  const auto options = TensorOptions().dtype(DType::Float64);
  KdvData data{empty({count, stored, points}, options), empty({count, stored}, options), empty({count, points}, options)};
  double* u_out = data.u.data_ptr<double>();
  double* t_out = data.t.data_ptr<double>();
  double* x_out = data.x.data_ptr<double>();

  auto make_trajectory = [&](std::int64_t index) {
    KdvTrajectory trajectory = kdv_trajectory(seed, index, recipe);
    const double dt = trajectory.end_time / static_cast<double>(outputs - 1);
    const std::int64_t substeps = kdv_substeps(dt, recipe.max_step);
    KdvIntegrator integrator(points, trajectory.length, dt / static_cast<double>(substeps));
    std::vector<double>& u = trajectory.initial;
    const std::int64_t first_stored = outputs - stored;
    for (std::int64_t n = 0; n < outputs; ++n) {
      if (n > 0) {
        integrator.advance(u.data(), substeps);
        // A step too large for ETDRK4 on these states (h ~ 0.1) blows up: say so, never store NaN.
        for (double value : u)
          MECH_CHECK(std::isfinite(value),
                     "generate_kdv: trajectory {} (L {:.3f}, T {:.3f}) became non-finite by t = {:.3f} with step {:.4g}: "
                     "lower max_step (now {})",
                     index, trajectory.length, trajectory.end_time, static_cast<double>(n) * dt,
                     integrator.step(), recipe.max_step);
      }
      if (n < first_stored) continue;
      const std::int64_t row = index * stored + (n - first_stored);
      std::copy(u.begin(), u.end(), u_out + row * points);
      t_out[row] = static_cast<double>(n) * dt;
    }
    for (std::int64_t j = 0; j < points; ++j)
      x_out[index * points + j] = static_cast<double>(j) * trajectory.length / static_cast<double>(points);
  };

  // Trajectories are handed out one at a time (their costs differ with T); each depends only on
  // (seed, index), so the scheduling cannot change the bytes.
  std::atomic<std::int64_t> next{0};
  std::mutex progress_mutex;
  std::int64_t done = 0;
  const std::int64_t workers = std::min<std::int64_t>(std::max(1, get_num_threads()), std::max<std::int64_t>(count, 1));
  parallel_for(0, workers, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t worker = begin; worker < end; ++worker) {
      for (std::int64_t index = next++; index < count; index = next++) {
        make_trajectory(index);
        if (progress) {
          std::lock_guard<std::mutex> lock(progress_mutex);
          progress(++done);
        }
      }
    }
  });
  return data;
}

// ---- files --------------------------------------------------------------------------------------

namespace {

std::string file_in(const std::string& dir, const char* name) {
  return (std::filesystem::path(dir) / name).string();
}

// The multi-index of flat element `flat` in `shape`, as "[i, j, k]".
std::string index_str(std::int64_t flat, const Shape& shape) {
  Shape index(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  return shape_str(index);
}

Tensor load_checked(const std::string& path, std::int64_t rank) {
  Tensor tensor = load_npy(path);
  if (tensor.dtype() != DType::Float64)
    throw IoError(fmt::format("kdv: '{}': expected float64, got {}", path, dtype_name(tensor.dtype())));
  if (tensor.dim() != rank)
    throw IoError(fmt::format("kdv: '{}': expected {} dimensions, got shape {}", path, rank, shape_str(tensor.shape())));
  const double* values = tensor.data_ptr<double>();
  for (std::int64_t i = 0; i < tensor.numel(); ++i)
    if (!std::isfinite(values[i]))
      throw IoError(fmt::format("kdv: '{}': non-finite value {} at index {}", path, values[i],
                                index_str(i, tensor.shape())));
  return tensor;
}

void check_data(const KdvData& data, const char* op) {
  MECH_CHECK(data.u.defined() && data.t.defined() && data.x.defined(), "{}: u, t and x must all be set", op);
  MECH_CHECK(data.u.dim() == 3 && data.t.dim() == 2 && data.x.dim() == 2 && data.t.size(0) == data.u.size(0) &&
                 data.x.size(0) == data.u.size(0) && data.t.size(1) == data.u.size(1) &&
                 data.x.size(1) == data.u.size(2),
             "{}: expected u (N, S, P), t (N, S), x (N, P), got u {}, t {}, x {}", op, shape_str(data.u.shape()),
             shape_str(data.t.shape()), shape_str(data.x.shape()));
}

}  // namespace

void save_kdv(const KdvData& data, const std::string& dir) {
  check_data(data, "save_kdv");
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) throw IoError(fmt::format("kdv: cannot create directory '{}': {}", dir, error.message()));
  save_npy(file_in(dir, "u.npy"), data.u.to(DType::Float64));
  save_npy(file_in(dir, "t.npy"), data.t.to(DType::Float64));
  save_npy(file_in(dir, "x.npy"), data.x.to(DType::Float64));
}

KdvData load_kdv(const std::string& dir) {
  KdvData data;
  const std::string u_path = file_in(dir, "u.npy"), t_path = file_in(dir, "t.npy"), x_path = file_in(dir, "x.npy");
  data.u = load_checked(u_path, 3);
  data.t = load_checked(t_path, 2);
  data.x = load_checked(x_path, 2);
  const Shape& u = data.u.shape();
  if (data.t.size(0) != u[0] || data.t.size(1) != u[1])
    throw IoError(fmt::format("kdv: '{}': expected shape [{}, {}] to match u.npy {}, got {}", t_path, u[0], u[1],
                              shape_str(u), shape_str(data.t.shape())));
  if (data.x.size(0) != u[0] || data.x.size(1) != u[2])
    throw IoError(fmt::format("kdv: '{}': expected shape [{}, {}] to match u.npy {}, got {}", x_path, u[0], u[2],
                              shape_str(u), shape_str(data.x.shape())));
  return data;
}

// ---- windows ------------------------------------------------------------------------------------

std::int64_t kdv_windows_per_trajectory(const KdvData& data) {
  check_data(data, "kdv_windows_per_trajectory");
  return std::max<std::int64_t>(0, data.u.size(1) - kKdvWindowFrames + 1);
}

std::int64_t kdv_window_count(const KdvData& data) {
  return data.u.size(0) * kdv_windows_per_trajectory(data);
}

namespace {
template <class T>
void copy_windows(const double* u, const std::vector<std::int64_t>& ids, std::int64_t per_trajectory,
                  std::int64_t stored, std::int64_t points, T* out) {
  const std::int64_t window_values = kKdvWindowFrames * points;
  for (std::size_t w = 0; w < ids.size(); ++w) {
    const std::int64_t trajectory = ids[w] / per_trajectory, start = ids[w] % per_trajectory;
    const double* source = u + (trajectory * stored + start) * points;
    T* target = out + static_cast<std::int64_t>(w) * window_values;
    for (std::int64_t i = 0; i < window_values; ++i) target[i] = static_cast<T>(source[i]);
  }
}
}  // namespace

Tensor kdv_windows(const KdvData& data, const std::vector<std::int64_t>& ids, DType dtype) {
  const std::int64_t per_trajectory = kdv_windows_per_trajectory(data), total = kdv_window_count(data);
  MECH_CHECK(dtype == DType::Float32 || dtype == DType::Float64, "kdv_windows: dtype must be float32 or float64, got {}",
             dtype_name(dtype));
  MECH_CHECK(data.u.dtype() == DType::Float64, "kdv_windows: u must be float64, got {}", dtype_name(data.u.dtype()));
  for (std::int64_t id : ids)
    MECH_CHECK(id >= 0 && id < total, "kdv_windows: window id {} out of range [0, {}) ({} trajectories x {} windows)",
               id, total, data.u.size(0), per_trajectory);
  const std::int64_t stored = data.u.size(1), points = data.u.size(2);
  Tensor u = data.u.device().is_cpu() ? data.u.contiguous() : data.u.to(Device::cpu()).contiguous();
  Tensor out = empty({static_cast<std::int64_t>(ids.size()), kKdvWindowFrames, points}, TensorOptions().dtype(dtype));
  if (dtype == DType::Float32)
    copy_windows(u.data_ptr<double>(), ids, per_trajectory, stored, points, out.data_ptr<float>());
  else
    copy_windows(u.data_ptr<double>(), ids, per_trajectory, stored, points, out.data_ptr<double>());
  return out;
}

}  // namespace mech::models
