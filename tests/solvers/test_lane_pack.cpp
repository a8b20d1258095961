// Lane packs (solvers/lane_pack.h): the divider-free 1/sqrt the interior factorisation uses is
// within 1 ulp of the correctly rounded value over the whole range of pivots, and the pivot test
// finds the first failing lane (NaN included).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "solvers/lane_pack.h"

#if defined(MECH_HAS_LANE_PACKS)

namespace {

using namespace mech::neurlp_core;

template <class Pack, class Real, class Wide>
double worst_inverse_sqrt_ulps(int samples) {
  constexpr int width = LaneTraits<Pack>::width;
  std::mt19937_64 engine(7);
  const double range = std::numeric_limits<Real>::max_exponent10 - 2;
  std::uniform_real_distribution<double> exponent(-range, range), mantissa(1.0, 10.0);
  double worst = 0.0;
  for (int sample = 0; sample < samples; ++sample) {
    Pack x;
    for (int lane = 0; lane < width; ++lane) x[lane] = static_cast<Real>(mantissa(engine) * std::pow(10.0, exponent(engine)));
    const Pack y = lane_inverse_sqrt(x);
    for (int lane = 0; lane < width; ++lane) {
      const Real reference = static_cast<Real>(Wide(1) / std::sqrt(static_cast<Wide>(x[lane])));
      const Real ulp = std::nextafter(reference, std::numeric_limits<Real>::infinity()) - reference;
      worst = std::max(worst, static_cast<double>(std::fabs(y[lane] - reference) / ulp));
    }
  }
  return worst;
}

TEST(LanePack, InverseSqrtIsWithinOneUlp) {
  EXPECT_LE((worst_inverse_sqrt_ulps<PackF64, double, long double>(20000)), 1.0);
  EXPECT_LE((worst_inverse_sqrt_ulps<PackF32, float, double>(20000)), 1.0);
}

TEST(LanePack, FirstFailingLaneFindsTheFirstBadPivot) {
  PackF64 pivot = splat<PackF64>(2.0), bound = splat<PackF64>(1.0);
  EXPECT_EQ(first_failing_lane(pivot, bound), -1);
  // Lanes 5, 6 and 2 of an 8-lane pack; 1, 2 and 0 of a 4-lane one (lane_pack.h: the width is
  // the target's register width).
  const int width = LaneTraits<PackF64>::width;
  pivot[width - 3] = 0.5;
  pivot[width - 2] = -1.0;
  EXPECT_EQ(first_failing_lane(pivot, bound), width - 3);
  pivot[(width - 3) / 2] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(first_failing_lane(pivot, bound), (width - 3) / 2);
  PackF32 pivot32 = splat<PackF32>(2.0f), bound32 = splat<PackF32>(1.0f);
  EXPECT_EQ(first_failing_lane(pivot32, bound32), -1);
  pivot32[LaneTraits<PackF32>::width - 1] = 1.0f;   // equal to the bound fails too
  EXPECT_EQ(first_failing_lane(pivot32, bound32), LaneTraits<PackF32>::width - 1);
}

}  // namespace

#endif
