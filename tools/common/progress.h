// ProgressBar: training progress on stderr with the iteration count, the latest loss, the rate
// (iterations per second) and the estimated time left.
//
//   mech::tools::ProgressBar bar(epochs, "train");
//   for (long epoch = 0; epoch < epochs; ++epoch) { ...; bar.update(epoch + 1, loss); }
//   bar.finish();
//
// On a terminal the bar is redrawn in place (\r) at most about ten times a second; when the stream
// is not a terminal (a log file, CI) it writes plain lines, at most one every few seconds, so logs
// stay readable. The final state is always written by finish().
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

namespace mech::tools {

class ProgressBar {
 public:
  enum class Mode { Auto, Terminal, Lines };

  // total: the iteration count at completion (0 if unknown: no bar and no ETA are shown).
  explicit ProgressBar(long total, std::string label = "", std::FILE* stream = stderr, Mode mode = Mode::Auto);
  ~ProgressBar();  // calls finish() if the caller did not
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // iteration: how many iterations are done. extra: optional short text appended (e.g. "lr 1e-3").
  void update(long iteration, double loss, const std::string& extra = "");
  // A count without a loss (data generation, evaluation).
  void update(long iteration);
  // Writes the final state and ends the line; later calls to update() are ignored.
  void finish();

  // Minimum seconds between two outputs (defaults: 0.1 on a terminal, 5 for plain lines).
  void set_min_interval(double seconds) { min_interval_ = seconds; }
  bool is_terminal() const { return terminal_; }

  // The text of one status (without \r or newline); public so tests can check the format.
  std::string format_status(long iteration, double loss, double elapsed_seconds, const std::string& extra) const;

 private:
  void record(long iteration, bool has_loss, double loss, const std::string& extra);
  void write(bool final_write);

  long total_;
  std::string label_;
  std::FILE* stream_;
  bool terminal_;
  double min_interval_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_write_;
  bool written_once_ = false;
  bool finished_ = false;
  long iteration_ = 0;
  double loss_ = 0.0;
  bool has_loss_ = false;
  std::string extra_;
  size_t last_width_ = 0;  // to blank the tail when a redrawn line is shorter
};

// "1:02:03", "4:05" or "7s" style durations.
std::string format_duration(double seconds);

}  // namespace mech::tools
