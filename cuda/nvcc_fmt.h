// Makes fmt (v9) usable from CUDA translation units. fmt turns its constexpr support off when it
// sees __NVCC__, and then its C++20 consteval format-string check calls non-constexpr functions,
// which nvcc rejects ("call to consteval function ... did not produce a valid constant
// expression"). With constexpr forced on, nvcc compiles fmt exactly as g++ TUs see it.
// Include this FIRST in every .cu file (before anything that includes fmt).
// (A CMake-level fix would be target_compile_definitions(... $<$<COMPILE_LANGUAGE:CUDA>:FMT_USE_CONSTEXPR=1>).)
#pragma once

#if defined(__NVCC__) && !defined(FMT_USE_CONSTEXPR)
#define FMT_USE_CONSTEXPR 1
#endif
