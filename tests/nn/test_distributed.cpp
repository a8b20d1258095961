// DistributedDataParallel and DistributedSampler on the single-process group (the multi-rank
// cases run under mpiexec in tests/distributed): gradients unchanged by the buckets, bucket order
// and caps, no_sync, unused parameters, and the sampler's shares for any world size.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "nn/distributed.h"
#include "nn/ddp_test_util.h"

namespace mech::nn {
namespace {

using testing::global_batch;
using testing::SmallNet;

std::vector<double> flat_gradients(Module& model) {
  std::vector<double> values;
  for (const Tensor& parameter : model.parameters()) {
    if (!parameter.grad().defined()) continue;
    for (double value : parameter.grad().to_vector<double>()) values.push_back(value);
  }
  return values;
}

TEST(DistributedDataParallel, OnOneProcessLeavesGradientsAsPlainBackwardGivesThem) {
  SmallNet plain, wrapped;
  DistributedDataParallel ddp(wrapped, std::make_shared<SingleProcessGroup>(),
                              DistributedDataParallelOptions().first_bucket_cap_mb(1e-4).bucket_cap_mb(1e-4));
  EXPECT_GT(ddp.bucket_parameters().size(), 2u);  // tiny caps: several buckets
  const auto batch = global_batch(6, 0);
  plain.loss(batch.inputs, batch.targets, true).backward();
  wrapped.loss(batch.inputs, batch.targets, true).backward();
  EXPECT_EQ(flat_gradients(plain), flat_gradients(wrapped));
  EXPECT_FALSE(wrapped.never.grad().defined());  // unused everywhere: no gradient, as without DDP
  EXPECT_EQ(ddp.statistics().synchronised_passes, 1);
}

// A one-rank group that records, at each allreduce, whether the first layer's weight (the last
// gradient backward produces) has its gradient yet.
class RecordingGroup final : public ProcessGroup {
 public:
  explicit RecordingGroup(Tensor watched) : ProcessGroup(0, 1, 0), watched_(std::move(watched)) {}
  std::string backend_name() const override { return "recording"; }
  Work allreduce(Tensor&, ReduceOp) override {
    watched_had_gradient.push_back(watched_.grad().defined());
    return Work();
  }
  Work broadcast(Tensor&, int) override { return Work(); }
  void barrier() override {}
  std::vector<bool> watched_had_gradient;

 private:
  Tensor watched_;
};

TEST(DistributedDataParallel, BucketsStartWhileBackwardStillRuns) {
  SmallNet model;
  auto group = std::make_shared<RecordingGroup>(model.first->weight());
  DistributedDataParallel ddp(model, group,
                              DistributedDataParallelOptions().first_bucket_cap_mb(1e-4).bucket_cap_mb(1e-4));
  const auto batch = global_batch(4, 3);
  model.loss(batch.inputs, batch.targets).backward();
  ASSERT_EQ(group->watched_had_gradient.size(), ddp.bucket_parameters().size());
  // The first bucket (the output layer's gradients) went out before the first layer's gradient
  // existed; the last one, holding it, after.
  EXPECT_FALSE(group->watched_had_gradient.front());
  EXPECT_TRUE(group->watched_had_gradient.back());
}

TEST(DistributedDataParallel, BucketsFollowReverseRegistrationOrderUnderTheCap) {
  SmallNet model(300);  // first.weight 300x3, first.bias 300, second.weight 1x300, second.bias 1
  // 8 KB caps: second.bias, second.weight and first.bias (4.8 KB) fill the first bucket, which the
  // 7.2 KB first.weight would overflow; it opens the second, where extra and never still fit.
  DistributedDataParallel ddp(model, std::make_shared<SingleProcessGroup>(),
                              DistributedDataParallelOptions().first_bucket_cap_mb(8.0 / 1024).bucket_cap_mb(8.0 / 1024));
  // parameters (own before submodules'): 0 extra, 1 never, 2 first.weight, 3 first.bias,
  // 4 second.weight, 5 second.bias
  const std::vector<std::vector<std::size_t>> expected{{5, 4, 3}, {2, 1, 0}};
  EXPECT_EQ(ddp.bucket_parameters(), expected);
}

TEST(DistributedDataParallel, NoSyncAccumulatesAndTheNextPassSynchronises) {
  SmallNet plain, wrapped;
  DistributedDataParallel ddp(wrapped, std::make_shared<SingleProcessGroup>());
  const auto first = global_batch(4, 1), second = global_batch(4, 2);
  plain.loss(first.inputs, first.targets).backward();
  plain.loss(second.inputs, second.targets).backward();
  {
    auto guard = ddp.no_sync();
    wrapped.loss(first.inputs, first.targets).backward();
  }
  EXPECT_EQ(ddp.statistics().synchronised_passes, 0);
  wrapped.loss(second.inputs, second.targets).backward();
  EXPECT_EQ(ddp.statistics().synchronised_passes, 1);
  EXPECT_EQ(flat_gradients(plain), flat_gradients(wrapped));
}

TEST(DistributedDataParallel, ABackwardThatDoesNotReachTheModelIsLeftAlone) {
  SmallNet model;
  DistributedDataParallel ddp(model, std::make_shared<SingleProcessGroup>());
  Tensor other = ones({2}, testing::f64.requires_grad());
  (other * 3.0).sum().backward();
  EXPECT_EQ(ddp.statistics().synchronised_passes, 0);
  EXPECT_FALSE(model.first->weight().grad().defined());
}

TEST(DistributedSampler, SharesAreDisjointCoverTheDataAndHaveEqualLengths) {
  for (int world = 1; world <= 4; ++world) {
    for (std::int64_t size : {1, 7, 12, 13}) {
      std::multiset<std::int64_t> seen;
      std::size_t length = 0;
      for (int rank = 0; rank < world; ++rank) {
        DistributedSampler sampler(size, world, rank, true, 5);
        sampler.set_epoch(3);
        const auto share = sampler.indices();
        if (rank == 0) length = share.size();
        EXPECT_EQ(share.size(), length) << "every rank takes the same number of steps";
        EXPECT_EQ(static_cast<std::int64_t>(share.size()), sampler.samples_per_rank());
        seen.insert(share.begin(), share.end());
      }
      for (std::int64_t i = 0; i < size; ++i) EXPECT_GE(seen.count(i), 1u) << "item " << i << " size " << size;
      // Only the padding repeats items: size + padding = world * length.
      EXPECT_EQ(seen.size(), static_cast<std::size_t>(world) * length);
      EXPECT_LT(static_cast<std::int64_t>(seen.size()) - size, world);
    }
  }
}

TEST(DistributedSampler, EpochsShuffleDifferentlyAndRepeatably) {
  DistributedSampler sampler(50, 2, 1, true, 11);
  sampler.set_epoch(0);
  const auto epoch0 = sampler.indices();
  sampler.set_epoch(1);
  EXPECT_NE(sampler.indices(), epoch0);
  sampler.set_epoch(0);
  EXPECT_EQ(sampler.indices(), epoch0);
  DistributedSampler ordered(5, 2, 0, false);
  EXPECT_EQ(ordered.indices(), (std::vector<std::int64_t>{0, 2, 4}));
  EXPECT_THROW(DistributedSampler(5, 2, 2), Error);
  EXPECT_THROW(DistributedSampler(0, 1, 0), Error);
}

}  // namespace
}  // namespace mech::nn
