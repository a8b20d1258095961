// Tests of the drivers' option parser, progress bar and CSV tables (tools/common/cli.h, progress.h,
// csv.h), and of a real driver's options.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <gtest/gtest.h>

#include "core/error.h"

#include "tools/common/cli.h"
#include "tools/common/csv.h"
#include "tools/common/progress.h"
#include "tools/program_run.h"

namespace mech::tools {
namespace {

struct LorenzLikeOptions {
  double sigma = 10.0;
  long length = 1000;
  unsigned long long seed = 7;
  bool verbose = false;
  std::string out_dir = "out";
  std::string derivative = "fd";
};

CommandLine make_cli(LorenzLikeOptions& options) {
  CommandLine cli("mech-test", "A test driver.");
  cli.add("sigma", &options.sigma, "Prandtl number");
  cli.add("length", &options.length, "number of samples");
  cli.add("seed", &options.seed, "random seed");
  cli.add("verbose", &options.verbose, "say more");
  cli.add("out-dir", &options.out_dir, "where results go");
  cli.add_choice("derivative", &options.derivative, {"fd", "savgol"}, "derivative estimate");
  return cli;
}

TEST(CommandLine, DefaultsStayWhenNothingIsGiven) {
  LorenzLikeOptions options;
  CommandLine cli = make_cli(options);
  ParseResult result = cli.parse({});
  ASSERT_TRUE(result.ok()) << result.message;
  EXPECT_EQ(options.sigma, 10.0);
  EXPECT_EQ(options.length, 1000);
  EXPECT_FALSE(cli.was_set("sigma"));
}

TEST(CommandLine, ParsesBothSpellingsAndEveryType) {
  LorenzLikeOptions options;
  CommandLine cli = make_cli(options);
  ParseResult result = cli.parse({"--sigma", "8.5", "--length=250", "--seed", "18446744073709551615", "--verbose",
                                  "--out-dir", "/tmp/x y", "--derivative=savgol"});
  ASSERT_TRUE(result.ok()) << result.message;
  EXPECT_EQ(options.sigma, 8.5);
  EXPECT_EQ(options.length, 250);
  EXPECT_EQ(options.seed, 18446744073709551615ull);
  EXPECT_TRUE(options.verbose);
  EXPECT_EQ(options.out_dir, "/tmp/x y");
  EXPECT_EQ(options.derivative, "savgol");
  EXPECT_TRUE(cli.was_set("sigma"));
  EXPECT_TRUE(cli.was_set("derivative"));
}

TEST(CommandLine, FlagsAcceptAnExplicitValue) {
  LorenzLikeOptions options;
  options.verbose = true;
  CommandLine cli = make_cli(options);
  ASSERT_TRUE(cli.parse({"--verbose=false"}).ok());
  EXPECT_FALSE(options.verbose);
  EXPECT_FALSE(cli.parse({"--verbose=maybe"}).ok());
}

TEST(CommandLine, NegativeAndScientificNumbers) {
  LorenzLikeOptions options;
  CommandLine cli = make_cli(options);
  ASSERT_TRUE(cli.parse({"--sigma", "-1.5e-3"}).ok());
  EXPECT_DOUBLE_EQ(options.sigma, -1.5e-3);
  ASSERT_TRUE(cli.parse({"--sigma=+2"}).ok());
  EXPECT_EQ(options.sigma, 2.0);
}

TEST(CommandLine, ErrorsNameTheOptionAndTheProblem) {
  struct Case {
    std::vector<std::string> args;
    std::string expected_fragment;
  };
  std::vector<Case> cases = {
      {{"--bogus", "1"}, "unknown option '--bogus'"},
      {{"--sigma"}, "'--sigma' needs a value"},
      {{"--sigma", "ten"}, "expected a number, got 'ten'"},
      {{"--sigma", "1.5x"}, "expected a number, got '1.5x'"},
      {{"--sigma", "nan"}, "finite"},
      {{"--length", "2.5"}, "expected an integer, got '2.5'"},
      {{"--length", "99999999999999999999999"}, "out of range"},
      {{"--seed", "-3"}, "non-negative"},
      {{"--derivative", "spline"}, "expected one of fd|savgol, got 'spline'"},
      {{"positional"}, "unexpected argument 'positional'"},
  };
  for (const Case& test_case : cases) {
    LorenzLikeOptions options;
    CommandLine cli = make_cli(options);
    ParseResult result = cli.parse(test_case.args);
    EXPECT_EQ(result.status, ParseResult::Status::Error) << test_case.args.front();
    EXPECT_NE(result.message.find(test_case.expected_fragment), std::string::npos)
        << "message: " << result.message << " expected to contain: " << test_case.expected_fragment;
    EXPECT_EQ(result.message.find('\n'), std::string::npos) << "errors are one line";
  }
}

TEST(CommandLine, HelpListsEveryOptionWithItsDefault) {
  LorenzLikeOptions options;
  CommandLine cli = make_cli(options);
  ParseResult result = cli.parse({"--sigma", "3", "--help"});
  ASSERT_EQ(result.status, ParseResult::Status::Help);
  const std::string& text = result.message;
  EXPECT_NE(text.find("Usage: mech-test"), std::string::npos);
  EXPECT_NE(text.find("A test driver."), std::string::npos);
  for (const char* fragment : {"--sigma <number>", "Prandtl number (default: 10)", "--length <int>",
                               "(default: 1000)", "--seed <uint>", "--verbose", "--out-dir <text>",
                               "--derivative fd|savgol", "(default: fd)", "--help"}) {
    EXPECT_NE(text.find(fragment), std::string::npos) << fragment << "\n" << text;
  }
}

// An enum field of a library options struct is bound directly: its default is shown by name and a
// choice sets the enum value.
TEST(CommandLine, EnumChoicesBindTheStructField) {
  enum class Rule { Magnitude, Unique };
  struct ModelOptions {
    Rule rule = Rule::Unique;
  } options;
  CommandLine cli("mech-test", "");
  cli.add_choice("rule", &options.rule, {{"magnitude", Rule::Magnitude}, {"unique", Rule::Unique}}, "pruning rule");
  const ParseResult help = cli.parse({"--help"});
  EXPECT_NE(help.message.find("--rule magnitude|unique  pruning rule (default: unique)"), std::string::npos)
      << help.message;
  ASSERT_TRUE(cli.parse({"--rule", "magnitude"}).ok());
  EXPECT_EQ(options.rule, Rule::Magnitude);
  const ParseResult bad = cli.parse({"--rule=weakest"});
  EXPECT_EQ(bad.status, ParseResult::Status::Error);
  EXPECT_NE(bad.message.find("expected one of magnitude|unique, got 'weakest'"), std::string::npos) << bad.message;
  EXPECT_EQ(options.rule, Rule::Magnitude);
}

// Options added after begin_section are listed under its title, after the program's own.
TEST(CommandLine, SectionsListLaterOptionsUnderTheirTitle) {
  LorenzLikeOptions options;
  CommandLine cli = make_cli(options);
  int threads = 1;
  cli.begin_section("Run options");
  cli.add("threads", &threads, "CPU threads");
  const std::string text = cli.parse({"--help"}).message;
  const auto own = text.find("--sigma"), title = text.find("\nRun options:\n"), shared = text.find("--threads");
  ASSERT_NE(title, std::string::npos) << text;
  EXPECT_LT(own, title);
  EXPECT_LT(title, shared);
  EXPECT_EQ(text.find("Run options:"), text.rfind("Run options:")) << "one heading";
}

TEST(ProgressBar, StatusShowsCountLossRateAndEta) {
  ProgressBar bar(200, "train", nullptr, ProgressBar::Mode::Lines);
  bar.update(50, 0.0);  // sets has-loss; nothing is written to a null stream
  std::string text = bar.format_status(50, 1.25e-3, 10.0, "lr 1e-3");
  EXPECT_NE(text.find("train ["), std::string::npos) << text;
  EXPECT_NE(text.find("50/200 ( 25%)"), std::string::npos) << text;
  EXPECT_NE(text.find("loss 1.2500e-03"), std::string::npos) << text;
  EXPECT_NE(text.find("5.00 it/s"), std::string::npos) << text;
  EXPECT_NE(text.find("ETA 30s"), std::string::npos) << text;  // 150 left at 5 it/s
  EXPECT_NE(text.find("lr 1e-3"), std::string::npos) << text;
  std::string done = bar.format_status(200, 1e-4, 125.0, "");
  EXPECT_NE(done.find("elapsed 2:05"), std::string::npos) << done;
  bar.finish();
}

TEST(ProgressBar, FormatDuration) {
  EXPECT_EQ(format_duration(7.2), "7s");
  EXPECT_EQ(format_duration(65), "1:05");
  EXPECT_EQ(format_duration(3723), "1:02:03");
  EXPECT_EQ(format_duration(-1), "?");
}

std::string read_all(std::FILE* file) {
  std::rewind(file);
  std::string text;
  char buffer[4096];
  size_t count;
  while ((count = std::fread(buffer, 1, sizeof buffer, file)) > 0) text.append(buffer, count);
  return text;
}

TEST(ProgressBar, CountWithoutLossShowsNoLoss) {
  std::FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  {
    ProgressBar bar(4, "generate", file);
    bar.set_min_interval(0.0);
    for (long i = 1; i <= 4; ++i) bar.update(i);
  }
  std::string text = read_all(file);
  std::fclose(file);
  EXPECT_NE(text.find("4/4 (100%)"), std::string::npos) << text;
  EXPECT_EQ(text.find("loss"), std::string::npos) << text;
}

TEST(ProgressBar, PlainLinesWhenNotATerminal) {
  std::FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  {
    ProgressBar bar(3, "fit", file);  // a temporary file is not a terminal
    EXPECT_FALSE(bar.is_terminal());
    bar.set_min_interval(0.0);
    for (long i = 1; i <= 3; ++i) bar.update(i, 1.0 / static_cast<double>(i));
  }  // the destructor finishes the bar
  std::string text = read_all(file);
  std::fclose(file);
  EXPECT_EQ(text.find('\r'), std::string::npos);
  // three updates and the final line
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 4) << text;
  EXPECT_NE(text.find("3/3 (100%)"), std::string::npos) << text;
}

TEST(ProgressBar, TerminalModeRedrawsInPlaceAndThrottles) {
  std::FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  {
    ProgressBar bar(1000, "fit", file, ProgressBar::Mode::Terminal);
    bar.set_min_interval(3600.0);  // only the first update and finish() may draw
    for (long i = 1; i <= 1000; ++i) bar.update(i, 0.5);
    bar.finish();
    bar.update(5, 1.0);  // ignored after finish
  }
  std::string text = read_all(file);
  std::fclose(file);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\r'), 2) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  EXPECT_NE(text.find("1000/1000"), std::string::npos) << text;
}

TEST(CsvTable, NumbersRoundTripAndCellsAreQuoted) {
  CsvTable table({"term", "dx", "note"});
  table.add_row({"xz", "-1", "a, b"});
  table.add_row({0.1, -2.0 / 3.0, 1e-300});
  EXPECT_EQ(table.row_count(), 2u);
  std::string text = table.text();
  EXPECT_EQ(text.substr(0, text.find('\n')), "term,dx,note");
  EXPECT_NE(text.find("xz,-1,\"a, b\"\n"), std::string::npos) << text;
  EXPECT_NE(text.find("0.1,"), std::string::npos) << text;
  // Every number reads back to the same double.
  std::string numbers = text.substr(text.rfind("0.1,"));
  double first = std::stod(numbers), second = std::stod(numbers.substr(numbers.find(',') + 1));
  EXPECT_EQ(first, 0.1);
  EXPECT_EQ(second, -2.0 / 3.0);
  EXPECT_EQ(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_number(std::nan("")), "nan");
  EXPECT_THROW(table.add_row(std::vector<double>{1.0}), mech::Error);
  CsvTable labelled({"term", "dx"});
  labelled.add_row("1", {2.5});
  EXPECT_EQ(labelled.text(), "term,dx\n1,2.5\n");
}

// ---- the options of a real driver, through the program itself -----------------------------------

using tool_test::ProgramRun;
using tool_test::run_program;
const auto read_file = tool_test::read_text;

TEST(Drivers, BadOptionsExitWithStatus2AndOneLine) {
  for (const char* arguments : {"mech-sindy --bogus 1", "mech-sindy --noise 2x", "mech-sindy --derivative spline",
                                "mech-sindy --window 8", "mech-sindy --length"}) {
    ProgramRun run = run_program(arguments);
    EXPECT_EQ(run.status, 2) << arguments << "\n" << run.err;
    EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << arguments << "\n" << run.err;
    EXPECT_EQ(run.err.rfind("mech-sindy: ", 0), 0u) << run.err;
    EXPECT_TRUE(run.out.empty());
  }
}

TEST(Drivers, HelpExitsZeroAndListsTheOptions) {
  ProgramRun run = run_program("mech-sindy --help");
  EXPECT_EQ(run.status, 0);
  for (const char* fragment : {"--sigma", "--rho", "--beta", "--noise", "--seed", "--dt", "--length", "--threshold",
                               "--derivative fd|savgol", "--out-dir"})
    EXPECT_NE(run.out.find(fragment), std::string::npos) << fragment;
}

TEST(Drivers, SindyWritesCoefficientsAndIsDeterministic) {
  std::filesystem::path directory = std::filesystem::temp_directory_path() / (std::string("mech_test_cli_sindy_") + std::to_string(::getpid()));
  std::filesystem::remove_all(directory);
  std::string arguments = "mech-sindy --length 2000 --noise 0.01 --seed 3 --derivative savgol --out-dir " + directory.string();
  ProgramRun run = run_program(arguments);
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_NE(run.out.find("truth       dx/dt = -10 x + 10 y"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("discovered  dz/dt"), std::string::npos) << run.out;
  std::string csv = read_file(directory / "coefficients.csv");
  std::istringstream lines(csv);
  std::vector<std::string> first_fields;
  for (std::string line; std::getline(lines, line);) first_fields.push_back(line.substr(0, line.find(',')));
  std::vector<std::string> expected = {"term", "1", "x", "y", "z", "xx", "xy", "xz", "yy", "yz", "zz"};
  EXPECT_EQ(first_fields, expected);
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "term,dx,dy,dz");
  EXPECT_NE(read_file(directory / "summary.txt").find("active_terms=7"), std::string::npos);
  EXPECT_EQ(read_file(directory / "trajectory.svg").rfind("<?xml", 0), 0u);
  ASSERT_EQ(run_program(arguments).status, 0);
  EXPECT_EQ(read_file(directory / "coefficients.csv"), csv);
  std::filesystem::remove_all(directory);
}

}  // namespace
}  // namespace mech::tools
