// Recording onto the tape and running it backwards, and the Tensor members that reach the tape
// (declared in core/tensor.h, which knows Node only by name).
//
// Every recorded node takes the next number of a global counter, so sequence order is forward
// (recording) order. A node's inputs were produced before it, hence carry smaller numbers: walking
// the reachable nodes from the largest number down is a valid reverse topological order, which is
// what backward does, in one loop, without recursion.
//
// Leaf gradient observers (autograd/gradient_hooks.h): for each watched leaf the engine counts the
// edges into it from the reachable nodes; running (or skipping) a node counts its edges down, and
// the leaf whose count reaches zero has its final gradient of the pass.
#include <algorithm>
#include <atomic>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "autograd/anomaly.h"
#include "autograd/gradient_hooks.h"
#include "autograd/grad_mode.h"
#include "autograd/node.h"

namespace mech {

namespace {
std::atomic<std::uint64_t> next_sequence{1};

struct ObserverEntry {
  LeafGradientObserver* observer;
  std::vector<TensorImpl*> leaves;
};
std::mutex observers_mutex;
std::vector<ObserverEntry> observers;

// The watched leaves of one backward pass: for each, who to tell and how many edges into it are
// still to run.
class LeafWatch {
 public:
  explicit LeafWatch(std::vector<ObserverEntry> entries) : entries_(std::move(entries)) {
    for (const auto& entry : entries_)
      for (std::size_t i = 0; i < entry.leaves.size(); ++i) watched_[entry.leaves[i]].targets.push_back({entry.observer, i});
  }
  bool empty() const { return entries_.empty(); }
  void count_edges(const Node& node) {
    for (const auto& edge : node.inputs) {
      if (!edge.leaf) continue;
      auto found = watched_.find(edge.leaf.get());
      if (found != watched_.end()) ++found->second.pending;
    }
  }
  void node_done(const Node& node) {
    for (const auto& edge : node.inputs) {
      if (!edge.leaf) continue;
      auto found = watched_.find(edge.leaf.get());
      if (found != watched_.end() && --found->second.pending == 0) notify(found->second);
    }
  }
  // A watched leaf that was itself a root and that no node feeds is final at once.
  void root_leaf(TensorImpl* leaf) { root_leaves_.push_back(leaf); }
  void roots_done() {
    for (TensorImpl* leaf : root_leaves_) {
      auto found = watched_.find(leaf);
      if (found != watched_.end() && found->second.pending == 0) notify(found->second);
    }
  }
  void finish() {
    for (const auto& entry : entries_) entry.observer->backward_finished();
  }

 private:
  struct Watched {
    std::vector<std::pair<LeafGradientObserver*, std::size_t>> targets;
    long pending = 0;
  };
  static void notify(const Watched& watched) {
    for (const auto& [observer, index] : watched.targets) observer->gradient_final(index);
  }
  std::vector<ObserverEntry> entries_;
  std::unordered_map<TensorImpl*, Watched> watched_;
  std::vector<TensorImpl*> root_leaves_;
};

LeafWatch watch_registered_leaves() {
  std::lock_guard lock(observers_mutex);
  return LeafWatch(observers);
}

void unregister_observer(LeafGradientObserver* observer) {
  if (observer == nullptr) return;
  std::lock_guard lock(observers_mutex);
  std::erase_if(observers, [&](const ObserverEntry& entry) { return entry.observer == observer; });
}
}  // namespace

LeafGradientObserverRegistration::~LeafGradientObserverRegistration() { unregister_observer(observer_); }

LeafGradientObserverRegistration& LeafGradientObserverRegistration::operator=(
    LeafGradientObserverRegistration&& other) noexcept {
  if (this != &other) {
    unregister_observer(observer_);
    observer_ = other.observer_;
    other.observer_ = nullptr;
  }
  return *this;
}

LeafGradientObserverRegistration observe_leaf_gradients(const std::vector<Tensor>& leaves,
                                                        LeafGradientObserver* observer) {
  MECH_CHECK(observer != nullptr, "observe_leaf_gradients: the observer is null");
  ObserverEntry entry{observer, {}};
  for (std::size_t i = 0; i < leaves.size(); ++i) {
    MECH_CHECK(leaves[i].defined() && leaves[i].is_leaf() && leaves[i].requires_grad(),
               "observe_leaf_gradients: tensor {} is not a leaf that requires grad", i);
    entry.leaves.push_back(leaves[i].impl());
  }
  std::lock_guard lock(observers_mutex);
  for (const auto& existing : observers)
    MECH_CHECK(existing.observer != observer, "observe_leaf_gradients: this observer is registered already");
  observers.push_back(std::move(entry));
  return LeafGradientObserverRegistration(observer);
}

Node::~Node() {
  std::vector<std::shared_ptr<Node>> pending;
  for (auto& edge : inputs) {
    if (edge.node) pending.push_back(std::move(edge.node));
  }
  while (!pending.empty()) {
    std::shared_ptr<Node> node = std::move(pending.back());
    pending.pop_back();
    if (node.use_count() != 1) continue;  // still owned elsewhere; its owner frees it
    for (auto& edge : node->inputs) {
      if (edge.node) pending.push_back(std::move(edge.node));
    }
    node->backward = nullptr;  // captured tensors may own nodes too; drop them while unlinked
  }
}

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!grad_mode_enabled()) return false;
  return std::any_of(inputs.begin(), inputs.end(),
                     [](const Tensor& t) { return t.defined() && t.requires_grad(); });
}

