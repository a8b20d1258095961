// bench_distributed: the figures of data-parallel training (tools/README.md). Run it once as one
// process and once under mpirun; rank 0 prints:
//   allreduce   the process group's average of 1 K to 4 M float64 (8 KB to 32 MB): time and
//               algorithmic bandwidth (bytes / time)
//   gradients   the gradient bytes DistributedDataParallel allreduces per step for each driver's
//               model at its default size, and its buckets
//   steps       mech-logistic's and mech-two-body's training step at their default global batch,
//               split into compute and the communication backward waited for at its end
//   machine     (one process only) how much faster the machine runs N copies of a dependent chain
//               of floating-point operations on N threads than one copy: N for N real cores. No
//               data-parallel run can gain more than this.
//
//   build/bin/bench_distributed                                  # one process
//   mpirun -np 2 --oversubscribe build/bin/bench_distributed     # two ranks, one thread each
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "core/generator.h"
#include "core/parallel.h"
#include "core/process_group.h"
#include "models/datasets.h"
#include "models/logistic_model.h"
#include "models/two_body_model.h"
#include "nn/adam.h"
#include "nn/distributed.h"

namespace {

using namespace mech;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// A chain of dependent multiply-adds, latency-bound: it needs one core's issue slots, no memory.
double dependent_chain(long length) {
  volatile double seed = 1.0000001;
  double x = seed, sum = 0.0;
  for (long i = 0; i < length; ++i) sum = sum * x + 1e-9;
  return sum;
}

void bench_machine_parallelism() {
  const int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  constexpr long kLength = 200'000'000;
  std::vector<double> sink(static_cast<std::size_t>(threads));
  Clock::time_point start = Clock::now();
  sink[0] = dependent_chain(kLength);
  const double alone = seconds_since(start);
  start = Clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) workers.emplace_back([&, t] { sink[static_cast<std::size_t>(t)] = dependent_chain(kLength); });
  for (std::thread& worker : workers) worker.join();
  const double together = seconds_since(start);
  std::printf("machine: one chain %.2f s alone; %d chains on %d threads together %.2f s: %.2fx the work rate of one "
              "thread (%d would be %d free cores)\n",
              alone, threads, threads, together, threads * alone / together, threads, threads);
}

void bench_allreduce(ProcessGroup& group) {
  if (group.world_size() == 1) {
    std::printf("allreduce: one process, nothing to communicate (run under mpirun for the figures)\n");
    return;
  }
  if (group.is_main()) std::printf("allreduce (average, float64) over %d process(es), %s backend\n", group.world_size(), group.backend_name().c_str());
  for (std::int64_t count = 1024; count <= 4 * 1024 * 1024; count *= 8) {
    Tensor values = ones({count}, TensorOptions().dtype(DType::Float64));
    const int repeats = count >= 1024 * 1024 ? 10 : 100;
    group.allreduce(values, ReduceOp::Average).wait();  // warm-up
    group.barrier();
    const auto start = Clock::now();
    for (int r = 0; r < repeats; ++r) group.allreduce(values, ReduceOp::Average).wait();
    const double each = seconds_since(start) / repeats;
    const double bytes = static_cast<double>(count) * 8;
    if (group.is_main())
      std::printf("  %8lld doubles (%7.2f MB): %9.3f ms  %7.2f GB/s\n", static_cast<long long>(count), bytes / 1e6,
                  each * 1e3, bytes / each / 1e9);
  }
}

// Times `steps` optimizer steps of `loss` (after 3 warm-up steps): total and the part backward
// spent waiting for the gradient allreduce at its end.
template <class Loss>
void bench_steps(ProcessGroup& group, const char* name, nn::Module& model, long global_batch, int steps, Loss loss) {
  std::unique_ptr<nn::DistributedDataParallel> ddp;
  if (group.world_size() > 1) ddp = std::make_unique<nn::DistributedDataParallel>(model, default_process_group());
  nn::Adam optimizer(model.parameters(), nn::AdamOptions(1e-3));
  const long share = global_batch / group.world_size();
  double total = 0, waited = 0;
  for (int step = -3; step < steps; ++step) {
    const double waited_before = ddp ? ddp->statistics().finalize_wait_seconds : 0.0;
    group.barrier();
    const auto start = Clock::now();
    optimizer.zero_grad();
    loss(share).backward();
    optimizer.step();
    if (step < 0) continue;
    total += seconds_since(start);
    waited += (ddp ? ddp->statistics().finalize_wait_seconds : 0.0) - waited_before;
  }
  std::int64_t bytes = 0;
  for (const Tensor& parameter : model.parameters()) bytes += parameter.numel() * static_cast<std::int64_t>(dtype_size(parameter.dtype()));
  if (group.is_main())
    std::printf("  %-13s global batch %3ld on %d process(es): %8.2f ms/step = compute %8.2f + communication wait %6.3f; "
                "%lld gradient bytes per step\n",
                name, global_batch, group.world_size(), 1e3 * total / steps, 1e3 * (total - waited) / steps,
                1e3 * waited / steps, static_cast<long long>(bytes));
}

void bench_gradient_bytes(ProcessGroup& group, const char* name, nn::Module& model) {
  nn::DistributedDataParallel ddp(model, std::make_shared<SingleProcessGroup>());
  std::int64_t bytes = 0;
  for (const Tensor& parameter : model.parameters()) bytes += parameter.numel() * static_cast<std::int64_t>(dtype_size(parameter.dtype()));
  if (group.is_main())
    std::printf("  %-13s %9lld parameters, %10lld gradient bytes per step in %zu bucket(s)\n", name,
                static_cast<long long>(model.parameter_count()), static_cast<long long>(bytes),
                ddp.bucket_parameters().size());
}

}  // namespace

int main() {
  set_num_threads(1);  // one thread per rank: the ranks are the parallelism
  auto group = init_process_group("auto");
  set_default_process_group(group);
  if (group->world_size() == 1) bench_machine_parallelism();
  bench_allreduce(*group);

  Generator generator(1);
  models::LogisticModel logistic({}, &generator);
  models::TwoBodyModel two_body({}, &generator);
  if (group->is_main()) std::printf("gradients allreduced per step (the drivers' default models)\n");
  bench_gradient_bytes(*group, "mech-logistic", logistic);
  bench_gradient_bytes(*group, "mech-two-body", two_body);

  if (group->is_main()) std::printf("training steps (compute, and the communication backward waited for)\n");
  const models::LogisticData logistic_data = models::make_logistic({});
  bench_steps(*group, "mech-logistic", logistic, 32, 40, [&](long rows) {
    return logistic.loss(from_vector(std::vector<double>(logistic_data.noisy.begin(), logistic_data.noisy.begin() + rows * 100),
                                     {rows, 100}));
  });
  models::TwoBodyOptions orbit_options;
  const models::TwoBodyData orbits = models::make_two_body(orbit_options);
  const long length = static_cast<long>(orbit_options.length);
  bench_steps(*group, "mech-two-body", two_body, 64, 10, [&](long rows) {
    std::vector<double> windows, futures;
    for (long i = 0; i < rows; ++i) {
      const auto begin = orbits.noisy.begin() + (i % 64) * length * 8;
      windows.insert(windows.end(), begin, begin + 50 * 8);
      futures.insert(futures.end(), begin + 50 * 8, begin + 80 * 8);
    }
    return two_body.loss(from_vector(windows, {rows, 50, 8}), from_vector(futures, {rows, 30, 8}));
  });
  set_default_process_group(nullptr);
  return 0;
}
