// The op-test table (op_cases.h) as gradient checks: every differentiable case, central finite
// differences in float64 on the CPU against the tape, on each of its leaf layouts (contiguous,
// strided, broadcast); the view of each stored leaf is taken inside the checked function, so the
// gradient flows back through it to the storage. One test per case, named after it.
#include <gtest/gtest.h>

#include <cctype>
#include <set>

#include "autograd/op_cases.h"

using namespace mech;
using namespace mech::op_tests;

namespace {

const std::vector<OpCase>& table() {
  static const std::vector<OpCase> cases = op_cases();
  return cases;
}

// A GoogleTest name: letters, digits and single underscores.
std::string test_name_of(const std::string& name) {
  std::string out;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (std::isalnum(static_cast<unsigned char>(c)) != 0) {
      out += c;
    } else if (c == '-' && i + 1 < name.size() && std::isdigit(static_cast<unsigned char>(name[i + 1])) != 0) {
      out += "minus";
    } else if (!out.empty() && out.back() != '_') {
      out += '_';
    }
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out;
}

// Gradient check of `op_case` on leaves in `layout`, the view taken inside the checked function.
GradcheckResult check_case(const OpCase& op_case, LeafLayout layout, Generator& generator) {
  const CaseLeaves leaves = make_leaves(op_case, layout, DType::Float64, generator);
  return gradcheck(
      [&](const std::vector<Tensor>& stored) {
        std::vector<Tensor> seen;
        for (std::size_t i = 0; i < stored.size(); ++i) seen.push_back(leaves.views[i](stored[i]));
        return op_case.function(seen);
      },
      leaves.values, op_case.gradcheck);
}

// The cases with a gradient to check: differentiable and small enough for finite differences.
std::vector<std::size_t> checked_cases() {
  std::vector<std::size_t> indices;
  for (std::size_t i = 0; i < table().size(); ++i) {
    if (table()[i].differentiable && table()[i].finite_differences) indices.push_back(i);
  }
  return indices;
}

class OpTableGradcheck : public ::testing::TestWithParam<std::size_t> {};

TEST_P(OpTableGradcheck, FiniteDifferencesOnEveryLeafLayout) {
  const OpCase& op_case = table()[GetParam()];
  Generator generator(1000 + GetParam());
  for (const LeafLayout layout : leaf_layouts_of(op_case)) {
    const GradcheckResult result = check_case(op_case, layout, generator);
    EXPECT_TRUE(result.ok) << op_case.name << " [" << leaf_layout_name(layout) << " leaves]: " << result.message;
  }
}

INSTANTIATE_TEST_SUITE_P(OpTable, OpTableGradcheck, ::testing::ValuesIn(checked_cases()),
                         [](const ::testing::TestParamInfo<std::size_t>& info) {
                           return test_name_of(table()[info.param].name);
                         });

// The check can fail: a case whose backward misses a term (a factor detached) is reported on
// every leaf layout, with the input and element.
TEST(OpTable, GradcheckReportsAWrongGradient) {
  OpCase broken;
  broken.name = "square with a detached factor";
  broken.leaves = {{{3, 4}}};
  broken.function = [](const std::vector<Tensor>& t) { return t[0] * t[0].detach(); };
  Generator generator(7);
  for (const LeafLayout layout : leaf_layouts_of(broken)) {
    const GradcheckResult result = check_case(broken, layout, generator);
    EXPECT_FALSE(result.ok) << leaf_layout_name(layout);
    EXPECT_NE(result.message.find("input 0"), std::string::npos) << result.message;
  }
}

// The counts the table's header states: a case lost (or a family emptied) fails here.
TEST(OpTable, CoverageCounts) {
  int cases = 0, differentiable = 0, gradchecks = 0, conv_geometries = 0;
  std::set<std::string> names;
  for (const OpCase& op_case : table()) {
    ++cases;
    EXPECT_TRUE(names.insert(test_name_of(op_case.name)).second) << "two cases named like " << op_case.name;
    EXPECT_FALSE(op_case.leaves.empty()) << op_case.name;
    if (op_case.conv) ++conv_geometries;
    if (!op_case.differentiable) continue;
    ++differentiable;
    if (op_case.finite_differences) gradchecks += static_cast<int>(leaf_layouts_of(op_case).size());
  }
  EXPECT_EQ(cases, kOpCases);
  EXPECT_EQ(differentiable, kDifferentiableCases);
  EXPECT_EQ(gradchecks, kGradientChecks);
  EXPECT_EQ(conv_geometries, kConv1dGeometries);
  EXPECT_EQ(unary_kernels_of(table()).size(), static_cast<std::size_t>(kUnaryKernels));
  EXPECT_EQ(activation_grads_of(table()).size(), static_cast<std::size_t>(kActivationGradKernels));
  EXPECT_EQ(binary_kernels_of(table()).size(), static_cast<std::size_t>(kBinaryKernels));
}

}  // namespace
