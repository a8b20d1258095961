// Helpers shared by the NeuRLP solver tests (tests/solvers, tests/cuda): random well-posed
// problems in the raw (B, ...) layout with random upstream gradients, the CPU batch driver's
// float64 forward + backward as the reference other solvers are held to, relative error measures,
// and a minimal float64 .npy reader for the frozen reference data (independent of core/npy.h, so
// these tests check the solver and not the reader).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "solvers/neurlp_batch.h"

namespace mech::neurlp_core::testing {

struct Problem {
  Sizes sizes;
  std::int64_t batch = 1;
  std::vector<double> coeffs, rhs, iv, steps;

  BatchInputs<double> inputs() const {
    return {coeffs.data(), rhs.data(), iv.empty() ? nullptr : iv.data(), steps.data()};
  }
  SystemInputs<double> system(std::int64_t b) const {
    const Sizes& z = sizes;
    const std::int64_t nc = std::int64_t(z.E) * z.T * z.D * z.K, nr = std::int64_t(z.E) * z.T,
                       ni = std::int64_t(z.S) * z.D * z.n_iv, ns = std::int64_t(z.T - 1) * z.D;
    return {coeffs.data() + b * nc, rhs.data() + b * nr, iv.empty() ? nullptr : iv.data() + b * ni,
            steps.data() + b * ns};
  }
};

// Random coefficients in [-1, 1] with the highest derivative's coefficient pushed away from zero,
// so the equations pin the top derivative; steps in [h_low, h_high].
inline Problem random_problem(Sizes sizes, std::int64_t batch, unsigned seed, double h_low = 0.05,
                              double h_high = 0.2) {
  std::mt19937_64 engine(seed);
  std::uniform_real_distribution<double> unit(-1.0, 1.0), step(h_low, h_high);
  Problem problem;
  problem.sizes = sizes;
  problem.batch = batch;
  const int K = sizes.K, D = sizes.D;
  problem.coeffs.resize(batch * sizes.E * sizes.T * D * K);
  for (std::size_t i = 0; i < problem.coeffs.size(); ++i) {
    double value = unit(engine);
    if (int(i % K) == K - 1) value = (value < 0 ? -1.0 : 1.0) * (1.0 + std::abs(value));
    problem.coeffs[i] = value;
  }
  problem.rhs.resize(batch * sizes.E * sizes.T);
  for (double& value : problem.rhs) value = unit(engine);
  problem.iv.resize(batch * sizes.S * D * sizes.n_iv);
  for (double& value : problem.iv) value = unit(engine);
  problem.steps.resize(batch * (sizes.T - 1) * D);
  for (double& value : problem.steps) value = step(engine);
  return problem;
}

// Uniform in [-1, 1]: upstream gradients and other free vectors.
inline std::vector<double> random_vector(std::size_t n, unsigned seed) {
  std::mt19937_64 engine(seed);
  std::uniform_real_distribution<double> unit(-1.0, 1.0);
  std::vector<double> values(n);
  for (double& value : values) value = unit(engine);
  return values;
}

// The row weights scalable test problems use: none of them 1, and all different, so a weight
// applied to the wrong row group changes the solution (mnn ignores them).
constexpr double kTestEquationWeight = 1.5, kTestInitialWeight = 2.0, kTestSmoothWeight = 0.7;

// Sizes of a test problem of order P = `order` (K = P + 1); scalable ones get the test weights.
inline Sizes sizes_of(int T, int D, int order, int E, int S, int n_iv, Formulation formulation) {
  Sizes z;
  z.T = T;
  z.D = D;
  z.K = order + 1;
  z.E = E;
  z.S = S;
  z.n_iv = n_iv;
  z.formulation = formulation;
  if (formulation == Formulation::Scalable) {
    z.equation_weight = kTestEquationWeight;
    z.initial_weight = kTestInitialWeight;
    z.smooth_weight = kTestSmoothWeight;
  }
  return z;
}

// The common case: order `order` in D dims with E = D and one initial-value point fixing every
// derivative below the order.
inline Sizes sizes_of_order(int order, int D, Formulation formulation, int T) {
  return sizes_of(T, D, order, D, 1, order, formulation);
}

// A random problem and random upstream gradients of u and eps, drawn in that order from the
// seeds ++seed, ++seed, ++seed (so a loop over cases passes one counter along).
struct GradientCase {
  Problem problem;
  std::vector<double> grad_u, grad_eps;
};

inline GradientCase random_gradient_case(const Sizes& sizes, std::int64_t batch, unsigned& seed, double h_low,
                                         double h_high) {
  GradientCase out;
  out.problem = random_problem(sizes, batch, ++seed, h_low, h_high);
  out.grad_u = random_vector(static_cast<std::size_t>(batch * sizes.solution_size()), ++seed);
  out.grad_eps = random_vector(static_cast<std::size_t>(batch), ++seed);
  return out;
}

// A batch's solution and the four input gradients, flat in the batch-major layouts, in float64.
struct Solution {
  std::vector<double> u, eps, coeffs, rhs, iv, steps;
};

// The CPU batch driver in float64 (the reference: itself checked against a dense solve and the
// published solver's outputs in tests/solvers): forward, then backward from grad_u and grad_eps.
inline Solution solve_sequential(const Problem& p, const std::vector<double>& grad_u,
                                 const std::vector<double>& grad_eps) {
  const Sizes& z = p.sizes;
  Solution out;
  out.u.resize(static_cast<std::size_t>(p.batch * z.solution_size()));
  out.eps.resize(static_cast<std::size_t>(p.batch));
  auto factors = forward_batch<double>(z, p.batch, p.inputs(), out.u.data(), out.eps.data(), true);
  out.coeffs.resize(p.coeffs.size());
  out.rhs.resize(p.rhs.size());
  out.iv.resize(p.iv.size());
  out.steps.resize(p.steps.size());
  backward_batch<double>(*factors, p.inputs(), out.u.data(), out.eps.data(), grad_u.data(), grad_eps.data(),
                         {out.coeffs.data(), out.rhs.data(), out.iv.empty() ? nullptr : out.iv.data(),
                          out.steps.data()});
  return out;
}

inline double max_abs(const std::vector<double>& values) {
  double out = 0.0;
  for (double value : values) out = std::max(out, std::abs(value));
  return out;
}

// max |a - b| / max |b| (relative to the reference's scale; 0/0 counts as 0).
inline double relative_error(const double* a, const double* b, std::size_t count) {
  double difference = 0.0, scale = 0.0;
  for (std::size_t i = 0; i < count; ++i) {
    difference = std::max(difference, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  return scale == 0.0 ? difference : difference / scale;
}
inline double relative_error(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return INFINITY;
  return relative_error(a.data(), b.data(), a.size());
}

// Every field of `got` within `tolerance` of `want` (relative_error), each failure naming `what`
// and the field.
inline void expect_agree(const Solution& got, const Solution& want, double tolerance, const std::string& what) {
  EXPECT_LE(relative_error(got.u, want.u), tolerance) << what << ": u";
  EXPECT_LE(relative_error(got.eps, want.eps), tolerance) << what << ": eps";
  EXPECT_LE(relative_error(got.coeffs, want.coeffs), tolerance) << what << ": d coeffs";
  EXPECT_LE(relative_error(got.rhs, want.rhs), tolerance) << what << ": d rhs";
  EXPECT_LE(relative_error(got.iv, want.iv), tolerance) << what << ": d iv";
  EXPECT_LE(relative_error(got.steps, want.steps), tolerance) << what << ": d steps";
}

// A '<f8' C-order .npy file: shape and values.
struct NpyArray {
  std::vector<std::int64_t> shape;
  std::vector<double> values;
};

inline NpyArray read_npy_f8(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error("cannot open " + path);
  std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (bytes.size() < 10 || bytes.compare(1, 5, "NUMPY") != 0) throw std::runtime_error("not .npy: " + path);
  const int major = static_cast<unsigned char>(bytes[6]);
  std::size_t header_length, start;
  if (major == 1) {
    header_length = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    start = 10;
  } else {
    header_length = 0;
    for (int i = 0; i < 4; ++i) header_length |= std::size_t(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
    start = 12;
  }
  const std::string header = bytes.substr(start, header_length);
  if (header.find("'<f8'") == std::string::npos || header.find("'fortran_order': False") == std::string::npos)
    throw std::runtime_error("expected C-order <f8 in " + path + ": " + header);
  NpyArray array;
  const std::size_t open = header.find('(', header.find("'shape'"));
  const std::size_t close = header.find(')', open);
  std::stringstream dims(header.substr(open + 1, close - open - 1));
  std::string item;
  std::int64_t count = 1;
  while (std::getline(dims, item, ','))
    if (item.find_first_not_of(' ') != std::string::npos) {
      array.shape.push_back(std::stoll(item));
      count *= array.shape.back();
    }
  const std::size_t data = start + header_length;
  if (bytes.size() < data + count * 8) throw std::runtime_error("truncated " + path);
  array.values.resize(count);
  std::copy(bytes.data() + data, bytes.data() + data + count * 8, reinterpret_cast<char*>(array.values.data()));
  return array;
}

}  // namespace mech::neurlp_core::testing
