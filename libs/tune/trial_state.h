// Lumen Tune (a Lumen extension), internal: what a trial keeps between its
// results -- the auto-filled result fields (ResultClock) and its checkpoint
// folders -- shared by the function and class runners in the trial's actor.
//
// Threading: ResultClock is a plain value, guarded by its owner. The
// checkpoint helpers touch only the folders they are given.
#pragma once

#include <cstdint>
#include <string>

#include "ray/tune/types.h"

namespace ray {
namespace tune {
namespace internal {

/// The fields Ray's Trainable fills in on every result (types.h's fields::*),
/// and the counters behind them. A restore from a checkpoint continues the
/// iteration count and total time saved with it (Ray's), and starts the
/// "since restore" counters again.
class ResultClock {
 public:
  /// Continues from what a checkpoint recorded (Metadata()); a checkpoint
  /// without it (a directory the user made by hand) starts from zero.
  void Restore(const Json &metadata);
  /// Every counter back to zero, as Ray's Trainable.reset does for a new
  /// config.
  void Reset() { *this = ResultClock(); }
  /// One iteration's result: `metrics` (a JSON object, else TuneError) with
  /// the fields filled in. As in Ray, a time_this_iter_s or done the user
  /// reported is kept; the other fields are always the runtime's.
  Json Fill(Json metrics, double measured_seconds, double unix_time, const std::string &trial_id);
  /// What a checkpoint taken now records, for Restore.
  Json Metadata() const;
  std::int64_t iteration() const { return iteration_; }
  double time_total_s() const { return time_total_s_; }

 private:
  std::int64_t iteration_ = 0;
  double time_total_s_ = 0;
  std::int64_t iterations_since_restore_ = 0;
  double time_since_restore_s_ = 0;
};

/// Seconds since the Unix epoch, for the timestamp field.
double UnixTime();

/// Checkpoint folders of a trial: `trial_dir`/checkpoint_000000, _000001, ...
/// (Ray 2.x's names), numbered on from the highest one already there, so a
/// restarted or restored trial never overwrites an earlier checkpoint.
std::string NewCheckpointDir(const std::string &trial_dir);
/// Copies the directory `source` (a checkpoint the user reported) into a new
/// checkpoint folder of `trial_dir` and returns its path; TuneError when
/// `source` is not a directory.
std::string PersistCheckpoint(const std::string &source, const std::string &trial_dir);
/// The runtime's record in a checkpoint folder (ResultClock::Metadata()),
/// beside the user's files; an empty object when there is none.
void WriteCheckpointMetadata(const std::string &dir, const Json &metadata);
Json ReadCheckpointMetadata(const std::string &dir);
/// The file that record is kept in, inside a checkpoint folder.
inline constexpr const char *kCheckpointMetadataFile = ".tune_metadata.json";

}  // namespace internal
}  // namespace tune
}  // namespace ray
