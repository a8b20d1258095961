// CUDA matmul through cuBLAS strided-batched GEMM (float32 and float64; the mapping of row-major
// strided operands onto column-major cuBLAS is cuda/gemm_plan.h), and conv1d forward/backward as
// direct kernels over cuda/conv_math.h (the per-element math the CPU tests also run).
#include "cuda/nvcc_fmt.h"  // first: before anything includes fmt

#include <climits>

#include "cuda/backend.h"
#include "cuda/conv_math.h"
#include "cuda/gemm_plan.h"
#include "cuda/runtime.h"

namespace mech::cuda {

namespace {

// A contiguous device copy of x (same dtype), for operands whose strides cuBLAS cannot take.
Tensor contiguous_copy(const Tensor& x) {
  Tensor result = empty(x.shape(), TensorOptions().dtype(x.dtype()).device(x.device()));
  copy(x, result);
  return result;
}

void check_fits_int(const char* op, std::int64_t value, const char* what) {
  MECH_CHECK(value <= INT_MAX, "{}: {} = {} exceeds cuBLAS's int range", op, what, value);
}

void run_gemm(const gemm::Plan& plan, std::int64_t batch, const Tensor& a, const Tensor& b, const Tensor& out) {
  const int device = out.device().index;
  DeviceGuard guard(device);
  cublasHandle_t handle = cublas_handle(device);
  const cublasOperation_t op_a = plan.transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = plan.transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  for (auto [value, name] : {std::pair{plan.m, "n"}, {plan.n, "m"}, {plan.k, "k"}, {plan.lda, "lda"},
                             {plan.ldb, "ldb"}, {plan.ldc, "ldc"}, {batch, "batch"}}) {
    check_fits_int("matmul", value, name);
  }
  const int m = static_cast<int>(plan.m), n = static_cast<int>(plan.n), k = static_cast<int>(plan.k);
  const int lda = static_cast<int>(plan.lda), ldb = static_cast<int>(plan.ldb), ldc = static_cast<int>(plan.ldc);
  const int count = static_cast<int>(batch);
  if (out.dtype() == DType::Float64) {
    const double alpha = 1.0, beta = 0.0;
    MECH_CUBLAS_CHECK(cublasDgemmStridedBatched(handle, op_a, op_b, m, n, k, &alpha, b.data_ptr<double>(), lda,
                                                plan.stride_a, a.data_ptr<double>(), ldb, plan.stride_b, &beta,
                                                out.data_ptr<double>(), ldc, plan.stride_c, count));
  } else {
    const float alpha = 1.0f, beta = 0.0f;
    MECH_CUBLAS_CHECK(cublasSgemmStridedBatched(handle, op_a, op_b, m, n, k, &alpha, b.data_ptr<float>(), lda,
                                                plan.stride_a, a.data_ptr<float>(), ldb, plan.stride_b, &beta,
                                                out.data_ptr<float>(), ldc, plan.stride_c, count));
  }
}

// ---- conv1d --------------------------------------------------------------------------------------

// One thread per output element (n, co, l) of out (N, Co, Lo).
template <class T>
__global__ void conv1d_forward_kernel(std::int64_t total, conv::Geometry g, const T* input, const T* weight,
                                      const T* bias, T* out) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
    const std::int64_t l = i % g.out_length;
    const std::int64_t co = (i / g.out_length) % g.out_channels;
    const std::int64_t n = i / (g.out_length * g.out_channels);
    out[n * g.output_strides[0] + co * g.output_strides[1] + l * g.output_strides[2]] =
        conv::output_element<T>(g, input, weight, bias, n, co, l);
  }
}

// One thread per input element (n, ci, j) of grad_input (N, Ci, L), written with its strides.
template <class T>
__global__ void conv1d_grad_input_kernel(std::int64_t total, conv::Geometry g, const T* grad_out, const T* weight,
                                         T* grad_input, std::int64_t s0, std::int64_t s1, std::int64_t s2) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
    const std::int64_t j = i % g.length;
    const std::int64_t ci = (i / g.length) % g.in_channels;
    const std::int64_t n = i / (g.length * g.in_channels);
    grad_input[n * s0 + ci * s1 + j * s2] = conv::grad_input_element<T>(g, grad_out, weight, n, ci, j);
  }
}

