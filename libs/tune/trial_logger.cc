#include "trial_logger.h"

#include <filesystem>
#include <system_error>

#include "flat_table.h"

namespace ray {
namespace tune {
namespace internal {
namespace {

namespace fs = std::filesystem;

// The first line of an existing progress.csv, split back into column names
// (they were written by CsvHeader: quoted only when they had to be).
std::vector<std::string> ReadCsvColumns(const fs::path &path) {
  std::ifstream in(path);
  std::string line;
  std::vector<std::string> columns;
  if (!std::getline(in, line)) return columns;
  std::string field;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      columns.push_back(field);
      field.clear();
    } else {
      field += c;
    }
  }
  columns.push_back(field);
  return columns;
}

}  // namespace

void TrialLogger::Open() {
  if (opened_) return;
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec || !fs::is_directory(dir_)) {
    throw TuneError("cannot create the trial folder " + dir_ + ": " + ec.message());
  }
  const fs::path csv = fs::path(dir_) / "progress.csv";
  if (fs::exists(csv) && fs::file_size(csv) > 0) {
    columns_ = ReadCsvColumns(csv);
    header_written_ = true;
  }
  opened_ = true;
}

void TrialLogger::Append(std::ofstream &out, const char *name, const std::string &text) {
  if (!out.is_open()) {
    out.open(fs::path(dir_) / name, std::ios::app);
    if (!out) throw TuneError("cannot write " + (fs::path(dir_) / name).string());
  }
  out << text;
  out.flush();
  if (!out) throw TuneError("writing " + (fs::path(dir_) / name).string() + " failed");
}

void TrialLogger::WriteParams(const Json &config) {
  Open();
  std::ofstream out(fs::path(dir_) / "params.json", std::ios::trunc);
  out << config.dump(2) << "\n";
  if (!out) throw TuneError("cannot write " + (fs::path(dir_) / "params.json").string());
}

void TrialLogger::LogResult(const Json &result) {
  Open();
  Append(results_, "result.json", result.dump() + "\n");
  Json without_config = result;
  if (without_config.is_object()) without_config.erase(fields::kConfig);
  const Json flat = Flatten(without_config);
  std::string text;
  if (!header_written_) {
    for (auto it = flat.begin(); it != flat.end(); ++it) columns_.push_back(it.key());
    text = CsvHeader(columns_);
    header_written_ = true;
  }
  Append(csv_, "progress.csv", text + CsvRow(flat, columns_));
}

void TrialLogger::Close() {
  if (results_.is_open()) results_.close();
  if (csv_.is_open()) csv_.close();
}

void TrialLogger::WriteError(const std::string &message) {
  Open();
  std::ofstream out(fs::path(dir_) / "error.txt", std::ios::trunc);
  out << message << "\n";
  if (!out) throw TuneError("cannot write " + (fs::path(dir_) / "error.txt").string());
}

}  // namespace internal
}  // namespace tune
}  // namespace ray
