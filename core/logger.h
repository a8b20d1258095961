// Opt-in logging: the library prints nothing unless the embedding program installs a sink.
#pragma once

#include <functional>
#include <string>

#include <fmt/format.h>

namespace mech {

enum class LogLevel { Debug, Info, Warning };
using LogSink = std::function<void(LogLevel, const std::string&)>;

void set_log_sink(LogSink sink);  // an empty function turns logging off again
bool log_enabled();
void log_message(LogLevel level, const std::string& message);

template <class... Args>
void log_warning(fmt::format_string<Args...> format, Args&&... args) {
  if (log_enabled()) log_message(LogLevel::Warning, fmt::format(format, std::forward<Args>(args)...));
}
template <class... Args>
void log_info(fmt::format_string<Args...> format, Args&&... args) {
  if (log_enabled()) log_message(LogLevel::Info, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace mech
