// Tests of the mech-convergence driver, run as a program: bad options exit 2, --help exits 0, and a
// short run (h = 0.1, 0.05, 0.02, 0.01) writes a CSV with every problem x method x step whose
// numbers show the orders the formulations are known for (hermite4 and RK4 fourth order, scalable
// second order) and an SVG plot.
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <gtest/gtest.h>

#include "tools/program_run.h"

namespace mech::convergence_tool_test {
namespace {

using tool_test::ProgramRun;
using tool_test::read_text;

const std::filesystem::path kDirectory = std::filesystem::temp_directory_path() / (std::string("mech_test_convergence_") + std::to_string(::getpid()));

ProgramRun run(const std::string& arguments) { return tool_test::run_program("mech-convergence " + arguments); }

TEST(MechConvergence, BadOptionsExitTwo) {
  EXPECT_EQ(run("--no-such-option").status, 2);
  EXPECT_EQ(run("--h-min 0.5 --h-max 0.1").status, 2);
  EXPECT_EQ(run("--gamma-alpha -1").status, 2);
  EXPECT_EQ(run("--h-min abc").status, 2);
  // An output folder that cannot be created: refused before the sweep.
  std::filesystem::create_directories(kDirectory);
  std::ofstream(kDirectory / "plain_file") << "not a folder";
  const ProgramRun blocked = run("--out-dir " + (kDirectory / "plain_file" / "sub").string());
  EXPECT_EQ(blocked.status, 2);
  EXPECT_EQ(blocked.out.find("convergence ["), std::string::npos);   // no sweep ran
}

TEST(MechConvergence, HelpListsOptions) {
  const ProgramRun help = run("--help");
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("--h-max"), std::string::npos) << help.out;
}

TEST(MechConvergence, ShortRunWritesCsvAndPlotWithExpectedOrders) {
  const std::filesystem::path out = kDirectory / "run";
  std::filesystem::remove_all(out);
  const ProgramRun result = run("--h-max 0.1 --h-min 0.01 --out-dir " + out.string());
  ASSERT_EQ(result.status, 0) << result.err;
  std::ifstream csv(out / "convergence.csv");
  std::string line;
  std::getline(csv, line);
  EXPECT_EQ(line, "problem,method,h,T,max_error");
  // error[problem/method][h]
  std::map<std::string, std::map<double, double>> error;
  int rows = 0;
  while (std::getline(csv, line)) {
    std::stringstream cells(line);
    std::string problem, method, h, T, value;
    std::getline(cells, problem, ',');
    std::getline(cells, method, ',');
    std::getline(cells, h, ',');
    std::getline(cells, T, ',');
    std::getline(cells, value, ',');
    error[problem + "/" + method][std::stod(h)] = std::stod(value);
    ++rows;
  }
  EXPECT_EQ(rows, 3 * 5 * 4);   // problems x methods x steps
  for (const std::string problem : {"oscillator", "airy", "third"}) {
    for (const std::string method : {"hermite4", "hermite4-direct", "rk4"}) {
      const auto& series = error[problem + "/" + method];
      ASSERT_EQ(series.size(), 4u) << problem << " " << method;
      const double order = std::log10(series.at(0.1) / series.at(0.01));
      EXPECT_NEAR(order, 4.0, 0.3) << problem << " " << method;
    }
    // hermite4 beats RK4 on the same grid (solvers/README.md)
    EXPECT_LT(error[problem + "/hermite4"].at(0.01), error[problem + "/rk4"].at(0.01)) << problem;
  }
  const double scalable_order =
      std::log10(error["oscillator/scalable"].at(0.1) / error["oscillator/scalable"].at(0.01));
  EXPECT_NEAR(scalable_order, 2.0, 0.3);
  const std::string svg = read_text(out / "convergence.svg");
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("hermite4"), std::string::npos);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
}

}  // namespace
}  // namespace mech::convergence_tool_test
