// Heatmap SVGs with embedded PNG images (tools/common/heatmap.h): a minimal PNG writer (stored
// zlib blocks, CRC-32, Adler-32), base64, two colour maps and the SVG layout.
#include "tools/common/heatmap.h"

#include <algorithm>
#include <array>
#include <cmath>

#include <fmt/format.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "tools/common/svg.h"

namespace mech::tools {
namespace {

std::uint32_t crc32(const std::string& bytes, std::size_t begin) {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> values{};
    for (std::uint32_t n = 0; n < 256; ++n) {
      std::uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      values[n] = c;
    }
    return values;
  }();
  std::uint32_t c = 0xFFFFFFFFu;
  for (std::size_t i = begin; i < bytes.size(); ++i) c = table[(c ^ static_cast<std::uint8_t>(bytes[i])) & 0xFFu] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

void put_u32(std::string& out, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((value >> shift) & 0xFFu));
}

void put_chunk(std::string& png, const char* type, const std::string& data) {
  put_u32(png, static_cast<std::uint32_t>(data.size()));
  const std::size_t crc_begin = png.size();
  png += type;
  png += data;
  put_u32(png, crc32(png, crc_begin));
}

std::string base64(const std::string& bytes) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::size_t left = bytes.size() - i;
    std::uint32_t word = static_cast<std::uint8_t>(bytes[i]) << 16;
    if (left > 1) word |= static_cast<std::uint8_t>(bytes[i + 1]) << 8;
    if (left > 2) word |= static_cast<std::uint8_t>(bytes[i + 2]);
    out.push_back(alphabet[(word >> 18) & 63]);
    out.push_back(alphabet[(word >> 12) & 63]);
    out.push_back(left > 1 ? alphabet[(word >> 6) & 63] : '=');
    out.push_back(left > 2 ? alphabet[word & 63] : '=');
  }
  return out;
}

// t in [0, 1] -> colour. Diverging: blue (0) - white (0.5) - red (1). Sequential: black to
// yellow through purple and orange (a magma-like ramp by linear segments).
std::array<std::uint8_t, 3> colour(double t, bool diverging) {
  t = std::clamp(std::isfinite(t) ? t : 0.5, 0.0, 1.0);
  auto mix = [](std::array<double, 3> a, std::array<double, 3> b, double s) {
    std::array<std::uint8_t, 3> c{};
    for (int k = 0; k < 3; ++k) c[static_cast<std::size_t>(k)] = static_cast<std::uint8_t>(std::lround(a[k] + (b[k] - a[k]) * s));
    return c;
  };
  if (diverging)
    return t < 0.5 ? mix({33, 102, 172}, {247, 247, 247}, t / 0.5) : mix({247, 247, 247}, {178, 24, 43}, (t - 0.5) / 0.5);
  static const std::array<std::array<double, 3>, 4> stops = {{{0, 0, 4}, {120, 28, 109}, {237, 105, 37}, {252, 255, 164}}};
  const double scaled = t * 3.0;
  const std::size_t segment = std::min<std::size_t>(2, static_cast<std::size_t>(scaled));
  return mix(stops[segment], stops[segment + 1], scaled - static_cast<double>(segment));
}

}  // namespace

std::string encode_png(std::int64_t width, std::int64_t height, const std::vector<std::uint8_t>& rgb) {
  MECH_CHECK(width > 0 && height > 0 && static_cast<std::int64_t>(rgb.size()) == width * height * 3,
             "encode_png: {} bytes for a {} x {} RGB image (expected {})", rgb.size(), width, height, width * height * 3);
  std::string png("\x89PNG\r\n\x1a\n", 8);
  std::string header;
  put_u32(header, static_cast<std::uint32_t>(width));
  put_u32(header, static_cast<std::uint32_t>(height));
  header += std::string("\x08\x02\x00\x00\x00", 5);  // 8 bits, RGB, deflate, no filter method, no interlace
  put_chunk(png, "IHDR", header);

  // The scanlines, each after filter byte 0, in zlib stored blocks of at most 65535 bytes.
  std::string raw;
  raw.reserve(static_cast<std::size_t>(height * (width * 3 + 1)));
  for (std::int64_t row = 0; row < height; ++row) {
    raw.push_back('\0');
    raw.append(reinterpret_cast<const char*>(rgb.data() + row * width * 3), static_cast<std::size_t>(width * 3));
  }
  std::string zlib("\x78\x01", 2);
  for (std::size_t begin = 0; begin < raw.size() || begin == 0; begin += 65535) {
    const std::size_t length = std::min<std::size_t>(65535, raw.size() - begin);
    const bool last = begin + length >= raw.size();
    zlib.push_back(last ? '\x01' : '\x00');
    zlib.push_back(static_cast<char>(length & 0xFFu));
    zlib.push_back(static_cast<char>(length >> 8));
    zlib.push_back(static_cast<char>(~length & 0xFFu));
    zlib.push_back(static_cast<char>((~length >> 8) & 0xFFu));
    zlib.append(raw, begin, length);
    if (last) break;
  }
  std::uint32_t a = 1, b = 0;
  for (char byte : raw) {
    a = (a + static_cast<std::uint8_t>(byte)) % 65521u;
    b = (b + a) % 65521u;
  }
  put_u32(zlib, (b << 16) | a);
  put_chunk(png, "IDAT", zlib);
  put_chunk(png, "IEND", "");
  return png;
}

