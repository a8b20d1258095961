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
  Option* find(const std::string& name);
  const Option* find(const std::string& name) const;

  std::string program_;
  std::string description_;
  std::vector<Option> options_;
};

}  // namespace mech::tools
