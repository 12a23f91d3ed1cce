// See worker_group.h.
#include "worker_group.h"

#include <random>

#include "run_storage.h"

namespace ray {
namespace train {
namespace internal {
namespace {

using ray::internal::RayException;

constexpr int kLongMs = 600000;  // a worker's answer to a setup call (a hang only)

std::string ResourcesText(const std::unordered_map<std::string, double> &r) {
  std::string s;
  for (auto &[k, v] : r) s += (s.empty() ? "" : ", ") + k + ": " + std::to_string(v);
  return "{" + s + "}";
}

}  // namespace

std::unordered_map<std::string, double> WorkerResources(const ScalingConfig &s) {
  auto r = s.resources_per_worker;
  if (!r.count("CPU")) r["CPU"] = 1;
  if (s.use_gpu && !r.count("GPU")) r["GPU"] = 1;
  return r;
}

ray::PlacementStrategy StrategyNamed(const std::string &name) {
  if (name == "PACK") return ray::PlacementStrategy::PACK;
  if (name == "SPREAD") return ray::PlacementStrategy::SPREAD;
  if (name == "STRICT_PACK") return ray::PlacementStrategy::STRICT_PACK;
  if (name == "STRICT_SPREAD") return ray::PlacementStrategy::STRICT_SPREAD;
  throw RayException(
      "ScalingConfig::placement_strategy must be PACK, SPREAD, STRICT_PACK or STRICT_SPREAD, not '" + name +
      "'");
}

WorkerGroup::WorkerGroup(ScalingConfig scaling, std::string who)
    : scaling_(std::move(scaling)), who_(std::move(who)) {}

void WorkerGroup::Place(int64_t timeout_s) {
  const auto resources = WorkerResources(scaling_);
  ray::PlacementGroupCreationOptions options;
  options.name = "";
  options.strategy = StrategyNamed(scaling_.placement_strategy);
  options.bundles.assign(scaling_.num_workers, resources);
  group_ = ray::CreatePlacementGroup(options);
  if (!group_.Wait(timeout_s))
    throw RayException(who_ + ": cannot place " + std::to_string(scaling_.num_workers) +
                       " workers each holding " + ResourcesText(resources) + " (" +
                       scaling_.placement_strategy + "): the cluster does not have them free");
  CreateWorkers(group_, 0);
}

void WorkerGroup::PlaceIn(const ray::PlacementGroup &group, int first_bundle) {
  CreateWorkers(group, first_bundle);
}

void WorkerGroup::CreateWorkers(const ray::PlacementGroup &group, int first_bundle) {
  const auto resources = WorkerResources(scaling_);
  for (int i = 0; i < scaling_.num_workers; ++i)
    workers_.push_back(ray::Actor(TrainWorker::Create)
                           .SetPlacementGroup(group, first_bundle + i)
                           .SetResources(resources)
                           .Remote());
}

void WorkerGroup::Start(const std::string &name, Json session) {
  std::vector<ray::ObjectRef<std::string>> where;
  for (auto &w : workers_) where.push_back(w.Task(&TrainWorker::Where).Remote());
  std::vector<std::string> nodes, addresses;
  for (auto &w : where) {
    auto j = Json::parse(*w.Get(kLongMs));
    nodes.push_back(j.at("node_id"));
    addresses.push_back(j.at("address"));
  }
  const auto ranks = AssignRanks(nodes);
  size_t rank0 = 0;
  while (ranks[rank0].world_rank != 0) ++rank0;
  const int port = *workers_[rank0].Task(&TrainWorker::FreePort).Remote().Get(kLongMs);
  std::random_device rd;
  collective_group_ = "train/" + name + "/" + std::to_string(rd()) + std::to_string(rd());
  ranks_.clear();
  std::vector<ray::ObjectRef<bool>> started;
  for (size_t i = 0; i < workers_.size(); ++i) {
    Json setup = session;
    setup["rank"] = {{"world_rank", ranks[i].world_rank},
                     {"local_rank", ranks[i].local_rank},
                     {"local_world_size", ranks[i].local_world_size},
                     {"node_rank", ranks[i].node_rank}};
    setup["world_size"] = scaling_.num_workers;
    setup["master_addr"] = addresses[rank0];
    setup["master_port"] = port;
    setup["group"] = collective_group_;
    ranks_.push_back(ranks[i].world_rank);
    started.push_back(workers_[i].Task(&TrainWorker::Start).Remote(setup.dump()));
  }
  for (auto &s : started) s.Get(kLongMs);
}

void WorkerGroup::TearDown() {
  for (auto &w : workers_) {
    try {
      w.Kill();
    } catch (const std::exception &) {
      // Already gone: what a failed attempt leaves.
    }
  }
  workers_.clear();
  ranks_.clear();
  if (!group_.Empty()) {
    try {
      ray::RemovePlacementGroup(group_.GetID());
    } catch (const std::exception &) {
    }
    group_ = ray::PlacementGroup();
  }
}

}  // namespace internal
}  // namespace train
}  // namespace ray
