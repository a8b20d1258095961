// Sequential: runs one-input modules in order, as torch::nn::Sequential. Children are named
// "0", "1", ... so parameters read "0.weight", "2.bias".
#pragma once

#include <initializer_list>
#include <memory>
#include <vector>

#include "nn/module.h"

namespace mech::nn {

class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  explicit Sequential(std::initializer_list<std::shared_ptr<Module>> modules);

  // Appends and registers `module` under the next index; returns this for chaining.
  Sequential& push_back(std::shared_ptr<Module> module);
  Tensor forward(const Tensor& input) override;

  std::size_t size() const { return layers_.size(); }
  bool empty() const { return layers_.empty(); }
  const std::shared_ptr<Module>& operator[](std::size_t index) const;

 private:
  std::vector<std::shared_ptr<Module>> layers_;
};

}  // namespace mech::nn
