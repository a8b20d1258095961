// NumPy .npy files: float32, float64 and int64 arrays. Reading takes what numpy.save writes: format
// versions 1.0, 2.0 and 3.0, C or Fortran order (numpy writes a transposed array in Fortran order),
// little- or big-endian elements ('<f8', '>f8', '<f4', '>f4', '<i8', '>i8'); the tensor read is
// always mech's own layout, C order and native byte order. Writing produces the bytes numpy.save
// does for a little-endian C-order array.
//
//   mech::save_npy("u.npy", u);                 // any device, any strides: copied to CPU, C order
//   mech::Tensor coefficients = mech::load_npy("coeffs.npy");
//
// Every failure (missing file, wrong magic, truncated header or data, unsupported dtype, malformed
// header dict, size mismatch, absurd sizes) throws mech::IoError naming the file and what is wrong.
// A corrupt header never causes a large allocation: sizes are checked against the bytes actually
// present before any tensor is created.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/dtype.h"
#include "core/shape.h"
#include "core/tensor.h"

namespace mech {

// What an .npy header says.
struct NpyHeader {
  int major_version = 1;
  int minor_version = 0;
  DType dtype = DType::Float32;
  bool big_endian = false;     // '>' in the descr: each element's bytes are reversed on reading
  bool fortran_order = false;  // the data lists the elements first index fastest
  Shape shape;
  std::size_t data_offset = 0;  // bytes from the start of the file to the first element
  std::size_t data_bytes = 0;   // numel * element size
};

// The largest header accepted. NumPy's own reader stops at 10000 bytes unless told otherwise; a
// header for our three dtypes and up to kNpyMaxDims dimensions is far smaller than this.
inline constexpr std::size_t kNpyMaxHeaderBytes = std::size_t{1} << 20;
inline constexpr std::size_t kNpyMaxDims = 64;

// Parses the header at the start of `bytes` (the whole file, or at least its whole header).
// `source` names the file in error messages.
NpyHeader parse_npy_header(std::string_view bytes, const std::string& source);
// The header (magic, version, length, padded dict) numpy.save writes for a C-order array.
std::string npy_header_bytes(DType dtype, const Shape& shape);

Tensor load_npy(const std::string& path);
// Parses a complete .npy file held in memory; the result owns a copy of the data.
Tensor load_npy_from_bytes(std::string_view bytes, const std::string& source = "<memory>");

// Writes atomically (temporary file + rename). Accepts non-contiguous and CUDA tensors.
void save_npy(const std::string& path, const Tensor& tensor);
std::string save_npy_to_bytes(const Tensor& tensor);

}  // namespace mech
