// mech-lorenz: discover the Lorenz equations from a (noisy) trajectory with a Mechanistic Block.
// The right-hand side Theta(s) xi of a degree-2 polynomial library, evaluated on the state s (the
// data, or the data smoothed by a state network with --state-network), is handed to NeuRLP as the
// linear ODE u' = Theta(s) xi, u(0) = s(0) over windows of the trajectory; Adam fits xi so that u
// matches the data, and between training cycles the weakest term of each equation is pruned for
// good while its unique contribution is below --threshold (the kept terms are refitted to take over
// what they can of it). models/lorenz_discovery.h has the model. --device cuda trains on the GPU
// (the same coefficients to rounding). Prints the discovered equations beside the truth and writes
// to --out-dir:
//   coefficients.csv   term,dx,dy,dz with rows 1,x,y,z,xx,xy,xz,yy,yz,zz
//   loss.csv           epoch,loss,solution_loss,state_loss,consistency_loss,lr,active_terms
//   summary.txt        scores against the truth (the same keys as mech-sindy's)
//   trajectory.svg     the true trajectory against the discovered system from the same start
//   model.safetensors  a checkpoint (model, optimizer, step) that --resume continues from
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <system_error>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/generator.h"
#include "core/parallel.h"
#include "cuda/backend.h"
#include "models/datasets.h"
#include "models/lorenz_discovery.h"
#include "models/ode_integrator.h"
#include "models/sindy.h"
#include "nn/nn.h"
#include "tools/common/cli.h"
#include "tools/common/progress.h"
#include "tools/common/svg.h"