void save_heatmaps(const std::string& path, const std::string& title, const std::vector<Heatmap>& heatmaps,
                   const std::string& x_label, const std::string& y_label) {
  MECH_CHECK(!heatmaps.empty(), "save_heatmaps: no heatmap for {}", path);
  const double panel_width = 300, panel_height = 240, margin = 50, top = 60, gap = 30;
  std::string body;
  for (std::size_t index = 0; index < heatmaps.size(); ++index) {
    const Heatmap& map = heatmaps[index];
    MECH_CHECK(map.rows > 0 && map.columns > 0 && static_cast<std::int64_t>(map.values.size()) == map.rows * map.columns,
               "save_heatmaps: heatmap '{}' has {} values for {} x {}", map.title, map.values.size(), map.rows,
               map.columns);
    double low = map.low, high = map.high;
    if (!(high > low)) {
      double smallest = 0, largest = 0, magnitude = 0;
      bool first = true;
      for (double value : map.values) {
        if (!std::isfinite(value)) continue;
        smallest = first ? value : std::min(smallest, value);
        largest = first ? value : std::max(largest, value);
        magnitude = std::max(magnitude, std::abs(value));
        first = false;
      }
      if (map.diverging) low = -magnitude, high = magnitude;
      else low = smallest, high = largest;
      if (!(high > low)) high = low + 1.0;
    }
    std::vector<std::uint8_t> rgb(static_cast<std::size_t>(map.rows * map.columns * 3));
    for (std::size_t i = 0; i < map.values.size(); ++i) {
      const auto c = colour((map.values[i] - low) / (high - low), map.diverging);
      std::copy(c.begin(), c.end(), rgb.begin() + static_cast<std::ptrdiff_t>(3 * i));
    }
    const double x = margin + static_cast<double>(index) * (panel_width + gap);
    body += fmt::format(R"svg(<text x="{}" y="{}" text-anchor="middle" font-size="14">{}</text>)svg" "\n",
                        x + panel_width / 2, top - 10, escape_xml(map.title));
    body += fmt::format(R"svg(<image x="{}" y="{}" width="{}" height="{}" preserveAspectRatio="none" )svg"
                        R"svg(style="image-rendering:pixelated" href="data:image/png;base64,{}"/>)svg" "\n",
                        x, top, panel_width, panel_height, base64(encode_png(map.columns, map.rows, rgb)));
    body += fmt::format(R"svg(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#444"/>)svg" "\n", x, top,
                        panel_width, panel_height);
    body += fmt::format(R"svg(<text x="{}" y="{}" text-anchor="middle" font-size="12">{} (colour {:.3g} to {:.3g})</text>)svg" "\n",
                        x + panel_width / 2, top + panel_height + 20, escape_xml(x_label), low, high);
  }
  const double width = 2 * margin + static_cast<double>(heatmaps.size()) * (panel_width + gap) - gap;
  const double height = top + panel_height + 40;
  std::string svg = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  svg += fmt::format(
      R"svg(<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}" font-family="sans-serif">)svg" "\n"
      R"svg(<rect width="100%" height="100%" fill="white"/>)svg" "\n"
      R"svg(<text x="{}" y="24" text-anchor="middle" font-size="16">{}</text>)svg" "\n"
      R"svg(<text x="18" y="{}" font-size="12" transform="rotate(-90 18 {})" text-anchor="middle">{} (down)</text>)svg" "\n",
      width, height, width, height, width / 2, escape_xml(title), top + panel_height / 2, top + panel_height / 2,
      escape_xml(y_label));
  svg += body;
  svg += "</svg>\n";
  write_file_atomically(path, svg);
}

}  // namespace mech::tools
