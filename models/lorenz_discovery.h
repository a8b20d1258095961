// Lorenz equation discovery with a Mechanistic Block (models/README.md has the design and the
// measurements behind each choice): the model and the pieces of its training loop that the
// mech-lorenz driver and the tests share.
//
// The observed trajectory x is cut into windows of T samples that share their end points. Per
// window, with s the state estimate:
//   r(t)  = Theta(s(t)) xi                the degree-2 polynomial library (1,x,y,z,xx,...,zz) times
//                                        the learned coefficients, masked by the pruning mask
//   u' = r, u(0) = s(0) [+ offset]        per dimension (order 1, E = D = 3), solved by NeuRLP
//                                        (scalable rows, fourth-order corrected quadrature)
//   loss  = |u - x|^2 + state_weight |s - x|^2 + consistency_weight |u - s|^2
// per coordinate, in units of its variance.
// s: either x itself, or x plus a state network's correction (two Conv1d layers along time, run
// over the whole trajectory so no window has a padded edge; it starts at exactly zero, so with
// clean data s ~ x; |u - s|^2 is what would make it a smoother). The driver uses s = x by default:
// measured, the network cost accuracy at every noise level tried (see mech-lorenz --state-network).
// The learned per-window offset of u(0) replaces the noise of the single sample s(0).
// xi is learned in scaled units: each library column is divided by its RMS over the data and each
// output by the RMS of its derivative, so every active Lorenz term is O(1) whatever the system's
// parameters, and a threshold is a fraction of the derivative's RMS. Pruned entries stay exactly
// zero: the solver sees xi * mask.
//
// Whitening. Even scaled, the library's columns are far from orthogonal (1, z, zz, xx and yy are
// all mostly positive and nearly parallel on the attractor), and a gradient method on the raw
// coefficients crawls: measured, Adam still had 100% errors after 3000 epochs. So the parameter
// is a whitened vector w per output: xi_A = P_A w_A on the active terms A, with P_A = L^-T where
// L L^T is the Gram matrix of the active scaled columns over the data. The fit is then roughly
// isotropic in w. P is recomputed after every pruning (and w from the kept xi), and the optimizer's
// moments should be reset then (they belong to the old coordinates).
//
// Devices. The model is built on the CPU (its scales come from the host samples); Module::to moves
// it, e.g. to a GPU. forward_loss then wants the trajectory on the same device and makes its own
// tensors there; pruning, the scores and the coefficients work on explicit host copies, and what
// they compute is copied back, so a CPU and a GPU run differ only by floating-point rounding.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/generator.h"
#include "models/mechanistic_block.h"
#include "models/polynomial_library.h"
#include "nn/conv1d.h"
#include "nn/module.h"

