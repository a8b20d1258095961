// CommandLine: option binding, parsing of --name value / --name=value, usage text, exit codes.
#include "tools/common/cli.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <system_error>
#include <type_traits>
#include <utility>

#include <fmt/format.h>

namespace mech::tools {
namespace {

// Whole-string conversion: "1.5x" or "" is an error, not 1.5 or 0.
template <class Number>
std::string parse_number(const std::string& text, Number* out, const char* kind) {
  if (text.empty()) return fmt::format("expected {}, got an empty value", kind);
  const char* first = text.data();
  const char* last = text.data() + text.size();
  if (*first == '+') ++first;  // from_chars rejects a leading '+', people type it
  Number value{};
  auto [end, error] = std::from_chars(first, last, value);
  if (error == std::errc::result_out_of_range) return fmt::format("'{}' is out of range for {}", text, kind);
  if (error != std::errc() || end != last) return fmt::format("expected {}, got '{}'", kind, text);
  *out = value;
  return {};
}

std::string parse_floating(const std::string& text, double* out) {
  std::string problem = parse_number(text, out, "a number");
  if (problem.empty() && !std::isfinite(*out)) return fmt::format("expected a finite number, got '{}'", text);
  return problem;
}

}  // namespace

CommandLine::CommandLine(std::string program, std::string description)
    : program_(std::move(program)), description_(std::move(description)) {}

void CommandLine::add_option(Option option) {
  if (option.name.empty() || option.name.front() == '-' || option.name == "help" || find(option.name)) {
    // A driver bug, not a user error: report it loudly at start-up.
    std::fprintf(stderr, "%s: internal error: option '%s' declared twice or badly named\n", program_.c_str(),
                 option.name.c_str());
    std::exit(2);
  }
  options_.push_back(std::move(option));
  sections_.push_back(section_);
}

void CommandLine::add(const std::string& name, double* target, const std::string& help) {
  add_option({name, help, fmt::format("{}", *target), "<number>", false, false,
              [target](const std::string& text) { return parse_floating(text, target); }});
}

void CommandLine::add(const std::string& name, float* target, const std::string& help) {
  add_option({name, help, fmt::format("{}", *target), "<number>", false, false, [target](const std::string& text) {
                double value = 0.0;
                std::string problem = parse_floating(text, &value);
                if (problem.empty()) *target = static_cast<float>(value);
                return problem;
              }});
}

#define MECH_CLI_INTEGER(Type, kind, hint)                                                                   \
  void CommandLine::add(const std::string& name, Type* target, const std::string& help) {                    \
    add_option({name, help, fmt::format("{}", *target), hint, false, false,                                  \
                [target](const std::string& text) {                                                          \
                  if (!text.empty() && text.front() == '-' && std::is_unsigned_v<Type>) \
                    return fmt::format("expected {}, got '{}'", kind, text);                                 \
                  return parse_number(text, target, kind);                                                   \
                }});                                                                                         \
  }
MECH_CLI_INTEGER(int, "an integer", "<int>")
MECH_CLI_INTEGER(long, "an integer", "<int>")
MECH_CLI_INTEGER(long long, "an integer", "<int>")
MECH_CLI_INTEGER(unsigned long, "a non-negative integer", "<uint>")
MECH_CLI_INTEGER(unsigned long long, "a non-negative integer", "<uint>")
#undef MECH_CLI_INTEGER

void CommandLine::add(const std::string& name, std::string* target, const std::string& help) {
  add_option({name, help, target->empty() ? "\"\"" : *target, "<text>", false, false,
              [target](const std::string& text) {
                *target = text;
                return std::string();
              }});
}

void CommandLine::add(const std::string& name, bool* target, const std::string& help) {
  add_option({name, help, *target ? "true" : "false", "", true, false, [target](const std::string& text) {
                if (text == "true" || text == "1" || text == "yes" || text == "on") {
                  *target = true;
                } else if (text == "false" || text == "0" || text == "no" || text == "off") {
                  *target = false;
                } else {
                  return fmt::format("expected true or false, got '{}'", text);
                }
                return std::string();
              }});
}

void CommandLine::add_choice(const std::string& name, std::string* target, std::vector<std::string> choices,
                             const std::string& help) {
  const auto at = std::find(choices.begin(), choices.end(), *target);
  const size_t current = at == choices.end() ? choices.size() : static_cast<size_t>(at - choices.begin());
  // A default outside the choices (an empty one, say) is shown as it is.
  const std::string shown = *target;
  add_indexed_choice(name, choices, current, help,
                     [target, choices](size_t index) { *target = choices[index]; });
  if (current == choices.size()) options_.back().default_text = shown;
}

void CommandLine::add_indexed_choice(const std::string& name, std::vector<std::string> names, size_t current,
                                     const std::string& help, std::function<void(size_t)> set) {
  std::string hint;
  for (const std::string& choice : names) hint += (hint.empty() ? "" : "|") + choice;
  const std::string default_text = current < names.size() ? names[current] : std::string();
  add_option({name, help, default_text, hint, false, false,
              [names = std::move(names), hint, set = std::move(set)](const std::string& text) {
                for (size_t index = 0; index < names.size(); ++index) {
                  if (text == names[index]) {
                    set(index);
                    return std::string();
                  }
                }
                return fmt::format("expected one of {}, got '{}'", hint, text);
              }});
}

CommandLine::Option* CommandLine::find(const std::string& name) {
  for (Option& option : options_)
    if (option.name == name) return &option;
  return nullptr;
}

const CommandLine::Option* CommandLine::find(const std::string& name) const {
  for (const Option& option : options_)
    if (option.name == name) return &option;
  return nullptr;
}

bool CommandLine::was_set(const std::string& name) const {
  const Option* option = find(name);
  return option != nullptr && option->set;
}

std::string CommandLine::usage() const {
  std::string text = fmt::format("Usage: {} [options]\n", program_);
  if (!description_.empty()) text += "\n" + description_ + "\n";
  text += "\nOptions:\n";
  std::vector<std::string> left;
  size_t width = std::string("--help").size();
  for (const Option& option : options_) {
    left.push_back("--" + option.name + (option.value_hint.empty() ? "" : " " + option.value_hint));
    width = std::max(width, left.back().size());
  }
  for (size_t index = 0; index < options_.size(); ++index) {
    const Option& option = options_[index];
    if (index > 0 && sections_[index] != sections_[index - 1]) text += fmt::format("\n{}:\n", sections_[index]);
    text += fmt::format("  {:<{}}  {} (default: {})\n", left[index], width, option.help, option.default_text);
  }
  text += fmt::format("  {:<{}}  print this help and exit\n", "--help", width);
  return text;
}

ParseResult CommandLine::parse(const std::vector<std::string>& args) {
  using Status = ParseResult::Status;
  for (size_t index = 0; index < args.size(); ++index) {
    const std::string& argument = args[index];
    if (argument == "--help" || argument == "-h") return {Status::Help, usage()};
    if (argument.size() < 3 || argument.compare(0, 2, "--") != 0)
      return {Status::Error, fmt::format("unexpected argument '{}' (options look like --name value)", argument)};

    std::string name = argument.substr(2);
    std::string value;
    bool has_inline_value = false;
    if (size_t equals = name.find('='); equals != std::string::npos) {
      value = name.substr(equals + 1);
      name = name.substr(0, equals);
      has_inline_value = true;
    }
    Option* option = find(name);
    if (option == nullptr) return {Status::Error, fmt::format("unknown option '--{}' (see --help)", name)};

    if (option->is_flag && !has_inline_value) {
      value = "true";
    } else if (!has_inline_value) {
      if (index + 1 >= args.size()) return {Status::Error, fmt::format("option '--{}' needs a value", name)};
      value = args[++index];
    }
    if (std::string problem = option->assign(value); !problem.empty())
      return {Status::Error, fmt::format("option '--{}': {}", name, problem)};
    option->set = true;
  }
  return {};
}

void CommandLine::fail(const std::string& message) const {
  std::fprintf(stderr, "%s: %s (see --help)\n", program_.c_str(), message.c_str());
  std::exit(2);
}

void CommandLine::parse_or_exit(int argc, char** argv) {
  std::vector<std::string> args;
  for (int index = 1; index < argc; ++index) args.emplace_back(argv[index]);
  ParseResult result = parse(args);
  if (result.status == ParseResult::Status::Help) {
    std::fputs(result.message.c_str(), stdout);
    std::exit(0);
  }
  if (result.status == ParseResult::Status::Error) {
    std::fprintf(stderr, "%s: %s\n", program_.c_str(), result.message.c_str());
    std::exit(2);
  }
}

}  // namespace mech::tools
