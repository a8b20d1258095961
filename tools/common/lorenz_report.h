// What the two Lorenz discovery drivers (mech-lorenz, mech-sindy) share, so that their numbers
// compare: the same data options bound to models::LorenzOptions, and the same report of a
// discovered system (the equations beside the truth, the scores, coefficients.csv, summary.txt and
// trajectory.svg).
//
//   models::LorenzOptions data;
//   tools::add_lorenz_data_options(cli, data, "seed of the noise");
//   cli.parse_or_exit(argc, argv);
//   tools::check_lorenz_data_options(cli, data);
//   ...
//   const models::DiscoveryScore score = tools::report_discovery(library, truth, found);
//   tools::write_discovery_files(out_dir, data_set, library, found, summary_extra, "mech", title, span);
#pragma once

#include <string>
#include <vector>

#include "models/datasets.h"
#include "models/polynomial_library.h"
#include "models/sindy.h"
#include "tools/common/cli.h"

namespace mech::tools {

// --sigma --rho --beta --noise --seed --dt --length, bound to the fields of `data` (its values are
// the defaults shown by --help).
void add_lorenz_data_options(CommandLine& cli, models::LorenzOptions& data, const std::string& seed_help);
// Exits 2 with one line on a value make_lorenz cannot use.
void check_lorenz_data_options(const CommandLine& cli, const models::LorenzOptions& data);

// The true coefficients of `data`'s system in `library`, (terms, 3).
std::vector<double> true_coefficients(const models::PolynomialLibrary& library, const models::LorenzOptions& data);

// Prints "truth / discovered" equation pairs.
void print_equations(const models::PolynomialLibrary& library, const std::vector<double>& truth,
                     const std::vector<double>& found);
// Prints the score line (max and mean relative error on the active terms, stray and missing terms).
void print_score(const models::DiscoveryScore& score);
// summary.txt's common key=value lines.
std::string discovery_summary(const models::DiscoveryScore& score);

// Writes <out_dir>/coefficients.csv (term,dx,dy,dz in library order), <out_dir>/summary.txt and
// <out_dir>/trajectory.svg: the true trajectory against the discovered system integrated from the
// same start (Dormand-Prince; a discovered system that blows up ends its curve early, with a note
// printed), as an x-z projection and x(t) over the first `series_span` time units. `label` names
// the discovered curve.
void write_discovery_files(const std::string& out_dir, const models::LorenzData& data,
                           const models::PolynomialLibrary& library, const std::vector<double>& found,
                           const std::string& summary, const std::string& label, const std::string& title,
                           double series_span);

}  // namespace mech::tools