void record(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
            BackwardFunction backward) {
  for (const Tensor& output : outputs) check_anomaly(name, output, "forward");
  if (!needs_grad(inputs)) return;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->sequence = next_sequence.fetch_add(1);
  node->inputs.resize(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& input = inputs[i];
    if (!input.defined() || !input.requires_grad()) continue;
    if (input.grad_fn()) {
      node->inputs[i].node = input.grad_fn();
      node->inputs[i].output_index = input.impl()->output_index;
    } else {
      node->inputs[i].leaf = input.impl_ptr();
    }
  }
  for (std::size_t o = 0; o < outputs.size(); ++o) {
    const Tensor& output = outputs[o];
    node->outputs.push_back({output.shape(), output.dtype(), output.device()});
    if (!is_floating(output.dtype())) continue;  // integer outputs (indices) carry no gradient
    output.impl()->requires_grad = true;
    output.impl()->grad_fn = node;
    output.impl()->output_index = static_cast<int>(o);
  }
  node->backward = std::move(backward);
}

Tensor sum_to(const Tensor& grad, const Shape& shape) {
  if (grad.shape() == shape) return grad;
  const auto grad_rank = grad.dim();
  const auto target_rank = static_cast<std::int64_t>(shape.size());
  MECH_CHECK(grad_rank >= target_rank, "sum_to: cannot reduce shape {} to {}", shape_str(grad.shape()),
             shape_str(shape));
  Shape dims;
  for (std::int64_t d = 0; d < grad_rank; ++d) {
    const std::int64_t target_d = d - (grad_rank - target_rank);
    if (target_d < 0) {
      dims.push_back(d);
    } else if (shape[target_d] == 1 && grad.shape()[d] != 1) {
      dims.push_back(d);
    } else {
      MECH_CHECK(shape[target_d] == grad.shape()[d], "sum_to: cannot reduce shape {} to {}",
                 shape_str(grad.shape()), shape_str(shape));
    }
  }
  Tensor reduced = dims.empty() ? grad : grad.sum(dims, /*keepdim=*/true);
  return reduced.reshape(shape);
}

