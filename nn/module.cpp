// Module: registration, recursive iteration with dotted names, conversions in place and state dicts.
#include "nn/module.h"

#include <set>

#include "autograd/grad_mode.h"
#include "core/shape.h"

namespace mech::nn {

namespace {

// Points `target`'s handle at `replacement`'s storage and layout, so that every holder of the
// handle (optimizers, user code) sees the moved or converted tensor.
void rebind(const Tensor& target, const Tensor& replacement) {
  TensorImpl* impl = target.impl();
  impl->storage = replacement.storage();
  impl->offset = replacement.offset();
  impl->shape = replacement.shape();
  impl->strides = replacement.strides();
  impl->dtype = replacement.dtype();
}

std::string join_name(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

std::string list_names(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ", ";
    if (i == 8) {
      out += fmt::format("... ({} more)", names.size() - i);
      break;
    }
    out += names[i];
  }
  return out.empty() ? "(none)" : out;
}

}  // namespace

Module::Module(std::string type_name) : type_name_(std::move(type_name)) {}

Tensor Module::forward(const Tensor&) {
  throw Error(fmt::format("{}::forward: this module does not take a single tensor input", type_name_));
}

void Module::check_new_name(const std::string& name, const char* what) const {
  MECH_CHECK(!name.empty(), "{}::register_{}: the name must not be empty", type_name_, what);
  MECH_CHECK(name.find('.') == std::string::npos, "{}::register_{}: name '{}' must not contain '.'", type_name_,
             what, name);
  auto taken = [&](const auto& list) {
    for (const auto& entry : list)
      if (entry.first == name) return true;
    return false;
  };
  MECH_CHECK(!taken(parameters_) && !taken(buffers_) && !taken(children_),
             "{}::register_{}: name '{}' is already registered", type_name_, what, name);
}

Tensor Module::register_parameter(const std::string& name, Tensor tensor, bool requires_grad) {
  check_new_name(name, "parameter");
  check_defined("register_parameter", tensor, name.c_str());
  MECH_CHECK(tensor.is_leaf(), "{}::register_parameter: '{}' must be a leaf tensor (detach it first)", type_name_,
             name);
  MECH_CHECK(is_floating(tensor.dtype()), "{}::register_parameter: '{}' must be float32 or float64, got {}",
             type_name_, name, dtype_name(tensor.dtype()));
  // Optimizers update parameters with contiguous fused kernels.
  if (!tensor.is_contiguous()) tensor = tensor.contiguous();
  tensor.requires_grad_(requires_grad);
  parameters_.emplace_back(name, tensor);
  return tensor;
}

Tensor Module::register_buffer(const std::string& name, Tensor tensor) {
  check_new_name(name, "buffer");
  check_defined("register_buffer", tensor, name.c_str());
  buffers_.emplace_back(name, tensor);
  return tensor;
}

void Module::register_module_impl(const std::string& name, std::shared_ptr<Module> module) {
  check_new_name(name, "module");
  MECH_CHECK(module != nullptr, "{}::register_module: module '{}' is null", type_name_, name);
  MECH_CHECK(module.get() != this, "{}::register_module: a module cannot contain itself ('{}')", type_name_, name);
  children_.emplace_back(name, std::move(module));
}

void Module::collect_tensors(const std::string& prefix, bool want_parameters, bool recurse, NamedTensors& out) const {
  for (const auto& [name, tensor] : want_parameters ? parameters_ : buffers_)
    out.emplace_back(join_name(prefix, name), tensor);
  if (!recurse) return;
  for (const auto& [name, child] : children_) child->collect_tensors(join_name(prefix, name), want_parameters, true, out);
}

NamedTensors Module::named_parameters(bool recurse) const {
  NamedTensors out;
  collect_tensors("", true, recurse, out);
  return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& entry : named_parameters(recurse)) out.push_back(entry.second);
  return out;
}

NamedTensors Module::named_buffers(bool recurse) const {
  NamedTensors out;
  collect_tensors("", false, recurse, out);
  return out;
}

std::vector<Tensor> Module::buffers(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& entry : named_buffers(recurse)) out.push_back(entry.second);
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_children() const { return children_; }

std::vector<std::shared_ptr<Module>> Module::children() const {
  std::vector<std::shared_ptr<Module>> out;
  for (const auto& entry : children_) out.push_back(entry.second);
  return out;
}

void Module::collect_modules(const std::string& prefix, std::vector<std::pair<std::string, Module*>>& out) {
  out.emplace_back(prefix, this);
  for (auto& [name, child] : children_) child->collect_modules(join_name(prefix, name), out);
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out;
  collect_modules("", out);
  return out;
}

