// ProgressBar: throttled in-place redraw on terminals, plain lines elsewhere.
#include "tools/common/progress.h"

#include <algorithm>
#include <utility>

#include <fmt/format.h>
#include <unistd.h>

namespace mech::tools {
namespace {

constexpr int kBarWidth = 24;

double seconds_between(std::chrono::steady_clock::time_point from, std::chrono::steady_clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  long whole = static_cast<long>(std::lround(seconds));
  if (whole < 60) return fmt::format("{}s", whole);
  long hours = whole / 3600, minutes = (whole / 60) % 60, rest = whole % 60;
  if (hours > 0) return fmt::format("{}:{:02}:{:02}", hours, minutes, rest);
  return fmt::format("{}:{:02}", minutes, rest);
}

ProgressBar::ProgressBar(long total, std::string label, std::FILE* stream, Mode mode)
    : total_(std::max(0L, total)), label_(std::move(label)), stream_(stream) {
  if (mode == Mode::Auto) {
    terminal_ = stream_ != nullptr && isatty(fileno(stream_)) == 1;
  } else {
    terminal_ = mode == Mode::Terminal;
  }
  // A terminal redraw is cheap and reads as animation; a log file wants few lines.
  min_interval_ = terminal_ ? 0.1 : 5.0;
  start_ = std::chrono::steady_clock::now();
  last_write_ = start_;
}

ProgressBar::~ProgressBar() { finish(); }

std::string ProgressBar::format_status(long iteration, double loss, double elapsed_seconds,
                                       const std::string& extra) const {
  std::string text = label_;
  if (!text.empty()) text += ' ';
  if (total_ > 0) {
    double fraction = std::clamp(static_cast<double>(iteration) / static_cast<double>(total_), 0.0, 1.0);
    int filled = static_cast<int>(fraction * kBarWidth);
    text += '[';
    text.append(static_cast<size_t>(filled), '#');
    text.append(static_cast<size_t>(kBarWidth - filled), '.');
    text += "] ";
    text += fmt::format("{}/{} ({:3.0f}%)", iteration, total_, 100.0 * fraction);
  } else {
    text += fmt::format("{} it", iteration);
  }
  if (has_loss_) text += fmt::format("  loss {:.4e}", loss);
  double rate = elapsed_seconds > 0 ? static_cast<double>(iteration) / elapsed_seconds : 0.0;
  text += rate >= 10 ? fmt::format("  {:.0f} it/s", rate) : fmt::format("  {:.2f} it/s", rate);
  if (total_ > 0 && iteration < total_) {
    text += "  ETA ";
    text += rate > 0 ? format_duration(static_cast<double>(total_ - iteration) / rate) : std::string("?");
  } else {
    text += "  elapsed ";
    text += format_duration(elapsed_seconds);
  }
  if (!extra.empty()) {
    text += "  ";
    text += extra;
  }
  return text;
}

void ProgressBar::update(long iteration, double loss, const std::string& extra) { record(iteration, true, loss, extra); }

void ProgressBar::update(long iteration) { record(iteration, false, 0.0, ""); }

void ProgressBar::record(long iteration, bool has_loss, double loss, const std::string& extra) {
  if (finished_) return;
  iteration_ = iteration;
  loss_ = loss;
  has_loss_ = has_loss;
  extra_ = extra;
  auto now = std::chrono::steady_clock::now();
  if (!written_once_ || seconds_between(last_write_, now) >= min_interval_) write(false);
}

void ProgressBar::finish() {
  if (finished_) return;
  write(true);
  finished_ = true;
}

void ProgressBar::write(bool final_write) {
  if (stream_ == nullptr) return;
  auto now = std::chrono::steady_clock::now();
  std::string text = format_status(iteration_, loss_, seconds_between(start_, now), extra_);
  if (terminal_) {
    // Pad with spaces so a shorter line fully covers the previous one.
    size_t width = text.size();
    if (width < last_width_) text += std::string(last_width_ - width, ' ');
    last_width_ = width;
    std::fputs(("\r" + text + (final_write ? "\n" : "")).c_str(), stream_);
  } else {
    std::fputs((text + "\n").c_str(), stream_);
  }
  std::fflush(stream_);
  last_write_ = now;
  written_once_ = true;
}

}  // namespace mech::tools
