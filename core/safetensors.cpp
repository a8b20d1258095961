// .safetensors reading and writing, with the small JSON reader/writer the header needs: strings
// with escapes (\uXXXX and surrogate pairs included), numbers, objects, arrays, true/false/null,
// a nesting limit, and duplicate-key detection, all bounds-checked against corrupt input.
#include "core/safetensors.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/input_file.h"

namespace mech {
namespace {

static_assert(std::endian::native == std::endian::little,
              ".safetensors I/O copies raw little-endian bytes; a big-endian host needs byte swapping");

constexpr std::size_t kLengthBytes = 8;
constexpr int kMaxJsonDepth = 32;
constexpr std::size_t kMaxDims = 64;
constexpr const char* kMetadataKey = "__metadata__";

[[noreturn]] void fail(const std::string& source, const std::string& what) {
  throw IoError(fmt::format("safetensors: '{}': {}", source, what));
}

// ---- JSON ------------------------------------------------------------------------------------

struct JsonMember;

struct JsonValue {
  enum class Kind { Null, Bool, Number, String, Array, Object };
  Kind kind = Kind::Null;
  bool boolean = false;
  std::string text;  // a string's decoded value, or a number's literal text
  std::vector<JsonValue> items;
  // In document order, keys unique. (A named struct, not std::pair: a pair may not hold the
  // still-incomplete JsonValue.)
  std::vector<JsonMember> members;
};

struct JsonMember {
  std::string key;
  JsonValue value;
};

const char* kind_name(JsonValue::Kind kind) {
  switch (kind) {
    case JsonValue::Kind::Null: return "null";
    case JsonValue::Kind::Bool: return "a boolean";
    case JsonValue::Kind::Number: return "a number";
    case JsonValue::Kind::String: return "a string";
    case JsonValue::Kind::Array: return "an array";
    case JsonValue::Kind::Object: return "an object";
  }
  return "?";
}

class JsonParser {
 public:
  JsonParser(std::string_view text, const std::string& source) : text_(text), source_(source) {}

  JsonValue parse_document() {
    skip_space();
    JsonValue value = parse_value(0);
    skip_space();
    if (position_ != text_.size()) bad("unexpected text after the JSON value");
    return value;
  }

 private:
  [[noreturn]] void bad(const std::string& what) {
    fail(source_, fmt::format("bad JSON header at byte {}: {}", position_, what));
  }
  bool at_end() const { return position_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[position_]; }
  void skip_space() {
    while (!at_end() && (text_[position_] == ' ' || text_[position_] == '\t' ||
                         text_[position_] == '\n' || text_[position_] == '\r')) {
      ++position_;
    }
  }
  void expect_word(std::string_view word) {
    if (text_.substr(position_, word.size()) != word) bad("unexpected character");
    position_ += word.size();
  }

  JsonValue parse_value(int depth) {
    if (depth > kMaxJsonDepth) bad(fmt::format("nesting deeper than {}", kMaxJsonDepth));
    if (at_end()) bad("unexpected end of the header");
    JsonValue value;
    const char c = peek();
    if (c == '{') {
      value.kind = JsonValue::Kind::Object;
      parse_object(value, depth);
    } else if (c == '[') {
      value.kind = JsonValue::Kind::Array;
      parse_array(value, depth);
    } else if (c == '"') {
      value.kind = JsonValue::Kind::String;
      value.text = parse_string();
    } else if (c == 't') {
      expect_word("true");
      value.kind = JsonValue::Kind::Bool;
      value.boolean = true;
    } else if (c == 'f') {
      expect_word("false");
      value.kind = JsonValue::Kind::Bool;
    } else if (c == 'n') {
      expect_word("null");
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      value.kind = JsonValue::Kind::Number;
      value.text = parse_number();
    } else {
      bad(fmt::format("unexpected character '{}'", printable(text_.substr(position_, 1))));
    }
    return value;
  }

  void parse_object(JsonValue& value, int depth) {
    ++position_;  // '{'
    std::set<std::string> seen;
    skip_space();
    if (peek() == '}') {
      ++position_;
      return;
    }
    while (true) {
      skip_space();
      if (peek() != '"') bad("expected a quoted key");
      std::string key = parse_string();
      skip_space();
      if (peek() != ':') bad("expected ':' after a key");
      ++position_;
      skip_space();
      JsonValue member = parse_value(depth + 1);
      // A set, not a scan of the members: a corrupt header with many keys must not go quadratic.
      if (!seen.insert(key).second) bad(fmt::format("duplicate key '{}'", printable(key)));
      value.members.push_back(JsonMember{std::move(key), std::move(member)});
      skip_space();
      if (peek() == ',') {
        ++position_;
        continue;
      }
      if (peek() == '}') {
        ++position_;
        return;
      }
      bad("expected ',' or '}' in an object");
    }
  }

