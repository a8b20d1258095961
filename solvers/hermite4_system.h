// One hermite4 system: its rows (solvers/hermite4_rows.h) on the shared sweeps. The entry points
// are those of solvers/neurlp_system.h, which choose the hermite4 rows when z.formulation is
// Formulation::Hermite4 (or Sweeps<Hermite4Rows, FD, FK> directly, solvers/neurlp_sweeps.h).
#pragma once

#include "solvers/hermite4_rows.h"
#include "solvers/neurlp_system.h"
