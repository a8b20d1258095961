// Randomised shapes: for many seeds, draw broadcast-compatible shape pairs (ranks 0-4, sizes 1-4,
// dims randomly squashed to 1 or dropped on one side), optionally make the inputs non-contiguous
// (the function receives a permuted buffer and permutes it back), and gradcheck binary ops,
// where, reductions over random dims and batched matmul in float64.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "test_ops_helpers.h"

using namespace mech;
using namespace mech::testing;

namespace {

struct ShapeDraw {
  Generator generator;
  explicit ShapeDraw(std::uint64_t seed) : generator(seed) {}
  std::int64_t integer(std::int64_t low, std::int64_t high) {  // [low, high]
    return low + static_cast<std::int64_t>(generator.uniform() * static_cast<double>(high - low + 1));
  }
  bool coin() { return generator.uniform() < 0.5; }

  // A full shape, and a second shape that broadcasts to it.
  std::pair<Shape, Shape> broadcast_pair(std::int64_t max_rank) {
    Shape full(static_cast<std::size_t>(integer(0, max_rank)));
    for (auto& size : full) size = integer(1, 4);
    Shape partial(full.begin() + integer(0, static_cast<std::int64_t>(full.size())), full.end());
    for (auto& size : partial) {
      if (coin()) size = 1;
    }
    return coin() ? std::pair{full, partial} : std::pair{partial, full};
  }
};

// An input of `shape` stored in reversed dimension order, and the function-side view that
// undoes the reversal: the function then sees `shape` with non-contiguous strides.
struct StoredInput {
  Tensor stored;
  bool reversed;
  Tensor view(const Tensor& leaf) const {
    if (!reversed) return leaf;
    Shape order(static_cast<std::size_t>(leaf.dim()));
    std::iota(order.rbegin(), order.rend(), 0);
    return leaf.permute(order);
  }
};

StoredInput make_input(const Shape& shape, std::uint64_t seed, bool reverse, bool keep_from_zero = false) {
  Shape stored_shape(shape.rbegin(), shape.rend());
  Tensor values = random64(reverse ? stored_shape : shape, seed);
  if (keep_from_zero) values = where(gt(values, zeros({}, f64)), values + 0.5, values - 0.5);
  return {values, reverse && shape.size() >= 2};
}

}  // namespace

TEST(RandomShapes, BinaryOpsAndWhere) {
  for (std::uint64_t seed = 0; seed < 40; ++seed) {
    ShapeDraw draw(seed);
    const auto [shape_a, shape_b] = draw.broadcast_pair(4);
    const auto a = make_input(shape_a, 1000 + seed, draw.coin());
    const auto b = make_input(shape_b, 2000 + seed, draw.coin(), true);
    SCOPED_TRACE(fmt::format("seed {}: {} ({}) and {} ({})", seed, shape_str(shape_a),
                             a.reversed ? "strided" : "contiguous", shape_str(shape_b),
                             b.reversed ? "strided" : "contiguous"));
    EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return a.view(in[0]) * b.view(in[1]) + a.view(in[0]); },
                     {a.stored, b.stored});
    EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return a.view(in[0]) / b.view(in[1]) - b.view(in[1]); },
                     {a.stored, b.stored});
    const Tensor condition = gt(random64(shape_b, 3000 + seed), zeros({}, f64));
    EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return where(condition, a.view(in[0]), b.view(in[1])); },
                     {a.stored, b.stored});
  }
}

TEST(RandomShapes, ReductionsOverRandomDims) {
  for (std::uint64_t seed = 0; seed < 30; ++seed) {
    ShapeDraw draw(100 + seed);
    Shape shape(static_cast<std::size_t>(draw.integer(1, 4)));
    for (auto& size : shape) size = draw.integer(1, 4);
    Shape dims;
    for (std::int64_t d = 0; d < static_cast<std::int64_t>(shape.size()); ++d) {
      if (draw.coin()) dims.push_back(draw.coin() ? d : d - static_cast<std::int64_t>(shape.size()));
    }
    const bool keepdim = draw.coin();
    const auto x = make_input(shape, 4000 + seed, draw.coin());
    SCOPED_TRACE(fmt::format("seed {}: shape {} dims {} keepdim {}", seed, shape_str(shape), shape_str(dims), keepdim));
    EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return x.view(in[0]).sum(dims, keepdim); }, {x.stored});
    EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return x.view(in[0]).mean(dims, keepdim); }, {x.stored});
    const std::int64_t max_dim = draw.integer(0, static_cast<std::int64_t>(shape.size()) - 1);
    EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return x.view(in[0]).max(max_dim, keepdim); }, {x.stored});
  }
}

TEST(RandomShapes, BatchedMatmul) {
  for (std::uint64_t seed = 0; seed < 30; ++seed) {
    ShapeDraw draw(200 + seed);
    const auto [batch_a, batch_b] = draw.broadcast_pair(2);
    const std::int64_t m = draw.integer(1, 5), k = draw.integer(1, 5), n = draw.integer(1, 5);
    Shape shape_a = batch_a, shape_b = batch_b;
    shape_a.insert(shape_a.end(), {m, k});
    shape_b.insert(shape_b.end(), {k, n});
    // Occasionally a 1-D operand (only without batch dims on that side, as NumPy allows).
    if (batch_a.empty() && draw.coin()) shape_a = {k};
    if (batch_b.empty() && draw.coin()) shape_b = {k};
    const auto a = make_input(shape_a, 5000 + seed, draw.coin());
    const auto b = make_input(shape_b, 6000 + seed, draw.coin());
    SCOPED_TRACE(fmt::format("seed {}: {} @ {}", seed, shape_str(shape_a), shape_str(shape_b)));
    EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return matmul(a.view(in[0]), b.view(in[1])); },
                     {a.stored, b.stored});
  }
}
