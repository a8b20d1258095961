// The CPU lane-batch driver of NeuRLP (see neurlp_batch.h), one for every formulation: the row
// policy (TaylorRows for mnn and scalable, Hermite4Rows) is a template parameter of the entry
// points of neurlp_batch_driver.h, chosen once per call from the sizes' formulation; everything
// else (lane-pack gather/scatter, validation, scheduling, the fixed-size dispatch, the kept
// factorisation and the error plumbing) is shared. This unit instantiates the Taylor rows;
// neurlp_batch_hermite4.cpp hermite4's.
#include "solvers/neurlp_batch.h"

#include "solvers/neurlp_batch_driver.h"

namespace mech::neurlp_core {

// ---- structure -------------------------------------------------------------------------------

EnvelopePlan::EnvelopePlan(const Sizes& z) {
  // The structure does not depend on values: run the row generator on ones.
  const int n = z.unknowns();
  std::vector<double> coeffs(static_cast<std::size_t>(z.E) * z.T * z.D * z.K, 1.0);
  std::vector<double> rhs(static_cast<std::size_t>(z.E) * z.T, 1.0);
  std::vector<double> iv(static_cast<std::size_t>(std::max(1, z.S * z.D * z.n_iv)), 1.0);
  std::vector<double> steps(static_cast<std::size_t>(z.T - 1) * z.D, 1.0);
  SystemInputs<double> in{coeffs.data(), rhs.data(), iv.data(), steps.data()};
  auto row = std::make_unique<Row<double>>();
  first_.resize(n);
  offset_.resize(n);
  envelope_first_columns(z, in, *row, first_.data());
  size_ = envelope_offsets(n, first_.data(), offset_.data());
}


template <class T>
Factorization<T>::Factorization(const Sizes& sizes, std::int64_t batch)
    : sizes_(sizes), batch_(batch), plan_(sizes), storage_(std::make_unique<Storage>()) {
  using P = typename Storage::P;
  constexpr int width = LaneTraits<P>::width;
  Storage& s = *storage_;
  s.groups = (batch + width - 1) / width;
  s.n = sizes.unknowns();
  s.envelope_size = plan_.size();
  s.border = sizes.has_eps() ? 1 : 0;
  s.coeffs = static_cast<std::int64_t>(sizes.E) * sizes.T * sizes.D * sizes.K;
  s.rhs = static_cast<std::int64_t>(sizes.E) * sizes.T;
  s.iv = std::max<std::int64_t>(1, static_cast<std::int64_t>(sizes.S) * sizes.D * sizes.n_iv);
  s.steps = static_cast<std::int64_t>(sizes.T - 1) * sizes.D;
  s.block = s.envelope_size + s.n + s.border * (s.n + 1) + s.coeffs + s.rhs + s.iv + s.steps + s.n + 1;
  s.blocks.resize(s.groups);
  for (auto& raw : s.blocks) raw = take_block(s.block * sizeof(P));
}

template <class T>
Factorization<T>::~Factorization() = default;

template <class T>
std::int64_t Factorization<T>::bytes() const {
  using P = typename Storage::P;
  return storage_->groups * storage_->block * static_cast<std::int64_t>(sizeof(P));
}


MECH_NEURLP_DRIVER_INSTANTIATE(, TaylorRows, double)
MECH_NEURLP_DRIVER_INSTANTIATE(, TaylorRows, float)
MECH_NEURLP_DRIVER_INSTANTIATE(extern, Hermite4Rows, double)
MECH_NEURLP_DRIVER_INSTANTIATE(extern, Hermite4Rows, float)

using namespace driver;

namespace {

// The one place the driver chooses the rows: hermite4's, or the Taylor rows of mnn and scalable.
template <class Body>
auto with_rows(const Sizes& z, Body&& body) {
  if (z.formulation == Formulation::Hermite4) return body.template operator()<Hermite4Rows>();
  return body.template operator()<TaylorRows>();
}

}  // namespace

// ---- the batch entry points ------------------------------------------------------------------

template <class T>
std::shared_ptr<Factorization<T>> forward_batch(const Sizes& z, std::int64_t batch, const BatchInputs<T>& in, T* u,
                                                T* eps, bool keep_factors) {
  check_sizes(z, kOp);
  check_inputs_present(z, in.coeffs, in.rhs, in.iv, in.steps);
  MECH_CHECK(batch >= 1, "{}: expected a batch of at least 1 system, got {}", kOp, batch);
  MECH_CHECK(u, "{}: u must not be null", kOp);
  return with_rows(z, [&]<class Rows>() { return forward_with<Rows>(z, batch, in, u, eps, keep_factors); });
}

template <class T>
void resolve_batch(const Factorization<T>& kept, const BatchInputs<T>& in, T* u, T* eps) {
  const Sizes& z = kept.sizes();
  check_inputs_present(z, in.coeffs, in.rhs, in.iv, in.steps);
  MECH_CHECK(u, "{}: u must not be null", kOp);
  with_rows(z, [&]<class Rows>() { resolve_with<Rows>(kept, in, u, eps); });
}

template <class T>
void backward_batch(const Factorization<T>& kept, const T* grad_u, const T* grad_eps, const BatchGradients<T>& out) {
  MECH_CHECK(grad_u, "{} backward: grad_u must not be null", kOp);
  with_rows(kept.sizes(), [&]<class Rows>() { backward_with<Rows>(kept, grad_u, grad_eps, out); });
}

template <class T>
void forward_backward_batch(const Sizes& z, std::int64_t batch, const BatchInputs<T>& in, T* u, T* eps,
                            const T* grad_u, const T* grad_eps, const BatchGradients<T>& out) {
  check_sizes(z, kOp);
  check_inputs_present(z, in.coeffs, in.rhs, in.iv, in.steps);
  MECH_CHECK(batch >= 1, "{}: expected a batch of at least 1 system, got {}", kOp, batch);
  MECH_CHECK(grad_u, "{} backward: grad_u must not be null", kOp);
  with_rows(z, [&]<class Rows>() { forward_backward_with<Rows>(z, batch, in, u, eps, grad_u, grad_eps, out); });
}

#define MECH_NEURLP_INSTANTIATE(T)                                                                                 \
  template class Factorization<T>;                                                                                 \
  template std::shared_ptr<Factorization<T>> forward_batch<T>(const Sizes&, std::int64_t, const BatchInputs<T>&,  \
                                                              T*, T*, bool);                                       \
  template void resolve_batch<T>(const Factorization<T>&, const BatchInputs<T>&, T*, T*);                          \
  template void backward_batch<T>(const Factorization<T>&, const T*, const T*, const BatchGradients<T>&);          \
  template void forward_backward_batch<T>(const Sizes&, std::int64_t, const BatchInputs<T>&, T*, T*, const T*,     \
                                          const T*, const BatchGradients<T>&);
MECH_NEURLP_INSTANTIATE(double)
MECH_NEURLP_INSTANTIATE(float)

}  // namespace mech::neurlp_core