  void parse_array(JsonValue& value, int depth) {
    ++position_;  // '['
    skip_space();
    if (peek() == ']') {
      ++position_;
      return;
    }
    while (true) {
      skip_space();
      value.items.push_back(parse_value(depth + 1));
      skip_space();
      if (peek() == ',') {
        ++position_;
        continue;
      }
      if (peek() == ']') {
        ++position_;
        return;
      }
      bad("expected ',' or ']' in an array");
    }
  }

  unsigned parse_hex4() {
    if (text_.size() - position_ < 4) bad("truncated \\u escape");
    unsigned code = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = text_[position_++];
      code <<= 4;
      if (c >= '0' && c <= '9') code |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') code |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') code |= static_cast<unsigned>(c - 'A' + 10);
      else bad("bad hex digit in a \\u escape");
    }
    return code;
  }

  static void append_utf8(std::string& out, unsigned code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xc0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3f));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xe0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (code & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (code >> 18));
      out += static_cast<char>(0x80 | ((code >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (code & 0x3f));
    }
  }

  std::string parse_string() {
    ++position_;  // '"'
    std::string out;
    while (true) {
      if (at_end()) bad("unterminated string");
      const char c = text_[position_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) bad("control character inside a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (at_end()) bad("unterminated escape");
      const char escape = text_[position_++];
      switch (escape) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned code = parse_hex4();
          if (code >= 0xdc00 && code <= 0xdfff) bad("lone low surrogate in a \\u escape");
          if (code >= 0xd800 && code <= 0xdbff) {
            if (text_.substr(position_, 2) != "\\u") bad("high surrogate without its low half");
            position_ += 2;
            const unsigned low = parse_hex4();
            if (low < 0xdc00 || low > 0xdfff) bad("high surrogate followed by a non-low surrogate");
            code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
          }
          append_utf8(out, code);
          break;
        }
        default: bad(fmt::format("unknown escape '\\{}'", printable(std::string_view(&escape, 1))));
      }
    }
  }

  // The literal text of a number, checked against JSON's grammar.
  std::string parse_number() {
    const std::size_t start = position_;
    auto digits = [&] {
      const std::size_t first = position_;
      while (peek() >= '0' && peek() <= '9') ++position_;
      return position_ - first;
    };
    if (peek() == '-') ++position_;
    if (peek() == '0') {
      ++position_;
    } else if (digits() == 0) {
      bad("expected digits in a number");
    }
    if (peek() == '.') {
      ++position_;
      if (digits() == 0) bad("expected digits after '.' in a number");
    }
    if (peek() == 'e' || peek() == 'E') {
      ++position_;
      if (peek() == '+' || peek() == '-') ++position_;
      if (digits() == 0) bad("expected digits in an exponent");
    }
    return std::string(text_.substr(start, position_ - start));
  }

  std::string_view text_;
  const std::string& source_;
  std::size_t position_ = 0;
};

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        } else {
          out += c;  // UTF-8 passes through unchanged, as JSON allows
        }
    }
  }
  out += '"';
}

// ---- the header ------------------------------------------------------------------------------

struct TensorEntry {
  std::string name;
  DType dtype = DType::Float32;
  Shape shape;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
};

struct ParsedHeader {
  std::vector<TensorEntry> entries;  // sorted by begin
  std::map<std::string, std::string> metadata;
};

const char* safetensors_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::Float32: return "F32";
    case DType::Float64: return "F64";
    case DType::Int64: return "I64";
  }
  return "?";
}

DType parse_dtype(const std::string& text, const std::string& name, const std::string& source) {
  if (text == "F32") return DType::Float32;
  if (text == "F64") return DType::Float64;
  if (text == "I64") return DType::Int64;
  static const char* const kKnownOthers[] = {"BOOL", "U8",  "I8",  "U16",     "I16",     "F16",
                                             "BF16", "U32", "I32", "U64",     "C64",     "F8_E4M3",
                                             "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4"};
  const bool known = std::find_if(std::begin(kKnownOthers), std::end(kKnownOthers),
                                  [&](const char* other) { return text == other; }) !=
                     std::end(kKnownOthers);
  fail(source, fmt::format("tensor '{}': {} dtype '{}' (expected F32, F64 or I64)", printable(name),
                           known ? "unsupported" : "unknown", printable(text)));
}

