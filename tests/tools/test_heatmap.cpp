// Tests of the heatmap writer (tools/common/heatmap.h): the PNG it embeds is decoded here by hand
// (chunk CRCs, stored zlib blocks, Adler-32, scanlines) and must give back the pixels; the SVG
// holds one image per panel and the colour ranges; bad input throws.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "tools/common/heatmap.h"

namespace mech::tools {
namespace {

std::uint32_t read_u32(const std::string& bytes, std::size_t at) {
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < 4; ++i) value = (value << 8) | static_cast<std::uint8_t>(bytes[at + i]);
  return value;
}

std::uint32_t reference_crc32(const std::string& bytes) {  // bitwise, no table
  std::uint32_t crc = 0xFFFFFFFFu;
  for (char byte : bytes) {
    crc ^= static_cast<std::uint8_t>(byte);
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

struct DecodedPng {
  std::uint32_t width = 0, height = 0;
  std::vector<std::uint8_t> rgb;
};

DecodedPng decode(const std::string& png) {
  DecodedPng image;
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  std::string idat;
  std::size_t at = 8;
  std::vector<std::string> types;
  while (at < png.size()) {
    const std::uint32_t length = read_u32(png, at);
    const std::string type = png.substr(at + 4, 4), data = png.substr(at + 8, length);
    EXPECT_EQ(read_u32(png, at + 8 + length), reference_crc32(type + data)) << type;
    types.push_back(type);
    if (type == "IHDR") {
      image.width = read_u32(data, 0);
      image.height = read_u32(data, 4);
      EXPECT_EQ(data.substr(8), std::string("\x08\x02\x00\x00\x00", 5));
    }
    if (type == "IDAT") idat += data;
    at += 12 + length;
  }
  EXPECT_EQ(types, (std::vector<std::string>{"IHDR", "IDAT", "IEND"}));
  // zlib: header, stored blocks, Adler-32 of the raw bytes.
  EXPECT_EQ((static_cast<std::uint8_t>(idat[0]) * 256 + static_cast<std::uint8_t>(idat[1])) % 31, 0);
  std::string raw;
  std::size_t position = 2;
  for (bool last = false; !last;) {
    last = idat[position] & 1;
    EXPECT_EQ(idat[position] & 6, 0) << "stored block";
    const std::size_t length = static_cast<std::uint8_t>(idat[position + 1]) | (static_cast<std::uint8_t>(idat[position + 2]) << 8);
    const std::size_t complement = static_cast<std::uint8_t>(idat[position + 3]) | (static_cast<std::uint8_t>(idat[position + 4]) << 8);
    EXPECT_EQ(length ^ complement, 0xFFFFu);
    raw += idat.substr(position + 5, length);
    position += 5 + length;
  }
  std::uint32_t a = 1, b = 0;
  for (char byte : raw) a = (a + static_cast<std::uint8_t>(byte)) % 65521u, b = (b + a) % 65521u;
  EXPECT_EQ(read_u32(idat, position), (b << 16) | a);
  EXPECT_EQ(raw.size(), static_cast<std::size_t>(image.height) * (image.width * 3 + 1));
  for (std::uint32_t row = 0; row < image.height; ++row) {
    EXPECT_EQ(raw[row * (image.width * 3 + 1)], '\0') << "filter type 0";
    for (std::uint32_t i = 0; i < image.width * 3; ++i)
      image.rgb.push_back(static_cast<std::uint8_t>(raw[row * (image.width * 3 + 1) + 1 + i]));
  }
  return image;
}

TEST(Heatmap, PngRoundTripsItsPixels) {
  // 140 x 200 x 3 bytes of raw scanlines: more than one 65535-byte stored block.
  const std::int64_t width = 200, height = 140;
  std::vector<std::uint8_t> rgb(static_cast<std::size_t>(width * height * 3));
  for (std::size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<std::uint8_t>((i * 37 + i / 611) & 0xFF);
  const DecodedPng image = decode(encode_png(width, height, rgb));
  EXPECT_EQ(image.width, 200u);
  EXPECT_EQ(image.height, 140u);
  EXPECT_EQ(image.rgb, rgb);
  EXPECT_THROW(encode_png(2, 2, std::vector<std::uint8_t>(11)), Error);
}

TEST(Heatmap, SvgHoldsOnePanelPerHeatmapWithItsRange) {
  const auto path = std::filesystem::temp_directory_path() / "mech_heatmap_test.svg";
  Heatmap signal{.title = "truth <u>", .rows = 2, .columns = 3, .values = {-1, 0, 1, 2, -2, 0.5}};
  Heatmap error{.title = "error", .rows = 2, .columns = 3, .values = {0, 1, 2, 3, 4, 5}, .diverging = false};
  save_heatmaps(path.string(), "a & b", {signal, error}, "x", "frame");
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  const std::string svg = text.str();
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  std::size_t images = 0;
  for (std::size_t at = svg.find("<image"); at != std::string::npos; at = svg.find("<image", at + 1)) ++images;
  EXPECT_EQ(images, 2u);
  EXPECT_NE(svg.find("truth &lt;u&gt;"), std::string::npos);
  EXPECT_NE(svg.find("a &amp; b"), std::string::npos);
  EXPECT_NE(svg.find("colour -2 to 2"), std::string::npos) << "symmetric range of a diverging map";
  EXPECT_NE(svg.find("colour 0 to 5"), std::string::npos) << "data range of a sequential map";
  EXPECT_NE(svg.find("data:image/png;base64,iVBORw0KGgo"), std::string::npos) << "the PNG signature in base64";
  std::filesystem::remove(path);

  Heatmap bad{.title = "bad", .rows = 2, .columns = 2, .values = {1, 2, 3}};
  EXPECT_THROW(save_heatmaps(path.string(), "t", {bad}, "x", "y"), Error);
  EXPECT_THROW(save_heatmaps(path.string(), "t", {}, "x", "y"), Error);
  EXPECT_FALSE(std::filesystem::exists(path));
}

}  // namespace
}  // namespace mech::tools
