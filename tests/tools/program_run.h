// What the tests of the driver programs share: run a built program (MECH_BIN_DIR/<program>) through
// the shell with its standard output and error captured, and read a file whole.
//
//   const ProgramRun run = run_program("mech-lorenz --help");
//   EXPECT_EQ(run.status, 0);
//   EXPECT_NE(run.out.find("--sigma"), std::string::npos);
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace mech::tool_test {

struct ProgramRun {
  int status = -1;  // the exit status; -1 when the program did not exit (a signal)
  std::string out, err;
};

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

// `command_line` is the program's name and its arguments, as a shell would read them.
inline ProgramRun run_program(const std::string& command_line) {
  const std::filesystem::path scratch =
      std::filesystem::temp_directory_path() / ("mech_test_program_run_" + std::to_string(::getpid()));
  std::filesystem::create_directories(scratch);
  const std::string command = std::string(MECH_BIN_DIR) + "/" + command_line + " >" + (scratch / "out").string() +
                              " 2>" + (scratch / "err").string();
  const int raw = std::system(command.c_str());
  ProgramRun run;
  run.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  run.out = read_text(scratch / "out");
  run.err = read_text(scratch / "err");
  return run;
}

}  // namespace mech::tool_test
