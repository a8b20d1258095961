// A small SVG plot writer for the drivers' pictures: a figure of one or more panels laid out in a
// grid, each with axes (linear or logarithmic) carrying nice ticks, line and scatter series, a
// legend and titles. Files are written to a temporary name and renamed, so a reader never sees a
// half-written picture.
//
//   mech::tools::Figure figure("Lorenz: truth against discovered", 2);
//   auto& panel = figure.add_panel();
//   panel.set_title("x-z projection").set_x_label("x").set_y_label("z");
//   panel.line(x_true, z_true, "truth").line(x_model, z_model, "mech", "", true);
//   figure.save(out_dir + "/trajectory.svg");
#pragma once

#include <deque>
#include <string>
#include <vector>

namespace mech::tools {

enum class AxisScale { Linear, Log };

struct PlotSeries {
  enum class Kind { Line, Scatter };
  Kind kind = Kind::Line;
  std::string label;  // empty: not shown in the legend
  std::vector<double> x, y;
  std::string color;  // any SVG colour; empty picks the next of the palette
  double width = 1.6;           // line width, in pixels
  double marker_radius = 2.2;   // scatter marker radius, in pixels
  bool dashed = false;
};

class Panel {
 public:
  Panel& set_title(std::string title);
  Panel& set_x_label(std::string label);
  Panel& set_y_label(std::string label);
  Panel& set_x_scale(AxisScale scale);
  Panel& set_y_scale(AxisScale scale);
  // Fix an axis range instead of fitting the data (the fitted range is widened to nice ticks).
  Panel& set_x_range(double low, double high);
  Panel& set_y_range(double low, double high);
  // Same units per pixel on both axes (orbits, phase portraits); linear axes only.
  Panel& set_equal_aspect(bool equal);
  Panel& set_legend(bool show);

  // Non-finite points are skipped; a line breaks where one occurs. On a log axis non-positive
  // values are skipped the same way. x and y must have the same length.
  Panel& line(std::vector<double> x, std::vector<double> y, std::string label = "", std::string color = "",
              bool dashed = false);
  Panel& scatter(std::vector<double> x, std::vector<double> y, std::string label = "", std::string color = "");
  Panel& add(PlotSeries series);

  const std::vector<PlotSeries>& series() const { return series_; }

 private:
  friend class Figure;
  std::string title_, x_label_, y_label_;
  AxisScale x_scale_ = AxisScale::Linear, y_scale_ = AxisScale::Linear;
  bool has_x_range_ = false, has_y_range_ = false;
  double x_low_ = 0, x_high_ = 1, y_low_ = 0, y_high_ = 1;
  bool equal_aspect_ = false;
  bool legend_ = true;
  std::vector<PlotSeries> series_;
};

class Figure {
 public:
  // columns: panels per row; panel_width/height: size of one panel in pixels.
  explicit Figure(std::string title = "", int columns = 1, double panel_width = 520, double panel_height = 340);

  // The reference stays valid for the figure's lifetime.
  Panel& add_panel();
  size_t panel_count() const { return panels_.size(); }

  std::string to_svg() const;
  // Throws mech::IoError if the file cannot be written.
  void save(const std::string& path) const;

 private:
  std::string title_;
  int columns_;
  double panel_width_, panel_height_;
  std::deque<Panel> panels_;
};

// Axis ticks: a range widened to whole steps of 1, 2 or 5 times a power of ten, and the ticks in it.
struct AxisTicks {
  double low = 0, high = 1;  // the axis range (for log axes: the values, not their logarithms)
  std::vector<double> values;
  std::vector<std::string> labels;
};
// About target_count ticks at a nice step covering [low, high]; a degenerate range is widened.
AxisTicks nice_linear_ticks(double low, double high, int target_count = 5);
// Ticks at powers of ten (every n-th decade on wide ranges; 1-2-5 inside a single decade).
// low and high must be positive.
AxisTicks log_ticks(double low, double high);
// The step of nice_linear_ticks: 1, 2 or 5 times a power of ten, near range / target_count.
double nice_step(double range, int target_count);

// Escapes & < > " ' for SVG text and attribute values.
std::string escape_xml(const std::string& text);

}  // namespace mech::tools
