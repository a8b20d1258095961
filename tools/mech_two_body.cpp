// mech-two-body: two-body orbit prediction with NeuRLP. An MLP encoder reads the last 50 observed
// states (positions and velocities of both bodies) and writes a linear second-order ODE with
// time-varying coupling for the next segment; its solution is the prediction, and feeding the
// prediction back as observations rolls it forward over the horizon. Trained on 3-segment rollouts
// from random windows of the training orbits (so it learns from its own predictions, as it is
// used); evaluated by rolling out held-out orbits from their first 50 states. Writes to --out-dir:
//   orbit.svg                one held-out orbit, truth against the rollout; position error over the horizon
//   error.csv                step,time,mech_error,constant_velocity_error (mean over held-out orbits)
//   loss.csv, summary.txt    training loss; the errors as key=value lines
//   checkpoint.safetensors   model + optimizer + sampler state (continue with --resume)
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "autograd/grad_mode.h"
#include "core/atomic_file.h"
#include "models/datasets.h"
#include "models/two_body_model.h"
#include "nn/nn.h"
#include "tools/common/cli.h"
#include "tools/common/driver_checks.h"
#include "tools/common/svg.h"
#include "tools/common/training_run.h"
#include "tools/common/trajectory_training.h"

namespace {

using namespace mech;
constexpr long kState = static_cast<long>(models::kTwoBodyStateSize);

struct Settings : tools::TrajectoryTraining {
  Settings()
      : TrajectoryTraining{.train_count = 64, .test_count = 16, .length = 200, .dt = 0.05, .noise = 0.0, .seed = 0,
                           .iterations = 2000, .batch = 64, .lr = 1e-3, .lr_step = 700} {}
  long window = 50;
  long segment = 10;
  // Segments rolled out (on the model's own predictions) per training window. Measured with the
  // other defaults: 1 segment (3000 steps) ends the 150-step horizon 0.54 off, 3 segments (2000
  // steps, about 25 s of CPU) 0.25, 5 segments (3000 steps, about 70 s) 0.20.
  long train_segments = 3;
  long horizon = 150;
  long hidden = 256;
  tools::RunOptions run{.checkpoint_every = 500, .out_dir = "out/two_body"};
};

models::TwoBodyData make_data(const Settings& s, long count, std::uint64_t seed) {
  models::TwoBodyOptions options;
  options.count = static_cast<size_t>(count);
  options.length = static_cast<size_t>(s.length);
  options.dt = s.dt;
  options.noise = s.noise;
  options.seed = seed;
  return models::make_two_body(options);
}

// `steps` states of orbit `orbit` from `first` on, as a (steps, 8) slice of the flat array.
std::vector<double> states_of(const std::vector<double>& values, long length, long orbit, long first, long steps) {
  auto begin = values.begin() + (orbit * length + first) * kState;
  return {begin, begin + steps * kState};
}

// Random windows of the training orbits and the segment after each, drawn with `generator`: the
// whole batch is drawn on every rank, which keeps the generators in step, and `share` of it kept.
std::pair<Tensor, Tensor> sample_batch(const Settings& s, const models::TwoBodyData& data, const tools::BatchShare& share,
                                       Generator& generator) {
  std::vector<double> windows, futures;
  const long orbits = static_cast<long>(data.mass1.size());
  const long starts = s.length - s.window - s.segment * s.train_segments + 1;
  for (long i = 0; i < s.batch; ++i) {
    const long orbit = static_cast<long>(generator.next_u64() % static_cast<std::uint64_t>(orbits));
    const long first = static_cast<long>(generator.next_u64() % static_cast<std::uint64_t>(starts));
    if (!share.contains(i)) continue;
    auto window = states_of(data.noisy, s.length, orbit, first, s.window);
    auto future = states_of(data.noisy, s.length, orbit, first + s.window, s.segment * s.train_segments);
    windows.insert(windows.end(), window.begin(), window.end());
    futures.insert(futures.end(), future.begin(), future.end());
  }
  return {from_vector(windows, {share.size(), s.window, kState}),
          from_vector(futures, {share.size(), s.segment * s.train_segments, kState})};
}

std::vector<double> column(const std::vector<double>& states, long index) {
  std::vector<double> out;
  for (size_t at = static_cast<size_t>(index); at < states.size(); at += kState) out.push_back(states[at]);
  return out;
}

void write_picture(const std::string& path, const Settings& s, const std::vector<double>& truth,
                   const std::vector<double>& prediction, const std::vector<double>& times,
                   const std::vector<double>& mech_error, const std::vector<double>& baseline_error) {
  tools::Figure figure(fmt::format("mech-two-body: {} observed steps, then a {}-step rollout", s.window, s.horizon), 2,
                       460, 420);
  auto& orbit = figure.add_panel();
  orbit.set_title("held-out orbit (centre-of-mass frame)").set_x_label("x").set_y_label("y").set_equal_aspect(true);
  const std::vector<double> observed(truth.begin(), truth.begin() + s.window * kState);
  orbit.line(column(truth, 0), column(truth, 1), "body 1 truth", "#1f77b4");
  orbit.line(column(truth, 2), column(truth, 3), "body 2 truth", "#ff7f0e");
  orbit.scatter(column(observed, 0), column(observed, 1), "observed", "#7f7f7f");
  orbit.scatter(column(observed, 2), column(observed, 3), "", "#7f7f7f");
  orbit.line(column(prediction, 0), column(prediction, 1), "body 1 rollout", "#d62728", true);
  orbit.line(column(prediction, 2), column(prediction, 3), "body 2 rollout", "#2ca02c", true);
  auto& error = figure.add_panel();
  error.set_title("mean position error over the held-out orbits").set_x_label("time after the window")
      .set_y_label("error").set_y_scale(tools::AxisScale::Log);
  error.line(times, mech_error, "mech (NeuRLP rollout)", "#d62728");
  error.line(times, baseline_error, "constant velocity", "#7f7f7f", true);
  figure.save(path);
}

int run(const Settings& s, const tools::CommandLine& cli) {
  const tools::RunScope scope(s.run);
  const Device device = scope.device;
  const tools::BatchShare share = scope.batch_share(cli, s.batch);
  const models::TwoBodyData train = make_data(s, s.train_count, s.seed);
  const models::TwoBodyData test = make_data(s, s.test_count, s.test_seed());

  Generator generator(s.seed + 1);
  models::TwoBodyModelOptions model_options;
  model_options.window = s.window;
  model_options.segment = s.segment;
  model_options.dt = s.dt;
  model_options.hidden = s.hidden;
  models::TwoBodyModel model(model_options, &generator);
  model.to(device);
  nn::Adam optimizer(model.parameters(), nn::AdamOptions(s.lr));
  nn::StepLR schedule(optimizer, s.lr_step, 0.3);

  std::map<std::string, std::string> identity = s.identity();
  identity["window"] = std::to_string(s.window);
  identity["segment"] = std::to_string(s.segment);
  identity["train-segments"] = std::to_string(s.train_segments);
  identity["hidden"] = std::to_string(s.hidden);
  nn::TrainingState state{
      .model = &model, .optimizer = &optimizer, .scheduler = &schedule, .generator = &generator, .metadata = {}};

  tools::TrainingLog log(cli, s.run, state, identity, s.iterations, "train");

  std::printf("mech-two-body: %ld training and %ld held-out orbits of %ld states (dt %g, noise %g); window %ld, "
              "segment %ld; %lld parameters on %s\n",
              s.train_count, s.test_count, s.length, s.dt, s.noise, s.window, s.segment,
              static_cast<long long>(model.parameter_count()), device.str().c_str());
  std::fflush(stdout);
  while (state.step < s.iterations) {
    log.train_step(optimizer, &schedule, model.parameters(), [&] {
      auto [window, future] = sample_batch(s, train, share, generator);
      return model.loss(window.to(device), future.to(device));
    });
  }
  log.finish();
  if (!scope.is_main()) return 0;  // the ranks hold the same model: rank 0 reports

  // Held-out rollouts: observe the first `window` states (noisy), predict the next `horizon`.
  NoGradGuard no_grad;
  std::vector<double> windows, truths;
  for (long orbit = 0; orbit < s.test_count; ++orbit) {
    auto window = states_of(test.noisy, s.length, orbit, 0, s.window);
    auto truth = states_of(test.clean, s.length, orbit, s.window, s.horizon);
    windows.insert(windows.end(), window.begin(), window.end());
    truths.insert(truths.end(), truth.begin(), truth.end());
  }
  const Tensor window = from_vector(windows, {s.test_count, s.window, kState});
  const Tensor truth = from_vector(truths, {s.test_count, s.horizon, kState});
  const Tensor prediction = model.rollout(window.to(device), s.horizon).to(Device::cpu());
  const std::vector<double> mech_error = models::position_error_by_step(prediction, truth);
  const std::vector<double> baseline_error =
      models::position_error_by_step(models::constant_velocity_rollout(window, s.horizon, s.dt), truth);
  std::vector<double> times;
  std::string csv = "step,time,mech_error,constant_velocity_error\n";
  for (long step = 0; step < s.horizon; ++step) {
    times.push_back(static_cast<double>(step + 1) * s.dt);
    csv += fmt::format("{},{:.6g},{:.9g},{:.9g}\n", step + 1, times.back(), mech_error[step], baseline_error[step]);
  }
  double mean_error = 0.0, mean_baseline = 0.0;
  for (long step = 0; step < s.horizon; ++step) mean_error += mech_error[step] / s.horizon, mean_baseline += baseline_error[step] / s.horizon;

  std::printf("mean position error over %ld held-out orbits (orbit size about 1):\n   step   time      mech   constant velocity\n",
              s.test_count);
  for (long step : {s.segment, 2 * s.segment, s.horizon / 3, 2 * s.horizon / 3, s.horizon}) {
    if (step < 1 || step > s.horizon) continue;
    std::printf("  %5ld  %5.2f  %8.4f  %8.4f\n", step, times[step - 1], mech_error[step - 1], baseline_error[step - 1]);
  }
  std::printf("mean over the %ld-step horizon: mech %.4f, constant velocity %.4f\n", s.horizon, mean_error, mean_baseline);

  // The picture shows the first held-out orbit over the observed window and the horizon.
  std::vector<double> whole_truth = states_of(test.clean, s.length, 0, 0, s.window + s.horizon);
  std::vector<double> first_prediction = prediction.select(0, 0).to_vector<double>();
  // Start the rollout's curve at the last observed state so the two pieces join.
  first_prediction.insert(first_prediction.begin(), windows.begin() + (s.window - 1) * kState, windows.begin() + s.window * kState);
  write_picture(s.run.out_dir + "/orbit.svg", s, whole_truth, first_prediction, times, mech_error, baseline_error);
  write_file_atomically(s.run.out_dir + "/error.csv", csv);
  write_file_atomically(s.run.out_dir + "/loss.csv", log.csv());
  write_file_atomically(
      s.run.out_dir + "/summary.txt",
      fmt::format("iterations={}\nhorizon={}\nmean_position_error={:.9g}\nfinal_position_error={:.9g}\n"
                  "mean_position_error_constant_velocity={:.9g}\nfinal_position_error_constant_velocity={:.9g}\n",
                  state.step, s.horizon, mean_error, mech_error.back(), mean_baseline, baseline_error.back()));
  std::printf("wrote %s/orbit.svg, error.csv, loss.csv, summary.txt, checkpoint.safetensors\n", s.run.out_dir.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  tools::CommandLine cli("mech-two-body",
                         "Predict two-body orbits from 50 observed states: an encoder writes a linear ODE per segment,\n"
                         "NeuRLP solves it, and the prediction is rolled forward autoregressively.");
  tools::add_trajectory_training_options(cli, s, "orbits", "states per orbit",
                                        "standard deviation of the Gaussian noise on observed positions and velocities",
                                        "windows per minibatch");
  cli.add("window", &s.window, "observed states the encoder reads");
  cli.add("segment", &s.segment, "states predicted per solve");
  cli.add("train-segments", &s.train_segments, "segments each training window is rolled out over (on its own predictions)");
  cli.add("horizon", &s.horizon, "states rolled out after the observed window");
  cli.add("hidden", &s.hidden, "width of the encoder's hidden layers");
  tools::add_run_options(cli, s.run, "orbit.svg, error.csv, loss.csv, summary.txt");
  cli.parse_or_exit(argc, argv);
  tools::check_trajectory_training_options(cli, s);
  if (s.window < 2) cli.fail(fmt::format("--window {} must be at least 2", s.window));
  if (s.segment < 1) cli.fail(fmt::format("--segment {} must be positive", s.segment));
  if (s.train_segments < 1) cli.fail(fmt::format("--train-segments {} must be positive", s.train_segments));
  if (s.length < s.window + s.segment * s.train_segments)
    cli.fail(fmt::format("--length {} must cover --window {} plus --segment {} x --train-segments {}", s.length,
                         s.window, s.segment, s.train_segments));
  if (s.horizon < 1) cli.fail(fmt::format("--horizon {} must be positive", s.horizon));
  if (s.length < s.window + std::max(s.segment, s.horizon))
    cli.fail(fmt::format("--length {} must cover --window {} plus max(--segment {}, --horizon {})", s.length, s.window,
                         s.segment, s.horizon));
  if (s.hidden < 1) cli.fail(fmt::format("--hidden {} must be positive", s.hidden));
  tools::check_run_options(cli, s.run);
  return tools::run_reporting_errors(cli, [&] { return run(s, cli); });
}