std::uint64_t parse_unsigned(const JsonValue& value, const std::string& what,
                             const std::string& source) {
  if (value.kind != JsonValue::Kind::Number) {
    fail(source, fmt::format("{} must be a non-negative integer, got {}", what, kind_name(value.kind)));
  }
  std::uint64_t result = 0;
  for (const char c : value.text) {
    if (c < '0' || c > '9') {
      fail(source, fmt::format("{} must be a non-negative integer, got {}", what, printable(value.text)));
    }
    if (__builtin_mul_overflow(result, std::uint64_t{10}, &result) ||
        __builtin_add_overflow(result, static_cast<std::uint64_t>(c - '0'), &result)) {
      fail(source, fmt::format("{} is too large: {}", what, printable(value.text)));
    }
  }
  return result;
}

TensorEntry parse_entry(const std::string& name, const JsonValue& value, const std::string& source) {
  const std::string where = fmt::format("tensor '{}'", printable(name));
  if (value.kind != JsonValue::Kind::Object) {
    fail(source, fmt::format("{}: expected an object, got {}", where, kind_name(value.kind)));
  }
  TensorEntry entry;
  entry.name = name;
  const JsonValue* dtype = nullptr;
  const JsonValue* shape = nullptr;
  const JsonValue* offsets = nullptr;
  for (const auto& [key, member] : value.members) {
    if (key == "dtype") dtype = &member;
    else if (key == "shape") shape = &member;
    else if (key == "data_offsets") offsets = &member;
    else fail(source, fmt::format("{}: unexpected key '{}'", where, printable(key)));
  }
  if (!dtype || !shape || !offsets) {
    fail(source, fmt::format("{}: expected keys 'dtype', 'shape' and 'data_offsets'", where));
  }
  if (dtype->kind != JsonValue::Kind::String) {
    fail(source, fmt::format("{}: 'dtype' must be a string, got {}", where, kind_name(dtype->kind)));
  }
  entry.dtype = parse_dtype(dtype->text, name, source);
  if (shape->kind != JsonValue::Kind::Array) {
    fail(source, fmt::format("{}: 'shape' must be an array, got {}", where, kind_name(shape->kind)));
  }
  if (shape->items.size() > kMaxDims) {
    fail(source, fmt::format("{}: more than {} dimensions", where, kMaxDims));
  }
  // The product of the non-zero sizes must be addressable even when a zero makes the tensor
  // empty: strides are products of sizes too, and must not overflow.
  std::uint64_t nonzero_product = 1;
  bool empty_tensor = false;
  for (const auto& item : shape->items) {
    const std::uint64_t size = parse_unsigned(item, where + " shape entry", source);
    if (size == 0) {
      empty_tensor = true;
    } else if (__builtin_mul_overflow(nonzero_product, size, &nonzero_product) ||
               nonzero_product > static_cast<std::uint64_t>(PTRDIFF_MAX)) {
      fail(source, fmt::format("{}: the shape has more elements than can be addressed", where));
    }
    entry.shape.push_back(static_cast<std::int64_t>(size));
  }
  const std::uint64_t count = empty_tensor ? 0 : nonzero_product;
  if (offsets->kind != JsonValue::Kind::Array || offsets->items.size() != 2) {
    fail(source, fmt::format("{}: 'data_offsets' must be an array [begin, end]", where));
  }
  entry.begin = parse_unsigned(offsets->items[0], where + " data_offsets begin", source);
  entry.end = parse_unsigned(offsets->items[1], where + " data_offsets end", source);
  if (entry.end < entry.begin) {
    fail(source, fmt::format("{}: data_offsets [{}, {}] end before they begin", where, entry.begin,
                             entry.end));
  }
  std::uint64_t bytes = 0;
  if (__builtin_mul_overflow(count, static_cast<std::uint64_t>(dtype_size(entry.dtype)), &bytes) ||
      bytes != entry.end - entry.begin) {
    fail(source, fmt::format("{}: shape {} of {} needs {} bytes but data_offsets [{}, {}] span {}",
                             where, shape_str(entry.shape), dtype->text,
                             count > (UINT64_MAX / 8) ? std::string("too many")
                                                      : std::to_string(count * dtype_size(entry.dtype)),
                             entry.begin, entry.end, entry.end - entry.begin));
  }
  return entry;
}

