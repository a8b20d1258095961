// CsvTable: the drivers' tables (loss.csv, coefficients.csv) with a fixed header, numbers written
// with 17 significant digits so they read back exactly, cells quoted only where CSV needs it, and
// the file written atomically.
//
//   mech::tools::CsvTable loss({"epoch", "loss"});
//   loss.add_row({1.0, 0.25});
//   loss.save(out_dir + "/loss.csv");
#pragma once

#include <string>
#include <vector>

namespace mech::tools {

class CsvTable {
 public:
  explicit CsvTable(std::vector<std::string> header);

  // Each row must have as many cells as the header (mech::Error otherwise).
  void add_row(const std::vector<double>& values);
  void add_row(const std::string& label, const std::vector<double>& values);  // a text cell first
  void add_row(const std::vector<std::string>& cells);

  size_t row_count() const { return rows_.size(); }
  std::string text() const;
  // Throws mech::IoError if the file cannot be written.
  void save(const std::string& path) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::string> rows_;  // each already joined, without the newline
};

// One CSV cell: quoted (with doubled quotes) when it holds a comma, a quote or a line break.
std::string csv_cell(const std::string& text);
// Shortest text that reads back to the same double (up to 17 significant digits); "nan", "inf", "-inf".
std::string csv_number(double value);

}  // namespace mech::tools
