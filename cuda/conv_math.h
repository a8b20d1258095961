// Per-element conv1d forward and backward, written once for host and device: each CUDA thread (or
// block, for grad_weight) evaluates one of these, and the CPU tests evaluate the same functions
// over every element and compare with core's CPU conv1d. Inputs may have any strides.
//
// Legend: N batch, Ci input channels, Co output channels, L input length, K kernel taps,
// Lo output length = (L + 2 padding - dilation (K - 1) - 1) / stride + 1.
// Output l reads input position q = l*stride + k*dilation - padding; with zero padding positions
// outside [0, L) read 0, with circular padding they wrap modulo L.
#pragma once

#include <cstdint>

#include "cuda/layout.h"

namespace mech::cuda::conv {

struct Geometry {
  std::int64_t batch = 0, in_channels = 0, out_channels = 0, length = 0, taps = 0, out_length = 0;
  std::int64_t stride = 1, padding = 0, dilation = 1;
  bool circular = false;
  std::int64_t input_strides[3] = {};   // (N, Ci, L)
  std::int64_t weight_strides[3] = {};  // (Co, Ci, K)
  std::int64_t output_strides[3] = {};  // (N, Co, Lo): out in forward, grad_out in backward
};

MECH_HOST_DEVICE inline std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  const std::int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// Input index read at position q, or -1 where zero padding reads nothing.
MECH_HOST_DEVICE inline std::int64_t source_position(const Geometry& g, std::int64_t q) {
  if (q >= 0 && q < g.length) return q;
  if (!g.circular) return -1;
  const std::int64_t wrapped = q % g.length;
  return wrapped < 0 ? wrapped + g.length : wrapped;
}

// out[n][co][l] = bias[co] + sum_{ci, k} weight[co][ci][k] input[n][ci][q(l, k)]; bias may be null.
template <class T>
MECH_HOST_DEVICE inline T output_element(const Geometry& g, const T* input, const T* weight, const T* bias,
                                         std::int64_t n, std::int64_t co, std::int64_t l) {
  T total = T(0);
  for (std::int64_t ci = 0; ci < g.in_channels; ++ci) {
    const T* input_row = input + n * g.input_strides[0] + ci * g.input_strides[1];
    const T* weight_row = weight + co * g.weight_strides[0] + ci * g.weight_strides[1];
    for (std::int64_t k = 0; k < g.taps; ++k) {
      const std::int64_t position = source_position(g, l * g.stride + k * g.dilation - g.padding);
      if (position < 0) continue;
      total += weight_row[k * g.weight_strides[2]] * input_row[position * g.input_strides[2]];
    }
  }
  return bias != nullptr ? total + bias[co] : total;
}

// grad_input[n][ci][j] = sum over (co, k, l) whose position q(l, k) reads j of
// weight[co][ci][k] grad_out[n][co][l]. Positions that read j are q = j + m L for integer m in
// the padded range (only m = 0 with zero padding).
template <class T>
MECH_HOST_DEVICE inline T grad_input_element(const Geometry& g, const T* grad_out, const T* weight,
                                             std::int64_t n, std::int64_t ci, std::int64_t j) {
  const std::int64_t lowest = -g.padding;
  const std::int64_t highest = (g.out_length - 1) * g.stride + (g.taps - 1) * g.dilation - g.padding;
  std::int64_t first_wrap = 0, last_wrap = 0;
  if (g.circular) {
    first_wrap = -floor_div(j - lowest, g.length);  // smallest m with j + m L >= lowest
    last_wrap = floor_div(highest - j, g.length);
  }
  T total = T(0);
  for (std::int64_t wrap = first_wrap; wrap <= last_wrap; ++wrap) {
    const std::int64_t q = j + wrap * g.length;
    for (std::int64_t k = 0; k < g.taps; ++k) {
      const std::int64_t scaled = q + g.padding - k * g.dilation;  // = l * stride
      if (scaled < 0 || scaled % g.stride != 0) continue;
      const std::int64_t l = scaled / g.stride;
      if (l >= g.out_length) continue;
      for (std::int64_t co = 0; co < g.out_channels; ++co) {
        total += weight[co * g.weight_strides[0] + ci * g.weight_strides[1] + k * g.weight_strides[2]] *
                 grad_out[n * g.output_strides[0] + co * g.output_strides[1] + l * g.output_strides[2]];
      }
    }
  }
  return total;
}

// Part of grad_weight[co][ci][k] = sum_{n, l} grad_out[n][co][l] input[n][ci][q(l, k)]: the terms
// whose flattened index i = n Lo + l runs over first, first + step, ... < N Lo (a thread's share).
template <class T>
MECH_HOST_DEVICE inline T grad_weight_partial(const Geometry& g, const T* grad_out, const T* input,
                                              std::int64_t co, std::int64_t ci, std::int64_t k,
                                              std::int64_t first, std::int64_t step) {
  T total = T(0);
  const std::int64_t count = g.batch * g.out_length;
  for (std::int64_t i = first; i < count; i += step) {
    const std::int64_t n = i / g.out_length;
    const std::int64_t l = i - n * g.out_length;
    const std::int64_t position = source_position(g, l * g.stride + k * g.dilation - g.padding);
    if (position < 0) continue;
    total += grad_out[n * g.output_strides[0] + co * g.output_strides[1] + l * g.output_strides[2]] *
             input[n * g.input_strides[0] + ci * g.input_strides[1] + position * g.input_strides[2]];
  }
  return total;
}

}  // namespace mech::cuda::conv
