// The polynomial candidate library Theta(s) of equation discovery, and the sparsity mask that
// prunes its coefficients.
//
// Terms are all monomials of the variables up to a degree, ordered by degree and then
// lexicographically by variable index; for (x, y, z) and degree 2 that is
//   1, x, y, z, xx, xy, xz, yy, yz, zz
// A discovered system is a coefficient matrix xi of shape (terms, outputs), row-major
// (xi[term * outputs + output]), so that s' = Theta(s) xi.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace mech::models {

class PolynomialLibrary {
 public:
  explicit PolynomialLibrary(std::vector<std::string> variable_names = {"x", "y", "z"}, int degree = 2);

  size_t term_count() const { return exponents_.size(); }
  size_t variable_count() const { return variable_names_.size(); }
  int degree() const { return degree_; }
  const std::vector<std::string>& variable_names() const { return variable_names_; }
  // "1", "x", ..., "xy", ...: names concatenated when every variable name is one character,
  // joined with '*' otherwise ("u1*u2").
  const std::vector<std::string>& term_names() const { return term_names_; }
  // exponents()[term][variable]: the power of each variable in a term.
  const std::vector<std::vector<int>>& exponents() const { return exponents_; }
  // Index of a term by name; throws mech::Error if there is none.
  size_t term_index(const std::string& name) const;

  // One row of Theta: out[term] for one state of variable_count() values.
  void evaluate_row(const double* state, double* out) const;
  // Theta for rows states (rows, variables) row-major: returns (rows, terms) row-major.
  std::vector<double> evaluate(const std::vector<double>& states) const;

  // s' for one state under coefficients xi (terms, outputs): out[output] = sum_term Theta[term] xi[term][output].
  std::vector<double> apply(const std::vector<double>& coefficients, size_t outputs, const double* state) const;

  // "-10 x + 10 y" for one output column of xi; zero coefficients are left out; "0" when all are.
  std::string format_equation(const std::vector<double>& coefficients, size_t outputs, size_t output,
                              int significant_digits = 4) const;

 private:
  std::vector<std::string> variable_names_;
  int degree_;
  std::vector<std::vector<int>> exponents_;
  std::vector<std::string> term_names_;
};

// Which coefficients of a (terms, outputs) matrix are still free. Pruning is one way: a term once
// pruned stays at exactly zero.
class SparsityMask {
 public:
  SparsityMask(size_t terms, size_t outputs);  // everything active

  size_t terms() const { return terms_; }
  size_t outputs() const { return outputs_; }
  bool active(size_t term, size_t output) const;
  void set_active(size_t term, size_t output, bool active);
  size_t active_count() const;
  size_t active_count_in_output(size_t output) const;

  // Deactivates every active entry with |coefficient| < threshold; zeroes every inactive entry of
  // coefficients. Returns how many entries were newly pruned.
  size_t prune(std::vector<double>& coefficients, double threshold);
  // Zeroes the inactive entries.
  void apply(std::vector<double>& coefficients) const;
  // 1 for active and 0 for pruned, (terms, outputs) row-major: multiply a parameter tensor by it.
  std::vector<double> weights() const;

 private:
  void check_size(const char* op, const std::vector<double>& coefficients) const;

  size_t terms_, outputs_;
  std::vector<char> active_;
};

}  // namespace mech::models
