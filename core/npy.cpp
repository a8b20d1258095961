// .npy reading and writing: a strict parser for the header's Python-literal dict, size checks
// before any allocation, the conversion of Fortran-order and big-endian data to mech's layout, and a
// writer that reproduces numpy.save's header byte for byte.
#include "core/npy.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>

#include <fmt/format.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/input_file.h"
#include "core/kernels.h"

namespace mech {
namespace {

static_assert(std::endian::native == std::endian::little,
              ".npy reading keeps '<' data as it is and reverses '>' data; a big-endian host needs the opposite");

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicBytes = 6;
// numpy.save pads the header so the data starts on a multiple of 64 bytes.
constexpr std::size_t kArrayAlign = 64;
// numpy.save leaves room after the dict for the growth axis to reach 21 digits in place.
constexpr std::size_t kGrowthAxisMaxDigits = 21;

[[noreturn]] void fail(const std::string& source, const std::string& what) {
  throw IoError(fmt::format("npy: '{}': {}", source, what));
}

const char* descr_of(DType dtype) {
  switch (dtype) {
    case DType::Float32: return "<f4";
    case DType::Float64: return "<f8";
    case DType::Int64: return "<i8";
  }
  return "?";
}

// The dtype a descr names, in either byte order ('<' little-endian, '>' big-endian, as numpy writes
// them); `big_endian` says which.
std::optional<DType> dtype_of_descr(std::string_view descr, bool* big_endian) {
  if (descr.size() != 3 || (descr[0] != '<' && descr[0] != '>')) return std::nullopt;
  *big_endian = descr[0] == '>';
  const std::string_view type = descr.substr(1);
  if (type == "f4") return DType::Float32;
  if (type == "f8") return DType::Float64;
  if (type == "i8") return DType::Int64;
  return std::nullopt;
}

// Recursive-descent reader for the one dict shape .npy headers use:
//   {'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }
// Keys in any order, either quote style, any whitespace, trailing commas as Python allows.
class HeaderDictParser {
 public:
  HeaderDictParser(std::string_view text, const std::string& source)
      : text_(text), source_(source) {}

  NpyHeader parse() {
    NpyHeader header;
    bool big_endian = false;
    std::optional<DType> dtype;
    std::optional<bool> fortran_order;
    std::optional<Shape> shape;
    skip_space();
    expect('{', "the header dict to start with '{'");
    while (true) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = parse_string("a quoted key");
      skip_space();
      expect(':', fmt::format("':' after key '{}'", printable(key)));
      skip_space();
      if (key == "descr") {
        if (dtype) bad("key 'descr' appears twice");
        dtype = parse_descr(&big_endian);
      } else if (key == "fortran_order") {
        if (fortran_order) bad("key 'fortran_order' appears twice");
        fortran_order = parse_bool();
      } else if (key == "shape") {
        if (shape) bad("key 'shape' appears twice");
        shape = parse_shape();
      } else {
        bad(fmt::format("unexpected key '{}' (expected 'descr', 'fortran_order', 'shape')",
                        printable(key)));
      }
      skip_space();
      if (peek() == ',') {
        ++position_;
        continue;
      }
      if (peek() != '}') bad("expected ',' or '}' after a value");
    }
    ++position_;  // '}'
    skip_space();
    if (position_ != text_.size()) {
      bad(fmt::format("unexpected text after the dict: '{}'", printable(text_.substr(position_))));
    }
    if (!dtype) bad("key 'descr' is missing");
    if (!fortran_order) bad("key 'fortran_order' is missing");
    if (!shape) bad("key 'shape' is missing");
    header.dtype = *dtype;
    header.big_endian = big_endian;
    header.fortran_order = *fortran_order;
    header.shape = std::move(*shape);
    return header;
  }

 private:
  [[noreturn]] void bad(const std::string& what) {
    fail(source_, fmt::format("malformed header dict at byte {}: {}", position_, what));
  }
  char peek() const { return position_ < text_.size() ? text_[position_] : '\0'; }
  void skip_space() {
    while (position_ < text_.size() &&
           (text_[position_] == ' ' || text_[position_] == '\t' || text_[position_] == '\n' ||
            text_[position_] == '\r')) {
      ++position_;
    }
  }
  void expect(char c, const std::string& what) {
    if (peek() != c || position_ >= text_.size()) bad("expected " + what);
    ++position_;
  }

