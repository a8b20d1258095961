// Lorenz equation discovery: windows, scales, the state network, the library, the NeuRLP solve and
// the pruning of the learned coefficients.
#include "models/lorenz_discovery.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "autograd/grad_mode.h"
#include "core/error.h"

namespace mech::models {

namespace {

constexpr std::int64_t kDims = 3;
constexpr double kGramRidge = 1e-10;  // relative to the unit diagonal of the scaled Gram matrix
const TensorOptions kFloat64 = TensorOptions().dtype(DType::Float64);

// The model may live on a GPU; whatever is read on the host (pruning, scores, coefficients) is an
// explicit copy to the CPU, and whatever the host computes goes back to the model's device.
std::vector<double> host_values(const Tensor& tensor) { return tensor.detach().to(Device::cpu()).to_vector<double>(); }
double host_value(const Tensor& tensor) { return tensor.detach().to(Device::cpu()).item(); }
Tensor on_device_of(const Tensor& like, const std::vector<double>& values) {
  return from_vector(values, like.shape(), kFloat64).to(like.device());
}

void check_samples(const char* op, const std::vector<double>& samples) {
  MECH_CHECK(samples.size() % kDims == 0 && !samples.empty(),
             "{}: expected samples of shape (N, 3) row-major, got {} values", op, samples.size());
  for (double value : samples) MECH_CHECK(std::isfinite(value), "{}: samples contain a non-finite value", op);
}

}  // namespace

Tensor make_windows(const std::vector<double>& samples, std::int64_t window) {
  check_samples("make_windows", samples);
  const std::int64_t count = static_cast<std::int64_t>(samples.size()) / kDims;
  MECH_CHECK(window >= 3 && window <= count, "make_windows: expected 3 <= window <= N = {}, got window {}", count,
             window);
  const std::int64_t batches = (count - 1) / (window - 1);
  std::vector<double> values(static_cast<size_t>(batches * window * kDims));
  for (std::int64_t b = 0; b < batches; ++b)
    for (std::int64_t t = 0; t < window; ++t)
      for (std::int64_t d = 0; d < kDims; ++d)
        values[static_cast<size_t>((b * window + t) * kDims + d)] =
            samples[static_cast<size_t>((b * (window - 1) + t) * kDims + d)];
  return from_vector(values, {batches, window, kDims}, kFloat64);
}

Tensor window_indices(std::int64_t samples, std::int64_t window) {
  MECH_CHECK(window >= 3 && window <= samples, "window_indices: expected 3 <= window <= N = {}, got window {}", samples,
             window);
  const std::int64_t batches = (samples - 1) / (window - 1);
  std::vector<std::int64_t> index(static_cast<size_t>(batches * window));
  for (std::int64_t b = 0; b < batches; ++b)
    for (std::int64_t t = 0; t < window; ++t) index[static_cast<size_t>(b * window + t)] = b * (window - 1) + t;
  return from_vector(index, {batches * window}, TensorOptions().dtype(DType::Int64));
}

LorenzDiscovery::LorenzDiscovery(const std::vector<double>& observed, double dt, const LorenzDiscoveryOptions& options,
                                 Generator* generator)
    : Module("LorenzDiscovery"), options_(options), dt_(dt), library_({"x", "y", "z"}, 2) {
  constexpr const char* kOp = "LorenzDiscovery";
  check_samples(kOp, observed);
  MECH_CHECK(dt > 0 && std::isfinite(dt), "{}: expected a positive dt, got {}", kOp, dt);
  MECH_CHECK(options.state_kernel >= 1 && options.state_kernel % 2 == 1 && options.state_hidden >= 1,
             "{}: expected an odd state_kernel and state_hidden >= 1, got kernel {} and hidden {}", kOp,
             options.state_kernel, options.state_hidden);
  MECH_CHECK(options.state_weight >= 0 && options.consistency_weight >= 0,
             "{}: expected state_weight >= 0 and consistency_weight >= 0, got {} and {}", kOp, options.state_weight,
             options.consistency_weight);
  const size_t count = observed.size() / kDims, terms = library_.term_count();
  MECH_CHECK(count >= 11, "{}: expected at least 11 samples, got {}", kOp, count);

  // Scales from the data. The derivative scale uses differences over +-k samples: only its size
  // matters, and the wider stencil keeps measurement noise from inflating it.
  std::vector<double> center(kDims, 0.0), spread(kDims, 0.0), derivative(kDims, 0.0), column(terms, 0.0);
  for (size_t n = 0; n < count; ++n)
    for (size_t d = 0; d < kDims; ++d) center[d] += observed[n * kDims + d] / static_cast<double>(count);
  for (size_t n = 0; n < count; ++n)
    for (size_t d = 0; d < kDims; ++d) spread[d] += std::pow(observed[n * kDims + d] - center[d], 2);
  const size_t k = std::min<size_t>(5, (count - 1) / 2);
  for (size_t n = k; n + k < count; ++n)
    for (size_t d = 0; d < kDims; ++d)
      derivative[d] += std::pow((observed[(n + k) * kDims + d] - observed[(n - k) * kDims + d]) / (2.0 * k * dt), 2);
  std::vector<double> theta = library_.evaluate(observed);
  std::vector<double> gram(terms * terms, 0.0);
  for (size_t n = 0; n < count; ++n)
    for (size_t i = 0; i < terms; ++i)
      for (size_t j = 0; j < terms; ++j) gram[i * terms + j] += theta[n * terms + i] * theta[n * terms + j];
  for (size_t term = 0; term < terms; ++term) column[term] = gram[term * terms + term];
  for (size_t d = 0; d < kDims; ++d) {
    spread[d] = std::sqrt(spread[d] / static_cast<double>(count));
    derivative[d] = std::sqrt(derivative[d] / static_cast<double>(count - 2 * k));
    MECH_CHECK(spread[d] > 0 && derivative[d] > 0, "{}: coordinate {} of the data is constant", kOp, d);
  }
  for (size_t term = 0; term < terms; ++term) {
    column[term] = std::sqrt(column[term] / static_cast<double>(count));
    MECH_CHECK(column[term] > 0, "{}: library term {} is zero on the whole trajectory", kOp,
               library_.term_names()[term]);
  }

  for (size_t i = 0; i < terms; ++i)
    for (size_t j = 0; j < terms; ++j)
      gram[i * terms + j] /= static_cast<double>(count) * column[i] * column[j];

  const auto T = static_cast<std::int64_t>(terms);
  whitened_ = register_parameter("whitened_xi", zeros({T, kDims}, kFloat64));
  if (options.learn_initial_values) {
    MECH_CHECK(options.window >= 3 && static_cast<size_t>(options.window) <= count,
               "{}: expected 3 <= window <= N = {}, got window {}", kOp, count, options.window);
    const auto windows = static_cast<std::int64_t>((count - 1) / static_cast<size_t>(options.window - 1));
    initial_offset_ = register_parameter("initial_offset", zeros({windows, kDims}, kFloat64));
  }
  mask_ = register_buffer("mask", ones({T, kDims}, kFloat64));
  gram_ = register_buffer("gram", from_vector(gram, {T, T}, kFloat64));
  preconditioner_ = register_buffer("preconditioner", zeros({kDims, T, T}, kFloat64));
  update_preconditioner();
  column_scale_ = register_buffer("column_scale", from_vector(column, {T}, kFloat64));
  output_scale_ = register_buffer("output_scale", from_vector(derivative, {kDims}, kFloat64));
  center_ = register_buffer("center", from_vector(center, {kDims}, kFloat64));
  spread_ = register_buffer("spread", from_vector(spread, {kDims}, kFloat64));
  std::vector<double> unit(kDims * kDims * 2, 0.0);
  for (std::int64_t e = 0; e < kDims; ++e) unit[static_cast<size_t>((e * kDims + e) * 2 + 1)] = 1.0;
  unit_coefficients_ = register_buffer("unit_coefficients", from_vector(unit, {kDims, kDims, 2}, kFloat64));

  const std::int64_t pad = options.state_kernel / 2;
  state_in_ = register_module(
      "state_in", std::make_shared<nn::Conv1d>(
                      nn::Conv1dOptions(kDims, options.state_hidden, options.state_kernel).padding(pad).dtype(DType::Float64),
                      generator));
  state_out_ = register_module(
      "state_out", std::make_shared<nn::Conv1d>(
                       nn::Conv1dOptions(options.state_hidden, kDims, options.state_kernel).padding(pad).dtype(DType::Float64),
                       generator));
  {
    // The correction starts at exactly zero, so training starts from s = x.
    NoGradGuard no_grad;
    state_out_->weight().zero_();
    state_out_->bias().zero_();
  }
  block_ = register_module("block", std::make_shared<MechanisticBlock>(MechanisticBlockOptions()
                                                                            .order(1)
                                                                            .dimensions(kDims)
                                                                            .equations(kDims)
                                                                            .iv_points(1)
                                                                            .iv_count(1)
                                                                            .formulation(options.formulation)
                                                                            .gamma(options.gamma)
                                                                            .alpha(options.alpha)));
}

Tensor LorenzDiscovery::state(const Tensor& trajectory) {
  MECH_CHECK(trajectory.dim() == 2 && trajectory.size(1) == kDims && trajectory.size(0) >= 2,
             "LorenzDiscovery::state: expected a trajectory of shape (N, 3), got {}", shape_str(trajectory.shape()));
  // The network sees the trajectory in standard units, as one (1, 3, N) sequence.
  Tensor normalized = ((trajectory - center_) / spread_).t().unsqueeze(0);
  Tensor correction = state_out_->forward(tanh(state_in_->forward(normalized))).squeeze(0).t();
  return trajectory + correction * spread_;
}

Tensor LorenzDiscovery::scaled_library(const Tensor& states) const {
  MECH_CHECK(states.dim() >= 1 && states.size(-1) == kDims,
             "LorenzDiscovery::scaled_library: expected states of shape (..., 3), got {}", shape_str(states.shape()));
  std::vector<Tensor> variables{states.select(-1, 0), states.select(-1, 1), states.select(-1, 2)};
  std::vector<Tensor> columns;
  for (const auto& powers : library_.exponents()) {
    Tensor term;
    for (size_t v = 0; v < powers.size(); ++v)
      for (int p = 0; p < powers[v]; ++p) term = term.defined() ? term * variables[v] : variables[v];
    columns.push_back(term.defined() ? term : ones_like(variables[0]));
  }
  return stack(columns, -1) / column_scale_;
}

Tensor corrected_rhs(const Tensor& rhs) {
  MECH_CHECK(rhs.dim() == 3 && rhs.size(2) >= 4, "corrected_rhs: expected rhs of shape (B, E, T) with T >= 4, got {}",
             shape_str(rhs.shape()));
  const std::int64_t T = rhs.size(2);
  // D2 r: central inside; at the ends the one-sided 2 r0 - 5 r1 + 4 r2 - r3 (also second order).
  Tensor inside = rhs.narrow(2, 0, T - 2) - rhs.narrow(2, 1, T - 2) * 2.0 + rhs.narrow(2, 2, T - 2);
  auto at = [&](std::int64_t t) { return rhs.narrow(2, t, 1); };
  Tensor first = at(0) * 2.0 - at(1) * 5.0 + at(2) * 4.0 - at(3);
  Tensor last = at(T - 1) * 2.0 - at(T - 2) * 5.0 + at(T - 3) * 4.0 - at(T - 4);
  return rhs - cat({first, inside, last}, 2) / 12.0;
}

LorenzLosses LorenzDiscovery::forward_loss(const Tensor& trajectory, double ridge_weight, bool use_state_network,
                                           bool use_initial_offsets) {
  MECH_CHECK(trajectory.dim() == 2 && trajectory.size(1) == kDims && trajectory.size(0) >= options_.window,
             "LorenzDiscovery::forward_loss: expected a trajectory of shape (N, 3) with N >= window = {}, got {}",
             options_.window, shape_str(trajectory.shape()));
  const Device device = whitened_.device();
  MECH_CHECK(trajectory.device() == device,
             "LorenzDiscovery::forward_loss: expected the trajectory on {} like the model, got it on {}", device.str(),
             trajectory.device().str());
  const std::int64_t T = options_.window;
  Tensor index = window_indices(trajectory.size(0), T).to(device);
  const std::int64_t B = index.size(0) / T;
  Tensor s = use_state_network ? state(trajectory) : trajectory;
  Tensor observed = index_select(trajectory, 0, index).reshape({B, T, kDims});
  Tensor estimated = index_select(s, 0, index).reshape({B, T, kDims});
  // r_e(t) = (Theta(s(t)) xi)_e in the data's units: (B, T, 3) -> (B, E, T).
  Tensor rhs = (matmul(scaled_library(estimated), scaled_xi()) * output_scale_).permute({0, 2, 1});
  if (options_.formulation == Formulation::Scalable && options_.corrected_quadrature) rhs = corrected_rhs(rhs);
  Tensor start = estimated.select(1, 0);
  if (initial_offset_.defined() && use_initial_offsets) {
    MECH_CHECK(initial_offset_.size(0) == B, "LorenzDiscovery::forward_loss: the model was built for {} windows, the "
               "trajectory has {}", initial_offset_.size(0), B);
    start = start + initial_offset_ * spread_;
  }
  Tensor iv = start.reshape({B, 1, kDims, 1});
  Tensor coefficients = unit_coefficients_.unsqueeze(0).expand({B, kDims, kDims, 2});
  Tensor steps = full({B, T - 1, kDims}, dt_, kFloat64.device(device));
  Tensor u = block_->forward_with_steps(coefficients, rhs, iv, steps).value();

  Tensor variance = spread_ * spread_;
  auto misfit = [&](const Tensor& a, const Tensor& b) { return mean((a - b) * (a - b) / variance); };
  Tensor solution_loss = misfit(u, observed);
  Tensor state_loss = misfit(s, trajectory);
  Tensor consistency_loss = misfit(u, estimated);
  LorenzLosses losses;
  losses.total = solution_loss + state_loss * options_.state_weight + consistency_loss * options_.consistency_weight;
  losses.solution = host_value(solution_loss);
  losses.state = host_value(state_loss);
  losses.consistency = host_value(consistency_loss);
  if (ridge_weight > 0) {
    Tensor xi = scaled_xi();
    Tensor ridge = (xi * xi).sum() * ridge_weight;
    losses.total = losses.total + ridge;
    losses.ridge = host_value(ridge);
  }
  return losses;
}

Tensor LorenzDiscovery::scaled_xi() const {
  // (3, 10, 10) @ (3, 10, 1): one P w per output.
  Tensor per_output = matmul(preconditioner_, whitened_.t().unsqueeze(-1)).squeeze(-1);
  return per_output.t() * mask_;
}

std::vector<double> LorenzDiscovery::scaled_coefficients() const {
  NoGradGuard no_grad;
  return host_values(scaled_xi());
}

std::vector<double> LorenzDiscovery::coefficients() const {
  std::vector<double> xi = scaled_coefficients();
  std::vector<double> column = host_values(column_scale_), output = host_values(output_scale_);
  for (size_t term = 0; term < column.size(); ++term)
    for (size_t d = 0; d < kDims; ++d) xi[term * kDims + d] *= output[d] / column[term];
  return xi;
}

SparsityMask LorenzDiscovery::mask() const {
  SparsityMask mask(library_.term_count(), kDims);
  std::vector<double> weights = host_values(mask_);
  for (size_t term = 0; term < library_.term_count(); ++term)
    for (size_t d = 0; d < kDims; ++d) mask.set_active(term, d, weights[term * kDims + d] != 0.0);
  return mask;
}

void LorenzDiscovery::update_preconditioner() {
  // Per output: the Cholesky factor L of the active block of the Gram matrix; P = L^-T on that block.
  const size_t terms = library_.term_count();
  const SparsityMask current = mask();
  const std::vector<double> gram = host_values(gram_);
  std::vector<double> all(kDims * terms * terms, 0.0);
  for (size_t d = 0; d < kDims; ++d) {
    std::vector<size_t> active;
    for (size_t term = 0; term < terms; ++term)
      if (current.active(term, d)) active.push_back(term);
    const size_t n = active.size();
    std::vector<double> factor(n * n, 0.0);  // L, row-major lower triangle
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = 0; j <= i; ++j) {
        double sum = gram[active[i] * terms + active[j]];
        // A small ridge keeps an (almost) collinear active set factorable and caps P at 1/sqrt(ridge):
        // on a trajectory that settles onto a fixed point (rho 20) the Gram matrix is nearly singular,
        // and an unbounded P turned Adam's unit-size steps in w into huge jumps of xi.
        if (i == j) sum += kGramRidge;
        for (size_t k = 0; k < j; ++k) sum -= factor[i * n + k] * factor[j * n + k];
        if (i == j) {
          MECH_CHECK(sum > 0, "LorenzDiscovery: the Gram matrix of the active library terms of output {} is singular", d);
          factor[i * n + i] = std::sqrt(sum);
        } else {
          factor[i * n + j] = sum / factor[j * n + j];
        }
      }
    }
    // P = L^-T: solve L^T P = I column by column (back substitution).
    for (size_t c = 0; c < n; ++c) {
      std::vector<double> column(n, 0.0);
      for (size_t i = n; i-- > 0;) {
        double sum = (i == c) ? 1.0 : 0.0;
        for (size_t k = i + 1; k < n; ++k) sum -= factor[k * n + i] * column[k];
        column[i] = sum / factor[i * n + i];
      }
      for (size_t i = 0; i < n; ++i) all[(d * terms + active[i]) * terms + active[c]] = column[i];
    }
  }
  NoGradGuard no_grad;
  preconditioner_.copy_(on_device_of(preconditioner_, all));
}