// One block per weight element (co, ci, k) of grad_weight (Co, Ci, K): threads split the N*Lo terms.
template <class T>
__global__ void conv1d_grad_weight_kernel(std::int64_t total, conv::Geometry g, const T* grad_out, const T* input,
                                          T* grad_weight, std::int64_t s0, std::int64_t s1, std::int64_t s2) {
  __shared__ T partial[kBlockSize];
  for (std::int64_t i = blockIdx.x; i < total; i += gridDim.x) {
    const std::int64_t k = i % g.taps;
    const std::int64_t ci = (i / g.taps) % g.in_channels;
    const std::int64_t co = i / (g.taps * g.in_channels);
    partial[threadIdx.x] = conv::grad_weight_partial<T>(g, grad_out, input, co, ci, k, threadIdx.x, blockDim.x);
    __syncthreads();
    for (int width = blockDim.x / 2; width > 0; width /= 2) {
      if (static_cast<int>(threadIdx.x) < width) partial[threadIdx.x] += partial[threadIdx.x + width];
      __syncthreads();
    }
    if (threadIdx.x == 0) grad_weight[co * s0 + ci * s1 + k * s2] = partial[0];
    __syncthreads();
  }
}

conv::Geometry make_geometry(const char* op, const Tensor& input, const Tensor& weight, const Tensor& output,
                             std::int64_t stride, std::int64_t padding, std::int64_t dilation, PaddingMode mode) {
  MECH_CHECK(input.dim() == 3 && weight.dim() == 3 && output.dim() == 3,
             "{}: expected input (N, C_in, L), weight (C_out, C_in, K) and output (N, C_out, L_out), got {}, {} "
             "and {}",
             op, shape_str(input.shape()), shape_str(weight.shape()), shape_str(output.shape()));
  MECH_CHECK(stride >= 1 && dilation >= 1 && padding >= 0,
             "{}: expected stride >= 1, dilation >= 1, padding >= 0, got {}, {}, {}", op, stride, dilation, padding);
  conv::Geometry g;
  g.batch = input.size(0);
  g.in_channels = input.size(1);
  g.length = input.size(2);
  g.out_channels = weight.size(0);
  g.taps = weight.size(2);
  g.out_length = output.size(2);
  g.stride = stride;
  g.padding = padding;
  g.dilation = dilation;
  g.circular = mode == PaddingMode::Circular;
  const std::int64_t expected_length = (g.length + 2 * padding - dilation * (g.taps - 1) - 1) / stride + 1;
  MECH_CHECK(weight.size(1) == g.in_channels && output.size(0) == g.batch && output.size(1) == g.out_channels &&
                 g.out_length == expected_length,
             "{}: inconsistent shapes: input {}, weight {}, output {} (expected output [{}, {}, {}])", op,
             shape_str(input.shape()), shape_str(weight.shape()), shape_str(output.shape()), g.batch,
             g.out_channels, expected_length);
  MECH_CHECK(!g.circular || padding <= g.length, "{}: circular padding {} exceeds the input length {}", op, padding,
             g.length);
  for (int d = 0; d < 3; ++d) {
    g.input_strides[d] = input.stride(d);
    g.weight_strides[d] = weight.stride(d);
    g.output_strides[d] = output.stride(d);
  }
  return g;
}

}  // namespace

void matmul(const Tensor& a, const Tensor& b, const Tensor& out) {
  check_on_device("cuda::matmul", out, {&a, &b});
  MECH_CHECK(a.dim() == 3 && b.dim() == 3 && out.dim() == 3 && a.size(0) == b.size(0) &&
                 a.size(0) == out.size(0) && a.size(2) == b.size(1) && out.size(1) == a.size(1) &&
                 out.size(2) == b.size(2) && out.is_contiguous(),
             "matmul: expected a (batch, m, k), b (batch, k, n) and a contiguous out (batch, m, n), got {}, {} and {}",
             shape_str(a.shape()), shape_str(b.shape()), shape_str(out.shape()));
  MECH_CHECK(a.dtype() == out.dtype() && b.dtype() == out.dtype() && is_floating(out.dtype()),
             "matmul: expected float32 or float64 operands of one dtype, got {}, {} and {}", dtype_name(a.dtype()),
             dtype_name(b.dtype()), dtype_name(out.dtype()));
  const std::int64_t batch = a.size(0), m = a.size(1), k = a.size(2), n = b.size(2);
  if (batch == 0 || m == 0 || n == 0) return;
  if (k == 0) {
    fill(out, 0.0);  // an empty sum
    return;
  }
  Tensor left = a, right = b;
  for (int attempt = 0; attempt < 2; ++attempt) {
    const std::int64_t a_strides[3] = {left.stride(0), left.stride(1), left.stride(2)};
    const std::int64_t b_strides[3] = {right.stride(0), right.stride(1), right.stride(2)};
    gemm::Plan plan;
    bool a_usable = false, b_usable = false;
    if (gemm::make_plan(m, k, n, a_strides, b_strides, plan, a_usable, b_usable)) {
      run_gemm(plan, batch, left, right, out);
      return;
    }
    // Strides that fit neither layout: copy those operands, after which the plan always exists.
    if (!a_usable) left = contiguous_copy(left);
    if (!b_usable) right = contiguous_copy(right);
  }
  throw Error(fmt::format("matmul: internal error: no GEMM plan for contiguous operands {} and {}",
                          shape_str(a.shape()), shape_str(b.shape())));
}

void conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Tensor& out,
            std::int64_t stride, std::int64_t padding, std::int64_t dilation, PaddingMode mode) {
  check_on_device("cuda::conv1d", out, {&input, &weight, &bias});
  const conv::Geometry g = make_geometry("conv1d", input, weight, out, stride, padding, dilation, mode);
  Tensor bias_contiguous;
  if (bias.defined()) {
    MECH_CHECK(bias.dim() == 1 && bias.size(0) == g.out_channels, "conv1d: expected bias of shape [{}], got {}",
               g.out_channels, shape_str(bias.shape()));
    bias_contiguous = bias.is_contiguous() ? bias : contiguous_copy(bias);
  }
  const std::int64_t total = out.numel();
  if (total == 0) return;
  const int device = out.device().index;
  DeviceGuard guard(device);
  MECH_DISPATCH_FLOAT(out.dtype(), "cuda::conv1d", [&]<class T>() {
    const T* bias_data = bias_contiguous.defined() ? bias_contiguous.data_ptr<T>() : nullptr;
    conv1d_forward_kernel<T><<<grid_for(total), kBlockSize, 0, stream(device)>>>(
        total, g, input.data_ptr<T>(), weight.data_ptr<T>(), bias_data, out.data_ptr<T>());
    MECH_CUDA_CHECK_LAUNCH("conv1d_forward");
  });
}

void conv1d_backward(const Tensor& grad_out, const Tensor& input, const Tensor& weight, const Tensor& grad_input,
                     const Tensor& grad_weight, std::int64_t stride, std::int64_t padding, std::int64_t dilation,
                     PaddingMode mode) {
  check_on_device("cuda::conv1d_backward", grad_out, {&input, &weight, &grad_input, &grad_weight});
  const conv::Geometry g = make_geometry("conv1d_backward", input, weight, grad_out, stride, padding, dilation, mode);
  const int device = grad_out.device().index;
  DeviceGuard guard(device);
  MECH_DISPATCH_FLOAT(grad_out.dtype(), "cuda::conv1d_backward", [&]<class T>() {
    if (grad_input.defined() && grad_input.numel() > 0) {
      MECH_CHECK(grad_input.shape() == input.shape(), "conv1d_backward: grad_input shape {} differs from input {}",
                 shape_str(grad_input.shape()), shape_str(input.shape()));
      const std::int64_t total = grad_input.numel();
      conv1d_grad_input_kernel<T><<<grid_for(total), kBlockSize, 0, stream(device)>>>(
          total, g, grad_out.data_ptr<T>(), weight.data_ptr<T>(), grad_input.data_ptr<T>(), grad_input.stride(0),
          grad_input.stride(1), grad_input.stride(2));
      MECH_CUDA_CHECK_LAUNCH("conv1d_grad_input");
    }
    if (grad_weight.defined() && grad_weight.numel() > 0) {
      MECH_CHECK(grad_weight.shape() == weight.shape(),
                 "conv1d_backward: grad_weight shape {} differs from weight {}", shape_str(grad_weight.shape()),
                 shape_str(weight.shape()));
      const std::int64_t total = grad_weight.numel();
      const unsigned blocks = static_cast<unsigned>(std::min<std::int64_t>(total, 132 * 32));
      conv1d_grad_weight_kernel<T><<<blocks, kBlockSize, 0, stream(device)>>>(
          total, g, grad_out.data_ptr<T>(), input.data_ptr<T>(), grad_weight.data_ptr<T>(), grad_weight.stride(0),
          grad_weight.stride(1), grad_weight.stride(2));
      MECH_CUDA_CHECK_LAUNCH("conv1d_grad_weight");
    }
  });
}

}  // namespace mech::cuda
