// xoshiro256** seeded through splitmix64; normals by Box-Muller with one cached value.
#include "core/generator.h"

#include <cmath>
#include <cstring>

#include "core/error.h"

namespace mech {

namespace {
std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
std::uint64_t rotate_left(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Generator::Generator(std::uint64_t seed_value) { seed(seed_value); }

void Generator::seed(std::uint64_t seed_value) {
  std::uint64_t state = seed_value;
  for (auto& word : words_) word = splitmix64(state);
  has_spare_normal_ = false;
  spare_normal_ = 0.0;
}

std::uint64_t Generator::next_u64() {
  const std::uint64_t result = rotate_left(words_[1] * 5, 7) * 9;
  const std::uint64_t t = words_[1] << 17;
  words_[2] ^= words_[0];
  words_[3] ^= words_[1];
  words_[1] ^= words_[2];
  words_[0] ^= words_[3];
  words_[2] ^= t;
  words_[3] = rotate_left(words_[3], 45);
  return result;
}

double Generator::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

double Generator::normal() {
  if (has_spare_normal_) {
    has_spare_normal_ = false;
    return spare_normal_;
  }
  double u1 = uniform();
  while (u1 <= 0.0) u1 = uniform();
  const double u2 = uniform();
  const double radius = std::sqrt(-2.0 * std::log(u1));
  const double angle = 2.0 * M_PI * u2;
  spare_normal_ = radius * std::sin(angle);
  has_spare_normal_ = true;
  return radius * std::cos(angle);
}

std::vector<std::uint64_t> Generator::state() const {
  std::uint64_t spare_bits = 0;
  std::memcpy(&spare_bits, &spare_normal_, sizeof spare_bits);
  return {words_[0], words_[1], words_[2], words_[3], has_spare_normal_ ? 1u : 0u, spare_bits};
}

void Generator::set_state(const std::vector<std::uint64_t>& state) {
  MECH_CHECK(state.size() == 6, "Generator::set_state: expected 6 words, got {}", state.size());
  for (int i = 0; i < 4; ++i) words_[i] = state[i];
  has_spare_normal_ = state[4] != 0;
  std::memcpy(&spare_normal_, &state[5], sizeof spare_normal_);
}

Generator& default_generator() {
  static Generator generator;
  return generator;
}

void manual_seed(std::uint64_t seed_value) { default_generator().seed(seed_value); }

}  // namespace mech
