// Running the built mech-solve as a user would, for its tests (test_mech_solve.cpp,
// test_mech_solve_hermite4.cpp): the exit status and what it wrote on standard error.
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace mech::tools::testing {

struct MechSolveRun {
  int status = -1;     // the exit status; -1 when it did not exit (killed by a signal)
  std::string errors;  // standard error
};

// Runs `mech-solve <arguments>` through the shell; `error_log` is where its standard error is kept.
inline MechSolveRun run_mech_solve(const std::string& arguments, const std::filesystem::path& error_log) {
  const std::string command = std::string(MECH_BIN_DIR) + "/mech-solve " + arguments + " 2> " + error_log.string();
  const int raw = std::system(command.c_str());
  MechSolveRun result;
  result.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  std::ifstream file(error_log);
  std::stringstream text;
  text << file.rdbuf();
  result.errors = text.str();
  return result;
}

}  // namespace mech::tools::testing
