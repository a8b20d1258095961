// mech::Error, the one exception type the library throws, and the checking macro that builds it.
// Messages name the op, the shapes involved and what was expected, e.g.
//   "matmul: shapes [2, 3] and [4, 5] cannot be multiplied: expected a.size(-1) == b.size(-2)".
#pragma once

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace mech {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Thrown by the NeuRLP solver when a system cannot be factored (singular, non-finite input).
class SolverError : public Error {
 public:
  SolverError(const std::string& message, long batch_element)
      : Error(message), batch_element_(batch_element) {}
  long batch_element() const { return batch_element_; }

 private:
  long batch_element_;
};

// Thrown when a file is missing, truncated, corrupt or of an unsupported layout.
class IoError : public Error {
 public:
  using Error::Error;
};

}  // namespace mech

// MECH_CHECK(condition, "op: format {}", args...) throws mech::Error with the formatted message.
#define MECH_CHECK(condition, ...)                                  \
  do {                                                              \
    if (!(condition)) throw ::mech::Error(::fmt::format(__VA_ARGS__)); \
  } while (0)
