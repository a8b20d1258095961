// Module: the base of every layer, as torch::nn::Module. A module owns named parameters (tensors
// trained by optimizers), named buffers (state that is saved but not trained) and named
// submodules; names nest with dots ("encoder.0.weight"), in registration order.
//
//   class Affine : public mech::nn::Module {
//    public:
//     Affine() : Module("Affine") {
//       scale_ = register_parameter("scale", mech::ones({3}));
//       inner_ = register_module("inner", std::make_shared<mech::nn::Linear>(3, 3));
//     }
//     mech::Tensor forward(const mech::Tensor& x) override { return inner_->forward(x) * scale_; }
//    private:
//     mech::Tensor scale_;
//     std::shared_ptr<mech::nn::Linear> inner_;
//   };
//
// Parameter handles stay valid for the module's life: to(device), to(dtype) and load_state_dict
// change the tensors in place, so an optimizer built before them keeps working.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace mech::nn {

// Tensors by name, in a fixed order: state dicts, optimizer and scheduler states. The same type
// save_safetensors takes.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module : public std::enable_shared_from_this<Module> {
 public:
  explicit Module(std::string type_name = "Module");
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The class name shown in errors and by str().
  const std::string& type_name() const { return type_name_; }

  // The computation of a one-input module (every layer in nn/ is one). Modules with other
  // signatures define their own forward and leave this one throwing.
  virtual Tensor forward(const Tensor& input);
  Tensor operator()(const Tensor& input) { return forward(input); }

  // ---- registration ------------------------------------------------------------------------
  // Registers `tensor` (made a leaf requiring grad when requires_grad) and returns the handle.
  // Names must be non-empty, dot-free and unique within this module.
  Tensor register_parameter(const std::string& name, Tensor tensor, bool requires_grad = true);
  Tensor register_buffer(const std::string& name, Tensor tensor);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    register_module_impl(name, module);
    return module;
  }

  // ---- iteration (recursive unless recurse is false; registration order, depth first) ---------
  NamedTensors named_parameters(bool recurse = true) const;
  std::vector<Tensor> parameters(bool recurse = true) const;
  NamedTensors named_buffers(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const;
  std::vector<std::shared_ptr<Module>> children() const;
  // This module (name "") and every descendant, with dotted names.
  std::vector<std::pair<std::string, Module*>> named_modules();

  // The parameter or buffer called `name` (dotted); throws listing what exists if there is none.
  Tensor find_tensor(const std::string& name) const;
  std::int64_t parameter_count() const;  // total elements of all parameters

  // ---- modes and conversions ----------------------------------------------------------------
  virtual void train(bool on = true);  // recursive
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Moves or converts every parameter and buffer in place (handles stay the same tensors);
  // gradients are converted with them. to(dtype) leaves int64 buffers alone.
  void to(Device device);
  void to(DType dtype);

  // Drops every parameter's gradient (set to undefined, as PyTorch's set_to_none).
  void zero_grad();

  // ---- state ----------------------------------------------------------------------------------
  // Parameters then buffers, dotted names, sharing storage with the module (detached).
  NamedTensors state_dict() const;
  // Copies values into the module's own tensors (converting dtype and device). With strict, a key
  // the module lacks or a module tensor the dict lacks is an error; shapes must always match.
  // Either everything is loaded or, on error, nothing is.
  void load_state_dict(const NamedTensors& state, bool strict = true);

  // A tree of module types with parameter shapes, for logs.
  std::string str() const;

 protected:
  // Extra text shown after the type name by str(), e.g. "in=3, out=4".
  virtual std::string extra_repr() const { return ""; }

 private:
  void register_module_impl(const std::string& name, std::shared_ptr<Module> module);
  void check_new_name(const std::string& name, const char* what) const;
  void collect_tensors(const std::string& prefix, bool parameters, bool recurse, NamedTensors& out) const;
  void collect_modules(const std::string& prefix, std::vector<std::pair<std::string, Module*>>& out);
  void append_str(std::string& out, const std::string& name, int depth) const;

  std::string type_name_;
  bool training_ = true;
  NamedTensors parameters_;
  NamedTensors buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

}  // namespace mech::nn
