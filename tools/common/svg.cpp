// SVG plot writer: tick selection, the panel layout, series drawing, atomic file output.
#include "tools/common/svg.h"

#include <algorithm>
#include <cmath>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "core/atomic_file.h"
#include "core/error.h"

namespace mech::tools {
namespace {

// Colours that stay distinct for the common colour-vision deficiencies and in greyscale print.
const char* const kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
constexpr size_t kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);

// Pixel margins of a panel around its plot area.
constexpr double kMarginLeft = 72, kMarginRight = 20, kMarginBottom = 46, kMarginTopTitled = 30,
                 kMarginTopPlain = 14, kFigureTitleHeight = 30, kTickLength = 5;

std::string number(double value) { return fmt::format("{:.2f}", value); }

// Label text for a linear tick at a given step: as many decimals as the step needs, never "-0".
std::string linear_label(double value, double step) {
  if (std::fabs(value) < step * 1e-9) value = 0.0;
  double largest = std::fabs(value);
  if (largest >= 1e6 || step < 1e-5) return fmt::format("{:.3g}", value);
  int decimals = std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)));
  return fmt::format("{:.{}f}", value, decimals);
}

// Ticks at multiples of step inside [low, high] (inclusive up to rounding).
std::vector<double> multiples_inside(double low, double high, double step) {
  std::vector<double> values;
  double first = std::ceil(low / step - 1e-9);
  double last = std::floor(high / step + 1e-9);
  // An integer count keeps this finite where k + 1 == k (a tiny range far from zero, ~1e17).
  double count = last - first;
  if (!(count >= 0 && count <= 1000)) return values;
  for (long i = 0; i <= static_cast<long>(count); ++i) values.push_back((first + static_cast<double>(i)) * step);
  return values;
}

AxisTicks linear_ticks_in_fixed_range(double low, double high, int target_count) {
  AxisTicks ticks;
  ticks.low = low;
  ticks.high = high;
  double step = nice_step(high - low, target_count);
  ticks.values = multiples_inside(low, high, step);
  for (double value : ticks.values) ticks.labels.push_back(linear_label(value, step));
  return ticks;
}

std::string decade_label(double mantissa, int exponent) {
  if (exponent >= -3 && exponent <= 3) {
    double value = mantissa * std::pow(10.0, exponent);
    return linear_label(value, std::pow(10.0, exponent));
  }
  return fmt::format("{}e{}", static_cast<int>(mantissa), exponent);
}

// Range of the finite values (positive ones for a log axis) of one coordinate of all series.
bool data_range(const std::vector<PlotSeries>& series, bool use_x, bool positive_only, double* low, double* high) {
  bool any = false;
  for (const PlotSeries& one : series) {
    const std::vector<double>& values = use_x ? one.x : one.y;
    const std::vector<double>& other = use_x ? one.y : one.x;
    for (size_t i = 0; i < values.size(); ++i) {
      double value = values[i];
      if (!std::isfinite(value) || !std::isfinite(other[i])) continue;
      if (positive_only && value <= 0) continue;
      if (!any) {
        *low = *high = value;
        any = true;
      } else {
        *low = std::min(*low, value);
        *high = std::max(*high, value);
      }
    }
  }
  return any;
}

struct Axis {
  AxisScale scale;
  AxisTicks ticks;
  double pixel_low, pixel_high;  // pixel positions of ticks.low and ticks.high

  bool accepts(double value) const { return std::isfinite(value) && (scale == AxisScale::Linear || value > 0); }
  double to_pixel(double value) const {
    double fraction = scale == AxisScale::Log
                          ? (std::log10(value) - std::log10(ticks.low)) / (std::log10(ticks.high) - std::log10(ticks.low))
                          : (value - ticks.low) / (ticks.high - ticks.low);
    return pixel_low + fraction * (pixel_high - pixel_low);
  }
};

