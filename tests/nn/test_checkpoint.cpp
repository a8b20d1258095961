// Checkpoints (issue 2, acceptance 4): 20 steps + save + resume into fresh objects + 20 steps is
// bitwise equal to 40 straight steps (parameters, optimizer moments, scheduler, generator); a
// crash in the middle of a save leaves the previous checkpoint intact and loadable; truncated,
// corrupt and foreign files and mismatched models are mech::Error and change nothing.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "core/safetensors.h"
#include "nn/nn.h"

namespace mech::nn {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            fmt::format("mech_nn_{}_{}_{}", info->test_suite_name(), info->name(), ::getpid());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::size_t entry_count() const {
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(path_), fs::directory_iterator()));
  }

 private:
  fs::path path_;
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}
void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Bit patterns, so that equality means "the same bits", NaN or not.
std::vector<std::uint8_t> bits_of(const Tensor& t) {
  Tensor host = t.detach().contiguous();
  const auto* begin = static_cast<const std::uint8_t*>(host.raw_data());
  return std::vector<std::uint8_t>(begin, begin + host.numel() * static_cast<std::int64_t>(dtype_size(host.dtype())));
}

void expect_bitwise_equal(const NamedTensors& a, const NamedTensors& b, const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first) << what;
    EXPECT_EQ(a[i].second.shape(), b[i].second.shape()) << what << " " << a[i].first;
    EXPECT_TRUE(bits_of(a[i].second) == bits_of(b[i].second)) << what << " " << a[i].first << " differs";
  }
}

// One training run's objects: an MLP on minibatches of sin(3x) drawn from its own generator, so
// the generator's state matters for the continuation.
struct TrainingRun {
  enum class Kind { AdamStepLR, SGDPlateau, AdamWNoScheduler };

  TrainingRun(Kind kind, std::uint64_t init_seed, std::uint64_t data_seed) : kind(kind), init(init_seed), data(data_seed) {
    model = make_mlp(MLPOptions({1, 16, 16, 1}).activation(Activation::Tanh), &init);
    switch (kind) {
      case Kind::AdamStepLR:
        optimizer = std::make_unique<Adam>(model->parameters(), AdamOptions(1e-2).weight_decay(1e-4));
        scheduler = std::make_unique<StepLR>(*optimizer, 7, 0.5);
        break;
      case Kind::SGDPlateau:
        optimizer = std::make_unique<SGD>(model->parameters(), SGDOptions(0.05).momentum(0.9).nesterov(true));
        scheduler = std::make_unique<ReduceLROnPlateau>(*optimizer, ReduceLROnPlateauOptions().patience(1).threshold(0.05));
        break;
      case Kind::AdamWNoScheduler:
        optimizer = std::make_unique<AdamW>(model->parameters(), AdamOptions(5e-3).weight_decay(1e-2));
        break;
    }
  }

  void train(int steps) {
    for (int i = 0; i < steps; ++i) {
      Tensor x = rand({32, 1}, {}, &data, -1.0, 1.0);
      Tensor y = sin_of(x) + randn({32, 1}, {}, &data) * 0.05;
      optimizer->zero_grad();
      Tensor loss = mse_loss(model->forward(x), y);
      loss.backward();
      clip_grad_norm_(model->parameters(), 1.0);
      optimizer->step();
      if (auto* step_lr = dynamic_cast<StepLR*>(scheduler.get())) step_lr->step();
      if (auto* plateau = dynamic_cast<ReduceLROnPlateau*>(scheduler.get())) plateau->step(loss.item());
      ++step;
    }
  }

  static Tensor sin_of(const Tensor& x) {
    auto values = x.to_vector<float>();
    for (auto& v : values) v = std::sin(3.0f * v);
    return from_vector(values, x.shape());
  }

  TrainingState state() {
    return TrainingState{model.get(), optimizer.get(), scheduler.get(), &data, step, {{"note", "unit test"}}};
  }

  Kind kind;
  Generator init;
  Generator data;
  std::shared_ptr<Sequential> model;
  std::unique_ptr<Optimizer> optimizer;
  std::unique_ptr<LRScheduler> scheduler;
  std::int64_t step = 0;
};

void expect_same_run(TrainingRun& a, TrainingRun& b) {
  expect_bitwise_equal(a.model->state_dict(), b.model->state_dict(), "parameters");
  expect_bitwise_equal(a.optimizer->state_dict(), b.optimizer->state_dict(), "optimizer state");
  if (a.scheduler) expect_bitwise_equal(a.scheduler->state_dict(), b.scheduler->state_dict(), "scheduler state");
  EXPECT_EQ(a.data.state(), b.data.state());
  EXPECT_EQ(a.step, b.step);
}