namespace mech::models {

struct LorenzDiscoveryOptions {
  std::int64_t window = 51;          // grid points per window (T)
  std::int64_t state_hidden = 16;    // channels of the state network
  std::int64_t state_kernel = 5;     // odd Conv1d kernel width of the state network
  double state_weight = 1.0;         // weight of |s - x|^2 against |u - x|^2
  double consistency_weight = 1.0;   // weight of |u - s|^2
  Formulation formulation = Formulation::Scalable;
  double gamma = 0.5, alpha = 0.1;
  // Scalable only: hand NeuRLP r - (1/12) D2 r instead of r (D2: second difference along the
  // window). Without central rows NeuRLP integrates u' = r by the trapezoid rule, whose error
  // -(h^3/12) r'' per step this cancels: fourth order instead of second. Measured on u' = cos(8t),
  // h = 0.01, 51 points: max error 6.7e-5 plain, 1.0e-7 corrected; on Lorenz at dt = 0.01 the plain
  // rule biases the dy/dt coefficient of y by 2.8%. (The mnn rows mix trapezoid and central
  // differences, so no such constant correction makes them fourth order; none is applied there.)
  bool corrected_quadrature = true;
  // u(0) = s(0) + a learned offset per window (in units of each coordinate's spread, starting at 0)
  // instead of s(0): the noise of the one sample s(0) would otherwise shift the whole window's u.
  // Measured at noise 0.01: max error 0.08% with it, 0.68% without; at 0.05 (seeds 0, 1, 2):
  // 3.0 / 7.8 / 3.3% with it, 1.2 / 11.9 / 7.8% without.
  bool learn_initial_values = true;
};

// Samples (N, 3) row-major cut into windows of T points with stride T-1 (neighbours share an end
// point); trailing samples that do not fill a window are dropped. Returns (B, T, 3) float64.
Tensor make_windows(const std::vector<double>& samples, std::int64_t window);
// The sample index of every window point, int64 (B*T): window b covers b(T-1) .. b(T-1)+T-1.
Tensor window_indices(std::int64_t samples, std::int64_t window);

// r - (1/12) D2 r along the last dimension of (B, E, T), T >= 4 (see corrected_quadrature).
Tensor corrected_rhs(const Tensor& rhs);

struct LorenzLosses {
  Tensor total;              // scalar, differentiable
  double solution = 0.0;     // mean |u - x|^2 / var
  double state = 0.0;        // mean |s - x|^2 / var
  double consistency = 0.0;  // mean |u - s|^2 / var
  double ridge = 0.0;        // ridge_weight * sum of squared scaled coefficients
  // The weighted sum, as a number.
  double value(const LorenzDiscoveryOptions& options) const {
    return solution + options.state_weight * state + options.consistency_weight * consistency + ridge;
  }
};

class LorenzDiscovery : public nn::Module {
 public:
  // observed: (N, 3) samples at spacing dt, used for the scales (column RMS, derivative RMS, mean and
  // spread of each coordinate). Parameters are float64; the state network draws from generator.
  LorenzDiscovery(const std::vector<double>& observed, double dt, const LorenzDiscoveryOptions& options,
                  Generator* generator = nullptr);

  // trajectory: the observed samples (N, 3), float64, at spacing dt. ridge_weight adds
  // ridge_weight * |scaled xi|^2: on the attractor 1, z, xx, xy, yy, zz are nearly linearly
  // dependent, so noise moves the fit freely along that combination (measured at 5% noise: strays
  // of 1 and z in dy/dt cancelling each other, each above any safe threshold); the ridge pins those
  // directions near zero so thresholding can remove them. The schedule drops it for the final
  // cycle, so the kept terms are fitted without its bias.
  // use_state_network false takes s = x (the network is skipped and gets no gradient): the
  // schedule does that while it prunes, so the network cannot bend s toward a not-yet-fitted xi.
  // use_initial_offsets false takes u(0) = s(0) even when the model learns offsets: the schedule
  // learns them only after the last pruning (with them during pruning, the fit converged too slowly
  // on short data, 801 samples, and pruning then removed true terms).
  LorenzLosses forward_loss(const Tensor& trajectory, double ridge_weight = 0.0, bool use_state_network = true,
                            bool use_initial_offsets = true);
  // The state estimate s for a trajectory (N, 3).
  Tensor state(const Tensor& trajectory);
  // Theta(s) with columns divided by their scale: (..., 3) -> (..., 10).
  Tensor scaled_library(const Tensor& states) const;

