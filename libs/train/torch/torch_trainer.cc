// ray::train::torch::TorchTrainer: the driver's side of the RaySGD API. It
// keeps one Lumen Train worker group (worker_group.h) whose workers each hold
// an OperatorRunner (torch_worker.cc), and calls them all at once per epoch.
#include <ray/api/ray_exception.h>
#include <ray/train/torch_trainer.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "../worker_group.h"
#include "operator_runner.h"

namespace ray {
namespace train {
namespace torch {
namespace {

using ray::internal::RayActorException;
using ray::internal::RayException;
using ray::train::internal::TrainWorker;

constexpr const char *kService = "lumen.torch_trainer";

ScalingConfig Scaling(const TorchTrainerOptions &o) {
  ScalingConfig s;
  s.num_workers = o.num_workers;
  s.use_gpu = o.use_gpu;
  s.resources_per_worker["CPU"] = o.num_cpus_per_worker;
  if (o.use_gpu) s.resources_per_worker["GPU"] = 1;
  s.placement_strategy = o.placement_strategy;
  return s;
}

void CheckOptions(const TorchTrainerOptions &o) {
  if (o.num_workers < 1) throw RayException("TorchTrainerOptions::num_workers must be at least 1");
  if (o.num_cpus_per_worker < 0)
    throw RayException("TorchTrainerOptions::num_cpus_per_worker must not be negative");
  const std::string &f = o.scheduler_step_freq;
  if (!f.empty() && f != "batch" && f != "epoch" && f != "manual")
    throw RayException(
        "TorchTrainerOptions::scheduler_step_freq must be \"batch\", \"epoch\", \"manual\" or empty, not \"" +
        f + "\"");
  if (o.collective_timeout_s <= 0)
    throw RayException("TorchTrainerOptions::collective_timeout_s must be positive");
  if (!o.config.is_object()) throw RayException("TorchTrainerOptions::config must be a JSON object");
  ray::train::internal::StrategyNamed(o.placement_strategy);
}

std::string Request(const Json &header, const std::string &payload = std::string()) {
  return header.dump() + "\n" + payload;
}

}  // namespace

class TorchTrainer::Group {
 public:
  explicit Group(const TorchTrainerOptions &options) : group(Scaling(options), "TorchTrainer") {}
  ray::train::internal::WorkerGroup group;
};

TorchTrainer::TorchTrainer(OperatorClassRef operator_class, TorchTrainerOptions options)
    : operator_class_(std::move(operator_class)), options_(std::move(options)) {
  CheckOptions(options_);
  StartGroup(nullptr);
}

TorchTrainer::TorchTrainer(OperatorClassRef operator_class, TorchTrainerOptions options,
                           ray::PlacementGroup group, int first_bundle)
    : operator_class_(std::move(operator_class)),
      options_(std::move(options)),
      borrowed_group_(std::move(group)),
      first_bundle_(first_bundle) {
  CheckOptions(options_);
  StartGroup(nullptr);
}

TorchTrainer::~TorchTrainer() {
  try {
    Shutdown();
  } catch (const std::exception &) {
    // Ending anyway: the workers are killed with the group.
  }
}

void TorchTrainer::Check() const {
  if (shut_down_ || !group_)
    throw RayException("TorchTrainer: the trainer was shut down (or failed for good)");
}

void TorchTrainer::StartGroup(const std::string *state) {
  group_.reset();
  auto g = std::make_unique<Group>(options_);
  if (borrowed_group_.Empty())
    g->group.Place(static_cast<int64_t>(options_.placement_timeout_s));
  else
    g->group.PlaceIn(borrowed_group_, first_bundle_);
  g->group.Start("torch_trainer/" + std::to_string(starts_++),
                 {{"run_dir", ""},
                  {"name", "torch_trainer"},
                  {"iteration", 0},
                  {"checkpoint", nullptr},
                  {"num_to_keep", 0},
                  {"collective_timeout_ms", static_cast<int64_t>(options_.collective_timeout_s * 1000)}});
  group_ = std::move(g);
  const Json settings{{"operator", operator_class_.factory().ToJson()},
                      {"config", options_.config},
                      {"use_gpu", options_.use_gpu},
                      {"num_cpus_per_worker", options_.num_cpus_per_worker},
                      {"wrap_ddp", options_.wrap_ddp},
                      {"scheduler_step_freq", options_.scheduler_step_freq}};
  std::string error;
  bool died = false;
  CallAll(Request({{"cmd", "setup"}, {"settings", settings}}, state ? *state : std::string()), &error, &died);
  if (!error.empty()) {
    group_.reset();
    throw RayException("TorchTrainer: setting up the workers failed: " + error);
  }
}

std::vector<std::string> TorchTrainer::CallAll(const std::string &request, std::string *error, bool *died) {
  auto &workers = group_->group.workers();
  std::vector<ray::ObjectRef<std::string>> calls;
  for (auto &w : workers) calls.push_back(w.Task(&TrainWorker::Call).Remote(std::string(kService), request));
  // Every call ends: a dead worker's with RayActorException, the others'
  // collectives fail within their timeout once a peer is gone.
  std::vector<std::string> replies(workers.size());
  std::string death, failure;
  for (size_t i = 0; i < calls.size(); ++i) {
    const int rank = group_->group.rank_of(i);
    try {
      std::string answer = *calls[i].Get();
      if (!answer.empty() && answer[0] == 'o') {
        replies[rank] = answer.substr(1);
      } else if (failure.empty()) {
        failure = answer.empty() ? "rank " + std::to_string(rank) + ": no answer" : answer.substr(1);
      }
    } catch (const RayActorException &e) {
      if (death.empty()) death = "the worker of rank " + std::to_string(rank) + " died: " + e.what();
    } catch (const std::exception &e) {
      if (failure.empty()) failure = "rank " + std::to_string(rank) + ": " + e.what();
    }
  }
  *died = !death.empty();
  *error = !death.empty() ? death : failure;
  return replies;
}

Json TorchTrainer::Train(const TrainOptions &options) {
  Check();
  if (options.max_retries < 0) throw RayException("TrainOptions::max_retries must not be negative");
  // The state the epoch starts from, for a new group should this one fail.
  std::optional<std::string> snapshot;
  if (options.max_retries > 0) snapshot = StateBytes();
  const std::string request = Request({{"cmd", "train"},
                                       {"num_steps", options.num_steps},
                                       {"info", options.info.is_null() ? Json::object() : options.info}});
  for (int attempt = 0;; ++attempt) {
    std::string error;
    bool died = false;
    auto replies = CallAll(request, &error, &died);
    if (error.empty()) {
      std::vector<Json> stats;
      for (auto &r : replies) stats.push_back(Json::parse(r));
      ++epoch_;
      return options.reduce_results ? CombineWorkerStats(stats) : Json(stats);
    }
    group_.reset();  // the workers are killed: the survivors' group is broken
    if (!died || attempt >= options.max_retries) {
      shut_down_ = true;
      throw RayException("TorchTrainer::Train failed" +
                         std::string(died ? " after " + std::to_string(attempt) + " retries" : "") + ": " +
                         error + " (the trainer is shut down)");
    }
    ++num_failures_;
    std::cerr << "Lumen TorchTrainer: " << error
              << "; starting the workers again from the epoch's start (retry " << attempt + 1 << " of "
              << options.max_retries << ")\n";
    StartGroup(&*snapshot);
  }
}

Json TorchTrainer::Validate(const ValidateOptions &options) {
  Check();
  std::string error;
  bool died = false;
  auto replies = CallAll(Request({{"cmd", "validate"},
                                  {"num_steps", options.num_steps},
                                  {"info", options.info.is_null() ? Json::object() : options.info}}),
                         &error, &died);
  if (!error.empty()) throw RayException("TorchTrainer::Validate failed: " + error);
  std::vector<Json> stats;
  for (auto &r : replies) stats.push_back(Json::parse(r));
  return options.reduce_results ? CombineWorkerStats(stats) : Json(stats);
}

std::string TorchTrainer::StateBytes() {
  Check();
  auto &workers = group_->group.workers();
  size_t rank0 = 0;
  while (group_->group.rank_of(rank0) != 0) ++rank0;
  std::string answer;
  try {
    answer = *workers[rank0]
                  .Task(&TrainWorker::Call)
                  .Remote(std::string(kService), Request({{"cmd", "state"}}))
                  .Get();
  } catch (const std::exception &e) {
    throw RayException(std::string("TorchTrainer: reading rank 0's state failed: ") + e.what());
  }
  if (answer.empty() || answer[0] != 'o')
    throw RayException("TorchTrainer: reading rank 0's state failed: " + answer.substr(1));
  return answer.substr(1);
}

void TorchTrainer::LoadStateBytes(const std::string &state) {
  Check();
  std::string error;
  bool died = false;
  CallAll(Request({{"cmd", "load"}}, state), &error, &died);
  if (!error.empty()) throw RayException("TorchTrainer: loading the state failed: " + error);
  // The epoch count travels in the state.
  ::torch::serialize::InputArchive archive;
  archive.load_from(state.data(), state.size());
  c10::IValue meta;
  archive.read("lumen_meta", meta);
  epoch_ = Json::parse(meta.toStringRef()).at("epoch").get<int64_t>();
}

void TorchTrainer::Save(const std::string &path) {
  const std::string state = StateBytes();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(state.data(), static_cast<std::streamsize>(state.size()));
  out.close();
  if (!out) throw RayException("TorchTrainer::Save: cannot write " + path);
}

void TorchTrainer::Load(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw RayException("TorchTrainer::Load: cannot read " + path);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  LoadStateBytes(bytes.str());
}

void TorchTrainer::Shutdown() {
  if (shut_down_ && !group_) return;
  shut_down_ = true;
  if (group_) {
    std::string error;
    bool died = false;
    CallAll(Request({{"cmd", "shutdown"}}), &error, &died);  // the operators end before their processes
    group_.reset();
  }
}

}  // namespace torch
}  // namespace train
}  // namespace ray