AxisTicks fit_axis(const std::vector<PlotSeries>& series, bool use_x, AxisScale scale,
                   bool has_range, double range_low, double range_high) {
  bool log = scale == AxisScale::Log;
  if (has_range) {
    if (log) {
      AxisTicks ticks = log_ticks(range_low, range_high);
      ticks.low = range_low;
      ticks.high = range_high;
      std::vector<double> values;
      std::vector<std::string> labels;
      for (size_t i = 0; i < ticks.values.size(); ++i) {
        if (ticks.values[i] >= range_low * (1 - 1e-9) && ticks.values[i] <= range_high * (1 + 1e-9)) {
          values.push_back(ticks.values[i]);
          labels.push_back(ticks.labels[i]);
        }
      }
      ticks.values = std::move(values);
      ticks.labels = std::move(labels);
      return ticks;
    }
    return linear_ticks_in_fixed_range(range_low, range_high, 5);
  }
  double low = log ? 1.0 : 0.0, high = log ? 10.0 : 1.0;
  data_range(series, use_x, log, &low, &high);
  return log ? log_ticks(low, high) : nice_linear_ticks(low, high, 5);
}

void draw_text(std::string& out, double x, double y, const std::string& text, const char* anchor, double size,
               const std::string& extra = "") {
  out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"{}\" font-size=\"{}\"{}>{}</text>\n", number(x),
                     number(y), anchor, size, extra, escape_xml(text));
}

}  // namespace

double nice_step(double range, int target_count) {
  if (!(range > 0) || !std::isfinite(range)) return 1.0;
  double raw = range / std::max(1, target_count);
  double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double normalised = raw / magnitude;
  double factor = normalised < 1.5 ? 1.0 : normalised < 3.5 ? 2.0 : normalised < 7.5 ? 5.0 : 10.0;
  return factor * magnitude;
}

AxisTicks nice_linear_ticks(double low, double high, int target_count) {
  if (!std::isfinite(low) || !std::isfinite(high)) low = 0.0, high = 1.0;
  if (high < low) std::swap(low, high);
  double scale = std::max({std::fabs(low), std::fabs(high), 1e-300});
  if (high - low <= scale * 1e-12) {
    // A constant series: show a small band around it rather than a zero-width axis.
    double half = low == 0.0 ? 1.0 : std::fabs(low) * 0.1;
    low -= half;
    high += half;
  }
  AxisTicks ticks;
  if (!std::isfinite(high - low) || high - low <= scale * 1e-12) {
    // Beyond what nice steps can express (a span overflowing a double, or below its resolution):
    // just mark the ends.
    ticks.low = low, ticks.high = high;
    ticks.values = {low, high};
    ticks.labels = {fmt::format("{:.6g}", low), fmt::format("{:.6g}", high)};
    return ticks;
  }
  double step = nice_step(high - low, target_count);
  ticks.low = std::floor(low / step + 1e-9) * step;
  ticks.high = std::ceil(high / step - 1e-9) * step;
  ticks.values = multiples_inside(ticks.low, ticks.high, step);
  for (double value : ticks.values) ticks.labels.push_back(linear_label(value, step));
  return ticks;
}

AxisTicks log_ticks(double low, double high) {
  MECH_CHECK(low > 0 && high > 0 && std::isfinite(low) && std::isfinite(high),
             "svg log axis: range [{}, {}] must be positive and finite", low, high);
  if (high < low) std::swap(low, high);
  int first = static_cast<int>(std::floor(std::log10(low) + 1e-9));
  int last = static_cast<int>(std::ceil(std::log10(high) - 1e-9));
  if (last <= first) last = first + 1;
  AxisTicks ticks;
  int decades = last - first;
  // At most eight labelled decades; wider ranges label every n-th decade.
  int stride = std::max(1, (decades + 6) / 7);
  last = first + ((decades + stride - 1) / stride) * stride;  // end the axis on a labelled decade
  ticks.low = std::pow(10.0, first);
  ticks.high = std::pow(10.0, last);
  for (int exponent = first; exponent <= last; exponent += stride) {
    ticks.values.push_back(std::pow(10.0, exponent));
    ticks.labels.push_back(decade_label(1, exponent));
    if (decades == 1 && exponent < last) {
      for (int mantissa : {2, 5}) {
        ticks.values.push_back(mantissa * std::pow(10.0, exponent));
        ticks.labels.push_back(decade_label(mantissa, exponent));
      }
    }
  }
  return ticks;
}