  // xi in scaled units, (10, 3): P w per output, masked. Differentiable in w.
  Tensor scaled_xi() const;
  // (terms, 3) row-major in the data's units (s' = Theta(s) xi); pruned entries exactly 0.
  std::vector<double> coefficients() const;
  std::vector<double> scaled_coefficients() const;
  // Sets w so that scaled_coefficients() equals `scaled` (10 x 3) on the active entries.
  void set_scaled_coefficients(const std::vector<double>& scaled);
  // The same from coefficients in the data's units.
  void set_coefficients(const std::vector<double>& physical);
  // How pruning picks terms. Magnitude: every active entry with |scaled xi| < threshold (SINDy's
  // rule). Unique: per output, the one active term with the smallest unique contribution
  // |xi_j| / sqrt((G_A^-1)_jj), if below threshold; that is the RMS of the part of term j's column
  // that the other active terms cannot reproduce, times its coefficient, in units of the
  // derivative's RMS, so a group of nearly collinear terms that cancel one another (what noise
  // makes of 1, z, xx, xy, yy, zz on the attractor) scores low even when each coefficient is large.
  // One term per output per call, because removing one changes every other score. Every active
  // term is a candidate, however large its coefficient. The kept terms of that output are then
  // refitted (projected_coefficients) so that they carry what they can of the pruned term: the
  // right-hand side changes by exactly the pruned term's unique contribution, below the threshold.
  // The magnitude rule leaves the kept coefficients as they were.
  enum class PruneRule { Magnitude, Unique };
  // Returns how many entries were newly pruned.
  size_t prune(double threshold, PruneRule rule = PruneRule::Magnitude);
  // Scaled coefficients on the current mask whose library combination is closest, in mean square
  // over the data, to that of `previous` (10 x 3 scaled, any support): per output
  // xi_B = G_BB^-1 G_B. previous, with B the active terms and G the scaled Gram matrix.
  std::vector<double> projected_coefficients(const std::vector<double>& previous) const;
  // The unique contribution of every entry (0 for pruned ones), (10, 3) row-major.
  std::vector<double> unique_contributions() const;
  // Re-zeroes the pruned entries of xi (after an optimizer step moved them through momentum).
  void apply_mask();
  SparsityMask mask() const;
  size_t active_terms() const { return mask().active_count(); }

  const PolynomialLibrary& library() const { return library_; }
  const LorenzDiscoveryOptions& options() const { return options_; }
  double dt() const { return dt_; }
  Tensor whitened() const { return whitened_; }  // the parameter w, (10, 3)
  std::vector<Tensor> state_parameters() const;  // the state network's parameters

 private:
  LorenzDiscoveryOptions options_;
  double dt_;
  PolynomialLibrary library_;
  // Recomputes P from the Gram matrix for the current mask.
  void update_preconditioner();

  Tensor whitened_;         // (10, 3) w, parameter
  Tensor initial_offset_;   // (windows, 3), parameter when options.learn_initial_values
  Tensor mask_;             // (10, 3) 1 active / 0 pruned, buffer
  Tensor gram_;             // (10, 10) mean of Theta_scaled^T Theta_scaled over the data, buffer
  Tensor preconditioner_;   // (3, 10, 10) P per output, zero on pruned rows and columns, buffer
  Tensor column_scale_;     // (10) RMS of each library column, buffer
  Tensor output_scale_;     // (3) RMS of each derivative, buffer
  Tensor center_, spread_;  // (3) mean and standard deviation of each coordinate, buffers
  Tensor unit_coefficients_;  // (3, 3, 2): u_e' has coefficient 1, buffer
  std::shared_ptr<nn::Conv1d> state_in_, state_out_;
  std::shared_ptr<MechanisticBlock> block_;
};

// The learning rate and pruning times of a run: the rate decays exponentially from lr to
// lr * final_lr_fraction over the epochs; pruning happens after epoch prune_start and then every
// prune_every epochs, but not in the last prune_every epochs (the kept terms get time to settle).
struct LorenzSchedule {
  long epochs = 3000;
  double lr = 2e-2;
  double final_lr_fraction = 0.1;
  long prune_start = 300;
  long prune_every = 150;

  double lr_at(long epoch) const;
  bool prune_after(long epoch) const;
  // The last epoch after which pruning happens (-1 if never).
  long last_prune() const;
  // ridge for epochs up to the last pruning, 0 after it (the final, unbiased fit).
  double ridge_at(long epoch, double ridge) const { return epoch <= last_prune() ? ridge : 0.0; }
  // The state network is used from state_start on (before it, s = x); a negative state_start
  // means "after the last pruning".
  long state_start = -1;
  bool state_network_at(long epoch) const { return state_start >= 0 ? epoch >= state_start : epoch > last_prune(); }
  // Learned initial values are used after the last pruning.
  bool initial_offsets_at(long epoch) const { return epoch > last_prune(); }
};

}  // namespace mech::models