class CheckpointResume : public ::testing::TestWithParam<TrainingRun::Kind> {};

TEST_P(CheckpointResume, TwentyPlusTwentyEqualsFortyBitForBit) {
  TempDir dir;
  const std::string path = dir.file("run.safetensors");

  TrainingRun straight(GetParam(), 1, 2);
  straight.train(40);

  TrainingRun first(GetParam(), 1, 2);
  first.train(20);
  save_checkpoint(path, first.state());

  // Fresh objects with different initial weights and a different data stream: everything that
  // matters must come from the file.
  TrainingRun resumed(GetParam(), 99, 98);
  TrainingState state = resumed.state();
  state.metadata.clear();
  load_checkpoint(path, state);
  resumed.step = state.step;
  EXPECT_EQ(state.step, 20);
  EXPECT_EQ(state.metadata.at("note"), "unit test");
  EXPECT_EQ(state.metadata.count("mech.checksum"), 0u);  // the format's own keys stay internal
  EXPECT_EQ(resumed.optimizer->lr(), first.optimizer->lr());
  resumed.train(20);

  expect_same_run(straight, resumed);
  // The run really trained (a resume of an untrained model would also compare equal to itself).
  EXPECT_NE(bits_of(straight.model->parameters()[0]), bits_of(TrainingRun(GetParam(), 1, 2).model->parameters()[0]));
}

INSTANTIATE_TEST_SUITE_P(Optimizers, CheckpointResume,
                         ::testing::Values(TrainingRun::Kind::AdamStepLR, TrainingRun::Kind::SGDPlateau, TrainingRun::Kind::AdamWNoScheduler));

TEST(Checkpoint, CrashDuringSaveLeavesThePreviousCheckpointIntact) {
  TempDir dir;
  const std::string path = dir.file("run.safetensors");
  TrainingRun run(TrainingRun::Kind::AdamStepLR, 1, 2);
  run.train(20);
  save_checkpoint(path, run.state());
  const std::string saved_bytes = read_bytes(path);
  const NamedTensors saved_model = [&] {
    NamedTensors copy;
    for (const auto& [name, t] : run.model->state_dict()) copy.emplace_back(name, t.clone());
    return copy;
  }();

  run.train(5);
  CheckpointSaveOptions crash;
  crash.chunk_bytes = 256;
  std::size_t calls = 0;
  crash.on_progress = [&](std::size_t written, std::size_t total) {
    ++calls;
    if (written * 2 >= total) throw std::runtime_error("simulated crash mid-write");
  };
  EXPECT_THROW(save_checkpoint(path, run.state(), crash), std::runtime_error);
  EXPECT_GT(calls, 1u);  // the crash came after some bytes were written

  EXPECT_EQ(read_bytes(path), saved_bytes);
  EXPECT_EQ(dir.entry_count(), 1u) << "the temporary file was not cleaned up";
  TrainingRun restored(TrainingRun::Kind::AdamStepLR, 5, 6);
  TrainingState state = restored.state();
  load_checkpoint(path, state);
  EXPECT_EQ(state.step, 20);
  expect_bitwise_equal(restored.model->state_dict(), saved_model, "parameters after the crash");

  // A save that completes replaces the file.
  save_checkpoint(path, run.state());
  TrainingState later = restored.state();
  load_checkpoint(path, later);
  EXPECT_EQ(later.step, 25);
}

class CheckpointDamage : public ::testing::Test {
 protected:
  void SetUp() override {
    path = dir.file("good.safetensors");
    run.train(3);
    save_checkpoint(path, run.state());
    bytes = read_bytes(path);
  }

  // Loading `damaged` into a fresh run throws mech::Error and leaves the fresh run untouched.
  void expect_rejected(const std::string& damaged, const std::string& message_part) {
    const std::string bad_path = dir.file("bad.safetensors");
    write_bytes(bad_path, damaged);
    TrainingRun fresh(TrainingRun::Kind::AdamStepLR, 7, 8);
    const NamedTensors before = [&] {
      NamedTensors copy;
      for (const auto& [name, t] : fresh.model->state_dict()) copy.emplace_back(name, t.clone());
      return copy;
    }();
    const auto rng_before = fresh.data.state();
    TrainingState state = fresh.state();
    try {
      load_checkpoint(bad_path, state);
      ADD_FAILURE() << "expected mech::Error containing '" << message_part << "'";
    } catch (const Error& error) {
      EXPECT_NE(std::string(error.what()).find(message_part), std::string::npos) << error.what();
    }
    expect_bitwise_equal(fresh.model->state_dict(), before, "parameters after a rejected load");
    EXPECT_EQ(fresh.data.state(), rng_before);
    EXPECT_EQ(fresh.optimizer->state_dict().size(), 1u);  // still only "lr"
  }

