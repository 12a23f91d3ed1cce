// The files of one trial's folder, as Ray Tune writes them: params.json (the
// config), result.json (every result, one JSON object per line), progress.csv
// (every result flattened, "/" between nested keys, the config left out) and
// error.txt (why the trial failed). ResultGrid::Load reads them back.
//
// Each write is flushed at once, so a driver that is killed leaves whole
// lines behind for Tuner::Restore. As in Ray, progress.csv's columns are those
// of the first result: keys first seen later go to result.json only.
//
// Threading: one TrialLogger per trial, used by one thread at a time (the
// experiment's FileWriter thread, file_writer.h).
#pragma once

#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "ray/tune/types.h"

namespace ray {
namespace tune {
namespace internal {

class TrialLogger {
 public:
  /// Touches no file: the first write creates `trial_dir` (and its parents)
  /// if needed, TuneError if it cannot. A folder that already has
  /// progress.csv (a restored trial) is appended to, keeping its columns.
  explicit TrialLogger(std::string trial_dir) : dir_(std::move(trial_dir)) {}

  const std::string &trial_dir() const { return dir_; }
  void WriteParams(const Json &config);
  void LogResult(const Json &result);
  void WriteError(const std::string &message);
  /// Closes the open files; the next write opens them again (appending).
  void Close();

 private:
  void Open();
  void Append(std::ofstream &out, const char *name, const std::string &text);

  std::string dir_;
  std::ofstream results_;
  std::ofstream csv_;
  std::vector<std::string> columns_;  // progress.csv's, once known
  bool header_written_ = false;
  bool opened_ = false;
};

}  // namespace internal
}  // namespace tune
}  // namespace ray