// Parses and validates the JSON header against a data region of `data_bytes` bytes.
ParsedHeader parse_header(std::string_view json, std::uint64_t data_bytes, const std::string& source) {
  const JsonValue root = JsonParser(json, source).parse_document();
  if (root.kind != JsonValue::Kind::Object) {
    fail(source, fmt::format("the header must be a JSON object, got {}", kind_name(root.kind)));
  }
  ParsedHeader header;
  for (const auto& [key, value] : root.members) {
    if (key == kMetadataKey) {
      if (value.kind != JsonValue::Kind::Object) {
        fail(source, fmt::format("'__metadata__' must be an object, got {}", kind_name(value.kind)));
      }
      for (const auto& [meta_key, meta_value] : value.members) {
        if (meta_value.kind != JsonValue::Kind::String) {
          fail(source, fmt::format("metadata '{}' must be a string, got {}", printable(meta_key),
                                   kind_name(meta_value.kind)));
        }
        header.metadata.emplace(meta_key, meta_value.text);
      }
      continue;
    }
    header.entries.push_back(parse_entry(key, value, source));
  }
  // The data region must be tiled exactly: no overlap (two tensors sharing bytes), no gap and
  // nothing past the last tensor, the reference implementation's rule too.
  std::stable_sort(header.entries.begin(), header.entries.end(),
                   [](const TensorEntry& a, const TensorEntry& b) {
                     return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
                   });
  std::uint64_t covered = 0;
  for (const auto& entry : header.entries) {
    if (entry.end > data_bytes) {
      fail(source, fmt::format("tensor '{}': data_offsets [{}, {}] lie outside the {} data bytes "
                               "(truncated file?)",
                               printable(entry.name), entry.begin, entry.end, data_bytes));
    }
    if (entry.begin < covered) {
      fail(source, fmt::format("tensor '{}': data_offsets [{}, {}] overlap the previous tensor, "
                               "which ends at {}",
                               printable(entry.name), entry.begin, entry.end, covered));
    }
    if (entry.begin > covered) {
      fail(source, fmt::format("tensor '{}': data_offsets [{}, {}] leave a gap after byte {}",
                               printable(entry.name), entry.begin, entry.end, covered));
    }
    covered = entry.end;
  }
  if (covered != data_bytes) {
    fail(source, fmt::format("the tensors cover {} data bytes but the file holds {} after the header",
                             covered, data_bytes));
  }
  return header;
}

std::uint64_t read_u64_little_endian(const unsigned char* bytes) {
  std::uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value |= static_cast<std::uint64_t>(bytes[i]) << (8 * i);
  return value;
}

// The JSON header's length from the first 8 bytes, checked against the file's size.
std::size_t header_length(std::string_view first_bytes, std::uint64_t file_bytes,
                          const std::string& source) {
  if (first_bytes.size() < kLengthBytes) {
    fail(source, fmt::format("truncated: {} bytes, shorter than the 8-byte header length",
                             first_bytes.size()));
  }
  const std::uint64_t length =
      read_u64_little_endian(reinterpret_cast<const unsigned char*>(first_bytes.data()));
  if (length > kSafetensorsMaxHeaderBytes) {
    fail(source, fmt::format("header length {} exceeds the {} byte limit (not a safetensors file?)",
                             length, kSafetensorsMaxHeaderBytes));
  }
  if (length < 2) fail(source, fmt::format("header length {} is too small for a JSON object", length));
  if (length > file_bytes - kLengthBytes) {
    fail(source, fmt::format("truncated: the header declares {} bytes but only {} follow", length,
                             file_bytes - kLengthBytes));
  }
  return static_cast<std::size_t>(length);
}

// What save writes: the padded header and each tensor as a host, C-order buffer.
struct Serialised {
  std::string header;  // length prefix + JSON + padding
  std::vector<Tensor> host_tensors;
};

