// mech-lorenz: discover the Lorenz equations from a (noisy) trajectory with a Mechanistic Block.
// The right-hand side Theta(s) xi of a degree-2 polynomial library, evaluated on the state s (the
// data, or the data smoothed by a state network with --state-network), is handed to NeuRLP as the
// linear ODE u' = Theta(s) xi, u(0) = s(0) over windows of the trajectory; Adam fits xi so that u
// matches the data, and between training cycles the weakest term of each equation is pruned for
// good while its unique contribution is below --threshold (the kept terms are refitted to take over
// what they can of it). models/lorenz_discovery.h has the model, models/README.md the measured
// choices behind it. The options bind the model's own option structs (models::LorenzOptions for the
// data, LorenzDiscoveryOptions, LorenzSchedule); the run options and the training bookkeeping are
// the drivers' shared kit (tools/common/training_run.h). --device cuda trains on the GPU (the same
// coefficients to rounding). Prints the discovered equations beside the truth and writes to
// --out-dir:
//   coefficients.csv         term,dx,dy,dz with rows 1,x,y,z,xx,xy,xz,yy,yz,zz
//   loss.csv                 epoch,loss,solution_loss,state_loss,consistency_loss,lr,active_terms
//   summary.txt              scores against the truth (the same keys as mech-sindy's)
//   trajectory.svg           the true trajectory against the discovered system from the same start
//   checkpoint.safetensors   model + optimizer + step + loss log (continue with --resume)
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/generator.h"
#include "models/datasets.h"
#include "models/lorenz_discovery.h"
#include "models/sindy.h"
#include "nn/nn.h"
#include "tools/common/cli.h"
#include "tools/common/driver_checks.h"
#include "tools/common/lorenz_report.h"
#include "tools/common/training_run.h"

