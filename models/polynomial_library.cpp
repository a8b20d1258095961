// PolynomialLibrary: term enumeration, evaluation, readable equations; SparsityMask: pruning.
#include "models/polynomial_library.h"

#include <cmath>
#include <utility>

#include <fmt/format.h>

#include "core/error.h"

namespace mech::models {
namespace {

// All non-decreasing index sequences of a given length over `variables` indices, in lexicographic
// order: (0,0), (0,1), (0,2), (1,1), ... -> xx, xy, xz, yy, ...
void enumerate_monomials(size_t variables, int length, size_t first_index, std::vector<size_t>& prefix,
                         std::vector<std::vector<size_t>>& out) {
  if (static_cast<int>(prefix.size()) == length) {
    out.push_back(prefix);
    return;
  }
  for (size_t index = first_index; index < variables; ++index) {
    prefix.push_back(index);
    enumerate_monomials(variables, length, index, prefix, out);
    prefix.pop_back();
  }
}

}  // namespace

PolynomialLibrary::PolynomialLibrary(std::vector<std::string> variable_names, int degree)
    : variable_names_(std::move(variable_names)), degree_(degree) {
  MECH_CHECK(!variable_names_.empty(), "PolynomialLibrary: needs at least one variable");
  MECH_CHECK(degree_ >= 0 && degree_ <= 8, "PolynomialLibrary: degree {} must be in [0, 8]", degree_);
  bool single_characters = true;
  for (size_t i = 0; i < variable_names_.size(); ++i) {
    MECH_CHECK(!variable_names_[i].empty(), "PolynomialLibrary: variable {} has an empty name", i);
    for (size_t j = 0; j < i; ++j)
      MECH_CHECK(variable_names_[i] != variable_names_[j], "PolynomialLibrary: variable name '{}' repeated",
                 variable_names_[i]);
    single_characters = single_characters && variable_names_[i].size() == 1;
  }
  for (int length = 0; length <= degree_; ++length) {
    std::vector<std::vector<size_t>> monomials;
    std::vector<size_t> prefix;
    enumerate_monomials(variable_names_.size(), length, 0, prefix, monomials);
    for (const std::vector<size_t>& monomial : monomials) {
      std::vector<int> powers(variable_names_.size(), 0);
      std::string name;
      for (size_t index : monomial) {
        ++powers[index];
        if (!name.empty() && !single_characters) name += '*';
        name += variable_names_[index];
      }
      exponents_.push_back(std::move(powers));
      term_names_.push_back(name.empty() ? "1" : name);
    }
  }
}

size_t PolynomialLibrary::term_index(const std::string& name) const {
  for (size_t term = 0; term < term_names_.size(); ++term)
    if (term_names_[term] == name) return term;
  throw Error(fmt::format("PolynomialLibrary::term_index: no term named '{}' among {} terms", name, term_names_.size()));
}

void PolynomialLibrary::evaluate_row(const double* state, double* out) const {
  for (size_t term = 0; term < exponents_.size(); ++term) {
    double value = 1.0;
    for (size_t variable = 0; variable < variable_names_.size(); ++variable)
      for (int power = 0; power < exponents_[term][variable]; ++power) value *= state[variable];
    out[term] = value;
  }
}

std::vector<double> PolynomialLibrary::evaluate(const std::vector<double>& states) const {
  size_t variables = variable_count();
  MECH_CHECK(states.size() % variables == 0, "PolynomialLibrary::evaluate: {} values are not rows of {} variables",
             states.size(), variables);
  size_t rows = states.size() / variables;
  std::vector<double> theta(rows * term_count());
  for (size_t row = 0; row < rows; ++row) evaluate_row(&states[row * variables], &theta[row * term_count()]);
  return theta;
}

std::vector<double> PolynomialLibrary::apply(const std::vector<double>& coefficients, size_t outputs,
                                             const double* state) const {
  MECH_CHECK(coefficients.size() == term_count() * outputs,
             "PolynomialLibrary::apply: coefficients have {} entries, expected terms x outputs = {} x {}",
             coefficients.size(), term_count(), outputs);
  std::vector<double> theta(term_count()), result(outputs, 0.0);
  evaluate_row(state, theta.data());
  for (size_t term = 0; term < term_count(); ++term)
    for (size_t output = 0; output < outputs; ++output) result[output] += theta[term] * coefficients[term * outputs + output];
  return result;
}

std::string PolynomialLibrary::format_equation(const std::vector<double>& coefficients, size_t outputs, size_t output,
                                               int significant_digits) const {
  MECH_CHECK(coefficients.size() == term_count() * outputs && output < outputs,
             "PolynomialLibrary::format_equation: coefficients have {} entries for {} terms x {} outputs (output {})",
             coefficients.size(), term_count(), outputs, output);
  std::string text;
  for (size_t term = 0; term < term_count(); ++term) {
    double value = coefficients[term * outputs + output];
    if (value == 0.0) continue;
    std::string magnitude = fmt::format("{:.{}g}", std::fabs(value), significant_digits);
    if (text.empty()) {
      text += value < 0 ? "-" : "";
    } else {
      text += value < 0 ? " - " : " + ";
    }
    text += magnitude;
    if (term_names_[term] != "1") text += " " + term_names_[term];
  }
  return text.empty() ? "0" : text;
}

// ---- SparsityMask -------------------------------------------------------------------------------

SparsityMask::SparsityMask(size_t terms, size_t outputs) : terms_(terms), outputs_(outputs), active_(terms * outputs, 1) {
  MECH_CHECK(terms > 0 && outputs > 0, "SparsityMask: terms={} and outputs={} must be positive", terms, outputs);
}

bool SparsityMask::active(size_t term, size_t output) const {
  MECH_CHECK(term < terms_ && output < outputs_, "SparsityMask::active: ({}, {}) outside {} x {}", term, output, terms_,
             outputs_);
  return active_[term * outputs_ + output] != 0;
}

void SparsityMask::set_active(size_t term, size_t output, bool active) {
  MECH_CHECK(term < terms_ && output < outputs_, "SparsityMask::set_active: ({}, {}) outside {} x {}", term, output,
             terms_, outputs_);
  active_[term * outputs_ + output] = active ? 1 : 0;
}

size_t SparsityMask::active_count() const {
  size_t count = 0;
  for (char flag : active_) count += flag != 0;
  return count;
}

size_t SparsityMask::active_count_in_output(size_t output) const {
  MECH_CHECK(output < outputs_, "SparsityMask::active_count_in_output: output {} of {}", output, outputs_);
  size_t count = 0;
  for (size_t term = 0; term < terms_; ++term) count += active_[term * outputs_ + output] != 0;
  return count;
}

void SparsityMask::check_size(const char* op, const std::vector<double>& coefficients) const {
  MECH_CHECK(coefficients.size() == active_.size(), "SparsityMask::{}: coefficients have {} entries, expected {} x {}",
             op, coefficients.size(), terms_, outputs_);
}

size_t SparsityMask::prune(std::vector<double>& coefficients, double threshold) {
  check_size("prune", coefficients);
  MECH_CHECK(threshold >= 0 && std::isfinite(threshold), "SparsityMask::prune: threshold {} must be >= 0", threshold);
  size_t pruned = 0;
  for (size_t i = 0; i < active_.size(); ++i) {
    if (active_[i] && std::fabs(coefficients[i]) < threshold) {
      active_[i] = 0;
      ++pruned;
    }
    if (!active_[i]) coefficients[i] = 0.0;
  }
  return pruned;
}

void SparsityMask::apply(std::vector<double>& coefficients) const {
  check_size("apply", coefficients);
  for (size_t i = 0; i < active_.size(); ++i)
    if (!active_[i]) coefficients[i] = 0.0;
}

std::vector<double> SparsityMask::weights() const {
  std::vector<double> result(active_.size());
  for (size_t i = 0; i < active_.size(); ++i) result[i] = active_[i] ? 1.0 : 0.0;
  return result;
}

}  // namespace mech::models