  std::string parse_string(const char* what) {
    const char quote = peek();
    if (quote != '\'' && quote != '"') bad(fmt::format("expected {}", what));
    ++position_;
    const std::size_t start = position_;
    while (position_ < text_.size() && text_[position_] != quote) {
      // Escapes never occur in the keys or supported descrs; refusing them keeps this simple.
      if (text_[position_] == '\\' || text_[position_] == '\n') bad("unsupported character in a string");
      ++position_;
    }
    if (position_ >= text_.size()) bad("unterminated string");
    const std::string value(text_.substr(start, position_ - start));
    ++position_;
    return value;
  }

  DType parse_descr(bool* big_endian) {
    if (peek() == '[') fail(source_, fmt::format("structured dtypes are not supported ({})", kSupported));
    const std::string descr = parse_string("a quoted dtype descr");
    const auto dtype = dtype_of_descr(descr, big_endian);
    if (!dtype) fail(source_, fmt::format("unsupported dtype '{}' ({})", printable(descr), kSupported));
    return *dtype;
  }

  static constexpr const char* kSupported =
      "expected float32, float64 or int64 in either byte order: '<f4', '>f4', '<f8', '>f8', '<i8' or '>i8'";

  bool parse_bool() {
    if (text_.substr(position_, 4) == "True") {
      position_ += 4;
      return true;
    }
    if (text_.substr(position_, 5) == "False") {
      position_ += 5;
      return false;
    }
    bad("expected True or False for 'fortran_order'");
  }

  Shape parse_shape() {
    expect('(', "'(' to open the shape tuple");
    Shape shape;
    bool trailing_comma = false;
    while (true) {
      skip_space();
      if (peek() == ')') break;
      if (peek() < '0' || peek() > '9') bad("expected a non-negative integer in the shape");
      std::uint64_t value = 0;
      while (peek() >= '0' && peek() <= '9') {
        value = value * 10 + static_cast<std::uint64_t>(peek() - '0');
        // Bounded well below int64 overflow; the real limit is the file size, checked later.
        if (value > (std::uint64_t{1} << 56)) bad("a shape dimension is absurdly large");
        ++position_;
      }
      if (shape.size() >= kNpyMaxDims) bad(fmt::format("more than {} dimensions", kNpyMaxDims));
      shape.push_back(static_cast<std::int64_t>(value));
      skip_space();
      trailing_comma = false;
      if (peek() == ',') {
        ++position_;
        trailing_comma = true;
        continue;
      }
      if (peek() != ')') bad("expected ',' or ')' in the shape tuple");
    }
    ++position_;  // ')'
    // Python reads "(5)" as the integer 5, not a tuple; numpy rejects it, so do we.
    if (shape.size() == 1 && !trailing_comma) bad("a one-element shape needs a trailing comma, as in (5,)");
    return shape;
  }

  std::string_view text_;
  const std::string& source_;
  std::size_t position_ = 0;
};

// The element count and byte count of `shape`, or an error when they overflow.
std::size_t checked_data_bytes(const Shape& shape, DType dtype, const std::string& source) {
  // The product of the non-zero sizes must be addressable even when a zero makes the array empty:
  // strides are products of sizes too, and must not overflow.
  std::uint64_t count = 1;
  bool empty_array = false;
  for (const auto size : shape) {
    if (size == 0) {
      empty_array = true;
      continue;
    }
    if (__builtin_mul_overflow(count, static_cast<std::uint64_t>(size), &count) ||
        count > static_cast<std::uint64_t>(PTRDIFF_MAX)) {
      fail(source, fmt::format("shape {} has more elements than can be addressed", shape_str(shape)));
    }
  }
  if (empty_array) return 0;
  std::uint64_t bytes = 0;
  if (__builtin_mul_overflow(count, static_cast<std::uint64_t>(dtype_size(dtype)), &bytes) ||
      bytes > static_cast<std::uint64_t>(PTRDIFF_MAX)) {
    fail(source, fmt::format("shape {} is too large to hold in memory", shape_str(shape)));
  }
  return static_cast<std::size_t>(bytes);
}

std::uint32_t read_little_endian(std::string_view bytes, std::size_t offset, std::size_t width) {
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < width; ++i) {
    value |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[offset + i])) << (8 * i);
  }
  return value;
}

