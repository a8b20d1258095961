// Hooks into backward for code that must act on gradients while backward still runs: a
// LeafGradientObserver watches a list of leaves (a model's parameters) and is told, during every
// backward pass, as soon as each watched leaf's .grad is final for that pass, and then that the
// pass has ended. nn::DistributedDataParallel starts a bucket's allreduce from the first and waits
// for all of them in the second, so the gradients are averaged before backward() returns.
//
// "Final" comes from the dependency counts the engine already has: a leaf's gradient is complete
// once every reachable node with an edge into it has run (or been skipped because no gradient
// reached it). A watched leaf that no node of this pass feeds is not reported: the observer learns
// about it at backward_finished.
//
//   class Watcher : public mech::LeafGradientObserver { ... };
//   Watcher watcher;
//   auto registration = mech::observe_leaf_gradients(model.parameters(), &watcher);
//   loss.backward();   // watcher.gradient_final(i) for each reached parameter, then backward_finished()
#pragma once

#include <cstddef>
#include <vector>

#include "core/tensor.h"

namespace mech {

class LeafGradientObserver {
 public:
  virtual ~LeafGradientObserver() = default;
  // Leaf `index` (its position in the registered list) holds its final .grad of this pass (which
  // may be undefined if no gradient reached it). Runs inside backward, with grad mode off.
  virtual void gradient_final(std::size_t index) = 0;
  // The pass has run every node; called for every backward while registered, after the pass's
  // gradient_final calls.
  virtual void backward_finished() = 0;
};

// Keeps an observer registered until destroyed (or moved from).
class LeafGradientObserverRegistration {
 public:
  LeafGradientObserverRegistration() = default;
  explicit LeafGradientObserverRegistration(LeafGradientObserver* observer) : observer_(observer) {}
  ~LeafGradientObserverRegistration();
  LeafGradientObserverRegistration(LeafGradientObserverRegistration&& other) noexcept : observer_(other.observer_) {
    other.observer_ = nullptr;
  }
  LeafGradientObserverRegistration& operator=(LeafGradientObserverRegistration&& other) noexcept;
  LeafGradientObserverRegistration(const LeafGradientObserverRegistration&) = delete;
  LeafGradientObserverRegistration& operator=(const LeafGradientObserverRegistration&) = delete;

 private:
  LeafGradientObserver* observer_ = nullptr;
};

// Registers `observer` for `leaves` (leaf tensors that require grad; the observer and the leaves
// must outlive the registration). Each observer may be registered once.
[[nodiscard]] LeafGradientObserverRegistration observe_leaf_gradients(const std::vector<Tensor>& leaves,
                                                                      LeafGradientObserver* observer);

}  // namespace mech
