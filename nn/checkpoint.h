// Training checkpoints: one .safetensors file holding the model's parameters and buffers, the
// optimizer's and scheduler's state, the step, the random generator's state and string metadata,
// written atomically (temporary file + rename), so a crash mid-save leaves the previous checkpoint.
// Resuming from it continues a run bit for bit.
//
//   mech::nn::TrainingState state{.model = model.get(), .optimizer = &optimizer, .step = step};
//   mech::nn::save_checkpoint("run.safetensors", state);
//   ...
//   mech::nn::load_checkpoint("run.safetensors", state);   // state.step and metadata filled in
//
// File layout (tensor names): "model.<parameter>", "optimizer.<key>", "scheduler.<key>",
// "rng.state" (the generator's 6 state words as int64), "step" (int64). Metadata keys starting
// with "mech." are the format's own: the format version, which sections are present, the
// optimizer and scheduler types and a checksum of every tensor's bytes (FNV-1a 64), so a corrupt
// data section is reported rather than loaded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "core/generator.h"
#include "nn/module.h"
#include "nn/optimizer.h"
#include "nn/scheduler.h"

namespace mech::nn {

// What a checkpoint saves and restores. Only model is required; a null optimizer or scheduler is
// neither saved nor restored. generator null means the default generator.
struct TrainingState {
  Module* model = nullptr;
  Optimizer* optimizer = nullptr;
  LRScheduler* scheduler = nullptr;
  Generator* generator = nullptr;
  std::int64_t step = 0;
  std::map<std::string, std::string> metadata;  // free-form; keys must not start with "mech."
};

struct CheckpointSaveOptions {
  // Called after each chunk reaches the temporary file with (bytes written, total bytes); an
  // exception thrown from it abandons the save (the previous file stays) and propagates.
  std::function<void(std::size_t written, std::size_t total)> on_progress;
  std::size_t chunk_bytes = std::size_t{1} << 20;
};

void save_checkpoint(const std::string& path, const TrainingState& state, const CheckpointSaveOptions& options = {});

// Restores every non-null part of `state` from the file and sets state.step and state.metadata
// (the free-form keys). Missing sections, mismatched names or shapes, a different optimizer or
// scheduler type, a checksum mismatch and unreadable files throw mech::Error (mech::IoError for
// file damage); on any error the model, optimizer, scheduler and generator are left as they were.
void load_checkpoint(const std::string& path, TrainingState& state);

}  // namespace mech::nn
