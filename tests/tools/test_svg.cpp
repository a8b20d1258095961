// Tests of the SVG plot writer (tools/common/svg.h): the output is well-formed XML (checked by a
// small checker written here), ticks are nice numbers covering the data, log axes tick at powers
// of ten, and files are written atomically.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <utility>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <gtest/gtest.h>

#include "core/error.h"
#include "tools/common/svg.h"

namespace mech::tools {
namespace {

// ---- a minimal XML well-formedness checker ------------------------------------------------------
// Enough of XML 1.0 for what a plot writer emits: an optional <?xml ...?> declaration, elements with
// quoted attributes (unique per element), self-closing tags, text and the five predefined entities
// plus numeric character references. Returns an empty string when well formed, else the first problem.

bool is_name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':'; }
bool is_name_char(char c) {
  return is_name_start(c) || std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.';
}

// Checks an entity reference starting at text[at] == '&'; on success moves `at` past the ';'.
bool entity_ok(const std::string& text, size_t& at) {
  size_t end = text.find(';', at);
  if (end == std::string::npos) return false;
  std::string name = text.substr(at + 1, end - at - 1);
  static const std::set<std::string> predefined = {"amp", "lt", "gt", "quot", "apos"};
  bool ok = predefined.count(name) > 0;
  if (!ok && name.size() >= 2 && name[0] == '#') {
    ok = name.find_first_not_of("0123456789", 1) == std::string::npos ||
         (name[1] == 'x' && name.size() > 2 && name.find_first_not_of("0123456789abcdefABCDEF", 2) == std::string::npos);
  }
  if (ok) at = end + 1;
  return ok;
}

std::string check_well_formed(const std::string& xml) {
  size_t at = 0;
  auto skip_space = [&] {
    while (at < xml.size() && std::isspace(static_cast<unsigned char>(xml[at]))) ++at;
  };
  auto read_name = [&]() -> std::string {
    if (at >= xml.size() || !is_name_start(xml[at])) return {};
    size_t start = at;
    while (at < xml.size() && is_name_char(xml[at])) ++at;
    return xml.substr(start, at - start);
  };

  if (xml.compare(0, 5, "<?xml") == 0) {
    size_t end = xml.find("?>");
    if (end == std::string::npos) return "unterminated XML declaration";
    at = end + 2;
  }
  std::vector<std::string> open;
  int roots = 0;
  while (at < xml.size()) {
    if (xml[at] != '<') {
      // Character data: no raw '<' (by construction), '&' only as an entity, nothing outside the root.
      if (open.empty() && !std::isspace(static_cast<unsigned char>(xml[at])))
        return "text outside the root element at offset " + std::to_string(at);
      if (xml[at] == '&') {
        if (!entity_ok(xml, at)) return "bad entity in text at offset " + std::to_string(at);
        continue;
      }
      if (xml[at] == '>') return "raw '>' in text at offset " + std::to_string(at);
      ++at;
      continue;
    }
    ++at;  // past '<'
    if (at < xml.size() && xml[at] == '/') {
      ++at;
      std::string name = read_name();
      skip_space();
      if (at >= xml.size() || xml[at] != '>') return "malformed closing tag </" + name;
      ++at;
      if (open.empty() || open.back() != name)
        return "closing tag </" + name + "> does not match <" + (open.empty() ? "" : open.back()) + ">";
      open.pop_back();
      continue;
    }
    std::string name = read_name();
    if (name.empty()) return "missing element name at offset " + std::to_string(at);
    if (open.empty() && ++roots > 1) return "more than one root element";
    std::set<std::string> attributes;
    while (true) {
      size_t before_space = at;
      skip_space();
      if (at >= xml.size()) return "unterminated tag <" + name;
      if (xml[at] == '>') {
        ++at;
        open.push_back(name);
        break;
      }
      if (xml.compare(at, 2, "/>") == 0) {
        at += 2;
        break;
      }
      if (at == before_space) return "attributes of <" + name + "> are not separated by space";
      std::string attribute = read_name();
      if (attribute.empty()) return "bad attribute name in <" + name + ">";
      if (!attributes.insert(attribute).second) return "duplicate attribute " + attribute + " in <" + name + ">";
      skip_space();
      if (at >= xml.size() || xml[at] != '=') return "attribute " + attribute + " of <" + name + "> has no '='";
      ++at;
      skip_space();
      if (at >= xml.size() || (xml[at] != '"' && xml[at] != '\''))
        return "attribute " + attribute + " of <" + name + "> is not quoted";
      char quote = xml[at++];
      while (at < xml.size() && xml[at] != quote) {
        if (xml[at] == '<') return "'<' inside attribute " + attribute;
        if (xml[at] == '&') {
          if (!entity_ok(xml, at)) return "bad entity inside attribute " + attribute;
          continue;
        }
        ++at;
      }
      if (at >= xml.size()) return "unterminated attribute " + attribute;
      ++at;  // past the closing quote
    }
  }
  if (!open.empty()) return "unclosed element <" + open.back() + ">";
  if (roots != 1) return "no root element";
  return {};
}

TEST(XmlChecker, CatchesTheUsualMistakes) {
  // The checker is only worth something if it fails on broken documents.
  EXPECT_EQ(check_well_formed("<a x=\"1\"><b/>t &amp; u</a>"), "");
  EXPECT_NE(check_well_formed("<a><b></a></b>"), "");
  EXPECT_NE(check_well_formed("<a><b></a>"), "");
  EXPECT_NE(check_well_formed("<a x=1/>"), "");
  EXPECT_NE(check_well_formed("<a x=\"1\" x=\"2\"/>"), "");
  EXPECT_NE(check_well_formed("<a>fish & chips</a>"), "");
  EXPECT_NE(check_well_formed("<a y=\"<\"/>"), "");
  EXPECT_NE(check_well_formed("<a/><b/>"), "");
  EXPECT_NE(check_well_formed("<a>1 > 0</a>"), "");
}

// ---- ticks --------------------------------------------------------------------------------------

// True when step is 1, 2 or 5 times a power of ten.
bool is_nice(double step) {
  double exponent = std::floor(std::log10(step) + 1e-12);
  double mantissa = step / std::pow(10.0, exponent);
  for (double nice : {1.0, 2.0, 5.0, 10.0})
    if (std::fabs(mantissa - nice) < 1e-9) return true;
  return false;
}

TEST(Ticks, NiceStepIsOneTwoOrFiveTimesAPowerOfTen) {
  EXPECT_DOUBLE_EQ(nice_step(10.0, 5), 2.0);
  EXPECT_DOUBLE_EQ(nice_step(1.0, 5), 0.2);
  EXPECT_DOUBLE_EQ(nice_step(4.0e-3, 4), 1e-3);
  EXPECT_DOUBLE_EQ(nice_step(2.6e5, 5), 5e4);
  for (double range = 1e-6; range < 1e7; range *= 1.37) EXPECT_TRUE(is_nice(nice_step(range, 5))) << range;
}

TEST(Ticks, LinearTicksCoverTheDataAtWholeSteps) {
  const double cases[][2] = {{-17.3, 42.1}, {0.0, 1.0}, {0.013, 0.0171}, {-3e5, -1e5}, {995.0, 1003.0}, {-1.0, 1e-3}};
  for (const auto& range : cases) {
    AxisTicks ticks = nice_linear_ticks(range[0], range[1]);
    ASSERT_GE(ticks.values.size(), 3u) << range[0];
    ASSERT_LE(ticks.values.size(), 12u) << range[0];
    double step = ticks.values[1] - ticks.values[0];
    // Data within rounding of a tick (0.013 / 0.001 = 12.999...) counts as on it.
    EXPECT_LE(ticks.low, range[0] + step * 1e-9);
    EXPECT_GE(ticks.high, range[1] - step * 1e-9);
    EXPECT_TRUE(is_nice(step)) << step;
    EXPECT_NEAR(ticks.values.front(), ticks.low, step * 1e-9);
    EXPECT_NEAR(ticks.values.back(), ticks.high, step * 1e-9);
    for (size_t i = 1; i < ticks.values.size(); ++i) EXPECT_NEAR(ticks.values[i] - ticks.values[i - 1], step, step * 1e-9);
    // Not wider than needed: less than one step of slack at either end.
    EXPECT_GT(ticks.low, range[0] - step);
    EXPECT_LT(ticks.high, range[1] + step);
    ASSERT_EQ(ticks.labels.size(), ticks.values.size());
  }
}

TEST(Ticks, LabelsAreShortAndNeverNegativeZero) {
  AxisTicks ticks = nice_linear_ticks(-17.3, 42.1);
  std::vector<std::string> expected = {"-20", "-10", "0", "10", "20", "30", "40", "50"};
  EXPECT_EQ(ticks.labels, expected);
  AxisTicks fractional = nice_linear_ticks(-0.3, 0.3);
  expected = {"-0.3", "-0.2", "-0.1", "0.0", "0.1", "0.2", "0.3"};
  EXPECT_EQ(fractional.labels, expected);
}

TEST(Ticks, ConstantDataGetsABand) {
  AxisTicks ticks = nice_linear_ticks(5.0, 5.0);
  EXPECT_LT(ticks.low, 5.0);
  EXPECT_GT(ticks.high, 5.0);
  AxisTicks zero = nice_linear_ticks(0.0, 0.0);
  EXPECT_LT(zero.low, 0.0);
  EXPECT_GT(zero.high, 0.0);
}

TEST(Ticks, ExtremeRangesStillGiveTicksAndEnd) {
  // A span that overflows a double, and a tiny span far from zero where k + 1 == k.
  for (auto range : {std::pair{-1e308, 1e308}, std::pair{1e17, 1e17 + 64.0}, std::pair{-1e-300, 1e-300}}) {
    AxisTicks ticks = nice_linear_ticks(range.first, range.second);
    EXPECT_GE(ticks.values.size(), 2u) << range.first;
    EXPECT_LE(ticks.values.size(), 1001u) << range.first;
    EXPECT_EQ(ticks.values.size(), ticks.labels.size());
    EXPECT_LE(ticks.low, range.first);
    EXPECT_GE(ticks.high, range.second);
  }
  Figure figure;
  figure.add_panel().line({0.0, 1.0}, {1e17, 1e17 + 64.0});
  EXPECT_EQ(check_well_formed(figure.to_svg()), "");
}

TEST(Ticks, LogTicksArePowersOfTen) {
  AxisTicks ticks = log_ticks(3e-4, 2e2);
  EXPECT_DOUBLE_EQ(ticks.low, 1e-4);
  EXPECT_DOUBLE_EQ(ticks.high, 1e3);
  ASSERT_EQ(ticks.values.size(), 8u);
  for (size_t i = 0; i < ticks.values.size(); ++i)
    EXPECT_NEAR(std::log10(ticks.values[i]), -4.0 + static_cast<double>(i), 1e-12);
  std::vector<std::string> expected = {"1e-4", "0.001", "0.01", "0.1", "1", "10", "100", "1000"};
  EXPECT_EQ(ticks.labels, expected);
}

TEST(Ticks, LogTicksInsideOneDecadeAddTwoAndFive) {
  AxisTicks ticks = log_ticks(2.0, 8.0);
  std::vector<double> expected = {1.0, 2.0, 5.0, 10.0};
  EXPECT_EQ(ticks.values, expected);
}

TEST(Ticks, WideLogRangesThinOutTheDecades) {
  AxisTicks ticks = log_ticks(1e-12, 1e3);
  EXPECT_LE(ticks.values.size(), 8u);
  EXPECT_LE(ticks.low, 1e-12);
  EXPECT_GE(ticks.high, 1e3);
  for (double value : ticks.values) EXPECT_NEAR(std::log10(value), std::round(std::log10(value)), 1e-12);
  EXPECT_THROW(log_ticks(0.0, 1.0), mech::Error);
}

// ---- figures ------------------------------------------------------------------------------------

size_t count(const std::string& text, const std::string& what) {
  size_t found = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++found;
  return found;
}

Figure make_figure() {
  Figure figure("Errors & \"quotes\" <here>", 2);
  std::vector<double> t, sine, steps, errors;
  for (int i = 0; i <= 100; ++i) {
    t.push_back(0.1 * i);
    sine.push_back(std::sin(0.1 * i));
  }
  sine[50] = std::numeric_limits<double>::quiet_NaN();  // breaks the line in two
  Panel& first = figure.add_panel();
  first.set_title("a < b").set_x_label("t [s]").set_y_label("u(t)");
  first.line(t, sine, "fit 'mech'").scatter({0.0, 5.0, 10.0}, {0.0, -0.9, 0.5}, "data", "black");
  for (int k = 1; k <= 4; ++k) {
    steps.push_back(std::pow(10.0, -k));
    errors.push_back(0.55 * std::pow(10.0, -2 * k));
  }
  Panel& second = figure.add_panel();
  second.set_title("convergence").set_x_scale(AxisScale::Log).set_y_scale(AxisScale::Log);
  second.line(steps, errors, "error").line({1e-4, 1e-1}, {1e-8, 1e-2}, "slope 2", "", true);
  second.scatter({-1.0, 0.0}, {1.0, 1.0});  // non-positive x: skipped on a log axis
  return figure;
}

TEST(Figure, OutputIsWellFormedXml) {
  std::string svg = make_figure().to_svg();
  EXPECT_EQ(check_well_formed(svg), "") << svg.substr(0, 2000);
  EXPECT_EQ(svg.find("<here>"), std::string::npos);
  EXPECT_NE(svg.find("Errors &amp; &quot;quotes&quot; &lt;here&gt;"), std::string::npos);
  EXPECT_NE(svg.find("a &lt; b"), std::string::npos);
  EXPECT_NE(svg.find("fit &apos;mech&apos;"), std::string::npos);
}

TEST(Figure, DrawsEverySeriesAndBreaksLinesAtNaN) {
  std::string svg = make_figure().to_svg();
  // Panel 1: one line in two pieces and 3 scatter points; panel 2: two lines, both scatter
  // points dropped (x <= 0 on a log axis); legend samples: 3 labelled series as lines, 1 as circle.
  EXPECT_EQ(count(svg, "<path "), 3u);
  size_t first_path = svg.find("<path d=\"");
  std::string first = svg.substr(first_path, svg.find('"', first_path + 9) - first_path);
  EXPECT_EQ(count(first, "M"), 2u) << first;
  EXPECT_EQ(count(first, "L"), 98u);  // 100 valid points in two runs of 50
  EXPECT_EQ(count(svg, "<circle "), 3u + 1u);
  EXPECT_EQ(count(svg, "stroke-dasharray"), 2u);  // the dashed line and its legend sample
  EXPECT_EQ(count(svg, "<clipPath "), 2u);
  EXPECT_NE(svg.find("1e-4"), std::string::npos);
  EXPECT_NE(svg.find("1e-9"), std::string::npos);  // the error axis starts at 5.5e-9
}

TEST(Figure, LogAxisPlacesDecadesEvenly) {
  Figure figure;
  figure.add_panel().set_x_scale(AxisScale::Log).line({1.0, 10.0, 100.0}, {1.0, 2.0, 3.0});
  std::string svg = figure.to_svg();
  size_t at = svg.find("<path d=\"M");
  ASSERT_NE(at, std::string::npos);
  std::istringstream path(svg.substr(at + 10, svg.find('"', at + 10) - at - 10));
  double x0, y0, x1, y1, x2, y2;
  char letter;
  path >> x0 >> y0 >> letter >> x1 >> y1 >> letter >> x2 >> y2;
  EXPECT_NEAR(x1 - x0, x2 - x1, 0.02);  // equal pixel distance per decade
  EXPECT_GT(x1 - x0, 100.0);
}

TEST(Figure, SaveWritesAtomicallyAndReportsFailures) {
  std::filesystem::path directory = std::filesystem::temp_directory_path() / (std::string("mech_test_svg_") + std::to_string(::getpid()));
  std::filesystem::create_directories(directory);
  std::filesystem::path file = directory / "plot.svg";
  Figure figure = make_figure();
  figure.save(file.string());
  std::ifstream in(file);
  std::stringstream content;
  content << in.rdbuf();
  EXPECT_EQ(content.str(), figure.to_svg());
  for (const auto& entry : std::filesystem::directory_iterator(directory))
    EXPECT_EQ(entry.path().filename(), "plot.svg") << "temporary file left behind";
  std::filesystem::remove_all(directory);
  EXPECT_THROW(figure.save((directory / "missing" / "plot.svg").string()), mech::IoError);
}

TEST(Figure, DriverPicturesAreWellFormed) {
  // A real picture: mech-sindy's truth-against-discovered plot (thousands of points, two panels).
  std::filesystem::path directory = std::filesystem::temp_directory_path() / (std::string("mech_test_svg_driver_") + std::to_string(::getpid()));
  std::filesystem::remove_all(directory);
  std::string command = std::string(MECH_BIN_DIR) + "/mech-sindy --length 1000 --out-dir " + directory.string() +
                        " >/dev/null 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0);
  std::ifstream in(directory / "trajectory.svg");
  std::stringstream content;
  content << in.rdbuf();
  EXPECT_EQ(check_well_formed(content.str()), "");
  EXPECT_EQ(count(content.str(), "<path "), 4u);  // truth and model in each of two panels
  std::filesystem::remove_all(directory);
}

TEST(Figure, RejectsMismatchedSeries) {
  Figure figure;
  EXPECT_THROW(figure.add_panel().line({1.0, 2.0}, {1.0}), mech::Error);
}

}  // namespace
}  // namespace mech::tools
