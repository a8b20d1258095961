// DistributedDataParallel and DistributedSampler (nn/distributed.h).
#include "nn/distributed.h"

#include <algorithm>
#include <chrono>
#include <numeric>

#include <fmt/format.h>

#include "core/generator.h"
#include "core/grad_mode.h"

namespace mech::nn {

namespace {

std::uint64_t mix(std::uint64_t hash, std::uint64_t value) {
  // FNV-1a over the value's bytes.
  for (int byte = 0; byte < 8; ++byte) {
    hash ^= (value >> (8 * byte)) & 0xff;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

std::string describe(const NamedTensors& tensors) {
  std::string text;
  for (const auto& [name, tensor] : tensors) {
    if (!text.empty()) text += ", ";
    text += fmt::format("{} {} {}", name, shape_str(tensor.shape()), dtype_name(tensor.dtype()));
  }
  return text.empty() ? "none" : text;
}

}  // namespace

DistributedDataParallel::DistributedDataParallel(Module& module, std::shared_ptr<ProcessGroup> group,
                                                 DistributedDataParallelOptions options)
    : module_(module), group_(std::move(group)), options_(options) {
  MECH_CHECK(group_ != nullptr, "DistributedDataParallel: the process group is null");
  MECH_CHECK(options_.bucket_cap_mb_ > 0 && options_.first_bucket_cap_mb_ > 0,
             "DistributedDataParallel: bucket caps {} MB and {} MB must be positive", options_.bucket_cap_mb_,
             options_.first_bucket_cap_mb_);
  for (const Tensor& parameter : module_.parameters()) {
    if (parameter.requires_grad()) parameters_.push_back(parameter);
  }
  for (const Tensor& tensor : parameters_) {
    MECH_CHECK(tensor.dtype() == DType::Float32 || tensor.dtype() == DType::Float64,
               "DistributedDataParallel: parameters must be float32 or float64, got {} of shape {}",
               dtype_name(tensor.dtype()), shape_str(tensor.shape()));
  }
  check_shapes_across_ranks();
  broadcast_from_rank_zero();
  build_buckets();
  reset_pass();
  if (!parameters_.empty()) registration_ = observe_leaf_gradients(parameters_, this);
}

DistributedDataParallel::~DistributedDataParallel() = default;

// Every rank contributes a fingerprint of its parameters' and buffers' names, shapes and dtypes,
// cut into 16-bit pieces h; one allreduce sums h and h^2 (exact in float64). All pieces agree
// across the ranks exactly when W * sum(h^2) == sum(h)^2 for each, and every rank sees the same
// sums, so a mismatch is detected by every rank alike: an error everywhere, never a hang.
void DistributedDataParallel::check_shapes_across_ranks() {
  if (group_->world_size() == 1) return;
  const NamedTensors parameters = module_.named_parameters();
  const NamedTensors buffers = module_.named_buffers();
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (const auto* list : {&parameters, &buffers}) {
    hash = mix(hash, list->size());
    for (const auto& [name, tensor] : *list) {
      for (char c : name) hash = mix(hash, static_cast<unsigned char>(c));
      hash = mix(hash, static_cast<std::uint64_t>(tensor.dtype()));
      hash = mix(hash, static_cast<std::uint64_t>(tensor.dim()));
      for (std::int64_t size : tensor.shape()) hash = mix(hash, static_cast<std::uint64_t>(size));
      hash = mix(hash, tensor.requires_grad() ? 1 : 0);
    }
  }
  std::vector<double> pieces(8);
  for (int k = 0; k < 4; ++k) {
    const double piece = static_cast<double>((hash >> (16 * k)) & 0xffff);
    pieces[k] = piece;
    pieces[4 + k] = piece * piece;
  }
  const Device device = parameters_.empty() ? Device::cpu() : parameters_.front().device();
  Tensor sums = from_vector(pieces, {8}).to(device);
  group_->allreduce(sums, ReduceOp::Sum).wait();
  const std::vector<double> total = sums.to_vector<double>();
  const double world = group_->world_size();
  bool same = true;
  for (int k = 0; k < 4; ++k) same = same && world * total[4 + k] == total[k] * total[k];
  MECH_CHECK(same,
             "DistributedDataParallel: the module's parameters or buffers differ across the {} ranks (names, "
             "shapes or dtypes); every rank must build the same module. Rank {} has parameters: {}; buffers: {}",
             group_->world_size(), group_->rank(), describe(parameters), describe(buffers));
}

void DistributedDataParallel::broadcast_from_rank_zero() {
  if (group_->world_size() == 1) return;
  NoGradGuard no_grad;
  std::vector<Tensor> tensors = module_.parameters();
  for (const Tensor& buffer : module_.buffers()) {
    if (buffer.dtype() == DType::Float32 || buffer.dtype() == DType::Float64) tensors.push_back(buffer);
  }
  for (const Tensor& tensor : tensors) {
    // Collectives take contiguous storage; a strided parameter goes through a copy.
    Tensor target = tensor.is_contiguous() ? tensor.detach() : tensor.contiguous().detach();
    group_->broadcast(target, 0).wait();
    if (!target.is_same(tensor) && target.storage() != tensor.storage()) tensor.detach().copy_(target);
  }
}

void DistributedDataParallel::build_buckets() {
  buckets_.clear();
  bucket_of_.assign(parameters_.size(), 0);
  const double megabyte = 1024.0 * 1024.0;
  std::int64_t bytes = 0;
  for (std::size_t i = parameters_.size(); i-- > 0;) {
    const Tensor& parameter = parameters_[i];
    const double cap = (buckets_.size() <= 1 ? options_.first_bucket_cap_mb_ : options_.bucket_cap_mb_) * megabyte;
    const std::int64_t parameter_bytes = parameter.numel() * static_cast<std::int64_t>(dtype_size(parameter.dtype()));
    const bool fits = !buckets_.empty() && buckets_.back().dtype == parameter.dtype() &&
                      buckets_.back().device == parameter.device() &&
                      static_cast<double>(bytes + parameter_bytes) <= cap;
    if (!fits) {
      buckets_.emplace_back();
      buckets_.back().dtype = parameter.dtype();
      buckets_.back().device = parameter.device();
      bytes = 0;
    }
    Bucket& bucket = buckets_.back();
    bucket.parameters.push_back(i);
    bucket.offsets.push_back(bucket.numel);
    bucket.numel += parameter.numel();
    bytes += parameter_bytes;
    bucket_of_[i] = buckets_.size() - 1;
  }
}

std::vector<std::vector<std::size_t>> DistributedDataParallel::bucket_parameters() const {
  std::vector<std::vector<std::size_t>> result;
  for (const Bucket& bucket : buckets_) result.push_back(bucket.parameters);
  return result;
}

void DistributedDataParallel::reset_pass() {
  final_.assign(parameters_.size(), false);
  for (Bucket& bucket : buckets_) {
    bucket.pending = bucket.parameters.size();
    bucket.flat = Tensor();
    bucket.work = Work();
    bucket.launched = false;
  }
  next_bucket_ = 0;
  any_final_ = false;
}

void DistributedDataParallel::poll() {
  for (std::size_t b = 0; b < next_bucket_; ++b) buckets_[b].work.is_completed();
}

void DistributedDataParallel::gradient_final(std::size_t index) {
  if (!sync_ || index >= final_.size() || final_[index]) return;
  final_[index] = true;
  any_final_ = true;
  --buckets_[bucket_of_[index]].pending;
  launch_ready_buckets();
  poll();  // MPI advances in-flight collectives only inside MPI calls
}

void DistributedDataParallel::launch_ready_buckets() {
  while (next_bucket_ < buckets_.size() && buckets_[next_bucket_].pending == 0) launch(buckets_[next_bucket_++]);
}

// Copies the bucket's gradients (zeros for those without one) into a fresh flat buffer and
// starts its average. The last bucket also carries one usage flag per parameter: by the time it
// launches every earlier bucket has, so every parameter's gradient is final.
void DistributedDataParallel::launch(Bucket& bucket) {
  NoGradGuard no_grad;
  const bool last = &bucket == &buckets_.back();
  const std::int64_t flags = last ? static_cast<std::int64_t>(parameters_.size()) : 0;
  bucket.flat = zeros({bucket.numel + flags}, TensorOptions().dtype(bucket.dtype).device(bucket.device));
  for (std::size_t k = 0; k < bucket.parameters.size(); ++k) {
    const Tensor gradient = parameters_[bucket.parameters[k]].grad();
    if (!gradient.defined()) continue;
    bucket.flat.narrow(0, bucket.offsets[k], gradient.numel()).copy_(gradient.reshape({gradient.numel()}));
  }
  if (last) {
    std::vector<double> used(parameters_.size());
    for (std::size_t i = 0; i < parameters_.size(); ++i) used[i] = parameters_[i].grad().defined() ? 1.0 : 0.0;
    bucket.flat.narrow(0, bucket.numel, flags).copy_(from_vector(used, {flags}));
  }
  bucket.work = group_->allreduce(bucket.flat, ReduceOp::Average);
  bucket.launched = true;
  statistics_.allreduced_bytes += bucket.flat.numel() * static_cast<std::int64_t>(dtype_size(bucket.dtype));
}

void DistributedDataParallel::backward_finished() {
  if (!sync_ || !any_final_) {
    // A no_sync pass keeps its local gradients; a pass that reached none of the parameters is
    // not a training step of this module.
    reset_pass();
    return;
  }
  // Unused parameters: final with whatever gradient they hold (none counts as zero).
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    if (!final_[i]) {
      final_[i] = true;
      --buckets_[bucket_of_[i]].pending;
    }
  }
  launch_ready_buckets();
  const auto started = std::chrono::steady_clock::now();
  for (Bucket& bucket : buckets_) bucket.work.wait();
  statistics_.finalize_wait_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  ++statistics_.synchronised_passes;

  const Bucket& last = buckets_.back();
  const std::vector<double> usage =
      last.flat.narrow(0, last.numel, static_cast<std::int64_t>(parameters_.size())).to_vector<double>();
  for (const Bucket& bucket : buckets_) {
    for (std::size_t k = 0; k < bucket.parameters.size(); ++k) {
      const Tensor& parameter = parameters_[bucket.parameters[k]];
      if (usage[bucket.parameters[k]] == 0.0) {
        parameter.set_grad(Tensor());  // no rank used it: no gradient, as on one process
        continue;
      }
      parameter.set_grad(bucket.flat.narrow(0, bucket.offsets[k], parameter.numel()).view(parameter.shape()));
    }
  }
  reset_pass();
}

DistributedSampler::DistributedSampler(std::int64_t size, int world_size, int rank, bool shuffle, std::uint64_t seed)
    : size_(size), world_size_(world_size), rank_(rank), shuffle_(shuffle), seed_(seed) {
  MECH_CHECK(size > 0, "DistributedSampler: the dataset size {} must be positive", size);
  MECH_CHECK(world_size >= 1 && rank >= 0 && rank < world_size,
             "DistributedSampler: rank {} out of range for a world of {}", rank, world_size);
}

std::vector<std::int64_t> DistributedSampler::indices() const {
  std::vector<std::int64_t> order(static_cast<std::size_t>(size_));
  std::iota(order.begin(), order.end(), 0);
  if (shuffle_) {
    Generator generator(seed_ + epoch_);
    for (std::size_t i = order.size(); i > 1; --i) {
      const std::size_t j = static_cast<std::size_t>(generator.next_u64() % i);
      std::swap(order[i - 1], order[j]);
    }
  }
  const std::int64_t total = samples_per_rank() * world_size_;
  std::vector<std::int64_t> share;
  for (std::int64_t position = rank_; position < total; position += world_size_)
    share.push_back(order[static_cast<std::size_t>(position % size_)]);
  return share;
}

}  // namespace mech::nn