namespace {

using namespace mech::models;

// A problem with what the user asked for that shows only once the run has started (a checkpoint
// that does not load): main reports it like a bad option, exit status 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Error messages on one line (some carry a file's details over several).
std::string one_line(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  return text;
}

struct Options {
  double sigma = 10.0, rho = 28.0, beta = 8.0 / 3.0;
  double noise = 0.0;
  unsigned long long seed = 0;
  double dt = 0.01;
  long length = static_cast<long>(LorenzOptions{}.length);
  long epochs = LorenzSchedule{}.epochs;
  int threads = 1;  // the problem is small: on 2 cores extra threads mostly add synchronisation
  std::string out_dir = "out/lorenz";
  std::string device = "cpu";
  std::string formulation = "scalable";
  long window = LorenzDiscoveryOptions{}.window;
  double threshold = 0.025;
  // The verdict printed at the end: every active coefficient within this relative error and no
  // stray term; <= 0 means 2% on clean data, 5% on noisy data.
  double target_error = 0.0;
  double ridge = 0.0;
  std::string prune_rule = "unique";
  bool state_network = false;
  bool learn_initial_values = LorenzDiscoveryOptions{}.learn_initial_values;
  double lr = LorenzSchedule{}.lr;
  double final_lr_fraction = LorenzSchedule{}.final_lr_fraction;
  long prune_start = LorenzSchedule{}.prune_start;
  long prune_every = LorenzSchedule{}.prune_every;
  long state_start = LorenzSchedule{}.state_start;
  double state_weight = LorenzDiscoveryOptions{}.state_weight;
  long state_hidden = LorenzDiscoveryOptions{}.state_hidden;
  long state_kernel = LorenzDiscoveryOptions{}.state_kernel;
  double consistency_weight = LorenzDiscoveryOptions{}.consistency_weight;
  double gamma = 0.5, alpha = 0.1;
  long checkpoint_every = 500;
  std::string resume;
  long stop_at = 0;
  bool quiet = false;
  bool plain_quadrature = false;
};

std::string coefficients_csv(const PolynomialLibrary& library, const std::vector<double>& xi) {
  std::string text = "term,dx,dy,dz\n";
  for (size_t term = 0; term < library.term_count(); ++term)
    text += fmt::format("{},{:.17g},{:.17g},{:.17g}\n", library.term_names()[term], xi[term * 3], xi[term * 3 + 1],
                        xi[term * 3 + 2]);
  return text;
}

// The discovered system from the true start over the data's span. A badly discovered system can
// blow up; then the curve stops where the integrator gave up rather than ending the program.
Trajectory simulate(const PolynomialLibrary& library, const std::vector<double>& xi, const std::vector<double>& start,
                    const std::vector<double>& times, std::string* problem) {
  OdeRhs rhs = [&](double, const std::vector<double>& state, std::vector<double>& slope) {
    slope = library.apply(xi, 3, state.data());
  };
  IntegratorOptions accuracy;
  accuracy.rtol = 1e-9;
  accuracy.atol = 1e-9;
  accuracy.max_steps = 2'000'000;
  std::vector<double> horizon = times;
  while (horizon.size() > 2) {
    try {
      return integrate_ode(rhs, horizon.front(), start, horizon, accuracy);
    } catch (const mech::Error& error) {
      if (problem->empty()) *problem = error.what();
      horizon.resize(horizon.size() / 4 + 1);
    }
  }
  return Trajectory{};
}

void write_picture(const std::string& path, const LorenzData& data, const Trajectory& model, const std::string& title) {
  mech::tools::Figure figure(title, 2);
  std::vector<double> true_x, true_z;
  for (size_t row = 0; row < data.times.size(); ++row) {
    true_x.push_back(data.clean[row * 3]);
    true_z.push_back(data.clean[row * 3 + 2]);
  }
  auto& projection = figure.add_panel();
  projection.set_title("x-z projection").set_x_label("x").set_y_label("z");
  projection.line(true_x, true_z, "truth", "#1f77b4");
  if (model.size() > 0) projection.line(model.component(0), model.component(2), "mech (discovered)", "#d62728", true);
  auto& series = figure.add_panel();
  series.set_title("x(t)").set_x_label("t").set_y_label("x");
  series.line(data.times, true_x, "truth", "#1f77b4");
  if (model.size() > 0) series.line(model.times, model.component(0), "mech (discovered)", "#d62728", true);
  figure.save(path);
}

// The header and the rows of an earlier run's loss.csv for epochs before `epoch` (a resumed run
// appends to them); just the header when there is no such file.
std::string loss_rows_before(const std::filesystem::path& path, long epoch) {
  std::string kept = "epoch,loss,solution_loss,state_loss,consistency_loss,lr,active_terms\n";
  std::ifstream file(path);
  std::string line;
  if (!std::getline(file, line)) return kept;
  while (std::getline(file, line)) {
    if (line.empty() || std::stol(line.substr(0, line.find(','))) >= epoch) break;
    kept += line + "\n";
  }
  return kept;
}

void print_table(const PolynomialLibrary& library, const std::vector<double>& truth, const std::vector<double>& found) {
  std::printf("  %-5s %12s %12s   %12s %12s   %12s %12s\n", "term", "dx truth", "dx mech", "dy truth", "dy mech",
              "dz truth", "dz mech");
  for (size_t term = 0; term < library.term_count(); ++term) {
    std::printf("  %-5s", library.term_names()[term].c_str());
    for (size_t d = 0; d < 3; ++d)
      std::printf(" %12.6g %12.6g  ", truth[term * 3 + d], found[term * 3 + d]);
    std::printf("\n");
  }
}

int run(const Options& options) {
  if (options.threads > 0) mech::set_num_threads(options.threads);
  LorenzOptions lorenz;
  lorenz.sigma = options.sigma, lorenz.rho = options.rho, lorenz.beta = options.beta;
  lorenz.noise = options.noise, lorenz.seed = options.seed;
  lorenz.dt = options.dt, lorenz.length = static_cast<size_t>(options.length);
  LorenzData data = make_lorenz(lorenz);

  LorenzDiscoveryOptions model_options;
  model_options.window = options.window;
  model_options.state_weight = options.state_weight;
  model_options.state_hidden = options.state_hidden;
  model_options.state_kernel = options.state_kernel;
  model_options.consistency_weight = options.consistency_weight;
  model_options.formulation = mech::parse_formulation(options.formulation);
  model_options.gamma = options.gamma;
  model_options.corrected_quadrature = !options.plain_quadrature;
  model_options.learn_initial_values = options.learn_initial_values;
  model_options.alpha = options.alpha;
  mech::Generator generator(options.seed);
  auto model = std::make_shared<LorenzDiscovery>(data.noisy, options.dt, model_options, &generator);
  // The model is built on the CPU (its scales come from the host data) and then moved; training
  // runs where its tensors live, while pruning, printing, checkpoints and the CSV files read host
  // copies (LorenzDiscovery copies explicitly) and the Dormand-Prince check runs on the CPU.
  const mech::Device device = mech::Device::parse(options.device);
  model->to(device);
  const auto samples = static_cast<std::int64_t>(data.times.size());
  mech::Tensor trajectory = mech::from_vector(data.noisy, {samples, 3}).to(device);
  const std::int64_t window_count = (samples - 1) / (options.window - 1);

  const LorenzDiscovery::PruneRule prune_rule =
      options.prune_rule == "unique" ? LorenzDiscovery::PruneRule::Unique : LorenzDiscovery::PruneRule::Magnitude;
  LorenzSchedule schedule;
  schedule.epochs = options.epochs;
  schedule.lr = options.lr;
  schedule.final_lr_fraction = options.final_lr_fraction;
  schedule.prune_start = options.prune_start;
  schedule.prune_every = options.prune_every;
  schedule.state_start = options.state_start;
  // Rebuilt after each pruning: the whitened coordinates change, so old moments would point wrong.
  auto make_optimizer = [&] {
    return std::make_unique<mech::nn::Adam>(model->parameters(), mech::nn::AdamOptions(schedule.lr));
  };
  std::unique_ptr<mech::nn::Adam> optimizer = make_optimizer();

  std::filesystem::create_directories(options.out_dir);
  const std::string checkpoint = options.out_dir + "/model.safetensors";
  mech::nn::TrainingState state;
  state.model = model.get();
  state.optimizer = optimizer.get();
  state.generator = &generator;
  std::string loss_log = "epoch,loss,solution_loss,state_loss,consistency_loss,lr,active_terms\n";
  long first_epoch = 0;
  if (!options.resume.empty()) {
    try {
      mech::nn::load_checkpoint(options.resume, state);
    } catch (const std::exception& error) {
      throw UsageError(fmt::format("--resume {}: {}", options.resume, one_line(error.what())));
    }
    for (const auto& [name, parameter] : model->named_parameters())
      for (double value : parameter.detach().to(mech::Device::cpu()).to_vector<double>())
        if (!std::isfinite(value))
          throw UsageError(fmt::format("--resume {}: parameter {} holds a non-finite value (a diverged run?)",
                                       options.resume, name));
    first_epoch = static_cast<long>(state.step);
    if (first_epoch < 0 || first_epoch > options.epochs)
      throw UsageError(fmt::format("--resume {}: the checkpoint is at epoch {}, outside --epochs {}", options.resume,
                                   first_epoch, options.epochs));
    loss_log = loss_rows_before(std::filesystem::path(options.resume).parent_path() / "loss.csv", first_epoch);
    if (!options.quiet)
      std::printf("mech-lorenz: resumed %s at epoch %ld with %zu active terms\n", options.resume.c_str(), first_epoch,
                  model->active_terms());
  }
  auto save = [&](long step) {
    state.step = step;
    state.metadata["command"] = fmt::format("sigma={} rho={} beta={} noise={} seed={} dt={} length={}", options.sigma,
                                            options.rho, options.beta, options.noise, options.seed, options.dt,
                                            options.length);
    mech::nn::save_checkpoint(checkpoint, state);
    mech::write_file_atomically(options.out_dir + "/loss.csv", loss_log);
  };

  if (!options.quiet)
    std::printf("mech-lorenz: Lorenz sigma=%g rho=%g beta=%g, %zu samples at dt=%g, noise %g; %lld windows of %ld, "
                "%s, %ld epochs%s\n",
                options.sigma, options.rho, options.beta, data.times.size(), options.dt, options.noise,
                static_cast<long long>(window_count), options.window, options.formulation.c_str(), options.epochs,
                device.is_cpu() ? "" : (", on " + device.str()).c_str());
  mech::tools::ProgressBar bar(options.epochs, "train", stderr,
                               options.quiet ? mech::tools::ProgressBar::Mode::Lines : mech::tools::ProgressBar::Mode::Auto);
  if (options.quiet) bar.set_min_interval(1e9);
  const long last_epoch = options.stop_at > 0 ? std::min(options.stop_at, options.epochs) : options.epochs;
  for (long epoch = first_epoch; epoch < last_epoch; ++epoch) {
    optimizer->set_lr(schedule.lr_at(epoch));
    optimizer->zero_grad();
    LorenzLosses losses =
        model->forward_loss(trajectory, schedule.ridge_at(epoch, options.ridge),
                            options.state_network && schedule.state_network_at(epoch), schedule.initial_offsets_at(epoch));
    losses.total.backward();
    optimizer->step();
    model->apply_mask();
    double total = losses.value(model->options());
    if (!std::isfinite(total)) throw mech::Error(fmt::format("training diverged at epoch {} (loss {})", epoch, total));
    if (schedule.prune_after(epoch) && model->prune(options.threshold, prune_rule) > 0) {
      optimizer = make_optimizer();
      state.optimizer = optimizer.get();
    }
    loss_log += fmt::format("{},{:.10g},{:.10g},{:.10g},{:.10g},{:.6g},{}\n", epoch, total, losses.solution,
                            losses.state, losses.consistency, schedule.lr_at(epoch), model->active_terms());
    bar.update(epoch + 1, total, fmt::format("{} terms", model->active_terms()));
    if (options.checkpoint_every > 0 && (epoch + 1) % options.checkpoint_every == 0 && epoch + 1 < options.epochs)
      save(epoch + 1);
  }
  bar.finish();
  save(last_epoch);

  const PolynomialLibrary& library = model->library();
  std::vector<double> found = model->coefficients();
  std::vector<double> truth = lorenz_coefficients(library, options.sigma, options.rho, options.beta);
  DiscoveryScore score = score_discovery(truth, found);
  const char* labels[] = {"dx/dt", "dy/dt", "dz/dt"};
  for (size_t output = 0; output < 3; ++output) {
    std::printf("  truth       %s = %s\n", labels[output], library.format_equation(truth, 3, output).c_str());
    std::printf("  discovered  %s = %s\n", labels[output], library.format_equation(found, 3, output).c_str());
  }
  print_table(library, truth, found);
  std::printf("  max relative error on the %zu active terms: %.3g%% (mean %.3g%%); stray terms: %zu; missing: %zu\n",
              score.active_terms, 100 * score.max_relative_error, 100 * score.mean_relative_error, score.stray_terms,
              score.missing_terms);
  std::vector<double> unique = model->unique_contributions();
  std::string scores_text;
  for (size_t term = 0; term < library.term_count(); ++term)
    for (size_t d = 0; d < 3; ++d)
      if (unique[term * 3 + d] > 0)
        scores_text += fmt::format(" {}:{}={:.3g}", labels[d], library.term_names()[term], unique[term * 3 + d]);
  std::printf("  unique contributions of the kept terms (pruning threshold %g):%s\n", options.threshold,
              scores_text.c_str());
  std::string summary = fmt::format(
      "max_relative_error_active={:.6g}\nmean_relative_error_active={:.6g}\nactive_terms={}\nstray_terms={}\n"
      "missing_terms={}\n",
      score.max_relative_error, score.mean_relative_error, score.active_terms, score.stray_terms, score.missing_terms);
  mech::write_file_atomically(options.out_dir + "/coefficients.csv", coefficients_csv(library, found));
  mech::write_file_atomically(options.out_dir + "/summary.txt", summary);
  mech::write_file_atomically(options.out_dir + "/loss.csv", loss_log);

  std::string problem;
  std::vector<double> start(data.clean.begin(), data.clean.begin() + 3);
  Trajectory simulated = simulate(library, found, start, data.times, &problem);
  if (!problem.empty())
    std::printf("  note: the discovered system could not be simulated over the whole span: %s\n", problem.c_str());
  write_picture(options.out_dir + "/trajectory.svg", data, simulated,
                fmt::format("mech, noise {}: truth against the discovered system", options.noise));
  std::printf("  wrote %s/coefficients.csv, loss.csv, summary.txt, trajectory.svg, model.safetensors\n",
              options.out_dir.c_str());
  const double target = options.target_error > 0 ? options.target_error : (options.noise > 0 ? 0.05 : 0.02);
  const bool passed = score.max_relative_error <= target && score.stray_terms == 0 && score.missing_terms == 0;
  std::printf("  max relative error %.3g%% against the target %.3g%% with no stray or missing term: %s\n",
              100 * score.max_relative_error, 100 * target, passed ? "PASS" : "FAIL");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  mech::tools::CommandLine cli("mech-lorenz",
                               "Discover the Lorenz equations from a trajectory with a Mechanistic Block:\n"
                               "a degree-2 polynomial library, NeuRLP solves of u' = Theta(s) xi over windows,\n"
                               "Adam, and pruning of small coefficients between training cycles.");
  cli.add("sigma", &options.sigma, "Lorenz sigma of the true system");
  cli.add("rho", &options.rho, "Lorenz rho of the true system");
  cli.add("beta", &options.beta, "Lorenz beta of the true system");
  cli.add("noise", &options.noise, "Gaussian noise, as a fraction of each coordinate's standard deviation");
  cli.add("seed", &options.seed, "seed of the noise and of the state network's initial weights");
  cli.add("dt", &options.dt, "sampling interval");
  cli.add("length", &options.length, "number of samples");
  cli.add("epochs", &options.epochs, "training epochs (full passes over all windows)");
  cli.add("threads", &options.threads, "CPU threads (0: all)");
  cli.add("out-dir", &options.out_dir, "directory for the outputs");
  cli.add_choice("device", &options.device, {"cpu", "cuda"},
                 "where to train (cuda: the model, the NeuRLP solves and Adam on the GPU; the scales, pruning and "
                 "the simulated picture stay on the CPU)");
  cli.add_choice("formulation", &options.formulation, {"mnn", "scalable", "hermite4"},
                 "NeuRLP formulation (scalable: fourth-order corrected quadrature, see --plain-quadrature; "
                 "hermite4: fourth order by itself)");
  cli.add("window", &options.window, "grid points per window solved by NeuRLP");
  cli.add("target-error", &options.target_error,
          "the final verdict: PASS when the active coefficients are within this relative error with no "
          "stray term; 0 means 0.02 on clean data, 0.05 with noise");
  cli.add("threshold", &options.threshold,
          "prune below this, in units of the derivative's RMS (unique contribution or |scaled xi|, per --prune-rule)");
  cli.add_choice("prune-rule", &options.prune_rule, {"magnitude", "unique"},
                 "prune by |scaled xi| (all below --threshold at once) or by unique contribution (the weakest "
                 "term per equation at a time, the kept terms refitted to take over what they can of it)");
  cli.add("ridge", &options.ridge,
          "weight of |scaled xi|^2 until the last pruning (keeps nearly collinear terms from absorbing noise)");
  cli.add("lr", &options.lr, "initial Adam learning rate");
  cli.add("final-lr-fraction", &options.final_lr_fraction, "learning rate at the end, as a fraction of --lr");
  cli.add("prune-start", &options.prune_start, "first epoch after which small coefficients are pruned");
  cli.add("prune-every", &options.prune_every, "epochs between pruning steps");
  cli.add("state-network", &options.state_network,
          "smooth s with the state network (off: s = x; measured, the network costs accuracy, see README)");
  cli.add("learn-initial-values", &options.learn_initial_values,
          "u(0) = s(0) + a learned offset per window instead of s(0) (--learn-initial-values=false: s(0))");
  cli.add("state-start", &options.state_start,
          "epoch from which the state network smooths s (before it s = x); -1: after the last pruning");
  cli.add("state-weight", &options.state_weight, "weight of |s - x|^2 in the loss");
  cli.add("state-hidden", &options.state_hidden, "channels of the state network");
  cli.add("state-kernel", &options.state_kernel, "kernel width of the state network's two Conv1d layers (odd)");
  cli.add("consistency-weight", &options.consistency_weight, "weight of |u - s|^2 in the loss");
  cli.add("plain-quadrature", &options.plain_quadrature,
          "scalable: hand NeuRLP Theta(s) xi itself instead of its fourth-order corrected form");
  cli.add("gamma", &options.gamma, "NeuRLP gamma (mnn)");
  cli.add("alpha", &options.alpha, "NeuRLP alpha (mnn)");
  cli.add("checkpoint-every", &options.checkpoint_every, "epochs between checkpoints (0: only at the end)");
  cli.add("resume", &options.resume, "continue from this checkpoint (a model.safetensors of the same options)");
  cli.add("stop-at", &options.stop_at,
          "stop after this epoch as if interrupted (the schedule still spans --epochs; 0: run to the end)");
  cli.add("quiet", &options.quiet, "no progress bar");
  cli.parse_or_exit(argc, argv);
  if (options.length < 30) cli.fail(fmt::format("--length {} is too short: at least 30 samples", options.length));
  if (!(options.dt > 0) || !std::isfinite(options.dt)) cli.fail(fmt::format("--dt {} must be positive", options.dt));
  if (!(options.noise >= 0)) cli.fail(fmt::format("--noise {} must be non-negative", options.noise));
  if (!(options.sigma > 0) || !(options.rho > 0) || !(options.beta > 0))
    cli.fail(fmt::format("--sigma {}, --rho {}, --beta {} must be positive", options.sigma, options.rho, options.beta));
  if (options.epochs < 1) cli.fail(fmt::format("--epochs {} must be at least 1", options.epochs));
  if (options.threads < 0) cli.fail(fmt::format("--threads {} must be >= 0", options.threads));
  if (options.window < 4 || options.window > options.length)
    cli.fail(fmt::format("--window {} must be in [4, --length]", options.window));
  if (!(options.threshold >= 0)) cli.fail(fmt::format("--threshold {} must be non-negative", options.threshold));
  if (!(options.ridge >= 0)) cli.fail(fmt::format("--ridge {} must be non-negative", options.ridge));
  if (!(options.lr > 0)) cli.fail(fmt::format("--lr {} must be positive", options.lr));
  if (!(options.final_lr_fraction > 0) || options.final_lr_fraction > 1)
    cli.fail(fmt::format("--final-lr-fraction {} must be in (0, 1]", options.final_lr_fraction));
  if (options.prune_start < 0 || options.prune_every < 0)
    cli.fail(fmt::format("--prune-start {} and --prune-every {} must be >= 0", options.prune_start, options.prune_every));
  if (!(options.state_weight >= 0)) cli.fail(fmt::format("--state-weight {} must be >= 0", options.state_weight));
  if (options.state_hidden < 1) cli.fail(fmt::format("--state-hidden {} must be >= 1", options.state_hidden));
  if (options.state_kernel < 1 || options.state_kernel % 2 == 0)
    cli.fail(fmt::format("--state-kernel {} must be odd and positive", options.state_kernel));
  if (!(options.consistency_weight >= 0))
    cli.fail(fmt::format("--consistency-weight {} must be >= 0", options.consistency_weight));
  if (!(options.gamma >= 0) || !(options.alpha >= 0))
    cli.fail(fmt::format("--gamma {} and --alpha {} must be >= 0", options.gamma, options.alpha));
  if (options.stop_at < 0) cli.fail(fmt::format("--stop-at {} must be >= 0", options.stop_at));
  if (options.checkpoint_every < 0) cli.fail(fmt::format("--checkpoint-every {} must be >= 0", options.checkpoint_every));
  if (options.device == "cuda" && !mech::cuda::is_available())
    cli.fail(fmt::format("--device cuda: no CUDA device is available ({}); use --device cpu",
                         mech::cuda::availability()));
  if (options.device == "cuda" && options.formulation == "hermite4")
    cli.fail("--device cuda --formulation hermite4: the hermite4 solver runs on the CPU only; use scalable or mnn");
  if (!options.resume.empty() && !std::filesystem::exists(options.resume))
    cli.fail(fmt::format("--resume {}: no such file", options.resume));
  if (options.out_dir.empty()) cli.fail("--out-dir must name a folder, got an empty string");
  {
    std::error_code error;
    std::filesystem::create_directories(options.out_dir, error);
    if (error || !std::filesystem::is_directory(options.out_dir))
      cli.fail(fmt::format("--out-dir {}: cannot create the folder ({})", options.out_dir,
                           error ? error.message() : "a file of that name exists"));
    const std::filesystem::path probe = std::filesystem::path(options.out_dir) / ".mech-lorenz-write-test";
    if (!std::ofstream(probe).good()) cli.fail(fmt::format("--out-dir {}: the folder is not writable", options.out_dir));
    std::filesystem::remove(probe, error);
  }
  try {
    return run(options);
  } catch (const UsageError& error) {
    cli.fail(error.what());
  } catch (const std::exception& error) {
    std::fprintf(stderr, "mech-lorenz: %s\n", one_line(error.what()).c_str());
    return 1;
  }
}
