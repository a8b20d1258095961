// The tape: every differentiable op that runs with grad mode on and an input that requires grad
// records one Node. Nodes carry a sequence number in recording (forward) order; backward() in
// autograd/engine.cpp collects the nodes reachable from the root and runs them in reverse
// sequence order, iteratively, accumulating gradients.
//
// How an op records itself (see autograd/ops_elementwise.cpp for many examples):
//
//   Tensor out = ...forward kernel...;
//   record("mul", {a, b}, {out}, [a, b](const std::vector<Tensor>& grads) {
//     return std::vector<Tensor>{sum_to(grads[0] * b, a.shape()), sum_to(grads[0] * a, b.shape())};
//   });
//
// The backward function receives one gradient per output (zeros for outputs that got none) and
// returns one gradient per input, shaped like the input (an undefined Tensor means "no gradient").
// It runs with grad mode off. After a backward without retain_graph the function, and with it
// every tensor it captured, is released.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace mech {

using BackwardFunction = std::function<std::vector<Tensor>(const std::vector<Tensor>& grad_outputs)>;

struct Node {
  // Where the gradient for one input goes: into another node's output, or into a leaf's .grad.
  struct Edge {
    std::shared_ptr<Node> node;          // producer of the input, when it has one
    int output_index = 0;
    std::shared_ptr<TensorImpl> leaf;    // the input itself, when it is a leaf requiring grad
    bool active() const { return node != nullptr || leaf != nullptr; }
  };
  struct OutputInfo {
    Shape shape;
    DType dtype;
    Device device;
  };

  std::string name;
  std::uint64_t sequence = 0;   // position on the tape
  std::vector<Edge> inputs;     // one per op input, inactive for inputs that need no gradient
  std::vector<OutputInfo> outputs;
  BackwardFunction backward;    // empty once released
  bool released = false;

  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  // Unlinks long chains iteratively: the default destructor would recurse once per node.
  ~Node();
};

// Records a node for `outputs` when grad mode is on and any input requires grad; otherwise does
// nothing. Outputs get requires_grad and their grad_fn. Undefined inputs are allowed (no edge).
void record(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
            BackwardFunction backward);

// True when `record` would record for these inputs (lets an op skip saving tensors otherwise).
bool needs_grad(const std::vector<Tensor>& inputs);

// Sums `grad` over broadcast dimensions so that it has `shape`: the one helper every
// broadcasting op's backward uses.
Tensor sum_to(const Tensor& grad, const Shape& shape);

// Runs backward from `roots` with the given gradients (same shapes as the roots).
void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads, bool retain_graph);

}  // namespace mech