Tensor Module::find_tensor(const std::string& name) const {
  std::vector<std::string> known;
  for (const auto& list : {named_parameters(), named_buffers()}) {
    for (const auto& [entry_name, tensor] : list) {
      if (entry_name == name) return tensor;
      known.push_back(entry_name);
    }
  }
  throw Error(fmt::format("{}::find_tensor: no parameter or buffer '{}'; the module has {}", type_name_, name,
                          list_names(known)));
}

std::int64_t Module::parameter_count() const {
  std::int64_t count = 0;
  for (const auto& p : parameters()) count += p.numel();
  return count;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& entry : children_) entry.second->train(on);
}

void Module::to(Device device) {
  NoGradGuard no_grad;
  auto move = [&](const Tensor& t) {
    if (t.device() == device) return;
    rebind(t, t.detach().to(device).contiguous());
    Tensor grad = t.grad();
    if (grad.defined()) t.set_grad(grad.to(device));
  };
  for (const auto& p : parameters()) move(p);
  for (const auto& b : buffers()) move(b);
}

void Module::to(DType dtype) {
  MECH_CHECK(is_floating(dtype), "{}::to: parameters must be float32 or float64, got {}", type_name_,
             dtype_name(dtype));
  NoGradGuard no_grad;
  auto convert = [&](const Tensor& t) {
    if (t.dtype() == dtype || !is_floating(t.dtype())) return;
    rebind(t, t.detach().to(dtype).contiguous());
    Tensor grad = t.grad();
    if (grad.defined()) t.set_grad(grad.to(dtype));
  };
  for (const auto& p : parameters()) convert(p);
  for (const auto& b : buffers()) convert(b);
}

void Module::zero_grad() {
  for (const auto& p : parameters()) p.zero_grad();
}

NamedTensors Module::state_dict() const {
  NamedTensors out = named_parameters();
  for (auto& entry : named_buffers()) out.push_back(std::move(entry));
  for (auto& entry : out) entry.second = entry.second.detach();
  return out;
}

void Module::load_state_dict(const NamedTensors& state, bool strict) {
  NamedTensors own = named_parameters();
  for (auto& entry : named_buffers()) own.push_back(std::move(entry));

  std::map<std::string, const Tensor*> given;
  for (const auto& [name, tensor] : state) {
    MECH_CHECK(given.emplace(name, &tensor).second, "{}::load_state_dict: key '{}' appears twice", type_name_, name);
  }
  // Check everything before changing anything, so a failed load leaves the module as it was.
  std::vector<std::string> missing;
  std::vector<std::pair<const Tensor*, const Tensor*>> copies;  // (destination, source)
  std::set<std::string> used;
  for (const auto& [name, tensor] : own) {
    auto found = given.find(name);
    if (found == given.end()) {
      missing.push_back(name);
      continue;
    }
    const Tensor& source = *found->second;
    check_defined("load_state_dict", source, name.c_str());
    MECH_CHECK(source.shape() == tensor.shape(),
               "{}::load_state_dict: '{}' has shape {} in the state dict, expected the module's {}", type_name_, name,
               shape_str(source.shape()), shape_str(tensor.shape()));
    MECH_CHECK(is_floating(source.dtype()) == is_floating(tensor.dtype()),
               "{}::load_state_dict: '{}' has dtype {} in the state dict, the module holds {}", type_name_, name,
               dtype_name(source.dtype()), dtype_name(tensor.dtype()));
    copies.emplace_back(&tensor, &source);
    used.insert(name);
  }
  std::vector<std::string> unexpected;
  for (const auto& [name, tensor] : state)
    if (!used.count(name)) unexpected.push_back(name);
  if (strict && (!missing.empty() || !unexpected.empty())) {
    throw Error(fmt::format("{}::load_state_dict: missing keys: {}; unexpected keys: {}", type_name_,
                            list_names(missing), list_names(unexpected)));
  }
  NoGradGuard no_grad;
  for (const auto& [destination, source] : copies) {
    Tensor target = *destination;  // the same tensor; copy_ needs a non-const handle
    target.copy_(*source);
  }
}

void Module::append_str(std::string& out, const std::string& name, int depth) const {
  const std::string indent(static_cast<std::size_t>(depth) * 2, ' ');
  out += indent;
  if (!name.empty()) out += "(" + name + "): ";
  out += type_name_ + "(" + extra_repr() + ")\n";
  for (const auto& [child_name, child] : children_) child->append_str(out, child_name, depth + 1);
}

std::string Module::str() const {
  std::string out;
  append_str(out, "", 0);
  return out;
}

}  // namespace mech::nn
