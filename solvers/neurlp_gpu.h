// NeuRLP on the GPU, every formulation: the raw-array batch API of solvers/neurlp_batch.h with
// device pointers, running the per-system code of solvers/neurlp_system.h (mnn, scalable) or
// solvers/hermite4_rows.h (hermite4) - the same __host__ __device__ source the CPU tests cover -
// one GPU thread per system: assembly, envelope Cholesky, eps border elimination, substitutions
// and the backward, each one kernel launch for the whole batch (no host loop over time steps). A
// build without CUDA links throwing stubs (solvers/neurlp_gpu_stubs.cpp).
//
// mnn and scalable have two paths, chosen by shape (choose_chunks below): one thread per system
// (the sequential sweep over T), or the parallel-in-time solve of solvers/neurlp_chunked.h, one
// thread per (system, chunk) and a per-system reduced system, for batches too small to occupy the
// GPU. Forcing a path (tests, benchmarks): MECH_NEURLP_CHUNKS=auto|0|N in the environment (0: one
// thread per system, N: N chunks), or a ChunkOverride in scope on the calling thread, which wins
// over the variable. hermite4 always runs one thread per system (the chunked rows are mnn's and
// scalable's), keeping its solution with the latent derivative for the backward.
//
// Layouts as on the CPU, all contiguous device arrays: coeffs (B,E,T,D,K), rhs (B,E,T),
// iv (B,S,D,n_iv), steps (B,T-1,D), u (B,T,D,K), eps (B; hermite4 writes zeros).
//
//   auto factors = mech::neurlp_gpu::forward_batch<double>(sizes, B, inputs, u, eps, true, 0);
//   mech::neurlp_gpu::backward_batch<double>(*factors, inputs, u, eps, grad_u, grad_eps, grads);
//
// Failures (non-finite input, non-positive step, singular system) throw mech::SolverError naming
// the first failing batch element, after the kernel has run for all of them.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>

#include "cuda/backend.h"
#include "core/error.h"
#include "solvers/neurlp_batch.h"
#include "solvers/neurlp_chunked.h"

namespace mech::neurlp_gpu {

using neurlp_core::BatchGradients;
using neurlp_core::BatchInputs;
using neurlp_core::Sizes;

// A device allocation from the caching allocator, released with its owner.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(std::size_t nbytes, int device)
      : data_(cuda::allocate(nbytes, device)), nbytes_(nbytes), device_(device) {}
  ~DeviceBuffer() { cuda::release(data_, nbytes_, device_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& other) noexcept { swap(other); }
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    DeviceBuffer moved(std::move(other));
    swap(moved);
    return *this;
  }
  void swap(DeviceBuffer& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(nbytes_, other.nbytes_);
    std::swap(device_, other.device_);
  }
  template <class T> T* as() const { return static_cast<T*>(data_); }
  std::size_t bytes() const { return nbytes_; }

 private:
  void* data_ = nullptr;
  std::size_t nbytes_ = 0;
  int device_ = 0;
};

// The envelope structure of M_uu for one shape on one device (first column and start of each row
// of L), shared by every system and every call with that shape: built once and cached.
struct DeviceEnvelope {
  std::int64_t size = 0;   // stored entries of one system's L
  DeviceBuffer first;      // int, n
  DeviceBuffer offset;     // int64, n
};

// The structure of the chunked solve for one shape and chunk count on one device (the
// neurlp_chunked::Plan's arrays), shared like DeviceEnvelope.
struct DeviceChunkStructure {
  int chunks = 1;
  std::int64_t size = 0, reduced_size = 0;
  DeviceBuffer begin;                               // int, chunks + 1
  DeviceBuffer first, offset;                       // M_uu's envelope (int n, int64 n)
  DeviceBuffer clipped_first, clipped_offset;       // the interiors' clipped view
  DeviceBuffer reduced_first, reduced_offset;       // R's envelope
};

// The factors of every system of a batch, on the device: the envelope structure (shared), and per
// system L (envelope), 1/diag(L), z2 = L^{-1} w and the border Schur complement. The chunked path
// (chunks >= 1) keeps its structure, the spikes, the reduced factor and its scratch as well.
template <class T>
struct DeviceFactorization {
  Sizes sizes;
  std::int64_t batch = 0;
  int device = 0;
  int chunks = 0;                   // 0: one thread per system; >= 1: the chunked path
  std::shared_ptr<const DeviceEnvelope> structure;
  std::shared_ptr<const DeviceChunkStructure> chunk_structure;   // chunked only
  DeviceBuffer env;                 // T, batch * structure->size
  DeviceBuffer inverse_diagonal;    // T, batch * n
  DeviceBuffer z2;                  // T, batch * n (mnn only)
  DeviceBuffer schur;               // T, batch (mnn only)
  DeviceBuffer latent;              // T, batch * n (hermite4 only: the solution with its latent derivative)
  // chunked only (sizes per system from neurlp_chunked::extents)
  DeviceBuffer spike_left, spike_right, reduced, reduced_inverse_diagonal, records, reduced_vectors;
  std::int64_t bytes() const {  // per-batch memory (the cached structure not counted)
    return static_cast<std::int64_t>(env.bytes() + inverse_diagonal.bytes() + z2.bytes() + schur.bytes() +
                                     latent.bytes() + spike_left.bytes() + spike_right.bytes() + reduced.bytes() +
                                     reduced_inverse_diagonal.bytes() + records.bytes() + reduced_vectors.bytes());
  }
};

