// The CPU batch driver of the hermite4 formulation (solvers/hermite4_system.h): validation, lane
// packs of 8 float64 (16 float32) systems, batch-parallel loops, and failures as mech::SolverError
// naming the batch element. Same raw layouts as solvers/neurlp_batch.h: coeffs (B,E,T,D,K), rhs
// (B,E,T), iv (B,S,D,n_iv), steps (B,T-1,D), u (B,T,D,K) with K = P+1 (the latent derivative P+1 is
// solved for but not returned). There is no eps: callers that return one return zeros.
//
// Precision: these entry points solve the normal equations (any row counts). In float32 that
// squares cond(A) ~ T^2/h^2 and loses most digits for h below about 0.05; for square systems use
// the direct float32 solve or the mixed-precision solve of solvers/hermite4_direct.h instead.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "solvers/hermite4_system.h"
#include "solvers/neurlp_batch.h"

namespace mech::neurlp_core::hermite4 {

// Throws mech::Error when the sizes are out of range, mech::SolverError (element 0) when the
// system has fewer rows than unknowns (e.g. fewer than P initial values with E = D): M is then
// singular whatever the values.
void check_sizes(const Sizes& sizes, const char* op);

// Empty when system b of the batch has finite inputs and positive steps, else the reason.
template <class T>
std::string invalid_input(const Sizes& sizes, const BatchInputs<T>& inputs, std::int64_t b);

// The envelope of M_uu for one Sizes.
class Plan {
 public:
  explicit Plan(const Sizes& sizes);
  Envelope envelope() const { return {first_.data(), offset_.data(), size_}; }
  std::int64_t size() const { return size_; }

 private:
  std::vector<int> first_;
  std::vector<std::int64_t> offset_;
  std::int64_t size_ = 0;
};

// Factors, packed inputs and packed solution of every group of lanes, kept by forward for backward.
template <class T>
class Factorization {
 public:
  Factorization(const Sizes& sizes, std::int64_t batch);
  ~Factorization();
  Factorization(const Factorization&) = delete;
  Factorization& operator=(const Factorization&) = delete;
  const Sizes& sizes() const { return sizes_; }
  std::int64_t batch() const { return batch_; }
  const Plan& plan() const { return plan_; }
  struct Storage;
  Storage& storage() const { return *storage_; }

 private:
  Sizes sizes_;
  std::int64_t batch_;
  Plan plan_;
  std::unique_ptr<Storage> storage_;
};

template <class T>
std::shared_ptr<Factorization<T>> forward_batch(const Sizes& sizes, std::int64_t batch,
                                                const BatchInputs<T>& inputs, T* u, bool keep_factors);

// Re-solves with the kept factors for new rhs and initial values (coefficients and steps as in the
// forward, which kept them: only inputs.rhs and inputs.iv are read). Substitution only.
template <class T>
void resolve_batch(const Factorization<T>& factors, const BatchInputs<T>& inputs, T* u);

// Gradients given grad_u (B,T,D,K); every output is written (null: skipped).
template <class T>
void backward_batch(const Factorization<T>& factors, const T* grad_u, const BatchGradients<T>& gradients);

template <class T>
void forward_backward_batch(const Sizes& sizes, std::int64_t batch, const BatchInputs<T>& inputs, T* u,
                            const T* grad_u, const BatchGradients<T>& gradients);

}  // namespace mech::neurlp_core::hermite4
