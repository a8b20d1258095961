// Command-line options for the driver programs: each option is bound to a variable that already
// holds its default, so a driver reads
//
//   double sigma = 10.0;
//   mech::tools::CommandLine cli("mech-lorenz", "Discover the Lorenz equations from data.");
//   cli.add("sigma", &sigma, "Prandtl number of the true system");
//   cli.parse_or_exit(argc, argv);
//
// Accepted forms: --name value, --name=value, and --flag / --flag=false for booleans.
// `--help` prints the usage (with every default) and exits 0; an unknown option, a missing value
// or a value that does not parse prints one line to stderr and exits with status 2. This is tools
// code, so exiting is allowed here; the library itself never exits.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace mech::tools {

// What parsing concluded; parse() returns it so tests can check it without a process exit.
struct ParseResult {
  enum class Status { Ok, Help, Error };
  Status status = Status::Ok;
  std::string message;  // the usage text for Help, the one-line reason for Error
  bool ok() const { return status == Status::Ok; }
};

class CommandLine {
 public:
  CommandLine(std::string program, std::string description);

  // Bind an option to a variable; the variable's current value is the default shown by --help.
  void add(const std::string& name, double* target, const std::string& help);
  void add(const std::string& name, float* target, const std::string& help);
  void add(const std::string& name, int* target, const std::string& help);
  void add(const std::string& name, long* target, const std::string& help);
  void add(const std::string& name, long long* target, const std::string& help);
  void add(const std::string& name, unsigned long* target, const std::string& help);
  void add(const std::string& name, unsigned long long* target, const std::string& help);
  void add(const std::string& name, std::string* target, const std::string& help);
  // A boolean flag: `--name` sets it, `--name=false` clears it.
  void add(const std::string& name, bool* target, const std::string& help);
  // A string restricted to a fixed set of values (e.g. --derivative fd|savgol).
  void add_choice(const std::string& name, std::string* target, std::vector<std::string> choices,
                  const std::string& help);
  // The same for an enum of a library options struct, so a driver binds the struct's field itself:
  //   cli.add_choice("prune-rule", &rule, {{"magnitude", Rule::Magnitude}, {"unique", Rule::Unique}}, "...");
  // The default shown is the name of the target's current value.
  template <class Enum>
  void add_choice(const std::string& name, Enum* target, std::vector<std::pair<std::string, Enum>> choices,
                  const std::string& help) {
    std::vector<std::string> names;
    size_t current = 0;
    for (size_t index = 0; index < choices.size(); ++index) {
      names.push_back(choices[index].first);
      if (choices[index].second == *target) current = index;
    }
    add_indexed_choice(name, std::move(names), current, help,
                       [target, choices = std::move(choices)](size_t index) { *target = choices[index].second; });
  }

  // Options added after this call are listed under `title` by --help (the shared run options of
  // the training drivers come last, under one title, in every driver).
  void begin_section(const std::string& title) { section_ = title; }

  // args excludes the program name. Targets of options that parsed are updated even if a later
  // argument fails.
  ParseResult parse(const std::vector<std::string>& args);
  // For main(): prints usage and exits 0 on --help, prints the error and exits 2 on failure.
  void parse_or_exit(int argc, char** argv);

  // For checks parse() cannot do (ranges, combinations): prints "program: message" and a hint to
  // stderr and exits with status 2, like any other bad option.
  [[noreturn]] void fail(const std::string& message) const;

  bool was_set(const std::string& name) const;
  std::string usage() const;
  const std::string& program() const { return program_; }

 private:
  struct Option {
    std::string name;
    std::string help;
    std::string default_text;
    std::string value_hint;  // "<number>", "<int>", "a|b", ...; empty for flags
    bool is_flag = false;
    bool set = false;
    // Parses the text into the bound variable; returns an empty string on success, else why not.
    std::function<std::string(const std::string&)> assign;
  };

  void add_option(Option option);
  // add_choice's common part: `set` receives the index of the chosen name.
  void add_indexed_choice(const std::string& name, std::vector<std::string> names, size_t current,
                          const std::string& help, std::function<void(size_t)> set);
  Option* find(const std::string& name);
  const Option* find(const std::string& name) const;

  std::string program_;
  std::string description_;
  std::vector<Option> options_;
  std::vector<std::string> sections_;  // the title each option is listed under ("": the program's own)
  std::string section_;
};

}  // namespace mech::tools