void LorenzDiscovery::set_scaled_coefficients(const std::vector<double>& scaled) {
  const size_t terms = library_.term_count();
  MECH_CHECK(scaled.size() == terms * kDims, "LorenzDiscovery::set_scaled_coefficients: expected {} values, got {}",
             terms * kDims, scaled.size());
  // w = P^-1 xi on each output's active block. P is upper triangular there (L^-T), so solve P w = xi
  // by back substitution over the active terms in order.
  const SparsityMask current = mask();
  const std::vector<double> p = host_values(preconditioner_);
  std::vector<double> w(terms * kDims, 0.0);
  for (size_t d = 0; d < kDims; ++d) {
    std::vector<size_t> active;
    for (size_t term = 0; term < terms; ++term)
      if (current.active(term, d)) active.push_back(term);
    for (size_t i = active.size(); i-- > 0;) {
      double sum = scaled[active[i] * kDims + d];
      for (size_t k = i + 1; k < active.size(); ++k)
        sum -= p[(d * terms + active[i]) * terms + active[k]] * w[active[k] * kDims + d];
      w[active[i] * kDims + d] = sum / p[(d * terms + active[i]) * terms + active[i]];
    }
  }
  NoGradGuard no_grad;
  whitened_.copy_(on_device_of(whitened_, w));
}