std::string escape_xml(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // Control characters other than tab and newline are not allowed in XML 1.0 at all.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n') {
          out += ' ';
        } else {
          out += c;
        }
    }
  }
  return out;
}

// ---- Panel --------------------------------------------------------------------------------------

Panel& Panel::set_title(std::string title) { title_ = std::move(title); return *this; }
Panel& Panel::set_x_label(std::string label) { x_label_ = std::move(label); return *this; }
Panel& Panel::set_y_label(std::string label) { y_label_ = std::move(label); return *this; }
Panel& Panel::set_x_scale(AxisScale scale) { x_scale_ = scale; return *this; }
Panel& Panel::set_y_scale(AxisScale scale) { y_scale_ = scale; return *this; }
Panel& Panel::set_equal_aspect(bool equal) { equal_aspect_ = equal; return *this; }
Panel& Panel::set_legend(bool show) { legend_ = show; return *this; }

Panel& Panel::set_x_range(double low, double high) {
  MECH_CHECK(std::isfinite(low) && std::isfinite(high) && low < high, "svg panel: x range [{}, {}] must be finite and increasing", low, high);
  has_x_range_ = true, x_low_ = low, x_high_ = high;
  return *this;
}

Panel& Panel::set_y_range(double low, double high) {
  MECH_CHECK(std::isfinite(low) && std::isfinite(high) && low < high, "svg panel: y range [{}, {}] must be finite and increasing", low, high);
  has_y_range_ = true, y_low_ = low, y_high_ = high;
  return *this;
}

Panel& Panel::add(PlotSeries series) {
  MECH_CHECK(series.x.size() == series.y.size(), "svg series '{}': x has {} points but y has {}", series.label,
             series.x.size(), series.y.size());
  if (series.color.empty()) series.color = kPalette[series_.size() % kPaletteSize];
  series_.push_back(std::move(series));
  return *this;
}

Panel& Panel::line(std::vector<double> x, std::vector<double> y, std::string label, std::string color, bool dashed) {
  PlotSeries series;
  series.kind = PlotSeries::Kind::Line;
  series.x = std::move(x), series.y = std::move(y);
  series.label = std::move(label), series.color = std::move(color);
  series.dashed = dashed;
  return add(std::move(series));
}

Panel& Panel::scatter(std::vector<double> x, std::vector<double> y, std::string label, std::string color) {
  PlotSeries series;
  series.kind = PlotSeries::Kind::Scatter;
  series.x = std::move(x), series.y = std::move(y);
  series.label = std::move(label), series.color = std::move(color);
  return add(std::move(series));
}

// ---- Figure -------------------------------------------------------------------------------------

Figure::Figure(std::string title, int columns, double panel_width, double panel_height)
    : title_(std::move(title)), columns_(std::max(1, columns)), panel_width_(panel_width), panel_height_(panel_height) {
  MECH_CHECK(panel_width >= 160 && panel_height >= 120, "svg figure: panel size {}x{} is too small (at least 160x120)",
             panel_width, panel_height);
}

Panel& Figure::add_panel() {
  panels_.emplace_back();
  return panels_.back();
}

