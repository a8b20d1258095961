// The finite-difference stencil of the hermite4 formulation (solvers/README.md, "hermite4"): weights of the
// first derivative at a grid node from 5 neighbouring nodes of a non-uniform grid (Fornberg's
// weights; for the first derivative at a node they have the closed form of the Lagrange basis
// derivative used here), and their derivatives with respect to the step sizes, which backward needs
// because the steps are learnable. Written for a scalar or lane pack S like solvers/neurlp_system.h.
//
// Nodes x_0 .. x_{n-1} (n = min(5, T)), derivative at node x_i:
//     w_i = sum_{m != i} 1 / (x_i - x_m)
//     w_j = prod_{m != i, j} (x_i - x_m) / prod_{m != j} (x_j - x_m)      (j != i)
// The stencil is exact for polynomials of degree n-1, so its error is O(h^4) for n = 5: centred
// (i = 2) inside the grid, one-sided at the first and last two nodes.
// Derivatives (log-derivatives of the products above), with respect to the node x_k:
//     d w_i / d x_k = 1 / (x_i - x_k)^2                     (k != i),  minus their sum for k = i
//     d log w_j / d x_k = [k = i] sum_{m != i, j} 1/(x_i - x_m) - [k != i, j] 1/(x_i - x_k)
//                       - [k = j] sum_{m != j} 1/(x_j - x_m) + [k != j] 1/(x_j - x_k)
// The weights depend only on differences of nodes, so with x_0 fixed and x_k = x_0 + h_0 + ... +
// h_{k-1}:  d w / d h_s = sum_{k > s} d w / d x_k.
#pragma once

#include "solvers/lane_pack.h"