void LorenzDiscovery::set_coefficients(const std::vector<double>& physical) {
  const size_t terms = library_.term_count();
  MECH_CHECK(physical.size() == terms * kDims, "LorenzDiscovery::set_coefficients: expected {} values, got {}",
             terms * kDims, physical.size());
  std::vector<double> column = host_values(column_scale_), output = host_values(output_scale_);
  std::vector<double> scaled = physical;
  for (size_t term = 0; term < terms; ++term)
    for (size_t d = 0; d < kDims; ++d) scaled[term * kDims + d] *= column[term] / output[d];
  set_scaled_coefficients(scaled);
}

std::vector<double> LorenzDiscovery::unique_contributions() const {
  // G_A^-1 = P P^T on the active block (P = L^-T), so (G_A^-1)_jj is the squared norm of row j of P.
  const size_t terms = library_.term_count();
  const std::vector<double> p = host_values(preconditioner_);
  std::vector<double> xi = scaled_coefficients(), scores(terms * kDims, 0.0);
  for (size_t d = 0; d < kDims; ++d)
    for (size_t j = 0; j < terms; ++j) {
      double inverse_diagonal = 0.0;
      for (size_t k = 0; k < terms; ++k) inverse_diagonal += p[(d * terms + j) * terms + k] * p[(d * terms + j) * terms + k];
      if (inverse_diagonal > 0) scores[j * kDims + d] = std::abs(xi[j * kDims + d]) / std::sqrt(inverse_diagonal);
    }
  return scores;
}

