#include "trial_executor.h"

#include "trial_resources.h"

#include <algorithm>
#include <limits>
#include <sstream>

namespace ray {
namespace tune {
namespace internal {
namespace {

// The runtime takes milliseconds as an int; longer waits are clamped.
int Ms(std::chrono::milliseconds d) {
  return static_cast<int>(
      std::min<std::chrono::milliseconds::rep>(d.count(), std::numeric_limits<int>::max()));
}

TrialEvent ParseEvent(const std::string &trial_id, const std::string &text) {
  Json event = Json::parse(text);
  TrialEvent out;
  out.trial_id = trial_id;
  const std::string kind = event.at("kind").get<std::string>();
  if (kind == "result" || kind == "done") {
    out.kind = kind == "result" ? TrialEvent::Kind::kResult : TrialEvent::Kind::kDone;
    out.metrics = event.at("metrics");
    if (event.contains("checkpoint") && event["checkpoint"].is_string())
      out.checkpoint = event["checkpoint"].get<std::string>();
  } else if (kind == "error") {
    out.kind = TrialEvent::Kind::kError;
    out.error = event.at("error").get<std::string>();
  } else {
    // "stopped" reaches only a Next that Stop overtook, and Stop forgets the
    // trial, so its Next is never waited on.
    out.kind = TrialEvent::Kind::kError;
    out.error = "the trial was stopped";
  }
  return out;
}

}  // namespace

TrialExecutor::~TrialExecutor() {
  // Killed without a graceful stop, as an experiment that ended leaves them
  // (the reaper's destructor waits until they are gone).
  for (auto &entry : trials_) reaper_.Reap(entry.second.actor, /*graceful=*/false, entry.second.group_id);
}

void TrialExecutor::Start(const TrialStart &start) {
  if (trials_.count(start.trial_id)) throw TuneError("trial " + start.trial_id + " is already running");
  const Json resources = ResourcesToJson(start.resources);
  if (const std::string key = resources.dump(); !fitting_requests_.count(key)) {
    CheckTrialResources(start.resources, ray::Nodes());
    fitting_requests_.insert(key);
  }
  auto creator = ray::Actor(TrialActor::Create).SetResources(start.resources.ToMap()).SetMaxConcurrency(2);
  std::optional<ray::PlacementGroup> group;
  if (start.resources.UsesPlacementGroup()) {
    // One group per trial, as Ray Tune's PlacementGroupFactory: the actor
    // waits in bundle 0 until the group is reserved.
    group = ray::CreatePlacementGroup(GroupOptions(start.resources));
    creator.SetPlacementGroup(*group, 0);
  }
  Json spec{{"trial_id", start.trial_id},
            {"trial_dir", start.trial_dir},
            {"trainable", start.trainable.ToJson()},
            {"config", start.config},
            {"restore_from", start.restore_from ? Json(*start.restore_from) : Json()},
            {"resources", resources},
            {"placement_group", group ? Json(group->GetID()) : Json()}};
  ray::ActorHandle<TrialActor> actor;
  try {
    actor = creator.Remote(spec.dump());
  } catch (...) {
    if (group) ray::RemovePlacementGroup(group->GetID());
    throw;
  }
  Running running{actor, actor.Task(&TrialActor::Next).Remote(), /*reported=*/false,
                  group ? group->GetID() : std::string()};
  trials_.emplace(start.trial_id, std::move(running));
}

std::optional<TrialEvent> TrialExecutor::WaitAny(std::chrono::milliseconds timeout) {
  // Wait lists ready refs in the order given and this takes the first, so the
  // order starts after the trial served last: with several results ready,
  // every trial gets its turn, and a fast trial cannot starve the others.
  std::vector<ray::ObjectRef<std::string>> refs;
  std::map<std::string, std::string> trial_of;  // object id -> trial id
  auto add = [&](const std::pair<const std::string, Running> &entry) {
    if (!entry.second.next) return;
    refs.push_back(*entry.second.next);
    trial_of[entry.second.next->ID()] = entry.first;
  };
  auto split = trials_.upper_bound(last_served_);
  std::for_each(split, trials_.end(), add);
  std::for_each(trials_.begin(), split, add);
  if (refs.empty()) return std::nullopt;
  auto waited = ray::Wait(refs, 1, Ms(timeout));
  if (waited.ready.empty()) return std::nullopt;
  const ray::ObjectRef<std::string> ready = waited.ready.front();
  const std::string trial_id = trial_of.at(ready.ID());
  last_served_ = trial_id;
  trials_.at(trial_id).next.reset();
  trials_.at(trial_id).reported = true;
  TrialEvent event;
  try {
    event = ParseEvent(trial_id, *ready.Get(Ms(kReadyResultTimeout)));
  } catch (const ray::internal::RayActorException &e) {
    // The worker died (a crash, SIGKILL, the node lost): the actor is gone;
    // its placement group, if any, is not.
    End(trial_id, /*graceful=*/false);
    event.kind = TrialEvent::Kind::kError;
    event.trial_id = trial_id;
    event.error = std::string("the trial's actor died: ") + e.what();
    return event;
  } catch (const std::exception &e) {
    event.kind = TrialEvent::Kind::kError;
    event.trial_id = trial_id;
    event.error = std::string("the trial's result could not be read: ") + e.what();
  }
  // The trainable has ended on its own (a class trainable ran Cleanup in
  // Next): nothing is left for a graceful stop to do.
  if (event.kind != TrialEvent::Kind::kResult) End(trial_id, /*graceful=*/false);
  return event;
}

TrialExecutor::Running &TrialExecutor::Find(const std::string &trial_id, const char *what) {
  auto it = trials_.find(trial_id);
  if (it == trials_.end()) throw TuneError(std::string(what) + ": trial " + trial_id + " is not running");
  return it->second;
}

TrialExecutor::Running &TrialExecutor::FindBetweenResults(const std::string &trial_id, const char *what) {
  Running &running = Find(trial_id, what);
  if (running.next)
    throw TuneError(std::string(what) + ": trial " + trial_id +
                    " is computing its next result; this is allowed only between results");
  return running;
}

void TrialExecutor::Continue(const std::string &trial_id) {
  Running &running = FindBetweenResults(trial_id, "Continue");
  running.next = running.actor.Task(&TrialActor::Next).Remote();
}

void TrialExecutor::End(const std::string &trial_id, bool graceful) {
  Running &running = trials_.at(trial_id);
  reaper_.Reap(running.actor, graceful && running.reported, running.group_id);
  trials_.erase(trial_id);
}

void TrialExecutor::Stop(const std::string &trial_id) {
  Find(trial_id, "Stop");
  End(trial_id);
}

std::optional<std::string> TrialExecutor::Pause(const std::string &trial_id) {
  Running &running = Find(trial_id, "Pause");
  std::optional<std::string> checkpoint;
  try {
    std::string path = *running.actor.Task(&TrialActor::Save).Remote().Get(Ms(kCheckpointTimeout));
    if (!path.empty()) checkpoint = path;
  } catch (const ray::internal::RayException &e) {
    End(trial_id);
    throw TuneError("pausing trial " + trial_id + ": saving its checkpoint failed: " + e.what());
  }
  End(trial_id);
  return checkpoint;
}

std::optional<std::string> TrialExecutor::SaveCheckpoint(const std::string &trial_id) {
  Running &running = FindBetweenResults(trial_id, "SaveCheckpoint");
  std::string path;
  try {
    path = *running.actor.Task(&TrialActor::Save).Remote().Get(Ms(kCheckpointTimeout));
  } catch (const ray::internal::RayException &e) {
    throw TuneError("saving a checkpoint of trial " + trial_id + " failed: " + e.what());
  }
  if (path.empty()) return std::nullopt;
  return path;
}

void TrialExecutor::Restore(const std::string &trial_id, const std::string &checkpoint_dir) {
  Running &running = FindBetweenResults(trial_id, "Restore");
  try {
    running.actor.Task(&TrialActor::Restore).Remote(checkpoint_dir).Get(Ms(kCheckpointTimeout));
  } catch (const ray::internal::RayException &e) {
    throw TuneError("restoring trial " + trial_id + " from " + checkpoint_dir + " failed: " + e.what());
  }
}

bool TrialExecutor::ResetConfig(const std::string &trial_id, const Json &config) {
  Running &running = FindBetweenResults(trial_id, "ResetConfig");
  try {
    return *running.actor.Task(&TrialActor::ResetConfig).Remote(config.dump()).Get(Ms(kCheckpointTimeout));
  } catch (const ray::internal::RayException &e) {
    throw TuneError("resetting the config of trial " + trial_id + " failed: " + e.what());
  }
}

}  // namespace internal
}  // namespace tune
}  // namespace ray
