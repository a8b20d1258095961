// The opt-in log sink.
#include "core/logger.h"

#include <mutex>

namespace mech {

namespace {
std::mutex sink_mutex;
LogSink& sink() {
  static LogSink instance;
  return instance;
}
}  // namespace

void set_log_sink(LogSink new_sink) {
  std::lock_guard<std::mutex> lock(sink_mutex);
  sink() = std::move(new_sink);
}

bool log_enabled() {
  std::lock_guard<std::mutex> lock(sink_mutex);
  return static_cast<bool>(sink());
}

void log_message(LogLevel level, const std::string& message) {
  std::lock_guard<std::mutex> lock(sink_mutex);
  if (sink()) sink()(level, message);
}

}  // namespace mech
