// ray::train::DataParallelTrainer: the driver's side of a training run. Each
// attempt places a worker group (a placement group with one bundle per
// worker, an actor in each), gives the workers their ranks, runs the training
// function on all of them and waits; the first worker that fails ends the
// attempt (the group is torn down at once: the others would only wait in
// their next collective), and the run goes on from the latest checkpoint
// while FailureConfig allows.
#include <ray/api.h>
#include <ray/train.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iostream>

#include "run_storage.h"
#include "train_worker.h"
#include "worker_group.h"

namespace ray {
namespace train {
namespace {

using internal::RunStorage;
using internal::TrainWorker;
using ray::internal::RayException;

// How long a worker group may wait for its bundles before Fit gives up: long
// enough for resources that are busy to come free, short of a hang.
constexpr int64_t kPlacementTimeoutSeconds = 300;

std::string DefaultStorage() {
  const char *home = std::getenv("HOME");
  return std::string(home && *home ? home : "/tmp") + "/lumen_results";
}

std::string DefaultName() {
  std::time_t now = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof(buf), "train_%Y-%m-%d_%H-%M-%S", std::localtime(&now));
  return buf;
}

// One worker group's life: placed, started, run, torn down.
class Attempt {
 public:
  Attempt(const ScalingConfig &scaling, const RunConfig &run, const RunStorage &storage, int number)
      : run_(run), storage_(storage), number_(number), group_(scaling, "DataParallelTrainer") {}

  /// "" when every worker's function returned; else the first failure.
  std::string Run(const TrainLoopRef &loop, const Json &config) {
    group_.Place(kPlacementTimeoutSeconds);
    const auto checkpoint = storage_.LatestCheckpoint();
    group_.Start(run_.name + "/" + std::to_string(number_),
                 {{"run_dir", storage_.dir()},
                  {"name", run_.name},
                  {"iteration", static_cast<int>(storage_.ReadResults().size())},
                  {"checkpoint", checkpoint ? Json(*checkpoint) : Json(nullptr)},
                  {"num_to_keep", run_.checkpoint_config.num_to_keep}});
    auto &workers = group_.workers();
    std::vector<ray::ObjectRef<std::string>> runs;
    const std::string loop_text = loop.ToJson().dump(), config_text = config.dump();
    for (auto &w : workers) runs.push_back(w.Task(&TrainWorker::Run).Remote(loop_text, config_text));
    std::vector<bool> done(runs.size(), false);
    for (size_t finished = 0; finished < runs.size();) {
      std::vector<ray::ObjectRef<std::string>> pending;
      std::vector<size_t> index;
      for (size_t i = 0; i < runs.size(); ++i)
        if (!done[i]) {
          pending.push_back(runs[i]);
          index.push_back(i);
        }
      auto ready = ray::Wait(pending, 1, -1).ready;
      for (auto &r : ready) {
        size_t i = 0;
        while (pending[i].ID() != r.ID()) ++i;
        done[index[i]] = true;
        ++finished;
        std::string error;
        try {
          error = *r.Get();
        } catch (const std::exception &e) {
          error = "worker " + std::to_string(index[i]) + ": " + e.what();
        }
        if (!error.empty()) return error;  // the others are torn down with the group
      }
    }
    return "";
  }

 private:
  const RunConfig &run_;
  const RunStorage &storage_;
  const int number_;
  internal::WorkerGroup group_;
};

}  // namespace

DataParallelTrainer::DataParallelTrainer(TrainLoopRef train_loop_per_worker, Json train_loop_config,
                                         ScalingConfig scaling_config, RunConfig run_config)
    : loop_(std::move(train_loop_per_worker)),
      loop_config_(std::move(train_loop_config)),
      scaling_(std::move(scaling_config)),
      run_(std::move(run_config)) {}

Result DataParallelTrainer::Fit() {
  if (scaling_.num_workers < 1) throw RayException("ScalingConfig::num_workers must be at least 1");
  internal::StrategyNamed(scaling_.placement_strategy);
  if (run_.failure_config.max_failures < -1)
    throw RayException("FailureConfig::max_failures must be -1 (no limit) or more");
  if (run_.name.empty()) run_.name = DefaultName();
  if (run_.storage_path.empty()) run_.storage_path = DefaultStorage();
  RunStorage storage((std::filesystem::path(run_.storage_path) / run_.name).string());
  storage.Create();

  Result result;
  for (int attempt = 0;; ++attempt) {
    std::string error = Attempt(scaling_, run_, storage, attempt).Run(loop_, loop_config_);
    if (error.empty()) break;
    const int max = run_.failure_config.max_failures;
    if (max != -1 && result.failures >= max) {
      result.error = error;
      break;
    }
    ++result.failures;
    auto from = storage.LatestCheckpoint();
    std::cerr << "Lumen Train: the worker group failed (" << error << "); starting it again from "
              << (from ? *from : std::string("the beginning")) << " (failure " << result.failures << " of "
              << (max == -1 ? std::string("unlimited") : std::to_string(max)) << ")\n";
  }
  result.metrics_history = storage.ReadResults();
  result.metrics = result.metrics_history.empty() ? Json(nullptr) : result.metrics_history.back();
  if (auto c = storage.LatestCheckpoint()) result.checkpoint = Checkpoint::FromDirectory(*c);
  result.path = storage.dir();
  return result;
}

}  // namespace train
}  // namespace ray
