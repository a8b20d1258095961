// Generator: the seeded random source behind rand/randn and parameter initialisation
// (xoshiro256** with Box-Muller normals). Its whole state can be saved and restored, so a
// checkpoint resumes the same random stream.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace mech {

class Generator {
 public:
  explicit Generator(std::uint64_t seed = 0x5eed);
  void seed(std::uint64_t seed);
  std::uint64_t next_u64();
  double uniform();   // [0, 1)
  double normal();    // standard normal

  // Whole state as 6 words (4 of xoshiro, a flag and the cached normal's bits).
  std::vector<std::uint64_t> state() const;
  void set_state(const std::vector<std::uint64_t>& state);

 private:
  std::array<std::uint64_t, 4> words_{};
  bool has_spare_normal_ = false;
  double spare_normal_ = 0.0;
};

// The process-wide generator used when none is passed.
Generator& default_generator();
void manual_seed(std::uint64_t seed);

}  // namespace mech
