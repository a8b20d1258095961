// Element types (float32, float64, int64), devices (CPU, CUDA) and the dispatch macro that turns a
// runtime dtype into a C++ type for a kernel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"

namespace mech {

enum class DType : std::uint8_t { Float32, Float64, Int64 };

constexpr std::size_t dtype_size(DType dtype) { return dtype == DType::Float32 ? 4 : 8; }
constexpr bool is_floating(DType dtype) { return dtype != DType::Int64; }
const char* dtype_name(DType dtype);  // "float32", "float64", "int64"

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::Float32; }
template <> constexpr DType dtype_of<double>() { return DType::Float64; }
template <> constexpr DType dtype_of<std::int64_t>() { return DType::Int64; }

enum class DeviceType : std::uint8_t { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  static Device cpu() { return {DeviceType::CPU, 0}; }
  static Device cuda(int index = 0) { return {DeviceType::CUDA, index}; }
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  std::string str() const;  // "cpu", "cuda:0"
  // Parses "cpu", "cuda" or "cuda:N"; throws mech::Error on anything else.
  static Device parse(const std::string& text);
  friend bool operator==(const Device& a, const Device& b) {
    return a.type == b.type && (a.type == DeviceType::CPU || a.index == b.index);
  }
};

}  // namespace mech

// MECH_DISPATCH_FLOAT(dtype, "op", [&]<class T>() { ... }) calls the lambda with T = float or double.
#define MECH_DISPATCH_FLOAT(dtype, op_name, ...)                                               \
  [&] {                                                                                         \
    switch (dtype) {                                                                            \
      case ::mech::DType::Float32: return (__VA_ARGS__).template operator()<float>();           \
      case ::mech::DType::Float64: return (__VA_ARGS__).template operator()<double>();          \
      default:                                                                                  \
        throw ::mech::Error(::fmt::format("{}: expected a float32 or float64 tensor, got {}", \
                                          op_name, ::mech::dtype_name(dtype)));                 \
    }                                                                                           \
  }()

// As MECH_DISPATCH_FLOAT, with T = std::int64_t allowed too.
#define MECH_DISPATCH_ALL(dtype, op_name, ...)                                         \
  [&] {                                                                                 \
    switch (dtype) {                                                                    \
      case ::mech::DType::Float32: return (__VA_ARGS__).template operator()<float>();   \
      case ::mech::DType::Float64: return (__VA_ARGS__).template operator()<double>();  \
      case ::mech::DType::Int64: return (__VA_ARGS__).template operator()<std::int64_t>(); \
    }                                                                                   \
    throw ::mech::Error(::fmt::format("{}: unknown dtype", op_name));                   \
  }()