namespace {

using namespace mech;
using models::LorenzDiscovery;

struct Settings {
  models::LorenzOptions data;
  models::LorenzDiscoveryOptions model;
  models::LorenzSchedule schedule;
  double threshold = 0.025;
  LorenzDiscovery::PruneRule prune_rule = LorenzDiscovery::PruneRule::Unique;
  double ridge = 0.0;
  bool state_network = false;
  // The verdict printed at the end: every active coefficient within this relative error and no
  // stray term; <= 0 means 2% on clean data, 5% on noisy data.
  double target_error = 0.0;
  long stop_at = 0;
  // One thread: the problem is small, on 2 cores extra threads mostly add synchronisation.
  tools::RunOptions run{.checkpoint_every = 500, .out_dir = "out/lorenz"};
};

constexpr const char* kLossHeader = "epoch,loss,solution_loss,state_loss,consistency_loss,lr,active_terms";

void print_table(const models::PolynomialLibrary& library, const std::vector<double>& truth,
                 const std::vector<double>& found) {
  std::printf("  %-5s %12s %12s   %12s %12s   %12s %12s\n", "term", "dx truth", "dx mech", "dy truth", "dy mech",
              "dz truth", "dz mech");
  for (size_t term = 0; term < library.term_count(); ++term) {
    std::printf("  %-5s", library.term_names()[term].c_str());
    for (size_t d = 0; d < 3; ++d)
      std::printf(" %12.6g %12.6g  ", truth[term * 3 + d], found[term * 3 + d]);
    std::printf("\n");
  }
}

int run(const Settings& s, const tools::CommandLine& cli) {
  const tools::RunScope scope(s.run);
  const models::LorenzData data = models::make_lorenz(s.data);
  Generator generator(s.data.seed);
  auto model = std::make_shared<LorenzDiscovery>(data.noisy, s.data.dt, s.model, &generator);
  // The model is built on the CPU (its scales come from the host data) and then moved; training
  // runs where its tensors live, while pruning, printing, checkpoints and the CSV files read host
  // copies (LorenzDiscovery copies explicitly) and the Dormand-Prince check runs on the CPU.
  model->to(scope.device);
  const auto samples = static_cast<std::int64_t>(data.times.size());
  const Tensor trajectory = from_vector(data.noisy, {samples, 3}).to(scope.device);
  const std::int64_t window_count = (samples - 1) / (s.model.window - 1);
  const models::LorenzSchedule& schedule = s.schedule;

  // Rebuilt after each pruning: the whitened coordinates change, so old moments would point wrong.
  auto make_optimizer = [&] {
    return std::make_unique<nn::Adam>(model->parameters(), nn::AdamOptions(schedule.lr));
  };
  std::unique_ptr<nn::Adam> optimizer = make_optimizer();
  nn::TrainingState state{.model = model.get(), .optimizer = optimizer.get(), .generator = &generator, .metadata = {}};
  // What a checkpoint must have been trained on to be continued: the data and the windows.
  const std::map<std::string, std::string> identity{
      {"sigma", fmt::format("{}", s.data.sigma)}, {"rho", fmt::format("{}", s.data.rho)},
      {"beta", fmt::format("{}", s.data.beta)},   {"noise", fmt::format("{}", s.data.noise)},
      {"seed", std::to_string(s.data.seed)},      {"dt", fmt::format("{}", s.data.dt)},
      {"length", std::to_string(s.data.length)},  {"window", std::to_string(s.model.window)},
      {"formulation", formulation_name(s.model.formulation)}};
  tools::TrainingLog log(cli, s.run, state, identity, schedule.epochs, "train", kLossHeader);
  if (log.first_step() > schedule.epochs)
    cli.fail(fmt::format("--resume: the checkpoint is at epoch {}, beyond --epochs {}", log.first_step(),
                         schedule.epochs));

  if (!s.run.quiet)
    std::printf("mech-lorenz: Lorenz sigma=%g rho=%g beta=%g, %zu samples at dt=%g, noise %g; %lld windows of %lld, "
                "%s, %ld epochs%s\n",
                s.data.sigma, s.data.rho, s.data.beta, data.times.size(), s.data.dt, s.data.noise,
                static_cast<long long>(window_count), static_cast<long long>(s.model.window),
                formulation_name(s.model.formulation), schedule.epochs,
                scope.device.is_cpu() ? "" : (", on " + scope.device.str()).c_str());
  const long last_epoch = s.stop_at > 0 ? std::min(s.stop_at, schedule.epochs) : schedule.epochs;
  while (state.step < last_epoch) {
    const long epoch = static_cast<long>(state.step);
    optimizer->set_lr(schedule.lr_at(epoch));
    optimizer->zero_grad();
    models::LorenzLosses losses =
        model->forward_loss(trajectory, schedule.ridge_at(epoch, s.ridge),
                            s.state_network && schedule.state_network_at(epoch), schedule.initial_offsets_at(epoch));
    losses.total.backward();
    optimizer->step();
    model->apply_mask();
    const double total = losses.value(model->options());
    if (!std::isfinite(total)) throw Error(fmt::format("training diverged at epoch {} (loss {})", epoch, total));
    if (schedule.prune_after(epoch) && model->prune(s.threshold, s.prune_rule) > 0) {
      optimizer = make_optimizer();
      state.optimizer = optimizer.get();
    }
    log.step_done(total, fmt::format("{} terms", model->active_terms()),
                  fmt::format("{},{:.10g},{:.10g},{:.10g},{:.10g},{:.6g},{}", epoch, total, losses.solution,
                              losses.state, losses.consistency, schedule.lr_at(epoch), model->active_terms()));
  }
  if (state.step < schedule.epochs) log.save_checkpoint();  // stopped early by --stop-at
  log.finish();

  const models::PolynomialLibrary& library = model->library();
  const std::vector<double> found = model->coefficients();
  const std::vector<double> truth = tools::true_coefficients(library, s.data);
  const models::DiscoveryScore score = models::score_discovery(truth, found);
  tools::print_equations(library, truth, found);
  print_table(library, truth, found);
  tools::print_score(score);
  const char* const labels[] = {"dx/dt", "dy/dt", "dz/dt"};
  const std::vector<double> unique = model->unique_contributions();
  std::string scores_text;
  for (size_t term = 0; term < library.term_count(); ++term)
    for (size_t d = 0; d < 3; ++d)
      if (unique[term * 3 + d] > 0)
        scores_text += fmt::format(" {}:{}={:.3g}", labels[d], library.term_names()[term], unique[term * 3 + d]);
  std::printf("  unique contributions of the kept terms (pruning threshold %g):%s\n", s.threshold, scores_text.c_str());
  write_file_atomically(s.run.out_dir + "/loss.csv", log.csv());
  tools::write_discovery_files(s.run.out_dir, data, library, found, tools::discovery_summary(score),
                               "mech (discovered)",
                               fmt::format("mech, noise {}: truth against the discovered system", s.data.noise),
                               std::numeric_limits<double>::infinity());
  std::printf("  wrote %s/coefficients.csv, loss.csv, summary.txt, trajectory.svg, checkpoint.safetensors\n",
              s.run.out_dir.c_str());
  const double target = s.target_error > 0 ? s.target_error : (s.data.noise > 0 ? 0.05 : 0.02);
  const bool passed = score.max_relative_error <= target && score.stray_terms == 0 && score.missing_terms == 0;
  std::printf("  max relative error %.3g%% against the target %.3g%% with no stray or missing term: %s\n",
              100 * score.max_relative_error, 100 * target, passed ? "PASS" : "FAIL");
  return 0;
}

void check_settings(const tools::CommandLine& cli, const Settings& s) {
  tools::check_lorenz_data_options(cli, s.data);
  const models::LorenzDiscoveryOptions& model = s.model;
  const models::LorenzSchedule& schedule = s.schedule;
  if (schedule.epochs < 1) cli.fail(fmt::format("--epochs {} must be at least 1", schedule.epochs));
  if (model.window < 4 || model.window > static_cast<std::int64_t>(s.data.length))
    cli.fail(fmt::format("--window {} must be in [4, --length]", model.window));
  if (!(s.threshold >= 0)) cli.fail(fmt::format("--threshold {} must be non-negative", s.threshold));
  if (!(s.ridge >= 0)) cli.fail(fmt::format("--ridge {} must be non-negative", s.ridge));
  if (!(schedule.lr > 0)) cli.fail(fmt::format("--lr {} must be positive", schedule.lr));
  if (!(schedule.final_lr_fraction > 0) || schedule.final_lr_fraction > 1)
    cli.fail(fmt::format("--final-lr-fraction {} must be in (0, 1]", schedule.final_lr_fraction));
  if (schedule.prune_start < 0 || schedule.prune_every < 0)
    cli.fail(fmt::format("--prune-start {} and --prune-every {} must be >= 0", schedule.prune_start,
                         schedule.prune_every));
  if (!(model.state_weight >= 0)) cli.fail(fmt::format("--state-weight {} must be >= 0", model.state_weight));
  if (model.state_hidden < 1) cli.fail(fmt::format("--state-hidden {} must be >= 1", model.state_hidden));
  if (model.state_kernel < 1 || model.state_kernel % 2 == 0)
    cli.fail(fmt::format("--state-kernel {} must be odd and positive", model.state_kernel));
  if (!(model.consistency_weight >= 0))
    cli.fail(fmt::format("--consistency-weight {} must be >= 0", model.consistency_weight));
  if (!(model.gamma >= 0) || !(model.alpha >= 0))
    cli.fail(fmt::format("--gamma {} and --alpha {} must be >= 0", model.gamma, model.alpha));
  if (s.stop_at < 0) cli.fail(fmt::format("--stop-at {} must be >= 0", s.stop_at));
  tools::check_run_options(cli, s.run);
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  models::LorenzDiscoveryOptions& model = s.model;
  models::LorenzSchedule& schedule = s.schedule;
  tools::CommandLine cli("mech-lorenz",
                         "Discover the Lorenz equations from a trajectory with a Mechanistic Block:\n"
                         "a degree-2 polynomial library, NeuRLP solves of u' = Theta(s) xi over windows,\n"
                         "Adam, and pruning of small coefficients between training cycles.");
  tools::add_lorenz_data_options(cli, s.data, "seed of the noise and of the state network's initial weights");
  cli.add("epochs", &schedule.epochs, "training epochs (full passes over all windows)");
  cli.add_choice("formulation", &model.formulation,
                 {{"mnn", Formulation::Mnn}, {"scalable", Formulation::Scalable}, {"hermite4", Formulation::Hermite4}},
                 "NeuRLP formulation (scalable: fourth-order corrected quadrature, see --corrected-quadrature; "
                 "hermite4: fourth order by itself)");
  cli.add("window", &model.window, "grid points per window solved by NeuRLP");
  cli.add("target-error", &s.target_error,
          "the final verdict: PASS when the active coefficients are within this relative error with no "
          "stray term; 0 means 0.02 on clean data, 0.05 with noise");
  cli.add("threshold", &s.threshold,
          "prune below this, in units of the derivative's RMS (unique contribution or |scaled xi|, per --prune-rule)");
  cli.add_choice("prune-rule", &s.prune_rule,
                 {{"magnitude", LorenzDiscovery::PruneRule::Magnitude}, {"unique", LorenzDiscovery::PruneRule::Unique}},
                 "prune by |scaled xi| (all below --threshold at once) or by unique contribution (the weakest "
                 "term per equation at a time, the kept terms refitted to take over what they can of it)");
  cli.add("ridge", &s.ridge,
          "weight of |scaled xi|^2 until the last pruning (keeps nearly collinear terms from absorbing noise)");
  cli.add("lr", &schedule.lr, "initial Adam learning rate");
  cli.add("final-lr-fraction", &schedule.final_lr_fraction, "learning rate at the end, as a fraction of --lr");
  cli.add("prune-start", &schedule.prune_start, "first epoch after which small coefficients are pruned");
  cli.add("prune-every", &schedule.prune_every, "epochs between pruning steps");
  cli.add("state-network", &s.state_network,
          "smooth s with the state network (off: s = x; measured, the network costs accuracy, see models/README.md)");
  cli.add("learn-initial-values", &model.learn_initial_values,
          "u(0) = s(0) + a learned offset per window instead of s(0) (--learn-initial-values=false: s(0))");
  cli.add("state-start", &schedule.state_start,
          "epoch from which the state network smooths s (before it s = x); -1: after the last pruning");
  cli.add("state-weight", &model.state_weight, "weight of |s - x|^2 in the loss");
  cli.add("state-hidden", &model.state_hidden, "channels of the state network");
  cli.add("state-kernel", &model.state_kernel, "kernel width of the state network's two Conv1d layers (odd)");
  cli.add("consistency-weight", &model.consistency_weight, "weight of |u - s|^2 in the loss");
  cli.add("corrected-quadrature", &model.corrected_quadrature,
          "scalable: hand NeuRLP the fourth-order corrected Theta(s) xi (--corrected-quadrature=false: itself)");
  cli.add("gamma", &model.gamma, "NeuRLP gamma (mnn)");
  cli.add("alpha", &model.alpha, "NeuRLP alpha (mnn)");
  cli.add("stop-at", &s.stop_at,
          "stop after this epoch as if interrupted (the schedule still spans --epochs; 0: run to the end)");
  tools::add_run_options(cli, s.run, "coefficients.csv, loss.csv, summary.txt, trajectory.svg");
  cli.parse_or_exit(argc, argv);
  check_settings(cli, s);
  return tools::run_reporting_errors(cli, [&] { return run(s, cli); });
}
