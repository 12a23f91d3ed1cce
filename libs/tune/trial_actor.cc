#include "trial_actor.h"

#include <unistd.h>

#include <ray/api.h>

#include "trial_resources.h"

namespace ray {
namespace tune {
namespace internal {

TrialActor *TrialActor::Create(std::string spec_text) {
  try {
    Json spec = Json::parse(spec_text);
    TrialPlace place{spec.at("trial_id").get<std::string>(), spec.at("trial_dir").get<std::string>(),
                     ResourcesFromJson(spec.at("resources")), ray::PlacementGroup()};
    if (const Json &group = spec.at("placement_group"); !group.is_null()) {
      // Rebuilt from what the driver created, not looked up: no call to the
      // control service, and the same group the trial's actor was placed in.
      place.placement_group = ray::PlacementGroup(group.get<std::string>(), GroupOptions(place.resources),
                                                  ray::PlacementGroupState::CREATED);
    }
    TrainableRef ref = TrainableRef::FromJson(spec.at("trainable"));
    place.parameters = ref.parameters();
    std::optional<std::string> restore_from;
    if (!spec.at("restore_from").is_null()) restore_from = spec.at("restore_from").get<std::string>();
    Json config = spec.at("config");
    if (ref.is_class())
      return new TrialActor(std::make_unique<ClassHost>(ref.ResolveFactory(), std::move(config),
                                                        std::move(place), std::move(restore_from)));
    return new TrialActor(std::make_unique<FunctionHost>(ref.ResolveFunction(), std::move(config),
                                                         std::move(place), std::move(restore_from)));
  } catch (const std::exception &e) {
    return new TrialActor(std::string(e.what()));
  }
}

TrainableHost &TrialActor::Host() {
  if (!host_) throw TuneError(error_);
  return *host_;
}

std::string TrialActor::Next() { return host_ ? host_->Next() : ErrorEvent(error_); }

bool TrialActor::Stop() {
  if (host_) host_->Stop();
  return true;
}

std::string TrialActor::Save() { return Host().Save().value_or(""); }

bool TrialActor::Restore(std::string dir) {
  Host().Restore(dir);
  return true;
}

bool TrialActor::ResetConfig(std::string config) { return Host().ResetConfig(Json::parse(config)); }

int TrialActor::Pid() { return static_cast<int>(getpid()); }

}  // namespace internal
}  // namespace tune
}  // namespace ray

// Registered under their full names: a registration key is the text given
// here, and a user's program may have a TrialActor of its own.
RAY_REMOTE(ray::tune::internal::TrialActor::Create, &ray::tune::internal::TrialActor::Next,
           &ray::tune::internal::TrialActor::Stop, &ray::tune::internal::TrialActor::Save,
           &ray::tune::internal::TrialActor::Restore, &ray::tune::internal::TrialActor::ResetConfig,
           &ray::tune::internal::TrialActor::Pid);