Serialised serialise(const std::vector<std::pair<std::string, Tensor>>& tensors,
                     const std::map<std::string, std::string>& metadata, const char* op) {
  Serialised out;
  std::set<std::string> names;
  std::string json = "{";
  if (!metadata.empty()) {
    append_json_string(json, kMetadataKey);
    json += ":{";
    bool first = true;
    for (const auto& [key, value] : metadata) {
      if (!first) json += ',';
      first = false;
      append_json_string(json, key);
      json += ':';
      append_json_string(json, value);
    }
    json += '}';
  }
  std::uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (name == kMetadataKey) {
      throw IoError(fmt::format("{}: invalid tensor name '{}'", op, printable(name)));
    }
    if (!names.insert(name).second) {
      throw IoError(fmt::format("{}: tensor name '{}' appears twice", op, printable(name)));
    }
    if (!tensor.defined()) throw IoError(fmt::format("{}: tensor '{}' is undefined", op, name));
    Tensor host = tensor.detach().to(Device::cpu()).contiguous();
    const std::uint64_t bytes = static_cast<std::uint64_t>(host.numel()) * dtype_size(host.dtype());
    if (json.size() > 1) json += ',';
    append_json_string(json, name);
    json += fmt::format(":{{\"dtype\":\"{}\",\"shape\":[", safetensors_dtype_name(host.dtype()));
    for (std::size_t i = 0; i < host.shape().size(); ++i) {
      if (i > 0) json += ',';
      json += std::to_string(host.shape()[i]);
    }
    json += fmt::format("],\"data_offsets\":[{},{}]}}", offset, offset + bytes);
    offset += bytes;
    out.host_tensors.push_back(std::move(host));
  }
  json += '}';
  // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
  json.append((kLengthBytes - json.size() % kLengthBytes) % kLengthBytes, ' ');
  const std::uint64_t length = json.size();
  out.header.reserve(kLengthBytes + json.size());
  for (std::size_t i = 0; i < kLengthBytes; ++i) {
    out.header += static_cast<char>((length >> (8 * i)) & 0xff);
  }
  out.header += json;
  return out;
}

}  // namespace

bool SafetensorsFile::contains(const std::string& name) const {
  return std::any_of(tensors.begin(), tensors.end(),
                     [&](const auto& entry) { return entry.first == name; });
}

const Tensor& SafetensorsFile::at(const std::string& name) const {
  for (const auto& entry : tensors) {
    if (entry.first == name) return entry.second;
  }
  std::string held;
  for (const auto& entry : tensors) held += (held.empty() ? "" : ", ") + entry.first;
  throw IoError(fmt::format("safetensors: no tensor named '{}' (the file holds: {})", name,
                            held.empty() ? "nothing" : held));
}

std::string save_safetensors_to_bytes(const std::vector<std::pair<std::string, Tensor>>& tensors,
                                      const std::map<std::string, std::string>& metadata) {
  const Serialised serialised = serialise(tensors, metadata, "save_safetensors");
  std::string bytes = serialised.header;
  for (const auto& host : serialised.host_tensors) {
    const std::size_t size = static_cast<std::size_t>(host.numel()) * dtype_size(host.dtype());
    if (size > 0) bytes.append(static_cast<const char*>(host.raw_data()), size);
  }
  return bytes;
}

void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  const Serialised serialised = serialise(tensors, metadata, "save_safetensors");
  write_file_atomically(path, [&](AtomicFile& file) {
    file.write(serialised.header);
    for (const auto& host : serialised.host_tensors) {
      const std::size_t size = static_cast<std::size_t>(host.numel()) * dtype_size(host.dtype());
      if (size > 0) file.write(host.raw_data(), size);
    }
  });
}

SafetensorsFile load_safetensors_from_bytes(std::string_view bytes, const std::string& source) {
  const std::size_t json_length = header_length(bytes, bytes.size(), source);
  const std::size_t data_start = kLengthBytes + json_length;
  ParsedHeader header =
      parse_header(bytes.substr(kLengthBytes, json_length), bytes.size() - data_start, source);
  SafetensorsFile file;
  file.metadata = std::move(header.metadata);
  for (auto& entry : header.entries) {
    Tensor tensor = empty(entry.shape, TensorOptions().dtype(entry.dtype));
    if (entry.end > entry.begin) {
      std::memcpy(tensor.raw_data(), bytes.data() + data_start + entry.begin, entry.end - entry.begin);
    }
    file.tensors.emplace_back(std::move(entry.name), std::move(tensor));
  }
  return file;
}

SafetensorsFile load_safetensors(const std::string& path) {
  const InputFile input(path, "safetensors");
  std::string prefix(std::min<std::size_t>(input.size(), kLengthBytes), '\0');
  input.read(0, prefix.data(), prefix.size());
  const std::size_t json_length = header_length(prefix, input.size(), path);
  std::string json(json_length, '\0');
  input.read(kLengthBytes, json.data(), json.size());
  const std::size_t data_start = kLengthBytes + json_length;
  ParsedHeader header = parse_header(json, input.size() - data_start, path);
  SafetensorsFile file;
  file.metadata = std::move(header.metadata);
  for (auto& entry : header.entries) {
    Tensor tensor = empty(entry.shape, TensorOptions().dtype(entry.dtype));
    if (entry.end > entry.begin) {
      input.read(data_start + entry.begin, tensor.raw_data(), entry.end - entry.begin);
    }
    file.tensors.emplace_back(std::move(entry.name), std::move(tensor));
  }
  return file;
}

}  // namespace mech
