// Data-parallel training over a process group (core/process_group.h), as libtorch's
// DistributedDataParallel and DistributedSampler.
//
//   auto group = mech::init_process_group("auto");            // mpirun -np N: N ranks
//   MyModel model(...);                                        // same construction on every rank
//   mech::nn::DistributedDataParallel ddp(model, group);       // checks shapes, copies rank 0's values
//   mech::nn::Adam optimizer(model.parameters(), ...);
//   for (...) {
//     optimizer.zero_grad();
//     model.loss(this_rank_share_of_the_batch).backward();     // gradients averaged over the ranks
//     optimizer.step();                                        // identical on every rank
//   }
//
// DistributedDataParallel does not wrap the forward pass: it watches the module's parameters in
// the autograd engine (autograd/gradient_hooks.h), so any loss computed from them, by any forward
// signature, is synchronised. Gradients are grouped into buckets in reverse registration order
// (the order backward produces them; the first bucket small, about 1 MB, the others about 25 MB;
// one dtype and device per bucket). A bucket's allreduce (average) starts as soon as all its
// gradients are final, while backward still runs, and buckets are launched strictly in index
// order, the same on every rank. Before backward() returns every bucket has been waited for and
// every parameter's .grad holds the average over the ranks, so optimizers, schedulers and
// clip_grad_norm_ need no change.
//
// Unused parameters: a parameter that got no gradient in a pass counts as a zero gradient, so its
// bucket still completes (at the end of backward) and no rank waits forever. Whether any rank used
// it travels with the last bucket: a parameter no rank used keeps an undefined .grad (an optimizer
// skips it), one that some ranks used gets the average with zeros from the others.
//
// Requirements (as in libtorch): every rank builds the same module and runs the same number of
// backward passes through it; a backward that reaches none of the parameters on any rank is left
// alone. Run the loss on equal shares of the global batch: the average of per-rank mean losses is
// then the mean loss of the whole batch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "autograd/gradient_hooks.h"
#include "core/process_group.h"
#include "nn/module.h"

namespace mech::nn {

struct DistributedDataParallelOptions {
  double bucket_cap_mb_ = 25.0;
  double first_bucket_cap_mb_ = 1.0;  // small: the first allreduce starts early in backward

  DistributedDataParallelOptions bucket_cap_mb(double value) const {
    auto copy = *this; copy.bucket_cap_mb_ = value; return copy;
  }
  DistributedDataParallelOptions first_bucket_cap_mb(double value) const {
    auto copy = *this; copy.first_bucket_cap_mb_ = value; return copy;
  }
};

class DistributedDataParallel final : public LeafGradientObserver {
 public:
  // Checks that every rank's module has the same parameters and buffers (count, shapes, dtypes:
  // a mismatch is a mech::Error on every rank) and copies rank 0's values to the others.
  DistributedDataParallel(Module& module, std::shared_ptr<ProcessGroup> group,
                          DistributedDataParallelOptions options = {});
  ~DistributedDataParallel() override;
  DistributedDataParallel(const DistributedDataParallel&) = delete;
  DistributedDataParallel& operator=(const DistributedDataParallel&) = delete;

  Module& module() { return module_; }
  ProcessGroup& process_group() { return *group_; }
  Tensor forward(const Tensor& input) { return module_.forward(input); }

  // Within the guard's scope backward accumulates gradients locally without communicating
  // (gradient accumulation); the first backward after it averages the accumulated gradients.
  class NoSyncGuard {
   public:
    explicit NoSyncGuard(DistributedDataParallel& ddp) : ddp_(ddp), previous_(ddp.sync_) { ddp_.sync_ = false; }
    ~NoSyncGuard() { ddp_.sync_ = previous_; }
    NoSyncGuard(const NoSyncGuard&) = delete;
    NoSyncGuard& operator=(const NoSyncGuard&) = delete;

   private:
    DistributedDataParallel& ddp_;
    bool previous_;
  };
  [[nodiscard]] NoSyncGuard no_sync() { return NoSyncGuard(*this); }

  // Parameter indices (into module().parameters()) of each bucket, in launch order.
  std::vector<std::vector<std::size_t>> bucket_parameters() const;

  struct Statistics {
    std::int64_t synchronised_passes = 0;
    std::int64_t allreduced_bytes = 0;   // gradient bytes sent into allreduce, all passes
    double finalize_wait_seconds = 0.0;  // time backward waited for communication at its end
  };
  const Statistics& statistics() const { return statistics_; }

  // LeafGradientObserver (called by the engine).
  void gradient_final(std::size_t index) override;
  void backward_finished() override;

 private:
  struct Bucket {
    std::vector<std::size_t> parameters;  // indices into parameters_
    std::vector<std::int64_t> offsets;    // of each parameter in the flat buffer
    std::int64_t numel = 0;               // gradient elements (the last bucket adds usage flags)
    DType dtype = DType::Float32;
    Device device = Device::cpu();
    // per pass
    std::size_t pending = 0;
    Tensor flat;
    Work work;
    bool launched = false;
  };

  void check_shapes_across_ranks();
  void broadcast_from_rank_zero();
  void build_buckets();
  void reset_pass();
  void launch_ready_buckets();
  void launch(Bucket& bucket);
  void poll();

  Module& module_;
  std::shared_ptr<ProcessGroup> group_;
  DistributedDataParallelOptions options_;
  std::vector<Tensor> parameters_;
  std::vector<std::size_t> bucket_of_;  // parameter index -> bucket index
  std::vector<Bucket> buckets_;
  std::vector<bool> final_;             // per parameter, this pass
  std::size_t next_bucket_ = 0;
  bool any_final_ = false;
  bool sync_ = true;
  Statistics statistics_;
  LeafGradientObserverRegistration registration_;
};

// Splits a dataset of `size` items over the ranks for one epoch: a permutation seeded by
// seed + epoch (or 0..size-1 without shuffle), padded by repeating its start up to a multiple of
// the world size, of which rank r takes positions r, r + W, r + 2W, ... Every rank gets the same
// number of items, so every rank runs the same number of steps; the shares are disjoint except
// for the padding.
class DistributedSampler {
 public:
  DistributedSampler(std::int64_t size, int world_size, int rank, bool shuffle = true, std::uint64_t seed = 0);
  void set_epoch(std::uint64_t epoch) { epoch_ = epoch; }
  std::uint64_t epoch() const { return epoch_; }
  // This rank's items of the current epoch, in order.
  std::vector<std::int64_t> indices() const;
  std::int64_t samples_per_rank() const { return (size_ + world_size_ - 1) / world_size_; }

 private:
  std::int64_t size_;
  int world_size_;
  int rank_;
  bool shuffle_;
  std::uint64_t seed_;
  std::uint64_t epoch_ = 0;
};

}  // namespace mech::nn