namespace mech::neurlp_core::hermite4 {

constexpr int kStencilNodes = 5;

template <class S>
struct Stencil {
  int first = 0;    // grid index of node 0
  int count = 0;    // nodes used, min(5, T)
  int centre = 0;   // position of the differentiated node among them
  S weight[kStencilNodes];
  S dweight[kStencilNodes][kStencilNodes - 1];   // d weight[j] / d step[first + s]
  // The steps the weights were made from: the weights depend on the steps only (not on where the
  // nodes are), so the next node with the same steps and position in its stencil reuses them
  // (every interior node of a uniform grid).
  S inverse[kStencilNodes][kStencilNodes];   // 1 / (x_j - x_m), for stencil_step_gradient
  S made_from[kStencilNodes - 1];
  int made_count = -1, made_centre = -1;
  bool made_derivatives = false;
};

// True when every lane of a equals b's.
template <class S>
MECH_HOST_DEVICE inline bool lanes_equal(const S& a, const S& b) {
  if constexpr (LaneTraits<S>::width == 1) {
    return a == b;
  } else {
    for (int lane = 0; lane < LaneTraits<S>::width; ++lane)
      if (!(a[lane] == b[lane])) return false;
    return true;
  }
}

// Which nodes the derivative at grid node t uses (T >= 2).
MECH_HOST_DEVICE inline void stencil_nodes(int T, int t, int& first, int& count, int& centre) {
  count = T < kStencilNodes ? T : kStencilNodes;
  first = t - kStencilNodes / 2;
  if (first < 0) first = 0;
  if (first > T - count) first = T - count;
  centre = t - first;
}

// Weights (and with Derivatives their step derivatives) at node t; `steps(s)` returns the step
// between grid nodes s and s+1.
template <bool Derivatives, class S, class StepAt>
MECH_HOST_DEVICE inline void make_stencil(int T, int t, StepAt&& steps, Stencil<S>& out) {
  stencil_nodes(T, t, out.first, out.count, out.centre);
  const int n = out.count, i = out.centre;
  S step[kStencilNodes - 1];
  for (int k = 0; k + 1 < n; ++k) step[k] = steps(out.first + k);
  if (out.made_count == n && out.made_centre == i && (out.made_derivatives || !Derivatives)) {
    bool same = true;
    for (int k = 0; k + 1 < n && same; ++k) same = lanes_equal(step[k], out.made_from[k]);
    if (same) return;
  }
  out.made_count = n;
  out.made_centre = i;
  out.made_derivatives = Derivatives;
  for (int k = 0; k + 1 < n; ++k) out.made_from[k] = step[k];
  S x[kStencilNodes];
  x[0] = S{};
  for (int k = 1; k < n; ++k) x[k] = x[k - 1] + step[k - 1];
  // inverse[j][m] = 1 / (x_j - x_m), j != m (antisymmetric). Divisions are slow on wide packs, so
  // the (at most 10) differences are inverted together with one division (prefix products,
  // Montgomery's trick), after scaling the nodes to [0, 1] so the products neither under- nor
  // overflow in float32.
  S (&inverse)[kStencilNodes][kStencilNodes] = out.inverse;
  {
    const S scale = splat<S>(1) / x[n - 1];
    S difference[kStencilNodes * (kStencilNodes - 1) / 2], prefix[kStencilNodes * (kStencilNodes - 1) / 2];
    int pairs = 0;
    S running = splat<S>(1);
    for (int j = 0; j < n; ++j)
      for (int m = j + 1; m < n; ++m) {
        difference[pairs] = (x[j] - x[m]) * scale;
        prefix[pairs] = running;   // product of the differences before this one
        running = running * difference[pairs];
        ++pairs;
      }
    S remaining = splat<S>(1) / running;   // 1 / (product of all)
    for (int j = n - 1, p = pairs - 1; j >= 0; --j)
      for (int m = n - 1; m > j; --m, --p) {
        const S value = remaining * prefix[p] * scale;   // 1 / (x_j - x_m)
        remaining = remaining * difference[p];
        inverse[j][m] = value;
        inverse[m][j] = -value;
      }
  }
  S centre_sum{};
  for (int m = 0; m < n; ++m)
    if (m != i) centre_sum += inverse[i][m];
  for (int j = 0; j < n; ++j) {
    if (j == i) {
      out.weight[j] = centre_sum;
      continue;
    }
    // prod_{m != i,j} (x_i - x_m) * prod_{m != j} 1/(x_j - x_m)
    S value = inverse[j][i];
    for (int m = 0; m < n; ++m)
      if (m != i && m != j) value = value * (x[i] - x[m]) * inverse[j][m];
    out.weight[j] = value;
  }
  if constexpr (Derivatives) {
    S by_node[kStencilNodes];   // d weight[j] / d x_k for the current j
    for (int j = 0; j < n; ++j) {
      if (j == i) {
        S total{};
        for (int k = 0; k < n; ++k) {
          if (k == i) continue;
          by_node[k] = inverse[i][k] * inverse[i][k];
          total += by_node[k];
        }
        by_node[i] = -total;
      } else {
        S sum_i{}, sum_j{};
        for (int m = 0; m < n; ++m) {
          if (m != i && m != j) sum_i += inverse[i][m];
          if (m != j) sum_j += inverse[j][m];
        }
        for (int k = 0; k < n; ++k) {
          S log_derivative{};
          if (k == i) log_derivative += sum_i;
          else if (k != j) log_derivative -= inverse[i][k];
          if (k == j) log_derivative -= sum_j;
          else log_derivative += inverse[j][k];
          by_node[k] = out.weight[j] * log_derivative;
        }
      }
      // suffix sums: d / d h_s = sum_{k > s} d / d x_k
      S suffix{};
      for (int s = n - 2; s >= 0; --s) {
        suffix += by_node[s + 1];
        out.dweight[j][s] = suffix;
      }
    }
  }
}

// Reverse mode of the weights: given a_j = dL/dw_j, adds dL/dh_s = sum_j a_j d w_j / d h_s to
// grad[s] for s < count-1, in O(n^2) instead of forming the n x (n-1) derivative matrix. With
// b_j = a_j w_j (j != i), c_k = sum_{m != k} 1/(x_k - x_m), and the log-derivatives above summed
// over j:
//   dL/dx_k = a_i / (x_i - x_k)^2 + sum_{j != i,k} b_j (1/(x_j - x_k) - 1/(x_i - x_k)) - b_k c_k   (k != i)
//   dL/dx_i = -a_i sum_{k != i} 1/(x_i - x_k)^2 + sum_{j != i} b_j (w_i - 2/(x_i - x_j))
template <class S>
MECH_HOST_DEVICE inline void stencil_step_gradient(const Stencil<S>& st, const S* a, S* grad) {
  const int n = st.count, i = st.centre;
  const auto& inv = st.inverse;
  S b[kStencilNodes];
  for (int j = 0; j < n; ++j) b[j] = j == i ? S{} : a[j] * st.weight[j];
  S by_node[kStencilNodes];
  S centre{}, squares{};
  for (int k = 0; k < n; ++k) {
    if (k == i) continue;
    const S square = inv[i][k] * inv[i][k];
    squares += square;
    centre += b[k] * (st.weight[i] - (inv[i][k] + inv[i][k]));
    S value = a[i] * square;
    S sum_k{};
    for (int m = 0; m < n; ++m)
      if (m != k) sum_k += inv[k][m];
    value -= b[k] * sum_k;
    for (int j = 0; j < n; ++j)
      if (j != i && j != k) value += b[j] * (inv[j][k] - inv[i][k]);
    by_node[k] = value;
  }
  by_node[i] = centre - a[i] * squares;
  S suffix{};
  for (int s = n - 2; s >= 0; --s) {
    suffix += by_node[s + 1];
    grad[s] += suffix;
  }
}

}  // namespace mech::neurlp_core::hermite4
