#include "tune_controller.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <system_error>

#include "ray/tune/pbt.h"

namespace ray {
namespace tune {
namespace internal {
namespace {

namespace fs = std::filesystem;

// The experiment's state is written at most this often while it runs (and
// always at the end): each write is proportional to the number of trials.
constexpr double kStateIntervalS = 1.0;
// How long one wait for trial events lasts before the loop looks at the time
// budget and the progress table again.
constexpr std::chrono::milliseconds kEventWait{500};
// Trials created ahead of the resources to run them (Ray's default floor).
constexpr size_t kMaxPendingTrials = 16;

TrialStatus ParseStatus(const std::string &name) {
  for (TrialStatus s : {TrialStatus::kPending, TrialStatus::kRunning, TrialStatus::kPaused,
                        TrialStatus::kTerminated, TrialStatus::kError}) {
    if (name == TrialStatusName(s)) return s;
  }
  throw TuneError("experiment state: unknown trial status \"" + name + "\"");
}

void WriteFileAtomically(const fs::path &path, const std::string &text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    out.flush();
    if (!out) throw TuneError("cannot write " + tmp.string());
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) throw TuneError("cannot write " + path.string() + ": " + ec.message());
}

}  // namespace

struct TuneController::Trial {
  TrialInfo info;
  std::string dir;
  // Shared with the writer's queued jobs, which may run after the trial is gone.
  std::shared_ptr<TrialLogger> logger;
  std::optional<std::string> checkpoint;  // latest, to restart or resume from
  Json last_result = Json::object();
  std::vector<Json> history;
  int num_failures = 0;
  std::optional<std::string> error;
  // Set by an exploit while the trial was not running: its next start takes
  // this checkpoint instead of its own.
  std::optional<std::string> start_from;
};

TuneController::TuneController(ControllerSettings settings, TrialBackend &backend)
    : settings_(std::move(settings)), backend_(backend) {
  if (!settings_.now) {
    settings_.now = [] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
    };
  }
  std::random_device rd;
  char prefix[16];
  std::snprintf(prefix, sizeof prefix, "%05x", static_cast<unsigned>(rd()) & 0xfffff);
  id_prefix_ = prefix;
  Validate();
  if (settings_.out && settings_.run.verbose >= 1) {
    ProgressOptions opts;
    opts.max_report_frequency_s = settings_.run.max_report_frequency_s;
    if (mode_) opts.mode = *mode_;
    reporter_ = std::make_unique<ProgressReporter>(opts, *settings_.out, settings_.out_is_terminal);
  }
}

TuneController::~TuneController() = default;

void TuneController::Validate() {
  const TuneConfig &tc = settings_.tune;
  if (!tc.mode.empty()) mode_ = ParseMode(tc.mode);
  if (tc.num_samples == 0 || tc.num_samples < -1) {
    throw TuneError("num_samples must be a positive number or -1 (unlimited), not " +
                    std::to_string(tc.num_samples));
  }
  if (tc.max_concurrent_trials < 0) throw TuneError("max_concurrent_trials must be >= 0");
  if (tc.time_budget_s < 0) throw TuneError("time_budget_s must be >= 0");
  if (settings_.run.failure_config.max_failures < -1) throw TuneError("max_failures must be >= -1");

  scheduler_ = tc.scheduler ? tc.scheduler : std::make_shared<FIFOScheduler>();
  const std::optional<std::string> metric =
      tc.metric.empty() ? std::nullopt : std::optional<std::string>(tc.metric);
  const std::optional<std::string> mode =
      tc.mode.empty() ? std::nullopt : std::optional<std::string>(tc.mode);
  if (!scheduler_->SetSearchProperties(metric, mode)) {
    throw TuneError(
        "the scheduler was given its own metric or mode, and TuneConfig another: set them in one place");
  }

  if (tc.search_alg) {
    searcher_ = tc.search_alg;
  } else {
    BasicVariantOptions opts;
    opts.seed = tc.seed;
    searcher_ = std::make_shared<BasicVariantGenerator>(opts);
  }
  // max_concurrent_trials bounds the trials running at once (Tuner folds it
  // into max_parallel), so the searcher is asked for a config only when one
  // can start: what Ray gets by wrapping it in a ConcurrencyLimiter, and the
  // same mistake is refused.
  if (tc.max_concurrent_trials > 0 && dynamic_cast<ConcurrencyLimiter *>(searcher_.get())) {
    throw TuneError(
        "max_concurrent_trials is set and the searcher is already a ConcurrencyLimiter: use one of them");
  }
  SearchProperties props;
  props.metric = tc.metric;
  props.mode = tc.mode;
  props.space = settings_.space;
  props.num_samples = tc.num_samples;
  searcher_->SetSearchProperties(props);

  if (!settings_.run.stop.is_null()) {
    stoppers_.push_back(std::make_shared<MetricThresholdStopper>(settings_.run.stop));
  }
  for (const auto &s : settings_.run.stoppers) {
    if (!s) throw TuneError("RunConfig::stoppers holds a null stopper");
    stoppers_.push_back(s);
  }
  if (settings_.max_parallel < 1) settings_.max_parallel = 1;
}

std::string TuneController::NewTrialId() {
  char id[32];
  std::snprintf(id, sizeof id, "%s_%05zu", id_prefix_.c_str(), next_index_++);
  return id;
}

std::vector<const TrialInfo *> TuneController::Trials() const {
  std::vector<const TrialInfo *> out;
  out.reserve(trials_.size());
  for (const auto &t : trials_) out.push_back(&t->info);
  return out;
}

const TrialInfo *TuneController::Find(const std::string &trial_id) const {
  auto it = by_id_.find(trial_id);
  return it == by_id_.end() ? nullptr : &it->second->info;
}

TuneController::Trial &TuneController::Get(const std::string &trial_id) {
  auto it = by_id_.find(trial_id);
  if (it == by_id_.end()) throw TuneError("no trial " + trial_id + " in this experiment");
  return *it->second;
}

bool TuneController::AddTrialFromSearcher() {
  if (searcher_finished_) return false;
  const int64_t n = settings_.tune.num_samples;
  if (!searcher_->ManagesNumSamples() && n >= 0 && suggested_ >= n) {
    searcher_finished_ = true;
    return false;
  }
  const std::string id = NewTrialId();
  Suggestion s = searcher_->Suggest(id);
  if (s.is_finished()) {
    searcher_finished_ = true;
    return false;
  }
  if (s.is_not_now()) return false;
  ++suggested_;
  auto t = std::make_unique<Trial>();
  t->info.id = id;
  t->info.config = s.config();
  t->info.status = TrialStatus::kPending;
  counts_[static_cast<int>(TrialStatus::kPending)]++;
  t->dir = (fs::path(settings_.experiment_path) / (settings_.trainable_name + "_" + id)).string();
  Trial &trial = *t;
  by_id_[id] = t.get();
  trials_.push_back(std::move(t));
  if (auto changed = scheduler_->OnTrialAdd(*this, trial.info)) trial.info.config = *changed;
  trial.logger = std::make_shared<TrialLogger>(trial.dir);
  WriteParams(trial);
  ApplyOrders();
  return true;
}

void TuneController::StartTrial(Trial &t) {
  TrialStart start{t.info.id, settings_.trainable, t.info.config, settings_.tune.resources_per_trial, t.dir,
                   {}};
  if (t.start_from) {
    start.restore_from = t.start_from;
    t.checkpoint = t.start_from;
    t.start_from.reset();
  } else if (t.checkpoint) {
    start.restore_from = t.checkpoint;
  }
  if (!t.logger) t.logger = std::make_shared<TrialLogger>(t.dir);
  backend_.Start(start);
  SetStatus(t, TrialStatus::kRunning);
}

void TuneController::SetStatus(Trial &t, TrialStatus status) {
  // A trial that stops running closes its files (they open again if it runs
  // again): kept open, two per trial, 10,000 finished trials ran the driver
  // out of file descriptors.
  if (t.info.status == TrialStatus::kRunning && status != TrialStatus::kRunning && t.logger)
    writer_.Post([logger = t.logger] { logger->Close(); });
  counts_[static_cast<int>(t.info.status)]--;
  counts_[static_cast<int>(status)]++;
  t.info.status = status;
}

void TuneController::FillSlots() {
  // Trials are created ahead of the resources to run them, up to
  // kMaxPendingTrials pending (Ray's TuneController does the same): a
  // synchronous scheduler such as HyperBand places trials in brackets when
  // they are added, and halves a bracket over the trials it holds.
  const size_t max_pending = std::max<size_t>(kMaxPendingTrials, static_cast<size_t>(settings_.max_parallel));
  while (!stop_all_ && Count(TrialStatus::kPending) < max_pending && AddTrialFromSearcher()) {
  }
  while (!stop_all_ && backend_.NumRunning() < static_cast<size_t>(settings_.max_parallel)) {
    std::optional<std::string> next = scheduler_->ChooseTrialToRun(*this);
    if (!next) {
      if (AddTrialFromSearcher()) continue;
      break;
    }
    Trial &t = Get(*next);
    if (t.info.status != TrialStatus::kPending && t.info.status != TrialStatus::kPaused) {
      throw TuneError("the scheduler chose trial " + t.info.id + ", which is " +
                      TrialStatusName(t.info.status));
    }
    StartTrial(t);
  }
}

bool TuneController::ShouldStop(const std::string &trial_id, const Json &result) {
  bool stop = false;
  for (const auto &s : stoppers_) stop = s->ShouldStop(trial_id, result) || stop;
  return stop;
}

void TuneController::RecordResult(Trial &t, Json result) {
  result[fields::kConfig] = t.info.config;
  writer_.Post([logger = t.logger, result] { logger->LogResult(result); });
  if (settings_.out && settings_.run.verbose >= 2) {
    *settings_.out << "Trial " << t.info.id << " reported " << result.dump() << "\n";
  }
  t.last_result = result;
  t.history.push_back(std::move(result));
}

void TuneController::HandleEvent(const TrialEvent &event) {
  Trial &t = Get(event.trial_id);
  switch (event.kind) {
    case TrialEvent::Kind::kResult:
      HandleResult(t, event.metrics, event.checkpoint);
      break;
    case TrialEvent::Kind::kDone: {
      if (event.checkpoint) {
        t.checkpoint = event.checkpoint;
        t.info.has_checkpoint = true;
      }
      // The final result is logged when it is new (a class trainable's last
      // Step); a function's end repeats its last report.
      const auto it = event.metrics.find(fields::kTrainingIteration);
      const auto last = t.last_result.find(fields::kTrainingIteration);
      const bool is_new = it != event.metrics.end() &&
                          (last == t.last_result.end() || it->get<int64_t>() > last->get<int64_t>());
      if (is_new) RecordResult(t, event.metrics);
      Finish(t, t.last_result);
      break;
    }
    case TrialEvent::Kind::kError:
      Fail(t, event.error);
      break;
  }
  ApplyOrders();
}

void TuneController::HandleResult(Trial &t, const Json &metrics,
                                  const std::optional<std::string> &checkpoint) {
  if (checkpoint) {
    t.checkpoint = checkpoint;
    t.info.has_checkpoint = true;
  }
  Json result = metrics;
  const std::string &metric = settings_.tune.metric;
  if (!metric.empty() && !result.contains(metric) && !result.value(fields::kDone, false)) {
    // Ray's strict metric checking: a typo in the metric would otherwise
    // leave the scheduler and searcher deciding on nothing.
    std::string keys;
    for (auto it = metrics.begin(); it != metrics.end(); ++it) keys += (keys.empty() ? "" : ", ") + it.key();
    throw TuneError("trial " + t.info.id + " returned a result without the metric \"" + metric +
                    "\" that TuneConfig::metric names; it reported: " + keys);
  }
  result[fields::kConfig] = t.info.config;
  searcher_->OnTrialResult(t.info.id, result);
  const bool stop = ShouldStop(t.info.id, result);
  Decision decision = scheduler_->OnTrialResult(*this, t.info, result);
  RecordResult(t, std::move(result));
  if (stop) decision.action = Action::kStop;
  ApplyDecision(t, decision, t.last_result);
  for (const auto &s : stoppers_) stop_all_ = s->StopAll() || stop_all_;
}

void TuneController::ApplyExploit(Trial &t, const Exploit &exploit, bool running) {
  Trial &donor = Get(exploit.donor_id);
  if (!donor.checkpoint) return;  // PBT skips an exploit without a checkpoint (Ray)
  t.info.config = exploit.new_config;
  WriteParams(t);
  if (running) {
    backend_.Restore(t.info.id, *donor.checkpoint);
    if (!backend_.ResetConfig(t.info.id, t.info.config)) {
      // The trainable cannot take a new config in place: restart it with the
      // new config from the donor's checkpoint.
      backend_.Stop(t.info.id);
      SetStatus(t, TrialStatus::kPending);
      t.start_from = donor.checkpoint;
      return;
    }
    t.checkpoint = donor.checkpoint;
  } else {
    t.start_from = donor.checkpoint;
  }
  t.info.has_checkpoint = true;
}

void TuneController::ApplyDecision(Trial &t, const Decision &decision, const Json &result) {
  if (decision.save_checkpoint) {
    if (auto ckpt = backend_.SaveCheckpoint(t.info.id)) {
      t.checkpoint = ckpt;
      t.info.has_checkpoint = true;
    }
  }
  switch (decision.action) {
    case Action::kContinue:
      if (decision.exploit) {
        ApplyExploit(t, *decision.exploit, /*running=*/true);
        if (t.info.status != TrialStatus::kRunning) return;  // restarted with the new config
      }
      backend_.Continue(t.info.id);
      return;
    case Action::kPause:
      if (decision.exploit) {
        backend_.Stop(t.info.id);  // its own state is not kept: it takes the donor's
        ApplyExploit(t, *decision.exploit, /*running=*/false);
      } else if (auto ckpt = backend_.Pause(t.info.id)) {
        t.checkpoint = ckpt;
        t.info.has_checkpoint = true;
      }
      SetStatus(t, TrialStatus::kPaused);
      return;
    case Action::kStop:
      backend_.Stop(t.info.id);
      Finish(t, result);
      return;
  }
}

void TuneController::ApplyOrders() {
  for (TrialOrder &order : scheduler_->TakeOrders()) {
    auto it = by_id_.find(order.trial_id);
    if (it == by_id_.end()) continue;
    Trial &t = *it->second;
    if (t.info.status == TrialStatus::kTerminated || t.info.status == TrialStatus::kError) continue;
    if (order.decision.exploit)
      ApplyExploit(t, *order.decision.exploit, t.info.status == TrialStatus::kRunning);
    if (order.decision.action == Action::kStop) {
      if (t.info.status == TrialStatus::kRunning) {
        backend_.Stop(t.info.id);
        Finish(t, t.last_result);
      } else {
        Remove(t);
      }
    }
  }
}

void TuneController::Finish(Trial &t, const Json &result) {
  SetStatus(t, TrialStatus::kTerminated);
  scheduler_->OnTrialComplete(*this, t.info, result);
  searcher_->OnTrialComplete(t.info.id, result, /*error=*/false);
}

void TuneController::Remove(Trial &t) {
  SetStatus(t, TrialStatus::kTerminated);
  scheduler_->OnTrialRemove(*this, t.info);
  searcher_->OnTrialComplete(t.info.id, t.last_result.empty() ? Json() : t.last_result, /*error=*/false);
}

void TuneController::Fail(Trial &t, const std::string &error) {
  t.num_failures++;
  const int max = settings_.run.failure_config.max_failures;
  if (!settings_.run.failure_config.fail_fast && (max == -1 || t.num_failures <= max)) {
    // Restarted from its latest checkpoint (from scratch without one).
    if (settings_.out && settings_.run.verbose >= 1) {
      *settings_.out << "Trial " << t.info.id << " failed (" << t.num_failures << " of "
                     << (max == -1 ? std::string("unlimited") : std::to_string(max))
                     << " failures allowed), restarting" << (t.checkpoint ? " from its checkpoint" : "")
                     << ": " << error << "\n";
    }
    SetStatus(t, TrialStatus::kPending);
    return;
  }
  SetStatus(t, TrialStatus::kError);
  t.error = error;
  writer_.Post([logger = t.logger, error] { logger->WriteError(error); });
  scheduler_->OnTrialError(*this, t.info);
  searcher_->OnTrialComplete(t.info.id, t.last_result.empty() ? Json() : t.last_result, /*error=*/true);
  if (settings_.run.failure_config.fail_fast) stop_all_ = true;
}

void TuneController::StopEverything() {
  for (auto &t : trials_) {
    // Pending and paused trials are left as they are: a restored experiment
    // goes on with them.
    if (t->info.status == TrialStatus::kRunning) {
      backend_.Stop(t->info.id);
      Finish(*t, t->last_result);
    }
  }
}

Json TuneController::StateJson() const {
  Json trials = Json::array();
  for (const auto &t : trials_) {
    Json j = {{"trial_id", t->info.id},
              {"config", t->info.config},
              {"status", TrialStatusName(t->info.status)},
              {"dir", t->dir},
              {"num_failures", t->num_failures}};
    if (t->checkpoint) j["checkpoint"] = *t->checkpoint;
    if (t->start_from) j["start_from"] = *t->start_from;
    if (t->error) j["error"] = *t->error;
    trials.push_back(std::move(j));
  }
  Json stoppers = Json::array();
  for (const auto &s : stoppers_) stoppers.push_back(s->Save());
  return {{"version", 1},
          {"trainable", settings_.trainable.ToJson()},
          {"trainable_name", settings_.trainable_name},
          {"metric", settings_.tune.metric},
          {"mode", settings_.tune.mode},
          {"num_samples", settings_.tune.num_samples},
          {"id_prefix", id_prefix_},
          {"suggested", suggested_},
          {"searcher_finished", searcher_finished_},
          {"searcher", searcher_->Save()},
          {"scheduler", scheduler_->Save()},
          {"stoppers", stoppers},
          {"trials", trials}};
}

// PBT's exploits as Ray writes them: every one appended to pbt_global.txt in
// the experiment's folder, and each exploited trial's whole policy (its
// donors' before its own) in pbt_policy_<trial id>.txt.
void TuneController::WriteParams(Trial &t) {
  writer_.Post([logger = t.logger, config = t.info.config] { logger->WriteParams(config); });
}

void TuneController::WritePbtPolicies() {
  auto *pbt = dynamic_cast<PopulationBasedTraining *>(scheduler_.get());
  if (pbt == nullptr || pbt->policy_log().size() == pbt_entries_written_) return;
  const auto &log = pbt->policy_log();
  std::string global;
  std::set<std::string> targets;
  for (; pbt_entries_written_ < log.size(); ++pbt_entries_written_) {
    global += log[pbt_entries_written_].ToJson().dump() + "\n";
    targets.insert(log[pbt_entries_written_].target);
  }
  std::map<std::string, std::string> policies;  // target -> its file's text
  for (const auto &target : targets) {
    for (const auto &entry : pbt->TrialPolicy(target)) policies[target] += entry.ToJson().dump() + "\n";
  }
  writer_.Post([dir = fs::path(settings_.experiment_path), global = std::move(global),
                policies = std::move(policies)] {
    std::ofstream out(dir / "pbt_global.txt", std::ios::app);
    out << global;
    out.flush();
    if (!out) throw TuneError("cannot write " + (dir / "pbt_global.txt").string());
    for (const auto &[target, text] : policies)
      WriteFileAtomically(dir / ("pbt_policy_" + target + ".txt"), text);
  });
}

void TuneController::WriteState(bool force) {
  const double now = settings_.now();
  if (!force && last_state_s_ >= 0 && now - last_state_s_ < kStateIntervalS) return;
  writer_.Post([path = fs::path(settings_.experiment_path) / kStateFile, text = StateJson().dump()] {
    WriteFileAtomically(path, text);
  });
  last_state_s_ = now;
}

void TuneController::Restore(const Json &state, bool resume_errored, bool restart_errored) {
  if (!state.is_object() || state.value("version", 0) != 1 || !state.contains("trials")) {
    throw TuneError("not a Lumen Tune experiment state");
  }
  id_prefix_ = state.value("id_prefix", id_prefix_);
  suggested_ = state.value("suggested", int64_t{0});
  searcher_finished_ = state.value("searcher_finished", false);
  searcher_->Restore(state.at("searcher"));
  scheduler_->Restore(state.at("scheduler"));
  const Json &stoppers = state.value("stoppers", Json::array());
  for (size_t i = 0; i < stoppers_.size() && i < stoppers.size(); ++i) stoppers_[i]->Restore(stoppers[i]);
  for (const Json &j : state.at("trials")) {
    auto t = std::make_unique<Trial>();
    t->info.id = j.at("trial_id").get<std::string>();
    t->info.config = j.at("config");
    t->info.status = ParseStatus(j.at("status").get<std::string>());
    t->dir = j.at("dir").get<std::string>();
    t->num_failures = j.value("num_failures", 0);
    if (j.contains("checkpoint")) t->checkpoint = j["checkpoint"].get<std::string>();
    if (j.contains("start_from")) t->start_from = j["start_from"].get<std::string>();
    if (j.contains("error")) t->error = j["error"].get<std::string>();
    t->info.has_checkpoint = t->checkpoint.has_value();
    // What the trial folder holds is newer than the state when the driver was
    // killed between two writes of it: its results, and whether it failed.
    ResultGrid one = ResultGrid::Load(fs::path(t->dir).parent_path().string());
    for (const Result &r : one) {
      if (r.path != t->dir) continue;
      t->history = r.metrics_history;
      if (!r.metrics_history.empty()) t->last_result = r.metrics;
      if (!r.checkpoint_path.empty()) {
        t->checkpoint = r.checkpoint_path;
        t->info.has_checkpoint = true;
      }
    }
    if (t->info.status == TrialStatus::kRunning) t->info.status = TrialStatus::kPending;
    if (t->info.status == TrialStatus::kError && (resume_errored || restart_errored)) {
      t->info.status = TrialStatus::kPending;
      t->error.reset();
      t->num_failures = 0;
      std::error_code ec;
      fs::remove(fs::path(t->dir) / "error.txt", ec);
      if (restart_errored) {
        t->checkpoint.reset();
        t->info.has_checkpoint = false;
      }
    }
    counts_[static_cast<int>(t->info.status)]++;
    by_id_[t->info.id] = t.get();
    trials_.push_back(std::move(t));
  }
  // New ids go past every trial folder there is, including those of trials
  // started after the state was last written, so no folder is reused.
  next_index_ = trials_.size();
  std::error_code ec;
  for (const auto &entry : fs::directory_iterator(settings_.experiment_path, ec)) {
    const std::string name = entry.path().filename().string();
    const size_t us = name.rfind('_');
    if (!entry.is_directory() || us == std::string::npos) continue;
    const std::string digits = name.substr(us + 1);
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    next_index_ = std::max(next_index_, static_cast<size_t>(std::stoull(digits)) + 1);
  }
}

void TuneController::Report(bool force) {
  if (!reporter_) return;
  const double now = settings_.now();
  if (!force && !reporter_->Due(now)) return;
  ProgressSnapshot snap;
  snap.elapsed_s = now - started_s_;
  snap.scheduler_line = scheduler_->DebugString();
  snap.resources_line = ResourcesLine();
  snap.logdir = settings_.experiment_path;
  snap.metric = settings_.tune.metric;
  snap.rows.reserve(trials_.size());
  for (const auto &t : trials_) {
    ProgressRow row;
    row.name = settings_.trainable_name + "_" + t->info.id;
    row.status = t->info.status;
    row.config = t->info.config;
    row.last_result = t->last_result;
    snap.rows.push_back(std::move(row));
  }
  reporter_->Report(snap, now, force);
}

std::string TuneController::ResourcesLine() const {
  // Ray's "Logical resource usage": what the running trials hold of the
  // cluster's CPUs and GPUs.
  const auto held = settings_.tune.resources_per_trial.Total();
  const double running = static_cast<double>(Count(TrialStatus::kRunning));
  auto amount = [](const std::map<std::string, double> &m, const char *name) {
    auto it = m.find(name);
    return it == m.end() ? 0.0 : it->second;
  };
  char line[128];
  std::snprintf(line, sizeof line, "%g/%g CPUs, %g/%g GPUs", running * amount(held, "CPU"),
                amount(settings_.cluster_total, "CPU"), running * amount(held, "GPU"),
                amount(settings_.cluster_total, "GPU"));
  return line;
}

ResultGrid TuneController::Results() const {
  std::vector<Result> results;
  results.reserve(trials_.size());
  for (const auto &t : trials_) {
    Result r;
    r.trial_id = t->info.id;
    r.path = t->dir;
    r.config = t->info.config;
    r.metrics = t->last_result;
    r.metrics_history = t->history;
    r.checkpoint_path = t->checkpoint.value_or("");
    r.error = t->error;
    r.status = t->info.status;
    results.push_back(std::move(r));
  }
  return ResultGrid(std::move(results), settings_.tune.metric, mode_, settings_.experiment_path);
}

ResultGrid TuneController::Run() {
  started_s_ = settings_.now();
  const double budget = settings_.tune.time_budget_s;
  WriteState(/*force=*/true);
  while (true) {
    if (budget > 0 && settings_.now() - started_s_ >= budget) stop_all_ = true;
    if (stop_all_) {
      StopEverything();
      break;
    }
    FillSlots();
    if (backend_.NumRunning() == 0) {
      const bool waiting = Count(TrialStatus::kPending) + Count(TrialStatus::kPaused) > 0;
      // With nothing running the experiment is over: every trial ended and
      // the searcher is finished, or nothing can start (the scheduler holds
      // the rest back, or the searcher has nothing now and no trial will end
      // to change that). Ray would wait for ever there; this ends with the
      // trials as they are.
      if ((waiting || !searcher_finished_) && settings_.out && settings_.run.verbose >= 1) {
        *settings_.out << "Tune: no trial is running and none can start; ending the experiment.\n";
      }
      break;
    }
    std::optional<TrialEvent> event = backend_.WaitAny(kEventWait);
    if (event) HandleEvent(*event);
    WritePbtPolicies();
    WriteState(/*force=*/false);
    Report(/*force=*/false);
  }
  WriteState(/*force=*/true);
  writer_.Flush();
  Report(/*force=*/true);
  return Results();
}

}  // namespace internal
}  // namespace tune
}  // namespace ray
