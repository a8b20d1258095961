// The NeuRLP op's inputs on their way to the solvers, shared by neurlp() and NeurlpFactorization:
// the checks every entry point runs before it solves (the four tensors' shapes against each other,
// their dtypes and devices, the compute dtype; then the sizes the solvers take), and the
// compute-dtype copies and pointers the solvers read. One checker, so every path refuses the same
// inputs with the same messages.
#pragma once

#include "core/tensor.h"
#include "solvers/neurlp.h"
#include "solvers/neurlp_batch.h"

namespace mech::neurlp_core {

// coeffs (B,E,T,D,K), rhs (B,E,T), iv (B,S,D,n_iv) or undefined, steps (B,T-1,D): every shape
// checked against coeffs, every tensor floating point and on coeffs' device. Returns the sizes,
// S and n_iv from iv (both 0 when iv is undefined or empty), the formulation and row weights from
// options, validated by the formulation's driver (check_sizes). Throws mech::Error whose message
// starts with `op` and names the shapes involved and what was expected.
Sizes checked_sizes(const char* op, const Tensor& coeffs, const Tensor& rhs, const Tensor& iv, const Tensor& steps,
                    const NeurlpOptions& options);

// A detached contiguous copy of t in `dtype` (t itself, detached, where it already is one);
// undefined stays undefined.
Tensor prepared(const Tensor& t, DType dtype);

// The four inputs as the drivers read them: prepared() in the compute dtype, without recording;
// iv undefined where the sizes have no initial values.
struct PreparedInputs {
  Tensor coeffs, rhs, iv, steps;
};
PreparedInputs prepare_inputs(const Tensor& coeffs, const Tensor& rhs, const Tensor& iv, const Tensor& steps,
                              const Sizes& z, DType compute);

// The drivers' view of prepared inputs (dtype T): iv is null where the sizes have no initial
// values (iv may then be undefined).
template <class T>
BatchInputs<T> batch_inputs(const Tensor& coeffs, const Tensor& rhs, const Tensor& iv, const Tensor& steps,
                            const Sizes& z) {
  return {coeffs.data_ptr<T>(), rhs.data_ptr<T>(), z.S * z.n_iv > 0 ? iv.data_ptr<T>() : nullptr,
          steps.data_ptr<T>()};
}

}  // namespace mech::neurlp_core
