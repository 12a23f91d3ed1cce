// Lumen Tune (a Lumen extension), internal: the experiment's loop, Ray Tune's
// TuneController. It owns the trials' bookkeeping and drives the searcher
// (new configs), the stoppers and the scheduler (decisions) and a TrialBackend
// (trial_executor.h: the trials themselves, TrialExecutor's actors in a real
// run, a fake in unit tests), and writes the trial folders, the experiment's state and the
// progress table.
//
// The loop: start trials while there is room (the scheduler picks among the
// pending and paused ones; the searcher adds new ones when it has none), wait
// for the next event of any running trial, handle it, repeat until the
// searcher is finished and no trial is left, a stopper ends everything, or
// the time budget is spent. Work per event is proportional to that event,
// not to the number of trials (Ray's controller rescans every trial per
// step, its users' main complaint at thousands of trials); the experiment's
// state is written at most every kStateInterval and at the end.
//
// Threading: one thread (the driver's) calls everything; not thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "progress_reporter.h"
#include "ray/tune/result_grid.h"
#include "ray/tune/tuner.h"
#include "file_writer.h"
#include "trial_executor.h"
#include "trial_logger.h"

namespace ray {
namespace tune {
namespace internal {

struct ControllerSettings {
  explicit ControllerSettings(TrainableRef t) : trainable(std::move(t)) {}
  TrainableRef trainable;
  std::string trainable_name;  // trial folders are <trainable_name>_<trial id>
  Space space;
  TuneConfig tune;
  RunConfig run;
  std::string experiment_path;
  /// Trials that may run at once (from the cluster's resources and
  /// max_concurrent_trials); at least 1.
  int max_parallel = 1;
  /// The cluster's resources when the experiment started (the progress
  /// table's resource line).
  std::map<std::string, double> cluster_total;
  /// Monotonic seconds; tests pass a fake.
  std::function<double()> now;
  std::ostream *out = nullptr;  // the progress table; null: none
  bool out_is_terminal = false;
};

class TuneController : public TrialView {
 public:
  /// Checks the settings (TuneError before any trial) and prepares the
  /// searcher, scheduler and stoppers.
  TuneController(ControllerSettings settings, TrialBackend &backend);
  ~TuneController() override;

  /// Takes back a saved experiment state (experiment_state.json) before Run.
  void Restore(const Json &state, bool resume_errored, bool restart_errored);
  /// Runs the experiment to its end and returns every trial's outcome.
  ResultGrid Run();

  std::vector<const TrialInfo *> Trials() const override;
  const TrialInfo *Find(const std::string &trial_id) const override;

  /// The name of the experiment state's file in the experiment's folder.
  static constexpr const char *kStateFile = "experiment_state.json";

 private:
  struct Trial;

  void Validate();
  void FillSlots();
  bool AddTrialFromSearcher();
  void StartTrial(Trial &t);
  void HandleEvent(const TrialEvent &event);
  void HandleResult(Trial &t, const Json &metrics, const std::optional<std::string> &checkpoint);
  void ApplyDecision(Trial &t, const Decision &decision, const Json &result);
  void ApplyOrders();
  void ApplyExploit(Trial &t, const Exploit &exploit, bool running);
  void Finish(Trial &t, const Json &result);
  void Fail(Trial &t, const std::string &error);
  void Remove(Trial &t);
  void StopEverything();
  void RecordResult(Trial &t, Json result);
  bool ShouldStop(const std::string &trial_id, const Json &result);
  void WriteParams(Trial &t);
  void WritePbtPolicies();
  void WriteState(bool force);
  void Report(bool force);
  std::string ResourcesLine() const;
  Json StateJson() const;
  ResultGrid Results() const;
  Trial &Get(const std::string &trial_id);
  void SetStatus(Trial &t, TrialStatus status);
  size_t Count(TrialStatus status) const { return counts_[static_cast<int>(status)]; }
  std::string NewTrialId();

  ControllerSettings settings_;
  TrialBackend &backend_;
  std::shared_ptr<Searcher> searcher_;
  std::shared_ptr<TrialScheduler> scheduler_;
  std::vector<StopperPtr> stoppers_;
  std::optional<Mode> mode_;
  std::vector<std::unique_ptr<Trial>> trials_;  // in the order added
  size_t counts_[5] = {};                       // trials by status (TrialStatus order)
  std::map<std::string, Trial *> by_id_;
  std::string id_prefix_;
  int64_t suggested_ = 0;  // configs taken from the searcher
  size_t next_index_ = 0;  // of the next trial id
  size_t pbt_entries_written_ = 0;
  bool searcher_finished_ = false;
  bool stop_all_ = false;
  double started_s_ = 0;
  double last_state_s_ = -1;
  std::unique_ptr<ProgressReporter> reporter_;
  // Last: destroyed first, so its thread ends (running what is queued) while
  // the rest is still whole.
  FileWriter writer_;
};

}  // namespace internal
}  // namespace tune
}  // namespace ray
