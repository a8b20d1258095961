// Anomaly mode: when on, every op's forward outputs and every backward gradient are checked for
// NaN/Inf, and the first op producing one is named in a mech::Error. Every op means recorded or not:
// also with grad mode off or no input requiring grad (record() checks the ops that record, and
// detail::will_record in autograd/ops_common.h those that skip recording; the NeuRLP op in
// solvers/neurlp.cpp checks its outputs itself when it does not record). Off by default
// (on, it costs a pass over each tensor; off, one atomic load per op). AnomalyGuard turns it on
// for a scope.
#pragma once

#include "core/tensor.h"

namespace mech {

bool anomaly_mode_enabled();
void set_anomaly_mode(bool enabled);

class AnomalyGuard {
 public:
  AnomalyGuard() : previous_(anomaly_mode_enabled()) { set_anomaly_mode(true); }
  ~AnomalyGuard() { set_anomaly_mode(previous_); }
  AnomalyGuard(const AnomalyGuard&) = delete;
  AnomalyGuard& operator=(const AnomalyGuard&) = delete;

 private:
  bool previous_;
};

// True when every element is finite (always true for int64).
bool all_finite(const Tensor& x);
// In anomaly mode, throws "anomaly: op 'name' produced NaN/Inf in its <phase> output of shape ...".
void check_anomaly(const char* op, const Tensor& x, const char* phase);

}  // namespace mech