// ---- choosing between one thread per system and the chunked path ---------------------------

inline constexpr int kAutomaticChunks = -1;

// The chunk count for B systems of T points on a GPU with `multiprocessors` SMs (0: one thread
// per system). `requested` >= 0 is kept, clipped to what T allows (neurlp_chunked::max_chunks);
// kAutomaticChunks picks by shape. The model behind the automatic choice (not yet timed on a GPU:
// tools/gpu-check's timings print both paths at several C next to the automatic one): every
// thread is one long dependent chain, so while fewer threads run than the GPU keeps in flight the
// time is about the longest chain. One thread per system is kept once the batch alone gives each
// SM about 8 warps (B >= 256 * SMs). Below that, chunking costs ~1.5x the arithmetic and shortens
// the chain most near C ~ sqrt(T) (measured on one CPU core at T=1000: 4.7x shorter at C=8, 8.6x
// at C=32, 6.1x at C=64, where the per-system reduced phase starts to dominate; see
// solvers/neurlp_chunked.h), capped where B * C would exceed ~1024 threads per SM; T below 32
// stays one thread per system.
inline int choose_chunks(std::int64_t batch, int T, int multiprocessors, int requested) {
  const int most = neurlp_chunked::max_chunks(T);
  if (requested >= 0) {
    const int chunks = std::min(requested, most);
    return chunks >= 2 || requested == 1 ? chunks : 0;
  }
  const std::int64_t sms = std::max(1, multiprocessors);
  if (T < 32 || batch >= 256 * sms) return 0;
  const auto balanced = static_cast<std::int64_t>(std::lround(std::sqrt(static_cast<double>(T))));
  const std::int64_t fits = std::max<std::int64_t>(1, 1024 * sms / std::max<std::int64_t>(batch, 1));
  const auto chunks = static_cast<int>(std::min<std::int64_t>({balanced, fits, most}));
  return chunks >= 2 ? chunks : 0;
}

// "auto" -> kAutomaticChunks, "N" (N >= 0) -> N; anything else throws mech::Error.
inline int parse_chunk_request(const std::string& text) {
  if (text == "auto") return kAutomaticChunks;
  char* end = nullptr;
  const long value = std::strtol(text.c_str(), &end, 10);
  MECH_CHECK(!text.empty() && end != nullptr && *end == '\0' && value >= 0 && value <= 1000000,
             "neurlp (cuda): MECH_NEURLP_CHUNKS must be auto, 0 (one thread per system) or a chunk count, got '{}'",
             text);
  return static_cast<int>(value);
}

namespace detail {
inline int& forced_chunks() {
  thread_local int forced = kAutomaticChunks - 1;   // below every valid request: nothing forced
  return forced;
}
}  // namespace detail

// Forces the chunk count of this thread's solves while in scope (0: one thread per system,
// N >= 1: N chunks, kAutomaticChunks: by shape, ignoring MECH_NEURLP_CHUNKS). Nests.
class ChunkOverride {
 public:
  explicit ChunkOverride(int chunks) : previous_(detail::forced_chunks()) { detail::forced_chunks() = chunks; }
  ~ChunkOverride() { detail::forced_chunks() = previous_; }
  ChunkOverride(const ChunkOverride&) = delete;
  ChunkOverride& operator=(const ChunkOverride&) = delete;

 private:
  int previous_;
};

// What the caller asked for: a ChunkOverride in scope, else MECH_NEURLP_CHUNKS, else automatic.
inline int requested_chunks() {
  if (detail::forced_chunks() >= kAutomaticChunks) return detail::forced_chunks();
  const char* text = std::getenv("MECH_NEURLP_CHUNKS");
  return text != nullptr ? parse_chunk_request(text) : kAutomaticChunks;
}

// Solves the batch (device pointers): writes u and eps; returns the factors when keep_factors.
// The path (one thread per system or chunked) follows choose_chunks(batch, T, SMs, requested_chunks()).
template <class T>
std::shared_ptr<DeviceFactorization<T>> forward_batch(const Sizes& sizes, std::int64_t batch,
                                                      const BatchInputs<T>& inputs, T* u, T* eps,
                                                      bool keep_factors, int device);

// Gradients (device pointers) given grad_u (B,T,D,K) and grad_eps (B, may be null: zero) at the
// solution the forward returned; any gradient pointer may be null (not computed).
template <class T>
void backward_batch(const DeviceFactorization<T>& factors, const BatchInputs<T>& inputs, const T* u,
                    const T* eps, const T* grad_u, const T* grad_eps, const BatchGradients<T>& gradients);

// The explicit instantiations of the entry points for one dtype: one list for solvers/neurlp_gpu.cu
// and the throwing stubs of a build without CUDA (solvers/neurlp_gpu_stubs.cpp).
#define MECH_NEURLP_GPU_INSTANTIATE(T)                                                                          \
  template std::shared_ptr<DeviceFactorization<T>> forward_batch<T>(const Sizes&, std::int64_t,                \
                                                                    const BatchInputs<T>&, T*, T*, bool, int); \
  template void backward_batch<T>(const DeviceFactorization<T>&, const BatchInputs<T>&, const T*, const T*,    \
                                  const T*, const T*, const BatchGradients<T>&);

}  // namespace mech::neurlp_gpu
