// Sequential container: registration under index names and the chained forward.
#include "nn/sequential.h"

#include <string>

namespace mech::nn {

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> modules) : Sequential() {
  for (const auto& module : modules) push_back(module);
}

Sequential& Sequential::push_back(std::shared_ptr<Module> module) {
  register_module(std::to_string(layers_.size()), module);
  layers_.push_back(std::move(module));
  return *this;
}

Tensor Sequential::forward(const Tensor& input) {
  Tensor x = input;
  for (const auto& layer : layers_) x = layer->forward(x);
  return x;
}

const std::shared_ptr<Module>& Sequential::operator[](std::size_t index) const {
  MECH_CHECK(index < layers_.size(), "Sequential::operator[]: index {} out of range for {} layers", index,
             layers_.size());
  return layers_[index];
}

}  // namespace mech::nn
