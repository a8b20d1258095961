// Training checkpoints: flattening the training state into named tensors, the content checksum,
// the chunked atomic write and the all-or-nothing restore.
#include "nn/checkpoint.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <sstream>

#include "autograd/grad_mode.h"
#include "core/atomic_file.h"
#include "core/safetensors.h"
#include "core/shape.h"

namespace mech::nn {

namespace {

constexpr const char* kFormat = "mech-checkpoint-1";
constexpr const char* kModelPrefix = "model.";
constexpr const char* kOptimizerPrefix = "optimizer.";
constexpr const char* kSchedulerPrefix = "scheduler.";
constexpr const char* kRngName = "rng.state";
constexpr const char* kStepName = "step";

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

// FNV-1a over each tensor's name, dtype, shape and bytes, in file order.
class Checksum {
 public:
  void add(const void* data, std::size_t size) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < size; ++i) {
      hash_ ^= bytes[i];
      hash_ *= 0x100000001b3ULL;
    }
  }
  void add_tensor(const std::string& name, const Tensor& tensor) {
    add(name.data(), name.size() + 1);  // the terminating zero separates names from data
    const std::string layout = fmt::format("{}{}", dtype_name(tensor.dtype()), shape_str(tensor.shape()));
    add(layout.data(), layout.size());
    NoGradGuard no_grad;
    Tensor host = tensor.detach().to(Device::cpu()).contiguous();
    add(host.raw_data(), static_cast<std::size_t>(host.numel()) * dtype_size(host.dtype()));
  }
  std::string hex() const { return fmt::format("{:016x}", hash_); }

 private:
  std::uint64_t hash_ = 0xcbf29ce484222325ULL;
};

std::string checksum_of(const NamedTensors& tensors) {
  Checksum checksum;
  for (const auto& [name, tensor] : tensors) checksum.add_tensor(name, tensor);
  return checksum.hex();
}

Tensor rng_tensor(const Generator& generator) {
  std::vector<std::uint64_t> words = generator.state();
  std::vector<std::int64_t> bits(words.size());
  std::memcpy(bits.data(), words.data(), words.size() * sizeof(std::uint64_t));
  return from_vector(bits, {static_cast<std::int64_t>(bits.size())}, TensorOptions().dtype(DType::Int64));
}

std::vector<std::uint64_t> rng_words(const Tensor& tensor, const std::string& path) {
  if (tensor.dtype() != DType::Int64 || tensor.dim() != 1) {
    throw IoError(fmt::format("load_checkpoint: '{}' holds rng.state as {} {}, expected a 1-D int64 tensor", path,
                              dtype_name(tensor.dtype()), shape_str(tensor.shape())));
  }
  std::vector<std::int64_t> bits = tensor.to_vector<std::int64_t>();
  std::vector<std::uint64_t> words(bits.size());
  std::memcpy(words.data(), bits.data(), bits.size() * sizeof(std::uint64_t));
  return words;
}

// The entries of `tensors` whose name starts with prefix, with the prefix removed.
NamedTensors section(const NamedTensors& tensors, const std::string& prefix) {
  NamedTensors out;
  for (const auto& [name, tensor] : tensors)
    if (starts_with(name, prefix)) out.emplace_back(name.substr(prefix.size()), tensor);
  return out;
}

// Deep copies, so a restore can be undone after the live tensors were overwritten.
NamedTensors deep_copy(const NamedTensors& tensors) {
  NoGradGuard no_grad;
  NamedTensors out;
  for (const auto& [name, tensor] : tensors) out.emplace_back(name, tensor.detach().clone());
  return out;
}

std::string sections_of(const TrainingState& state) {
  std::string sections = "model";
  if (state.optimizer) sections += ",optimizer";
  if (state.scheduler) sections += ",scheduler";
  return sections + ",rng";
}

bool has_section(const std::map<std::string, std::string>& metadata, const std::string& section) {
  auto found = metadata.find("mech.sections");
  if (found == metadata.end()) return false;
  std::stringstream list(found->second);
  std::string item;
  while (std::getline(list, item, ','))
    if (item == section) return true;
  return false;
}

std::string metadata_value(const std::map<std::string, std::string>& metadata, const std::string& key,
                           const std::string& path) {
  auto found = metadata.find(key);
  if (found == metadata.end())
    throw IoError(fmt::format("load_checkpoint: '{}' is not a mech checkpoint (no '{}' metadata)", path, key));
  return found->second;
}

}  // namespace