void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads, bool retain_graph) {
  MECH_CHECK(roots.size() == grads.size(), "backward: {} roots but {} gradients", roots.size(), grads.size());
  NoGradGuard no_grad;

  // Gradient buffers per node output; leaves accumulate straight into .grad.
  std::unordered_map<Node*, std::vector<Tensor>> buffers;
  auto accumulate_leaf = [](const std::shared_ptr<TensorImpl>& leaf, const Tensor& gradient) {
    Tensor target(leaf);
    Tensor existing = target.grad();
    if (existing.defined()) {
      target.set_grad(existing + gradient);
      return;
    }
    // .grad never aliases a tensor the graph or the caller still holds: a gradient that nothing
    // else references (the engine's handle is its only one, and no view shares its storage) is
    // taken over as it is, as PyTorch does; anything else is copied.
    const bool unshared = gradient.impl_ptr().use_count() == 1 && gradient.storage().use_count() == 1 &&
                          gradient.is_contiguous();
    target.set_grad(unshared ? gradient : gradient.clone());
  };
  auto accumulate_node = [&](Node* node, int output, const Tensor& gradient) {
    auto& slots = buffers[node];
    if (slots.empty()) slots.resize(node->outputs.size());
    slots[output] = slots[output].defined() ? slots[output] + gradient : gradient;
  };

  LeafWatch watch = watch_registered_leaves();

  // Collect every node reachable from the roots (an explicit stack, no recursion).
  std::vector<std::shared_ptr<Node>> nodes;
  std::unordered_set<Node*> seen;
  std::vector<std::shared_ptr<Node>> stack;
  for (std::size_t r = 0; r < roots.size(); ++r) {
    const Tensor& root = roots[r];
    if (root.grad_fn()) {
      accumulate_node(root.grad_fn().get(), root.impl()->output_index, grads[r]);
      stack.push_back(root.grad_fn());
    } else if (root.requires_grad()) {
      accumulate_leaf(root.impl_ptr(), grads[r]);
      watch.root_leaf(root.impl());
    }
  }
  while (!stack.empty()) {
    auto node = std::move(stack.back());
    stack.pop_back();
    if (!seen.insert(node.get()).second) continue;
    for (const auto& edge : node->inputs) {
      if (edge.node && !seen.count(edge.node.get())) stack.push_back(edge.node);
    }
    nodes.push_back(std::move(node));
  }
  std::sort(nodes.begin(), nodes.end(), [](const auto& a, const auto& b) { return a->sequence > b->sequence; });
  if (!watch.empty()) {
    for (const auto& node : nodes) watch.count_edges(*node);
    watch.roots_done();
  }

  for (const auto& node : nodes) {
    auto found = buffers.find(node.get());
    if (found == buffers.end()) {  // no gradient flowed here
      if (!watch.empty()) watch.node_done(*node);
      continue;
    }
    std::vector<Tensor> grad_outputs = std::move(found->second);
    buffers.erase(found);
    if (node->released) {
      throw Error(fmt::format(
          "backward: trying to backward through the graph a second time (node '{}'): its saved buffers were "
          "freed by the first backward; pass retain_graph=true to the first call",
          node->name));
    }
    for (std::size_t o = 0; o < grad_outputs.size(); ++o) {
      if (!grad_outputs[o].defined()) {
        const auto& info = node->outputs[o];
        grad_outputs[o] = zeros(info.shape, TensorOptions().dtype(info.dtype).device(info.device));
      }
    }
    std::vector<Tensor> grad_inputs = node->backward(grad_outputs);
    if (!retain_graph) {
      node->backward = nullptr;
      node->released = true;
    }
    MECH_CHECK(grad_inputs.size() == node->inputs.size(), "backward: node '{}' returned {} gradients for {} inputs",
               node->name, grad_inputs.size(), node->inputs.size());
    for (std::size_t i = 0; i < grad_inputs.size(); ++i) {
      const auto& edge = node->inputs[i];
      const Tensor& gradient = grad_inputs[i];
      if (!edge.active() || !gradient.defined()) continue;
      check_anomaly(node->name.c_str(), gradient, "backward");
      if (edge.node) {
        const auto& expected = edge.node->outputs[edge.output_index].shape;
        MECH_CHECK(gradient.shape() == expected, "backward: node '{}' gave a gradient of shape {} for an input of shape {}",
                   node->name, shape_str(gradient.shape()), shape_str(expected));
        accumulate_node(edge.node.get(), edge.output_index, gradient);
      } else {
        MECH_CHECK(gradient.shape() == edge.leaf->shape,
                   "backward: node '{}' gave a gradient of shape {} for a leaf of shape {}", node->name,
                   shape_str(gradient.shape()), shape_str(edge.leaf->shape));
        accumulate_leaf(edge.leaf, gradient);
      }
    }
    if (!watch.empty()) watch.node_done(*node);
  }
  if (!watch.empty()) watch.finish();
}

// ---- Tensor's members that need the tape -----------------------------------------------------
void Tensor::backward(const Tensor& gradient, bool retain_graph) const {
  MECH_CHECK(requires_grad(), "backward: tensor of shape {} does not require grad and has no grad_fn",
             shape_str(shape()));
  Tensor seed = gradient;
  if (!seed.defined()) {
    MECH_CHECK(numel() == 1,
               "backward: a gradient is needed for a non-scalar tensor of shape {} (pass one of that shape)",
               shape_str(shape()));
    seed = ones_like(*this);
  }
  MECH_CHECK(seed.shape() == shape(), "backward: gradient shape {} does not match tensor shape {}",
             shape_str(seed.shape()), shape_str(shape()));
  run_backward({*this}, {seed}, retain_graph);
}

std::string Tensor::grad_fn_name() const {
  const auto& node = grad_fn();
  return node ? node->name : std::string();
}

}  // namespace mech