std::string Figure::to_svg() const {
  size_t panel_count = std::max<size_t>(1, panels_.size());
  size_t columns = std::min<size_t>(static_cast<size_t>(columns_), panel_count);
  size_t rows = (panel_count + columns - 1) / columns;
  double title_height = title_.empty() ? 0.0 : kFigureTitleHeight;
  double width = static_cast<double>(columns) * panel_width_;
  double height = title_height + static_cast<double>(rows) * panel_height_;

  std::string out;
  out += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"Helvetica, Arial, sans-serif\">\n",
      number(width), number(height));
  out += fmt::format("<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"white\"/>\n", number(width), number(height));
  if (!title_.empty()) draw_text(out, width / 2, 21, title_, "middle", 16, " font-weight=\"bold\"");

  for (size_t index = 0; index < panels_.size(); ++index) {
    const Panel& panel = panels_[index];
    double origin_x = static_cast<double>(index % columns) * panel_width_;
    double origin_y = title_height + static_cast<double>(index / columns) * panel_height_;
    double left = origin_x + kMarginLeft, right = origin_x + panel_width_ - kMarginRight;
    double top = origin_y + (panel.title_.empty() ? kMarginTopPlain : kMarginTopTitled);
    double bottom = origin_y + panel_height_ - kMarginBottom;

    Axis x_axis{panel.x_scale_, fit_axis(panel.series_, true, panel.x_scale_, panel.has_x_range_, panel.x_low_, panel.x_high_), left, right};
    Axis y_axis{panel.y_scale_, fit_axis(panel.series_, false, panel.y_scale_, panel.has_y_range_, panel.y_low_, panel.y_high_), bottom, top};
    if (panel.equal_aspect_ && panel.x_scale_ == AxisScale::Linear && panel.y_scale_ == AxisScale::Linear) {
      // Widen the axis with fewer units per pixel about its centre until both match.
      double x_units = (x_axis.ticks.high - x_axis.ticks.low) / (right - left);
      double y_units = (y_axis.ticks.high - y_axis.ticks.low) / (bottom - top);
      Axis& widened = x_units > y_units ? y_axis : x_axis;
      double pixels = x_units > y_units ? bottom - top : right - left;
      double centre = 0.5 * (widened.ticks.low + widened.ticks.high);
      double half = 0.5 * std::max(x_units, y_units) * pixels;
      widened.ticks = linear_ticks_in_fixed_range(centre - half, centre + half, 5);
    }

    std::string clip_id = fmt::format("plot-area-{}", index);
    out += fmt::format("<g>\n<clipPath id=\"{}\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/></clipPath>\n",
                       clip_id, number(left), number(top), number(right - left), number(bottom - top));
    if (!panel.title_.empty()) draw_text(out, 0.5 * (left + right), top - 10, panel.title_, "middle", 14, " font-weight=\"bold\"");

    // Grid, ticks and tick labels.
    for (size_t i = 0; i < x_axis.ticks.values.size(); ++i) {
      double px = x_axis.to_pixel(x_axis.ticks.values[i]);
      out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#e5e5e5\" stroke-width=\"1\"/>\n",
                         number(px), number(top), number(bottom));
      out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"black\" stroke-width=\"1\"/>\n",
                         number(px), number(bottom), number(bottom + kTickLength));
      draw_text(out, px, bottom + kTickLength + 13, x_axis.ticks.labels[i], "middle", 11);
    }
    for (size_t i = 0; i < y_axis.ticks.values.size(); ++i) {
      double py = y_axis.to_pixel(y_axis.ticks.values[i]);
      out += fmt::format("<line x1=\"{1}\" y1=\"{0}\" x2=\"{2}\" y2=\"{0}\" stroke=\"#e5e5e5\" stroke-width=\"1\"/>\n",
                         number(py), number(left), number(right));
      out += fmt::format("<line x1=\"{1}\" y1=\"{0}\" x2=\"{2}\" y2=\"{0}\" stroke=\"black\" stroke-width=\"1\"/>\n",
                         number(py), number(left - kTickLength), number(left));
      draw_text(out, left - kTickLength - 3, py + 4, y_axis.ticks.labels[i], "end", 11);
    }
    out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"black\" stroke-width=\"1\"/>\n",
                       number(left), number(top), number(right - left), number(bottom - top));
    if (!panel.x_label_.empty()) draw_text(out, 0.5 * (left + right), bottom + 38, panel.x_label_, "middle", 12);
    if (!panel.y_label_.empty()) {
      double label_x = origin_x + 16, label_y = 0.5 * (top + bottom);
      draw_text(out, label_x, label_y, panel.y_label_, "middle", 12,
                fmt::format(" transform=\"rotate(-90 {} {})\"", number(label_x), number(label_y)));
    }

    // The series, clipped to the plot area.
    out += fmt::format("<g clip-path=\"url(#{})\">\n", clip_id);
    for (const PlotSeries& series : panel.series_) {
      if (series.kind == PlotSeries::Kind::Line) {
        std::string path;
        bool pen_down = false;
        for (size_t i = 0; i < series.x.size(); ++i) {
          if (!x_axis.accepts(series.x[i]) || !y_axis.accepts(series.y[i])) {
            pen_down = false;
            continue;
          }
          path += fmt::format("{}{} {} ", pen_down ? "L" : "M", number(x_axis.to_pixel(series.x[i])),
                              number(y_axis.to_pixel(series.y[i])));
          pen_down = true;
        }
        if (path.empty()) continue;
        path.pop_back();
        out += fmt::format("<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{}\" stroke-linejoin=\"round\"{}/>\n",
                           path, escape_xml(series.color), series.width,
                           series.dashed ? " stroke-dasharray=\"6 4\"" : "");
      } else {
        out += fmt::format("<g fill=\"{}\">\n", escape_xml(series.color));
        for (size_t i = 0; i < series.x.size(); ++i) {
          if (!x_axis.accepts(series.x[i]) || !y_axis.accepts(series.y[i])) continue;
          out += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"{}\"/>\n", number(x_axis.to_pixel(series.x[i])),
                             number(y_axis.to_pixel(series.y[i])), series.marker_radius);
        }
        out += "</g>\n";
      }
    }
    out += "</g>\n";

    // Legend in the top-right corner of the plot area.
    std::vector<const PlotSeries*> labelled;
    size_t longest = 0;
    for (const PlotSeries& series : panel.series_) {
      if (series.label.empty()) continue;
      labelled.push_back(&series);
      longest = std::max(longest, series.label.size());
    }
    if (panel.legend_ && !labelled.empty()) {
      double row_height = 16, box_width = 38 + 6.5 * static_cast<double>(longest);
      double box_height = 8 + row_height * static_cast<double>(labelled.size());
      double box_left = right - box_width - 8, box_top = top + 8;
      out += fmt::format(
          "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#999999\" stroke-width=\"0.8\"/>\n",
          number(box_left), number(box_top), number(box_width), number(box_height));
      for (size_t row = 0; row < labelled.size(); ++row) {
        const PlotSeries& series = *labelled[row];
        double y = box_top + 4 + row_height * (static_cast<double>(row) + 0.5);
        if (series.kind == PlotSeries::Kind::Line) {
          out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"{}\"{}/>\n",
                             number(box_left + 6), number(y), number(box_left + 26), number(y), escape_xml(series.color),
                             series.width, series.dashed ? " stroke-dasharray=\"6 4\"" : "");
        } else {
          out += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"3\" fill=\"{}\"/>\n", number(box_left + 16), number(y),
                             escape_xml(series.color));
        }
        draw_text(out, box_left + 32, y + 4, series.label, "start", 11);
      }
    }
    out += "</g>\n";
  }
  out += "</svg>\n";
  return out;
}

void Figure::save(const std::string& path) const { mech::write_file_atomically(path, std::string_view(to_svg())); }

}  // namespace mech::tools
