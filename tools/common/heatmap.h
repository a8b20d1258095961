// Space-time pictures for the drivers: false-colour images (rows = time, columns = space) placed
// side by side in one SVG file, each image embedded as a PNG so that a 100 x 256 field costs
// ~100 kB rather than 25 600 SVG rectangles. Written atomically like every driver output.
//
//   mech::tools::Heatmap truth{.title = "truth", .rows = 100, .columns = 256, .values = u};
//   mech::tools::save_heatmaps(out_dir + "/rollout.svg", "KdV rollout", {truth, prediction, error},
//                              "x (grid point)", "frame");
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mech::tools {

struct Heatmap {
  std::string title;
  std::int64_t rows = 0, columns = 0;
  std::vector<double> values;  // rows x columns, row-major; row 0 is drawn at the top
  // Colour range; low == high picks it from the data (symmetric about 0 for diverging maps).
  double low = 0.0, high = 0.0;
  bool diverging = true;  // blue-white-red about 0; false: a dark-to-bright sequential map
};

// One panel per heatmap, left to right, each with its colour range written under it. Throws
// mech::Error on an inconsistent heatmap and mech::IoError when the file cannot be written.
void save_heatmaps(const std::string& path, const std::string& title, const std::vector<Heatmap>& heatmaps,
                   const std::string& x_label, const std::string& y_label);

// The PNG bytes of an 8-bit RGB image (rgb holds width x height x 3 bytes, row-major), stored
// without compression (zlib "stored" blocks): valid for every reader, and small enough here.
std::string encode_png(std::int64_t width, std::int64_t height, const std::vector<std::uint8_t>& rgb);

}  // namespace mech::tools