// Magic, version and header length from the first bytes: where the data starts.
// Fills major/minor and returns the data offset.
std::size_t parse_preamble(std::string_view bytes, const std::string& source, int* major, int* minor) {
  if (bytes.size() < kMagicBytes || bytes.substr(0, kMagicBytes) != std::string_view(kMagic, kMagicBytes)) {
    fail(source, fmt::format("not an .npy file: expected the magic bytes \\x93NUMPY, found '{}'",
                             printable(bytes.substr(0, kMagicBytes))));
  }
  if (bytes.size() < kMagicBytes + 2) fail(source, "truncated header: the file ends inside the version");
  *major = static_cast<unsigned char>(bytes[6]);
  *minor = static_cast<unsigned char>(bytes[7]);
  if (!((*major == 1 || *major == 2 || *major == 3) && *minor == 0)) {
    fail(source, fmt::format("unsupported .npy format version {}.{} (expected 1.0, 2.0 or 3.0)",
                             *major, *minor));
  }
  const std::size_t length_width = *major == 1 ? 2 : 4;
  const std::size_t prefix = kMagicBytes + 2 + length_width;
  if (bytes.size() < prefix) fail(source, "truncated header: the file ends inside the header length");
  const std::size_t header_length = read_little_endian(bytes, kMagicBytes + 2, length_width);
  if (header_length > kNpyMaxHeaderBytes) {
    fail(source, fmt::format("header length {} exceeds the {} byte limit (corrupt file?)",
                             header_length, kNpyMaxHeaderBytes));
  }
  return prefix + header_length;
}

// Everything about the file the bytes say; `bytes` must hold at least the whole header.
NpyHeader parse_header(std::string_view bytes, const std::string& source) {
  int major = 0;
  int minor = 0;
  const std::size_t data_offset = parse_preamble(bytes, source, &major, &minor);
  if (bytes.size() < data_offset) {
    fail(source, fmt::format("truncated header: it declares {} bytes but the file has {}",
                             data_offset, bytes.size()));
  }
  const std::size_t dict_start = major == 1 ? 10 : 12;
  NpyHeader header =
      HeaderDictParser(bytes.substr(dict_start, data_offset - dict_start), source).parse();
  header.major_version = major;
  header.minor_version = minor;
  header.data_offset = data_offset;
  header.data_bytes = checked_data_bytes(header.shape, header.dtype, source);
  return header;
}

void check_data_size(const NpyHeader& header, std::size_t total_bytes, const std::string& source) {
  const std::size_t available = total_bytes - header.data_offset;
  if (available < header.data_bytes) {
    fail(source, fmt::format("truncated data: shape {} of {} needs {} bytes, the file has {}",
                             shape_str(header.shape), dtype_name(header.dtype), header.data_bytes,
                             available));
  }
  if (available > header.data_bytes) {
    fail(source, fmt::format("size mismatch: shape {} of {} needs {} bytes, but {} bytes follow the "
                             "header",
                             shape_str(header.shape), dtype_name(header.dtype), header.data_bytes,
                             available));
  }
}

// Reverses the bytes of each of `count` elements of `width` bytes: big-endian to little-endian.
void reverse_element_bytes(void* data, std::size_t count, std::size_t width) {
  auto* bytes = static_cast<unsigned char*>(data);
  for (std::size_t element = 0; element < count; ++element, bytes += width) std::reverse(bytes, bytes + width);
}

// The array the header describes, in mech's layout (C order, native byte order), from its data as
// the file holds it; read_data(destination) copies the header.data_bytes bytes of data there.
// Fortran-order data of shape (d0, ..., dn) is the C-order data of shape (dn, ..., d0): it is read
// as that, and the array is its view with dimensions and strides reversed, copied out in C order.
template <class ReadData>
Tensor read_array(const NpyHeader& header, ReadData&& read_data) {
  const TensorOptions options = TensorOptions().dtype(header.dtype);
  if (header.data_bytes == 0) return empty(header.shape, options);
  const bool transposed = header.fortran_order && header.shape.size() > 1;
  Shape stored_shape = header.shape;
  if (transposed) std::reverse(stored_shape.begin(), stored_shape.end());
  Tensor stored = empty(stored_shape, options);
  read_data(stored.raw_data());
  if (header.big_endian) {
    reverse_element_bytes(stored.raw_data(), static_cast<std::size_t>(stored.numel()), dtype_size(header.dtype));
  }
  if (!transposed) return stored;
  Shape strides = stored.strides();
  std::reverse(strides.begin(), strides.end());
  Tensor tensor = empty(header.shape, options);
  kernels::copy(Tensor(stored.storage(), 0, header.shape, std::move(strides), header.dtype), tensor);
  return tensor;
}

