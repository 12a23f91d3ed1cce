#include "trainable_host.h"

#include <utility>

namespace ray {
namespace tune {
namespace internal {
namespace {

// The host of the function running on this thread: Report finds its trial
// here. Thread-local, not process-wide, because local mode runs several
// trials' actors in one process.
thread_local FunctionHost *current_host = nullptr;

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The trial whose code runs on this thread (GetContext): set on a function
// trainable's thread for its life, and around each call into a Trainable.
thread_local const TrialPlace *current_place = nullptr;

class PlaceScope {
 public:
  explicit PlaceScope(const TrialPlace &place) : saved_(current_place) { current_place = &place; }
  ~PlaceScope() { current_place = saved_; }
  PlaceScope(const PlaceScope &) = delete;
  PlaceScope &operator=(const PlaceScope &) = delete;

 private:
  const TrialPlace *saved_;
};

FunctionHost &CurrentHost() {
  if (current_host == nullptr)
    throw TuneError(
        "ray::tune::Report and GetCheckpoint work only on the thread that runs a trial's function trainable");
  return *current_host;
}

}  // namespace

std::string ResultEvent(const Json &metrics, const std::optional<std::string> &checkpoint) {
  return Json{
      {"kind", "result"}, {"metrics", metrics}, {"checkpoint", checkpoint ? Json(*checkpoint) : Json()}}
      .dump();
}
std::string DoneEvent(const Json &metrics, const std::optional<std::string> &checkpoint) {
  return Json{{"kind", "done"}, {"metrics", metrics}, {"checkpoint", checkpoint ? Json(*checkpoint) : Json()}}
      .dump();
}
std::string ErrorEvent(const std::string &message) {
  return Json{{"kind", "error"}, {"error", message}}.dump();
}
std::string StoppedEvent() { return Json{{"kind", "stopped"}}.dump(); }

// ---- FunctionHost

FunctionHost::FunctionHost(TrainFunction function, Json config, TrialPlace place,
                           std::optional<std::string> restore_from)
    : function_(function), place_(std::move(place)), config_(std::move(config)) {
  if (restore_from) {
    restore_from_ = restore_from;
    clock_.Restore(ReadCheckpointMetadata(*restore_from));
  }
}

FunctionHost::~FunctionHost() { Stop(); }

void FunctionHost::Run() {
  current_host = this;
  PlaceScope in_trial(place_);
  std::optional<std::string> error;
  bool stopped = false;
  Json config;
  {
    std::lock_guard<std::mutex> lock(mu_);
    config = config_;
  }
  try {
    function_(config);
  } catch (const TrialStopped &) {
    stopped = true;
  } catch (const std::exception &e) {
    error = e.what();
  } catch (...) {
    error = "the trainable threw an exception that is not a std::exception";
  }
  current_host = nullptr;
  std::lock_guard<std::mutex> lock(mu_);
  finished_ = true;
  error_ = error;
  stopped_by_us_ = stopped;
  cv_.notify_all();
}

std::string FunctionHost::Next() {
  std::unique_lock<std::mutex> lock(mu_);
  if (awaiting_decision_) {
    // The driver took the last result and wants the next: Report returns.
    awaiting_decision_ = false;
    resume_ = true;
    cv_.notify_all();
  }
  if (!started_ && !closed_) {
    started_ = true;
    resumed_at_ = std::chrono::steady_clock::now();
    thread_ = std::thread([this] { Run(); });
  }
  cv_.wait(lock, [this] { return pending_.has_value() || finished_ || closed_; });
  if (closed_) return StoppedEvent();
  if (pending_) {
    std::string event = std::move(*pending_);
    pending_.reset();
    awaiting_decision_ = true;
    return event;
  }
  if (error_) return ErrorEvent(*error_);
  if (stopped_by_us_) return StoppedEvent();
  // The function returned: the trial is done. As in Ray, its last result is
  // the final one, marked done; a function that never reported ends with the
  // fields alone.
  Json final_result = last_result_ ? *last_result_ : Json::object();
  if (!last_result_) {
    final_result[fields::kTrainingIteration] = clock_.iteration();
    final_result[fields::kTimeTotalS] = clock_.time_total_s();
    final_result[fields::kTimestamp] = static_cast<std::int64_t>(UnixTime());
    final_result[fields::kTrialId] = place_.trial_id;
  }
  final_result[fields::kDone] = true;
  return DoneEvent(final_result);
}

void FunctionHost::Report(const Json &metrics, const Checkpoint *checkpoint) {
  Json result;
  Json metadata;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) throw TrialStopped();
    result = clock_.Fill(metrics, SecondsSince(resumed_at_), UnixTime(), place_.trial_id);
    metadata = clock_.Metadata();
  }
  // Copied outside the lock: a Stop meanwhile is seen below, and Report is
  // the only writer of the clock while the function runs.
  std::optional<std::string> persisted;
  if (checkpoint) {
    persisted = PersistCheckpoint(checkpoint->path(), place_.trial_dir);
    WriteCheckpointMetadata(*persisted, metadata);
  }
  std::unique_lock<std::mutex> lock(mu_);
  if (persisted) latest_checkpoint_ = persisted;
  last_result_ = result;
  // A result that says done ends the trial, as in Ray; the function then
  // waits here until the driver stops it.
  pending_ =
      result.value(fields::kDone, false) ? DoneEvent(result, persisted) : ResultEvent(result, persisted);
  cv_.notify_all();
  // The driver's decision can take as long as the experiment's other trials
  // make it wait; Stop is the way out, so there is no deadline here.
  cv_.wait(lock, [this] { return resume_ || stop_; });
  if (stop_) throw TrialStopped();
  resume_ = false;
  resumed_at_ = std::chrono::steady_clock::now();
}

// Ray's training session does the same: a reported checkpoint becomes the
// one to resume from.
std::optional<Checkpoint> FunctionHost::GetCheckpoint() {
  std::lock_guard<std::mutex> lock(mu_);
  if (latest_checkpoint_) return Checkpoint::FromDirectory(*latest_checkpoint_);
  if (restore_from_) return Checkpoint::FromDirectory(*restore_from_);
  return std::nullopt;
}

void FunctionHost::Halt() {
  std::lock_guard<std::mutex> halt(halt_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  stop_ = false;
  started_ = false;
  finished_ = false;
  awaiting_decision_ = false;
  resume_ = false;
  stopped_by_us_ = false;
  pending_.reset();
  error_.reset();
  last_result_.reset();
}

void FunctionHost::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  Halt();
}

std::optional<std::string> FunctionHost::Save() {
  std::lock_guard<std::mutex> lock(mu_);
  return latest_checkpoint_ ? latest_checkpoint_ : restore_from_;
}

void FunctionHost::Restore(const std::string &dir) {
  Halt();
  std::lock_guard<std::mutex> lock(mu_);
  restore_from_ = dir;
  latest_checkpoint_.reset();
  clock_.Restore(ReadCheckpointMetadata(dir));
}

bool FunctionHost::ResetConfig(const Json &config) {
  Halt();
  std::lock_guard<std::mutex> lock(mu_);
  config_ = config;
  restore_from_.reset();
  latest_checkpoint_.reset();
  clock_.Reset();
  return true;
}

// ---- ClassHost

ClassHost::ClassHost(TrainableFactory factory, Json config, TrialPlace place,
                     std::optional<std::string> restore_from)
    : place_(std::move(place)) {
  std::lock_guard<std::mutex> lock(trainable_mu_);
  PlaceScope in_trial(place_);
  try {
    trainable_.reset(factory());
    trainable_->Setup(config);
    if (restore_from) {
      trainable_->LoadCheckpoint(*restore_from);
      clock_.Restore(ReadCheckpointMetadata(*restore_from));
    }
  } catch (const std::exception &e) {
    error_ = e.what();
  } catch (...) {
    error_ = "Setup threw an exception that is not a std::exception";
  }
}

std::string ClassHost::Next() {
  std::lock_guard<std::mutex> lock(trainable_mu_);
  if (closed_) return StoppedEvent();
  if (error_) {  // Setup failed
    CloseLocked();
    return ErrorEvent(*error_);
  }
  if (done_) return StoppedEvent();
  PlaceScope in_trial(place_);
  auto start = std::chrono::steady_clock::now();
  Json result;
  try {
    Json metrics = trainable_->Step();
    result = clock_.Fill(std::move(metrics), SecondsSince(start), UnixTime(), place_.trial_id);
  } catch (const std::exception &e) {
    error_ = e.what();
  } catch (...) {
    error_ = "Step threw an exception that is not a std::exception";
  }
  if (error_) {
    CloseLocked();
    return ErrorEvent(*error_);
  }
  if (result.value(fields::kDone, false)) {
    done_ = true;
    CloseLocked();
    return DoneEvent(result);
  }
  return ResultEvent(result, std::nullopt);
}

void ClassHost::CloseLocked() {
  if (closed_) return;
  closed_ = true;
  PlaceScope in_trial(place_);
  // Cleanup runs for a trainable that set up, whatever came after (Ray's
  // stop() also runs after an error). Its own failure changes nothing: the
  // trial is over either way.
  try {
    if (trainable_) trainable_->Cleanup();
  } catch (...) {
  }
}

void ClassHost::Stop() {
  std::lock_guard<std::mutex> lock(trainable_mu_);
  CloseLocked();
}

std::optional<std::string> ClassHost::Save() {
  std::lock_guard<std::mutex> lock(trainable_mu_);
  if (!trainable_ || closed_) throw TuneError("the trial's trainable is not running; nothing to save");
  PlaceScope in_trial(place_);
  std::string dir = NewCheckpointDir(place_.trial_dir);
  trainable_->SaveCheckpoint(dir);
  WriteCheckpointMetadata(dir, clock_.Metadata());
  return dir;
}

void ClassHost::Restore(const std::string &dir) {
  std::lock_guard<std::mutex> lock(trainable_mu_);
  if (!trainable_ || closed_) throw TuneError("the trial's trainable is not running; nothing to restore");
  PlaceScope in_trial(place_);
  trainable_->LoadCheckpoint(dir);
  clock_.Restore(ReadCheckpointMetadata(dir));
  done_ = false;
}

bool ClassHost::ResetConfig(const Json &config) {
  std::lock_guard<std::mutex> lock(trainable_mu_);
  if (!trainable_ || closed_) throw TuneError("the trial's trainable is not running; nothing to reset");
  PlaceScope in_trial(place_);
  if (!trainable_->ResetConfig(config)) return false;
  clock_.Reset();
  done_ = false;
  return true;
}

}  // namespace internal

void Report(const Json &metrics) { internal::CurrentHost().Report(metrics, nullptr); }

void Report(const Json &metrics, const Checkpoint &checkpoint) {
  internal::CurrentHost().Report(metrics, &checkpoint);
}

std::optional<Checkpoint> GetCheckpoint() { return internal::CurrentHost().GetCheckpoint(); }

TrialContext GetContext() {
  const internal::TrialPlace *place = internal::current_place;
  if (place == nullptr)
    throw TuneError(
        "ray::tune::GetContext works only in a trial: on a function trainable's thread or in a Trainable's "
        "methods");
  return TrialContext{place->trial_id, place->trial_dir, place->resources, place->placement_group,
                      place->parameters};
}

}  // namespace tune
}  // namespace ray
