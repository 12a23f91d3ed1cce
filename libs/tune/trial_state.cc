#include "trial_state.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <system_error>

namespace ray {
namespace tune {
namespace internal {
namespace fs = std::filesystem;

void ResultClock::Restore(const Json &metadata) {
  iteration_ = metadata.value(fields::kTrainingIteration, std::int64_t{0});
  time_total_s_ = metadata.value(fields::kTimeTotalS, 0.0);
  iterations_since_restore_ = 0;
  time_since_restore_s_ = 0;
}

Json ResultClock::Fill(Json metrics, double measured_seconds, double unix_time, const std::string &trial_id) {
  if (metrics.is_null()) metrics = Json::object();
  if (!metrics.is_object()) throw TuneError("a reported result must be a JSON object, got " + metrics.dump());
  auto user_time = metrics.find(fields::kTimeThisIterS);
  double this_iter =
      user_time != metrics.end() && user_time->is_number() ? user_time->get<double>() : measured_seconds;
  ++iteration_;
  ++iterations_since_restore_;
  time_total_s_ += this_iter;
  time_since_restore_s_ += this_iter;
  metrics[fields::kTimeThisIterS] = this_iter;
  if (!metrics.contains(fields::kDone)) metrics[fields::kDone] = false;
  metrics[fields::kTrainingIteration] = iteration_;
  metrics[fields::kTimeTotalS] = time_total_s_;
  metrics[fields::kTimestamp] = static_cast<std::int64_t>(unix_time);
  metrics[fields::kTrialId] = trial_id;
  metrics[fields::kTimeSinceRestore] = time_since_restore_s_;
  metrics[fields::kIterationsSinceRestore] = iterations_since_restore_;
  return metrics;
}

Json ResultClock::Metadata() const {
  return Json{{fields::kTrainingIteration, iteration_}, {fields::kTimeTotalS, time_total_s_}};
}

double UnixTime() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

namespace {

// The number of a "checkpoint_NNNNNN" folder name; -1 for any other name.
long CheckpointIndex(const std::string &name) {
  static const std::string prefix = "checkpoint_";
  if (name.rfind(prefix, 0) != 0 || name.size() == prefix.size()) return -1;
  long n = 0;
  for (std::size_t i = prefix.size(); i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9' || n > 100000000) return -1;
    n = n * 10 + (name[i] - '0');
  }
  return n;
}

}  // namespace

std::string NewCheckpointDir(const std::string &trial_dir) {
  std::error_code ec;
  fs::create_directories(trial_dir, ec);
  if (ec) throw TuneError("cannot create the trial folder " + trial_dir + ": " + ec.message());
  long next = 0;
  for (const auto &entry : fs::directory_iterator(trial_dir, ec)) {
    long index = CheckpointIndex(entry.path().filename().string());
    if (index >= next) next = index + 1;
  }
  // create_directory is false when the folder exists: another writer took the
  // number (a second runner in the same trial folder), so take the next.
  for (;; ++next) {
    char name[32];
    std::snprintf(name, sizeof(name), "checkpoint_%06ld", next);
    fs::path dir = fs::path(trial_dir) / name;
    if (fs::create_directory(dir, ec)) return dir.string();
    if (ec) throw TuneError("cannot create the checkpoint folder " + dir.string() + ": " + ec.message());
  }
}

std::string PersistCheckpoint(const std::string &source, const std::string &trial_dir) {
  std::error_code ec;
  if (!fs::is_directory(source, ec))
    throw TuneError("a reported checkpoint must be a directory; " + source + " is not one");
  std::string dir = NewCheckpointDir(trial_dir);
  fs::copy(source, dir, fs::copy_options::recursive | fs::copy_options::overwrite_existing, ec);
  if (ec) throw TuneError("cannot copy the checkpoint " + source + " into " + dir + ": " + ec.message());
  return dir;
}

void WriteCheckpointMetadata(const std::string &dir, const Json &metadata) {
  fs::path path = fs::path(dir) / kCheckpointMetadataFile;
  std::ofstream out(path);
  out << metadata.dump() << "\n";
  if (!out.flush()) throw TuneError("cannot write " + path.string());
}

Json ReadCheckpointMetadata(const std::string &dir) {
  std::ifstream in(fs::path(dir) / kCheckpointMetadataFile);
  if (!in) return Json::object();
  Json metadata = Json::parse(in, nullptr, /*allow_exceptions=*/false);
  return metadata.is_object() ? metadata : Json::object();
}

}  // namespace internal
}  // namespace tune
}  // namespace ray
