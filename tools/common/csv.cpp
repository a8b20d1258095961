// CsvTable: row checks, cell quoting, number formatting, atomic save.
#include "tools/common/csv.h"

#include <cmath>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "core/atomic_file.h"
#include "core/error.h"

namespace mech::tools {

std::string csv_cell(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

std::string csv_number(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  return fmt::format("{}", value);  // fmt's shortest round-trip representation
}

CsvTable::CsvTable(std::vector<std::string> header) : header_(std::move(header)) {
  MECH_CHECK(!header_.empty(), "CsvTable: the header needs at least one column");
}

void CsvTable::add_row(const std::vector<std::string>& cells) {
  MECH_CHECK(cells.size() == header_.size(), "CsvTable::add_row: {} cells for {} columns ({}...)", cells.size(),
             header_.size(), header_.front());
  std::string row;
  for (size_t i = 0; i < cells.size(); ++i) {
    if (i > 0) row += ',';
    row += csv_cell(cells[i]);
  }
  rows_.push_back(std::move(row));
}

void CsvTable::add_row(const std::vector<double>& values) {
  std::vector<std::string> cells;
  for (double value : values) cells.push_back(csv_number(value));
  add_row(cells);
}

void CsvTable::add_row(const std::string& label, const std::vector<double>& values) {
  std::vector<std::string> cells = {label};
  for (double value : values) cells.push_back(csv_number(value));
  add_row(cells);
}

std::string CsvTable::text() const {
  std::string out;
  for (size_t i = 0; i < header_.size(); ++i) {
    if (i > 0) out += ',';
    out += csv_cell(header_[i]);
  }
  out += '\n';
  for (const std::string& row : rows_) {
    out += row;
    out += '\n';
  }
  return out;
}

void CsvTable::save(const std::string& path) const { mech::write_file_atomically(path, std::string_view(text())); }

}  // namespace mech::tools
