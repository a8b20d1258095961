// The CPU batch driver of NeuRLP, one for every formulation (mnn, scalable, hermite4): the raw-array
// API under the differentiable op (solvers/neurlp.h), for embedding and for the tools. It checks
// the sizes and validates the inputs (solvers/neurlp_errors.h), runs the per-system sweeps
// (solvers/neurlp_sweeps.h) with the formulation's rows on lane packs of 8 float64 (or 16 float32)
// batch elements at a time, batch-parallel with groups handed out one at a time (a descheduled
// thread delays only its current group), and turns any failure into mech::SolverError naming the
// batch element.
//
// Layouts (all contiguous, row-major): coeffs (B,E,T,D,K), rhs (B,E,T), iv (B,S,D,n_iv),
// steps (B,T-1,D), u (B,T,D,K), eps (B). hermite4's latent derivative stays inside (u is (T,D,K) as
// for the others) and its eps is written as zeros.
//
// float32: allowed, but the normal equations square the condition number of A; with step sizes
// below about 0.05 float32 loses most digits (and may report a singular system). Use float64 (the
// default of the op) unless the steps are large and the accuracy needs are modest (hermite4's square
// systems have a direct float32 solve instead: solvers/hermite4_direct.h).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "solvers/neurlp_errors.h"
#include "solvers/neurlp_system.h"

namespace mech::neurlp_core {

template <class T>
struct BatchInputs {
  const T* coeffs = nullptr;
  const T* rhs = nullptr;
  const T* iv = nullptr;      // may be null when S * n_iv == 0
  const T* steps = nullptr;
};

template <class T>
struct BatchGradients {
  T* coeffs = nullptr;   // any may be null: not computed
  T* rhs = nullptr;
  T* iv = nullptr;
  T* steps = nullptr;
};

// The structure of M_uu for one Sizes (shared by all systems of a batch).
class EnvelopePlan {
 public:
  explicit EnvelopePlan(const Sizes& sizes);
  Envelope envelope() const { return {first_.data(), offset_.data(), size_}; }
  std::int64_t size() const { return size_; }

 private:
  std::vector<int> first_;
  std::vector<std::int64_t> offset_;
  std::int64_t size_ = 0;
};

// The factors of every system of a batch (L, 1/diag L, and for mnn q = L^{-1} w and the Schur
// complement) and the packed inputs and solution, kept by forward for backward and for re-solves
// with new rhs / initial values (coefficients and steps unchanged: substitution only). Its storage
// comes from a process-wide pool of blocks (at most 1 GiB kept), so a training loop does not
// page-fault fresh memory in every step.
template <class T>
class Factorization {
 public:
  Factorization(const Sizes& sizes, std::int64_t batch);
  ~Factorization();
  Factorization(const Factorization&) = delete;
  Factorization& operator=(const Factorization&) = delete;

  const Sizes& sizes() const { return sizes_; }
  std::int64_t batch() const { return batch_; }
  const EnvelopePlan& plan() const { return plan_; }
  std::int64_t bytes() const;   // memory held

  struct Storage;                      // lane-pack arrays, per group of lanes
  Storage& storage() const { return *storage_; }

 private:
  Sizes sizes_;
  std::int64_t batch_;
  EnvelopePlan plan_;
  std::unique_ptr<Storage> storage_;
};

// Solves the batch: writes u and eps (eps may be null: not written). With keep_factors, returns the
// factorisation (else null). Throws mech::SolverError on invalid input or a failed factorisation.
template <class T>
std::shared_ptr<Factorization<T>> forward_batch(const Sizes& sizes, std::int64_t batch,
                                                const BatchInputs<T>& inputs, T* u, T* eps,
                                                bool keep_factors);

// Re-solves with the kept factors for new rhs and initial values: the forward's coefficients and
// steps are used (kept packed); only inputs.rhs and inputs.iv are read, inputs.coeffs and
// inputs.steps only to name a bad value. eps may be null.
template <class T>
void resolve_batch(const Factorization<T>& factors, const BatchInputs<T>& inputs, T* u, T* eps);

// Gradients of L given grad_u = dL/du (B,T,D,K) and grad_eps = dL/deps (B) (null: zero), at the
// solution the forward returned (the factorisation keeps its inputs and solution, packed).
template <class T>
void backward_batch(const Factorization<T>& factors, const T* grad_u, const T* grad_eps,
                    const BatchGradients<T>& gradients);

// The same, for callers that pass the forward's inputs and outputs along (they are not read).
template <class T>
void backward_batch(const Factorization<T>& factors, const BatchInputs<T>&, const T*, const T*, const T* grad_u,
                    const T* grad_eps, const BatchGradients<T>& gradients) {
  backward_batch(factors, grad_u, grad_eps, gradients);
}

// Forward and backward in one pass over each group of systems, keeping the factors in cache
// instead of in a Factorization (what mech-solve --grad-u and the fused benchmark use). u and eps
// may be null when the caller has them already (the op's backward without kept factors).
template <class T>
void forward_backward_batch(const Sizes& sizes, std::int64_t batch, const BatchInputs<T>& inputs,
                            T* u, T* eps, const T* grad_u, const T* grad_eps,
                            const BatchGradients<T>& gradients);

}  // namespace mech::neurlp_core
