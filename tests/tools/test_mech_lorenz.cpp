// Tests of the mech-lorenz driver, run as a program: bad options (--device cuda without a GPU, or
// with hermite4), unusable checkpoints and folders exit 2 with one line, --help lists the options
// (the model's own, then the run options shared by the training drivers), a short run writes
// coefficients.csv (header and rows in library order), loss.csv, summary.txt,
// checkpoint.safetensors and a well-formed trajectory.svg, is deterministic for a seed,
// and --resume continues a checkpoint to the same result as an uninterrupted run; on a GPU machine
// a short --device cuda run matches the --device cpu run to 1e-6.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <gtest/gtest.h>

#include "cuda/backend.h"
#include "tools/program_run.h"

namespace mech::lorenz_tool_test {
namespace {

using tool_test::ProgramRun;
using tool_test::read_text;

ProgramRun run_lorenz(const std::string& arguments) { return tool_test::run_program("mech-lorenz " + arguments); }

// A small XML well-formedness check (declaration, nested elements with quoted unique attributes,
// text without raw '<', '>' or stray '&'): returns the first problem, or "" when well formed.
std::string xml_problem(const std::string& xml) {
  size_t at = 0;
  if (xml.compare(0, 5, "<?xml") == 0) {
    at = xml.find("?>");
    if (at == std::string::npos) return "unterminated declaration";
    at += 2;
  }
  auto is_name = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':' || c == '-' || c == '.'; };
  auto entity_at = [&](size_t where) {
    size_t end = xml.find(';', where);
    if (end == std::string::npos || end - where > 10) return false;
    std::string name = xml.substr(where + 1, end - where - 1);
    return name == "amp" || name == "lt" || name == "gt" || name == "quot" || name == "apos" || (name.size() > 1 && name[0] == '#');
  };
  std::vector<std::string> open;
  int roots = 0;
  while (at < xml.size()) {
    char c = xml[at];
    if (c != '<') {
      if (open.empty() && !std::isspace(static_cast<unsigned char>(c))) return "text outside the root";
      if (c == '>') return "raw '>' in text";
      if (c == '&' && !entity_at(at)) return "bad entity in text";
      ++at;
      continue;
    }
    ++at;
    bool closing = at < xml.size() && xml[at] == '/';
    if (closing) ++at;
    size_t start = at;
    while (at < xml.size() && is_name(xml[at])) ++at;
    std::string name = xml.substr(start, at - start);
    if (name.empty()) return "element without a name";
    if (closing) {
      if (at >= xml.size() || xml[at] != '>') return "malformed </" + name;
      if (open.empty() || open.back() != name) return "</" + name + "> closes the wrong element";
      open.pop_back();
      ++at;
      continue;
    }
    if (open.empty() && ++roots > 1) return "two root elements";
    std::set<std::string> attributes;
    while (true) {
      while (at < xml.size() && std::isspace(static_cast<unsigned char>(xml[at]))) ++at;
      if (at >= xml.size()) return "unterminated <" + name;
      if (xml[at] == '>') {
        open.push_back(name);
        ++at;
        break;
      }
      if (xml.compare(at, 2, "/>") == 0) {
        at += 2;
        break;
      }
      size_t attribute_start = at;
      while (at < xml.size() && is_name(xml[at])) ++at;
      std::string attribute = xml.substr(attribute_start, at - attribute_start);
      if (attribute.empty() || !attributes.insert(attribute).second) return "bad or repeated attribute in <" + name;
      if (at + 1 >= xml.size() || xml[at] != '=' || (xml[at + 1] != '"' && xml[at + 1] != '\''))
        return "unquoted attribute " + attribute;
      char quote = xml[at + 1];
      size_t end = xml.find(quote, at + 2);
      if (end == std::string::npos) return "unterminated attribute " + attribute;
      for (size_t i = at + 2; i < end; ++i) {
        if (xml[i] == '<') return "'<' in attribute " + attribute;
        if (xml[i] == '&' && !entity_at(i)) return "bad entity in attribute " + attribute;
      }
      at = end + 1;
    }
  }
  if (!open.empty()) return "unclosed <" + open.back() + ">";
  return roots == 1 ? "" : "no root element";
}

TEST(MechLorenz, XmlCheckerRejectsBrokenDocuments) {
  EXPECT_EQ(xml_problem("<?xml version=\"1.0\"?><svg a=\"1\"><g><path d=\"M0 0\"/></g><text>x &amp; y</text></svg>"), "");
  EXPECT_NE(xml_problem("<svg><g></svg>"), "");
  EXPECT_NE(xml_problem("<svg a=\"1\" a=\"2\"></svg>"), "");
  EXPECT_NE(xml_problem("<svg><text>a & b</text></svg>"), "");
  EXPECT_NE(xml_problem("<svg></svg><svg></svg>"), "");
  EXPECT_NE(xml_problem("<svg a=1></svg>"), "");
}

TEST(MechLorenz, BadOptionsExitWithStatus2AndOneLine) {
  for (const char* arguments : {"--bogus 1", "--noise 2x", "--noise -1", "--formulation hermite", "--window 2",
                                "--epochs 0", "--length", "--device tpu", "--dt 0", "--checkpoint-every 0",
                                "--prune-rule weakest", "--corrected-quadrature=maybe"}) {
    ProgramRun run = run_lorenz(arguments);
    EXPECT_EQ(run.status, 2) << arguments << "\n" << run.err;
    EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << arguments << "\n" << run.err;
    EXPECT_EQ(run.err.rfind("mech-lorenz: ", 0), 0u) << run.err;
    EXPECT_TRUE(run.out.empty()) << arguments;
  }
  // The GPU is a bad option where there is none (every formulation has a GPU solver).
  std::vector<std::string> device_cases;
  if (!mech::cuda::is_available())
    device_cases = {"--device cuda", "--device cuda --formulation hermite4"};
  for (const std::string& arguments : device_cases) {
    ProgramRun run = run_lorenz(arguments);
    EXPECT_EQ(run.status, 2) << arguments << "\n" << run.err;
    EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << arguments << "\n" << run.err;
    EXPECT_NE(run.err.find("--device cuda"), std::string::npos) << run.err;
  }
}

TEST(MechLorenz, UnusableCheckpointsAndFoldersExitWithStatus2AndOneLine) {
  std::filesystem::path directory = std::filesystem::temp_directory_path() / (std::string("mech_test_lorenz_bad_") + std::to_string(::getpid()));
  std::filesystem::remove_all(directory);
  std::filesystem::create_directories(directory);
  std::filesystem::create_directories(directory / "out");
  std::ofstream(directory / "out" / "checkpoint.safetensors") << "this is no checkpoint\n";
  std::ofstream(directory / "plain_file") << "x";
  const std::string small = "--length 200 --epochs 1 --window 41 --quiet ";
  for (const std::string& arguments :
       {small + "--out-dir " + (directory / "out").string() + " --resume",
        small + "--out-dir " + (directory / "empty").string() + " --resume",
        small + "--out-dir " + (directory / "plain_file" / "sub").string()}) {
    ProgramRun run = run_lorenz(arguments);
    EXPECT_EQ(run.status, 2) << arguments << "\n" << run.err;
    EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << arguments << "\n" << run.err;
    EXPECT_EQ(run.err.rfind("mech-lorenz: ", 0), 0u) << run.err;
  }
  std::filesystem::remove_all(directory);
}

TEST(MechLorenz, HelpExitsZeroAndListsTheOptions) {
  ProgramRun run = run_lorenz("--help");
  EXPECT_EQ(run.status, 0);
  for (const char* fragment : {"--sigma", "--rho", "--beta", "--noise", "--seed", "--dt", "--length", "--epochs",
                               "--formulation mnn|scalable|hermite4 ", "--window", "--threshold",
                               "--prune-rule magnitude|unique ", "--lr", "--corrected-quadrature", "--stop-at"})
    EXPECT_NE(run.out.find(fragment), std::string::npos) << fragment;
  // The model's defaults are shown as the model's structs hold them.
  EXPECT_NE(run.out.find("(default: scalable)"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("(default: unique)"), std::string::npos) << run.out;
  // The run options every training driver shares, after the driver's own.
  const auto shared = run.out.find("Run options");
  ASSERT_NE(shared, std::string::npos) << run.out;
  EXPECT_LT(run.out.find("--stop-at"), shared);
  for (const char* fragment : {"--device", "--threads", "--checkpoint-every", "--anomaly", "--resume", "--quiet",
                               "--out-dir"})
    EXPECT_NE(run.out.find(fragment, shared), std::string::npos) << fragment;
}

TEST(MechLorenz, ShortRunWritesEveryOutputAndIsDeterministic) {
  std::filesystem::path directory = std::filesystem::temp_directory_path() / (std::string("mech_test_lorenz_run_") + std::to_string(::getpid()));
  std::filesystem::remove_all(directory);
  std::string arguments = "--length 600 --epochs 60 --prune-start 20 --prune-every 20 --window 41 --seed 2 --quiet "
                          "--checkpoint-every 30 --out-dir " + directory.string();
  ProgramRun run = run_lorenz(arguments);
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_NE(run.out.find("truth       dx/dt = -10 x + 10 y"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("discovered  dz/dt"), std::string::npos) << run.out;

  std::string csv = read_text(directory / "coefficients.csv");
  std::istringstream lines(csv);
  std::vector<std::string> first_fields;
  for (std::string line; std::getline(lines, line);) {
    first_fields.push_back(line.substr(0, line.find(',')));
    EXPECT_EQ(std::count(line.begin(), line.end(), ','), 3) << line;
  }
  std::vector<std::string> expected = {"term", "1", "x", "y", "z", "xx", "xy", "xz", "yy", "yz", "zz"};
  EXPECT_EQ(first_fields, expected);
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "term,dx,dy,dz");

  std::string loss = read_text(directory / "loss.csv");
  EXPECT_EQ(loss.rfind("epoch,loss,solution_loss,state_loss,consistency_loss,lr,active_terms\n", 0), 0u);
  EXPECT_EQ(std::count(loss.begin(), loss.end(), '\n'), 61);
  EXPECT_NE(read_text(directory / "summary.txt").find("active_terms=7"), std::string::npos);
  EXPECT_TRUE(std::filesystem::file_size(directory / "checkpoint.safetensors") > 0);
  std::string svg = read_text(directory / "trajectory.svg");
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_EQ(xml_problem(svg), "");
  EXPECT_NE(svg.find("x-z projection"), std::string::npos);

  // The same seed gives the same coefficients, bit for bit.
  ASSERT_EQ(run_lorenz(arguments).status, 0);
  EXPECT_EQ(read_text(directory / "coefficients.csv"), csv);
}

TEST(MechLorenz, ResumeContinuesToTheSameResult) {
  std::filesystem::path whole = std::filesystem::temp_directory_path() / (std::string("mech_test_lorenz_whole_") + std::to_string(::getpid()));
  std::filesystem::path parts = std::filesystem::temp_directory_path() / (std::string("mech_test_lorenz_parts_") + std::to_string(::getpid()));
  std::filesystem::remove_all(whole);
  std::filesystem::remove_all(parts);
  std::string common = "--length 400 --window 41 --prune-start 10 --prune-every 10 --seed 5 --quiet --state-network ";
  ASSERT_EQ(run_lorenz(common + "--epochs 40 --out-dir " + whole.string()).status, 0);
  // Interrupted after 20 epochs (its checkpoint is at 20), then continued to 40 from the checkpoint.
  ASSERT_EQ(run_lorenz(common + "--epochs 40 --stop-at 20 --out-dir " + parts.string()).status, 0);
  ProgramRun resumed = run_lorenz(common + "--epochs 40 --out-dir " + parts.string() + " --resume");
  ASSERT_EQ(resumed.status, 0) << resumed.err;
  EXPECT_EQ(read_text(parts / "coefficients.csv"), read_text(whole / "coefficients.csv"));
  EXPECT_EQ(read_text(parts / "loss.csv"), read_text(whole / "loss.csv"));
}

// Reads coefficients.csv: the 30 numbers after the header, in file order.
std::vector<double> csv_numbers(const std::filesystem::path& path) {
  std::istringstream lines(read_text(path));
  std::vector<double> values;
  std::string line;
  std::getline(lines, line);  // header
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string field;
    std::getline(fields, field, ',');  // the term's name
    while (std::getline(fields, field, ',')) values.push_back(std::stod(field));
  }
  return values;
}

TEST(MechLorenz, CudaRunMatchesTheCpuRun) {
  if (!mech::cuda::is_available()) GTEST_SKIP() << "no CUDA device (" << mech::cuda::availability() << ")";
  std::filesystem::path base = std::filesystem::temp_directory_path() / (std::string("mech_test_lorenz_device_") + std::to_string(::getpid()));
  std::filesystem::remove_all(base);
  const std::string common = "--length 600 --epochs 80 --prune-start 20 --prune-every 20 --window 41 --seed 2 "
                             "--noise 0.01 --quiet --out-dir ";
  ProgramRun cpu = run_lorenz(common + (base / "cpu").string() + " --device cpu");
  ProgramRun gpu = run_lorenz(common + (base / "cuda").string() + " --device cuda");
  ASSERT_EQ(cpu.status, 0) << cpu.err;
  ASSERT_EQ(gpu.status, 0) << gpu.err;
  std::vector<double> expected = csv_numbers(base / "cpu" / "coefficients.csv");
  std::vector<double> found = csv_numbers(base / "cuda" / "coefficients.csv");
  ASSERT_EQ(found.size(), 30u);
  ASSERT_EQ(expected.size(), 30u);
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(found[i], expected[i], 1e-6 * (1 + std::abs(expected[i]))) << i;
    EXPECT_EQ(found[i] == 0.0, expected[i] == 0.0) << i;  // the same terms pruned
  }
  std::filesystem::remove_all(base);
}

}  // namespace
}  // namespace mech::lorenz_tool_test
