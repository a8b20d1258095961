// Tests of the polynomial candidate library (term order, names, values) and of the sparsity mask.
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"
#include "models/polynomial_library.h"

namespace mech::models {
namespace {

long binomial(long n, long k) {
  long result = 1;
  for (long i = 1; i <= k; ++i) result = result * (n - k + i) / i;
  return result;
}

TEST(PolynomialLibrary, LorenzLibraryTermOrder) {
  PolynomialLibrary library;
  std::vector<std::string> expected = {"1", "x", "y", "z", "xx", "xy", "xz", "yy", "yz", "zz"};
  EXPECT_EQ(library.term_names(), expected);
  EXPECT_EQ(library.term_count(), 10u);
  EXPECT_EQ(library.term_index("xz"), 6u);
  EXPECT_THROW(library.term_index("zx"), mech::Error);
  std::vector<int> xz = {1, 0, 1};
  EXPECT_EQ(library.exponents()[6], xz);
}

TEST(PolynomialLibrary, GenericInVariablesAndDegree) {
  PolynomialLibrary cubic({"x", "y"}, 3);
  std::vector<std::string> expected = {"1", "x", "y", "xx", "xy", "yy", "xxx", "xxy", "xyy", "yyy"};
  EXPECT_EQ(cubic.term_names(), expected);
  // Multi-character names are joined so terms stay readable.
  PolynomialLibrary named({"u1", "u2"}, 2);
  EXPECT_EQ(named.term_names()[4], "u1*u2");
  // There are C(n + d, d) monomials of n variables up to degree d.
  for (int variables = 1; variables <= 5; ++variables) {
    for (int degree = 0; degree <= 4; ++degree) {
      std::vector<std::string> names;
      for (int i = 0; i < variables; ++i) names.push_back(std::string(1, static_cast<char>('a' + i)));
      PolynomialLibrary library(names, degree);
      EXPECT_EQ(static_cast<long>(library.term_count()), binomial(variables + degree, degree)) << variables << " " << degree;
    }
  }
  EXPECT_THROW(PolynomialLibrary({}, 2), mech::Error);
  EXPECT_THROW(PolynomialLibrary({"x", "x"}, 2), mech::Error);
  EXPECT_THROW(PolynomialLibrary({"x"}, -1), mech::Error);
}

TEST(PolynomialLibrary, EvaluatesEveryMonomial) {
  PolynomialLibrary library;
  std::vector<double> states = {2.0, -3.0, 0.5, 1.0, 1.0, 1.0};
  std::vector<double> theta = library.evaluate(states);
  ASSERT_EQ(theta.size(), 20u);
  std::vector<double> first = {1, 2, -3, 0.5, 4, -6, 1, 9, -1.5, 0.25};
  for (size_t term = 0; term < 10; ++term) {
    EXPECT_DOUBLE_EQ(theta[term], first[term]) << library.term_names()[term];
    EXPECT_DOUBLE_EQ(theta[10 + term], 1.0);
  }
  EXPECT_THROW(library.evaluate({1.0, 2.0}), mech::Error);
}

TEST(PolynomialLibrary, ApplyGivesTheLorenzField) {
  PolynomialLibrary library;
  std::vector<double> xi(30, 0.0);
  auto set = [&](const char* term, size_t output, double value) { xi[library.term_index(term) * 3 + output] = value; };
  set("x", 0, -10), set("y", 0, 10);
  set("x", 1, 28), set("y", 1, -1), set("xz", 1, -1);
  set("z", 2, -8.0 / 3.0), set("xy", 2, 1);
  double state[3] = {1.5, -2.0, 20.0};
  std::vector<double> field = library.apply(xi, 3, state);
  EXPECT_DOUBLE_EQ(field[0], 10 * (-2.0 - 1.5));
  EXPECT_DOUBLE_EQ(field[1], 1.5 * (28 - 20.0) + 2.0);
  EXPECT_DOUBLE_EQ(field[2], 1.5 * -2.0 - 8.0 / 3.0 * 20.0);
  EXPECT_EQ(library.format_equation(xi, 3, 0), "-10 x + 10 y");
  EXPECT_EQ(library.format_equation(xi, 3, 1), "28 x - 1 y - 1 xz");
  EXPECT_EQ(library.format_equation(xi, 3, 2), "-2.667 z + 1 xy");
  std::vector<double> zero(30, 0.0);
  zero[0] = 0.5;
  EXPECT_EQ(library.format_equation(zero, 3, 0), "0.5");
  EXPECT_EQ(library.format_equation(zero, 3, 1), "0");
}

TEST(SparsityMask, PruningIsThresholdedAndOneWay) {
  SparsityMask mask(4, 2);
  EXPECT_EQ(mask.active_count(), 8u);
  std::vector<double> xi = {0.05, 1.0, -0.2, 0.09, 3.0, -0.1, 0.0, 0.5};
  EXPECT_EQ(mask.prune(xi, 0.1), 3u);  // 0.05, 0.09 and 0.0; -0.1 sits on the threshold and stays
  std::vector<double> expected = {0.0, 1.0, -0.2, 0.0, 3.0, -0.1, 0.0, 0.5};
  EXPECT_EQ(xi, expected);
  EXPECT_FALSE(mask.active(0, 0));
  EXPECT_TRUE(mask.active(2, 1));
  EXPECT_EQ(mask.active_count(), 5u);
  EXPECT_EQ(mask.active_count_in_output(0), 2u);  // -0.2 and 3.0
  EXPECT_EQ(mask.active_count_in_output(1), 3u);  // 1.0, -0.1 and 0.5
  // A pruned entry that training moved away from zero is put back to zero and stays pruned.
  xi[0] = 7.0;
  EXPECT_EQ(mask.prune(xi, 0.1), 0u);
  EXPECT_EQ(xi[0], 0.0);
  xi[3] = 2.0;
  mask.apply(xi);
  EXPECT_EQ(xi[3], 0.0);
  std::vector<double> weights = {0, 1, 1, 0, 1, 1, 0, 1};
  EXPECT_EQ(mask.weights(), weights);
  // Raising the threshold prunes more.
  EXPECT_EQ(mask.prune(xi, 0.6), 3u);
  EXPECT_EQ(mask.active_count(), 2u);
  EXPECT_THROW(mask.prune(expected = {1.0}, 0.1), mech::Error);
  EXPECT_THROW(mask.active(4, 0), mech::Error);
}

}  // namespace
}  // namespace mech::models
