// Embedding mech in an application: solve an ODE with NeuRLP, then train a tiny model whose
// hidden representation is that ODE. Built against an installed mech (see CMakeLists.txt here);
// `tools/run.sh embed` installs mech, builds this and runs it.
#include <cmath>
#include <cstdio>

#include "autograd/grad_mode.h"
#include "nn/nn.h"
#include "solvers/neurlp.h"

using namespace mech;

int main() {
  const TensorOptions f64 = TensorOptions().dtype(DType::Float64);

  // 1. u'' + u = 0, u(0) = 0, u'(0) = 1 on 200 steps of 0.05: the solution is sin(t).
  const std::int64_t steps = 200;
  const double h = 0.05;
  Tensor coeffs = from_vector<double>({1.0, 0.0, 1.0}, {1, 1, 1, 1, 3}, f64).expand({1, 1, steps, 1, 3});
  Tensor rhs = zeros({1, 1, steps}, f64);
  Tensor iv = from_vector<double>({0.0, 1.0}, {1, 1, 1, 2}, f64);
  Tensor step_sizes = full({1, steps - 1, 1}, h, f64);
  NeurlpResult solution = neurlp(coeffs, rhs, iv, step_sizes);
  std::vector<double> u = solution.u.select(-1, 0).reshape({-1}).to_vector<double>();
  double worst = 0.0;
  for (std::int64_t t = 0; t < steps; ++t) worst = std::max(worst, std::abs(u[t] - std::sin(h * t)));
  std::printf("NeuRLP: u'' + u = 0 over t in [0, %.2f]: max |u - sin t| = %.2e\n", h * (steps - 1), worst);

  // 2. Learn the frequency w of u'' + w^2 u = 0 from samples of sin(2t), through the solver.
  Tensor log_w = zeros({1}, f64.requires_grad());
  Tensor target = from_vector<double>(
      [&] {
        std::vector<double> values(steps);
        for (std::int64_t t = 0; t < steps; ++t) values[t] = std::sin(2.0 * h * t) / 2.0;
        return values;
      }(), {1, steps, 1}, f64);
  nn::Adam optimizer({log_w}, nn::AdamOptions(0.05));
  double loss_value = 0.0;
  for (int iteration = 0; iteration < 300; ++iteration) {
    optimizer.zero_grad();
    Tensor w_squared = exp(log_w * 2.0);
    Tensor learned = cat({ones({1}, f64) * w_squared, zeros({1}, f64), ones({1}, f64)}, 0).reshape({1, 1, 1, 1, 3});
    Tensor u_fit = neurlp(learned.expand({1, 1, steps, 1, 3}), rhs, iv, step_sizes).u.select(-1, 0);
    Tensor loss = mse_loss(u_fit, target);
    loss.backward();
    optimizer.step();
    loss_value = loss.item();
  }
  const double w = std::exp(log_w.item());
  std::printf("training through NeuRLP: learned w = %.4f (true 2), final loss %.2e\n", w, loss_value);
  return worst < 1.5e-2 && std::abs(w - 2.0) < 0.02 ? 0 : 1;
}
