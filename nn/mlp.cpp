// make_mlp: builds Linear/activation stacks.
#include "nn/mlp.h"

#include "nn/linear.h"

namespace mech::nn {

std::shared_ptr<Sequential> make_mlp(const MLPOptions& options, Generator* generator) {
  const auto& sizes = options.sizes();
  MECH_CHECK(sizes.size() >= 2, "make_mlp: expected at least an input and an output size, got {} sizes",
             sizes.size());
  auto net = std::make_shared<Sequential>();
  for (std::size_t i = 0; i + 1 < sizes.size(); ++i) {
    net->push_back(std::make_shared<Linear>(
        LinearOptions(sizes[i], sizes[i + 1]).bias(options.bias()).dtype(options.dtype()), generator));
    const bool last = i + 2 == sizes.size();
    if (!last) net->push_back(make_activation(options.activation()));
    else if (options.final_activation()) net->push_back(make_activation(*options.final_activation()));
  }
  return net;
}

}  // namespace mech::nn