size_t LorenzDiscovery::prune(double threshold, PruneRule rule) {
  const SparsityMask mask_before = mask();
  SparsityMask current = mask_before;
  const std::vector<double> before = scaled_coefficients();
  std::vector<double> xi = before;
  size_t pruned = 0;
  if (rule == PruneRule::Magnitude) {
    pruned = current.prune(xi, threshold);
  } else {
    const std::vector<double> scores = unique_contributions();
    for (size_t d = 0; d < kDims; ++d) {
      size_t weakest = library_.term_count();
      for (size_t j = 0; j < library_.term_count(); ++j)
        if (current.active(j, d) &&
            (weakest == library_.term_count() || scores[j * kDims + d] < scores[weakest * kDims + d]))
          weakest = j;
      if (weakest < library_.term_count() && scores[weakest * kDims + d] < threshold) {
        current.set_active(weakest, d, false);
        ++pruned;
      }
    }
    current.apply(xi);
  }
  if (pruned == 0) return 0;
  {
    NoGradGuard no_grad;
    mask_.copy_(on_device_of(mask_, current.weights()));
  }
  update_preconditioner();
  // Unique: the kept terms take over what they can of the pruned ones, so the right-hand side moves
  // by exactly the pruned term's unique contribution (the amount the rule measured). Without this,
  // a stray of a nearly collinear group (large coefficients cancelling one another, as on the
  // trajectory that settles onto a fixed point) took its whole, large coefficient with it and threw
  // the fit far off; the rule then had to spare every term above a magnitude bound, and on rho 20
  // at noise 0.01 seven strays of dx/dt stayed (measured: 5.1% error, now 0.20% with none).
  // Only the outputs that lost a term: elsewhere the ridge of P would nudge the coefficients.
  if (rule == PruneRule::Unique) {
    const std::vector<double> projected = projected_coefficients(before);
    for (size_t d = 0; d < kDims; ++d)
      if (mask_before.active_count_in_output(d) != current.active_count_in_output(d))
        for (size_t j = 0; j < library_.term_count(); ++j) xi[j * kDims + d] = projected[j * kDims + d];
  }
  set_scaled_coefficients(xi);  // in the new coordinates
  return pruned;
}