// The tensor's elements as one C-order host buffer (a copy only where needed).
Tensor host_contiguous(const Tensor& tensor, const char* op) {
  if (!tensor.defined()) throw IoError(fmt::format("{}: the tensor is undefined", op));
  return tensor.detach().to(Device::cpu()).contiguous();
}

}  // namespace

NpyHeader parse_npy_header(std::string_view bytes, const std::string& source) {
  return parse_header(bytes, source);
}

std::string npy_header_bytes(DType dtype, const Shape& shape) {
  std::string shape_text = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) shape_text += ", ";
    shape_text += std::to_string(shape[i]);
  }
  shape_text += shape.size() == 1 ? ",)" : ")";
  std::string dict = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
                                 descr_of(dtype), shape_text);
  if (!shape.empty()) {
    const std::size_t digits = std::to_string(shape[0]).size();
    if (digits < kGrowthAxisMaxDigits) dict.append(kGrowthAxisMaxDigits - digits, ' ');
  }
  // Version 1.0 holds a header of up to 65535 bytes; numpy switches to 2.0 beyond that.
  for (const int major : {1, 2}) {
    const std::size_t prefix = kMagicBytes + 2 + (major == 1 ? 2 : 4);
    const std::size_t unpadded = dict.size() + 1;  // + '\n'
    // As numpy: a header already on the boundary still gets a full block of padding.
    const std::size_t padding = kArrayAlign - (prefix + unpadded) % kArrayAlign;
    const std::size_t header_length = unpadded + padding;
    if (major == 1 && header_length > 0xffff) continue;
    std::string bytes(kMagic, kMagicBytes);
    bytes += static_cast<char>(major);
    bytes += '\0';
    for (std::size_t i = 0; i < prefix - kMagicBytes - 2; ++i) {
      bytes += static_cast<char>((header_length >> (8 * i)) & 0xff);
    }
    bytes += dict;
    bytes.append(padding, ' ');
    bytes += '\n';
    return bytes;
  }
  throw IoError(fmt::format("npy: header for shape {} is too long", shape_str(shape)));
}

Tensor load_npy_from_bytes(std::string_view bytes, const std::string& source) {
  const NpyHeader header = parse_header(bytes, source);
  check_data_size(header, bytes.size(), source);
  return read_array(header, [&](void* destination) {
    std::memcpy(destination, bytes.data() + header.data_offset, header.data_bytes);
  });
}

Tensor load_npy(const std::string& path) {
  const InputFile file(path, "npy");
  // The preamble first (at most 12 bytes), then exactly the header it declares: a corrupt length
  // can make us read at most kNpyMaxHeaderBytes, and only if the file is that long.
  std::string head(std::min<std::size_t>(file.size(), 12), '\0');
  file.read(0, head.data(), head.size());
  int major = 0;
  int minor = 0;
  const std::size_t data_offset = parse_preamble(head, path, &major, &minor);
  if (file.size() < data_offset) {
    fail(path, fmt::format("truncated header: it declares {} bytes but the file has {}", data_offset,
                           file.size()));
  }
  head.resize(data_offset);
  file.read(0, head.data(), head.size());
  const NpyHeader header = parse_header(head, path);
  check_data_size(header, file.size(), path);
  return read_array(header, [&](void* destination) { file.read(header.data_offset, destination, header.data_bytes); });
}

std::string save_npy_to_bytes(const Tensor& tensor) {
  const Tensor host = host_contiguous(tensor, "save_npy");
  std::string bytes = npy_header_bytes(host.dtype(), host.shape());
  const std::size_t data_bytes = static_cast<std::size_t>(host.numel()) * dtype_size(host.dtype());
  if (data_bytes > 0) bytes.append(static_cast<const char*>(host.raw_data()), data_bytes);
  return bytes;
}

void save_npy(const std::string& path, const Tensor& tensor) {
  const Tensor host = host_contiguous(tensor, "save_npy");
  const std::string header = npy_header_bytes(host.dtype(), host.shape());
  const std::size_t data_bytes = static_cast<std::size_t>(host.numel()) * dtype_size(host.dtype());
  write_file_atomically(path, [&](AtomicFile& file) {
    file.write(header);
    if (data_bytes > 0) file.write(host.raw_data(), data_bytes);
  });
}

}  // namespace mech