  TempDir dir;
  TrainingRun run{TrainingRun::Kind::AdamStepLR, 1, 2};
  std::string path;
  std::string bytes;
};

TEST_F(CheckpointDamage, TruncatedFile) {
  expect_rejected(bytes.substr(0, bytes.size() / 2), "bad.safetensors");
  expect_rejected(bytes.substr(0, 5), "bad.safetensors");
  expect_rejected("", "bad.safetensors");
}

TEST_F(CheckpointDamage, FlippedDataByteFailsTheChecksum) {
  std::string damaged = bytes;
  damaged[damaged.size() - 20] ^= 0x10;  // inside the data section (the step and rng tensors end it)
  expect_rejected(damaged, "checksum");
  damaged = bytes;
  damaged[bytes.size() / 2 + 200 < bytes.size() ? bytes.size() / 2 + 200 : bytes.size() - 1] ^= 0x01;
  expect_rejected(damaged, "corrupt");
}

TEST_F(CheckpointDamage, WrongMagicOrForeignSafetensors) {
  std::string damaged = bytes;
  std::memset(damaged.data(), 0xff, 8);  // absurd header length
  expect_rejected(damaged, "bad.safetensors");
  // A valid .safetensors file that is not a mech checkpoint.
  save_safetensors(dir.file("bad.safetensors"), {{"weight", zeros({2})}});
  expect_rejected(read_bytes(dir.file("bad.safetensors")), "not a mech checkpoint");
}

TEST(Checkpoint, MismatchedModelOrOptimizerIsAnErrorThatChangesNothing) {
  TempDir dir;
  const std::string path = dir.file("run.safetensors");
  TrainingRun run(TrainingRun::Kind::AdamStepLR, 1, 2);
  run.train(2);
  save_checkpoint(path, run.state());

  // A wider model: shape mismatch, named.
  Generator generator(3);
  auto wide = make_mlp(MLPOptions({1, 32, 16, 1}), &generator);
  const auto before = bits_of(wide->parameters()[0]);
  TrainingState state;
  state.model = wide.get();
  try {
    load_checkpoint(path, state);
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("0.weight"), std::string::npos) << error.what();
  }
  EXPECT_EQ(bits_of(wide->parameters()[0]), before);

  // The wrong optimizer type.
  TrainingRun sgd_run(TrainingRun::Kind::SGDPlateau, 4, 5);
  TrainingState sgd_state = sgd_run.state();
  EXPECT_THROW(load_checkpoint(path, sgd_state), Error);

  // Asking for a scheduler the file does not hold.
  TrainingRun no_scheduler(TrainingRun::Kind::AdamWNoScheduler, 1, 2);
  no_scheduler.train(1);
  save_checkpoint(path, no_scheduler.state());
  TrainingState wants_scheduler = run.state();
  EXPECT_THROW(load_checkpoint(path, wants_scheduler), Error);

  // The model alone loads from any checkpoint of the same architecture.
  auto plain = make_mlp(MLPOptions({1, 16, 16, 1}), &generator);
  TrainingState model_only;
  model_only.model = plain.get();
  Generator untouched(1234);
  model_only.generator = &untouched;
  load_checkpoint(path, model_only);
  expect_bitwise_equal(plain->state_dict(), no_scheduler.model->state_dict(), "model-only load");

  EXPECT_THROW(load_checkpoint(dir.file("missing.safetensors"), model_only), Error);
  TrainingState reserved = run.state();
  reserved.metadata["mech.format"] = "mine";
  EXPECT_THROW(save_checkpoint(path, reserved), Error);
  EXPECT_THROW(save_checkpoint(path, TrainingState{}), Error);
}

TEST(Checkpoint, IsReadableAsPlainSafetensorsWithNamedTensors) {
  TempDir dir;
  const std::string path = dir.file("run.safetensors");
  TrainingRun run(TrainingRun::Kind::AdamStepLR, 1, 2);
  run.train(1);
  save_checkpoint(path, run.state());
  SafetensorsFile file = load_safetensors(path);
  EXPECT_TRUE(file.contains("model.0.weight"));
  EXPECT_TRUE(file.contains("optimizer.exp_avg.0"));
  EXPECT_TRUE(file.contains("scheduler.last_epoch"));
  EXPECT_TRUE(file.contains("rng.state"));
  EXPECT_EQ(file.at("step").to_vector<std::int64_t>()[0], 1);
  EXPECT_EQ(file.metadata.at("mech.optimizer"), "Adam");
  EXPECT_EQ(file.metadata.at("mech.step"), "1");
}

}  // namespace
}  // namespace mech::nn