std::vector<double> LorenzDiscovery::projected_coefficients(const std::vector<double>& previous) const {
  // Per output, with A the previously active terms and B the kept ones: the xi_B whose library
  // combination is closest, in the data's mean square, to the previous one: xi_B = G_BB^-1 G_BA
  // xi_A. G_BB^-1 = P P^T (P = L^-T on B, zero elsewhere), and G_BA xi_A = (G previous)_B since
  // previous is zero off A.
  const size_t terms = library_.term_count();
  MECH_CHECK(previous.size() == terms * kDims, "LorenzDiscovery::projected_coefficients: expected {} values, got {}",
             terms * kDims, previous.size());
  const SparsityMask current = mask();
  const std::vector<double> gram = host_values(gram_), p = host_values(preconditioner_);
  std::vector<double> xi(terms * kDims, 0.0);
  for (size_t d = 0; d < kDims; ++d) {
    std::vector<double> projected(terms, 0.0), whitened(terms, 0.0);  // G previous, then P^T of it
    for (size_t i = 0; i < terms; ++i)
      if (current.active(i, d))
        for (size_t k = 0; k < terms; ++k) projected[i] += gram[i * terms + k] * previous[k * kDims + d];
    for (size_t c = 0; c < terms; ++c)
      for (size_t i = 0; i < terms; ++i) whitened[c] += p[(d * terms + i) * terms + c] * projected[i];
    for (size_t i = 0; i < terms; ++i)
      if (current.active(i, d))
        for (size_t c = 0; c < terms; ++c) xi[i * kDims + d] += p[(d * terms + i) * terms + c] * whitened[c];
  }
  return xi;
}

void LorenzDiscovery::apply_mask() {
  NoGradGuard no_grad;
  whitened_.copy_(whitened_ * mask_);
}

std::vector<Tensor> LorenzDiscovery::state_parameters() const {
  std::vector<Tensor> parameters = state_in_->parameters();
  for (const Tensor& p : state_out_->parameters()) parameters.push_back(p);
  return parameters;
}

double LorenzSchedule::lr_at(long epoch) const {
  if (epochs <= 1) return lr;
  return lr * std::pow(final_lr_fraction, static_cast<double>(epoch) / static_cast<double>(epochs - 1));
}

long LorenzSchedule::last_prune() const {
  for (long epoch = epochs - 1; epoch >= 0; --epoch)
    if (prune_after(epoch)) return epoch;
  return -1;
}

bool LorenzSchedule::prune_after(long epoch) const {
  if (prune_every <= 0 || epoch < prune_start || epoch + prune_every >= epochs) return false;
  return (epoch - prune_start) % prune_every == 0;
}

}  // namespace mech::models