void save_checkpoint(const std::string& path, const TrainingState& state, const CheckpointSaveOptions& options) {
  MECH_CHECK(state.model != nullptr, "save_checkpoint: no model given (TrainingState::model is null) for '{}'", path);
  MECH_CHECK(options.chunk_bytes > 0, "save_checkpoint: chunk_bytes must be positive");
  for (const auto& [key, value] : state.metadata)
    MECH_CHECK(!starts_with(key, "mech."), "save_checkpoint: metadata key '{}' uses the reserved prefix 'mech.'", key);

  NamedTensors tensors;
  for (const auto& [name, tensor] : state.model->state_dict()) tensors.emplace_back(kModelPrefix + name, tensor);
  if (state.optimizer)
    for (const auto& [name, tensor] : state.optimizer->state_dict()) tensors.emplace_back(kOptimizerPrefix + name, tensor);
  if (state.scheduler)
    for (const auto& [name, tensor] : state.scheduler->state_dict()) tensors.emplace_back(kSchedulerPrefix + name, tensor);
  tensors.emplace_back(kRngName, rng_tensor(state.generator ? *state.generator : default_generator()));
  tensors.emplace_back(kStepName, from_vector<std::int64_t>({state.step}, {}, TensorOptions().dtype(DType::Int64)));

  std::map<std::string, std::string> metadata = state.metadata;
  metadata["mech.format"] = kFormat;
  metadata["mech.sections"] = sections_of(state);
  metadata["mech.step"] = std::to_string(state.step);
  if (state.optimizer) metadata["mech.optimizer"] = state.optimizer->type_name();
  if (state.scheduler) metadata["mech.scheduler"] = state.scheduler->type_name();
  metadata["mech.checksum"] = checksum_of(tensors);

  const std::string bytes = save_safetensors_to_bytes(tensors, metadata);
  write_file_atomically(path, [&](AtomicFile& file) {
    for (std::size_t written = 0; written < bytes.size();) {
      const std::size_t count = std::min(options.chunk_bytes, bytes.size() - written);
      file.write(bytes.data() + written, count);
      written += count;
      if (options.on_progress) options.on_progress(written, bytes.size());
    }
  });
}

void load_checkpoint(const std::string& path, TrainingState& state) {
  MECH_CHECK(state.model != nullptr, "load_checkpoint: no model given (TrainingState::model is null) for '{}'", path);
  SafetensorsFile file = load_safetensors(path);
  const auto& metadata = file.metadata;

  // ---- validate the file as a whole before touching anything ----
  const std::string format = metadata_value(metadata, "mech.format", path);
  if (format != kFormat)
    throw IoError(fmt::format("load_checkpoint: '{}' has format '{}', expected '{}'", path, format, kFormat));
  const std::string expected_checksum = metadata_value(metadata, "mech.checksum", path);
  const std::string actual_checksum = checksum_of(file.tensors);
  if (actual_checksum != expected_checksum) {
    throw IoError(fmt::format("load_checkpoint: '{}' is corrupt: content checksum {} does not match the recorded {}",
                              path, actual_checksum, expected_checksum));
  }
  for (const char* needed : {"optimizer", "scheduler"}) {
    const bool wanted = std::string(needed) == "optimizer" ? state.optimizer != nullptr : state.scheduler != nullptr;
    MECH_CHECK(!wanted || has_section(metadata, needed),
               "load_checkpoint: '{}' holds no {} state, but one was asked to be restored", path, needed);
  }
  if (state.optimizer) {
    const std::string saved = metadata_value(metadata, "mech.optimizer", path);
    MECH_CHECK(saved == state.optimizer->type_name(), "load_checkpoint: '{}' holds {} state, the optimizer is {}",
               path, saved, state.optimizer->type_name());
  }
  if (state.scheduler) {
    const std::string saved = metadata_value(metadata, "mech.scheduler", path);
    MECH_CHECK(saved == state.scheduler->type_name(), "load_checkpoint: '{}' holds {} state, the scheduler is {}",
               path, saved, state.scheduler->type_name());
  }
  const Tensor& step_tensor = file.at(kStepName);
  if (step_tensor.dtype() != DType::Int64 || step_tensor.numel() != 1)
    throw IoError(fmt::format("load_checkpoint: '{}' holds step as {} {}, expected one int64", path,
                              dtype_name(step_tensor.dtype()), shape_str(step_tensor.shape())));
  const std::int64_t step = step_tensor.to_vector<std::int64_t>()[0];
  Generator& generator = state.generator ? *state.generator : default_generator();
  const std::vector<std::uint64_t> words = rng_words(file.at(kRngName), path);
  MECH_CHECK(words.size() == generator.state().size(), "load_checkpoint: '{}' holds {} generator words, expected {}",
             path, words.size(), generator.state().size());

  // ---- restore, undoing everything if a part refuses its state ----
  const NamedTensors model_before = deep_copy(state.model->state_dict());
  std::optional<NamedTensors> optimizer_before;
  std::optional<NamedTensors> scheduler_before;
  if (state.optimizer) optimizer_before = deep_copy(state.optimizer->state_dict());
  if (state.scheduler) scheduler_before = deep_copy(state.scheduler->state_dict());
  try {
    state.model->load_state_dict(section(file.tensors, kModelPrefix), /*strict=*/true);
    if (state.optimizer) state.optimizer->load_state_dict(section(file.tensors, kOptimizerPrefix));
    if (state.scheduler) state.scheduler->load_state_dict(section(file.tensors, kSchedulerPrefix));
  } catch (const Error& error) {
    state.model->load_state_dict(model_before);
    if (optimizer_before) state.optimizer->load_state_dict(*optimizer_before);
    if (scheduler_before) state.scheduler->load_state_dict(*scheduler_before);
    throw Error(fmt::format("load_checkpoint: '{}' does not fit the training state: {}", path, error.what()));
  }
  generator.set_state(words);
  state.step = step;
  state.metadata.clear();
  for (const auto& [key, value] : metadata)
    if (!starts_with(key, "mech.")) state.metadata[key] = value;
}

}  // namespace mech::nn
