// See operator_runner.h.
#include "operator_runner.h"

#include <ray/api/ray_exception.h>

#include <algorithm>
#include <sstream>

namespace ray {
namespace train {
namespace torch {
namespace {

using ray::internal::RayException;

// Where internal::AdoptOperator leaves the operator the factory made.
thread_local TrainingOperator *t_adopted = nullptr;

bool IsNumber(const Json &v) { return v.is_number() && !v.is_boolean(); }

double Weight(const Json &stats) {
  auto it = stats.find("num_samples");
  return it != stats.end() && IsNumber(*it) ? it->get<double>() : 1.0;
}

}  // namespace

namespace internal {
void AdoptOperator(TrainingOperator *op) {
  delete t_adopted;
  t_adopted = op;
}
}  // namespace internal

Json AverageBatchStats(const std::vector<Json> &batches) {
  Json out = Json::object();
  std::map<std::string, double> sum, weight;
  double samples = 0;
  bool any_samples = false;
  for (const Json &b : batches) {
    if (!b.is_object())
      throw RayException("TrainingOperator: a batch's stats must be a JSON object, not " + b.dump());
    const double w = Weight(b);
    for (auto it = b.begin(); it != b.end(); ++it) {
      if (it.key() == "num_samples") {
        if (IsNumber(*it)) {
          samples += it->get<double>();
          any_samples = true;
        }
      } else if (IsNumber(*it)) {
        sum[it.key()] += w * it->get<double>();
        weight[it.key()] += w;
      } else {
        out[it.key()] = *it;
      }
    }
  }
  for (auto &[key, s] : sum) out[key] = weight[key] > 0 ? s / weight[key] : 0.0;
  if (any_samples) out["num_samples"] = static_cast<int64_t>(samples);
  return out;
}

Json CombineWorkerStats(const std::vector<Json> &workers) {
  if (workers.empty()) return Json::object();
  Json out = Json::object();
  double total = 0;
  bool any_samples = false;
  for (const Json &w : workers) {
    auto it = w.find("num_samples");
    if (it != w.end() && IsNumber(*it)) {
      total += it->get<double>();
      any_samples = true;
    }
  }
  for (auto it = workers[0].begin(); it != workers[0].end(); ++it) {
    const std::string &key = it.key();
    if (key == "num_samples") continue;
    if (!IsNumber(*it)) {
      out[key] = *it;
      continue;
    }
    bool same = true;
    double sum = 0, weights = 0;
    for (const Json &w : workers) {
      auto v = w.find(key);
      if (v == w.end() || !IsNumber(*v)) continue;  // Ray's nanmean: a worker without it does not count
      same = same && *v == *it;
      const double weight = any_samples && total > 0 ? Weight(w) : 1.0;
      sum += weight * v->get<double>();
      weights += weight;
    }
    out[key] = same ? *it : Json(weights > 0 ? sum / weights : 0.0);
  }
  if (any_samples) out["num_samples"] = static_cast<int64_t>(total);
  return out;
}

OperatorRunner::OperatorRunner(Json settings, RunnerPlace place)
    : settings_(std::move(settings)), place_(std::move(place)) {}

OperatorRunner::~OperatorRunner() = default;

void OperatorRunner::Place(TrainingOperator &op) const {
  op.world_rank_ = place_.world_rank;
  op.local_rank_ = place_.local_rank;
  op.world_size_ = place_.world_size;
  op.group_ = place_.group;
  op.use_gpu_ = settings_.value("use_gpu", false);
  op.wrap_ddp_ = settings_.value("wrap_ddp", true);
  op.scheduler_step_freq_ = settings_.value("scheduler_step_freq", std::string());
  op.config_ = settings_.value("config", Json::object());
  // As Ray Train sets OMP_NUM_THREADS: a worker computes on the CPUs it holds,
  // not on every core of the node (which the other workers hold).
  if (settings_.contains("num_cpus_per_worker"))
    ::torch::set_num_threads(
        std::max(1, static_cast<int>(settings_.at("num_cpus_per_worker").get<double>())));
  if (op.use_gpu_) {
    // The node put this worker's own GPU, and only it, in CUDA_VISIBLE_DEVICES.
    if (!::torch::cuda::is_available())
      throw RayException(
          "TorchTrainer: use_gpu is set but this worker sees no CUDA device (libtorch without CUDA, or no "
          "GPU "
          "in CUDA_VISIBLE_DEVICES)");
    op.device_ = ::torch::Device(::torch::kCUDA, 0);
  }
}

void OperatorRunner::Setup() {
  auto factory = ray::tune::TrainableRef::FromJson(settings_.at("operator")).ResolveFunction();
  delete t_adopted;
  t_adopted = nullptr;
  factory(settings_.value("config", Json::object()));
  std::unique_ptr<TrainingOperator> op(t_adopted);
  t_adopted = nullptr;
  if (!op) throw RayException("TorchTrainer: the operator class's factory made no operator");
  Place(*op);
  // The old operator's DDP threads end before the new one's group calls start.
  op_.reset();
  op->Setup(op->config_);
  op_ = std::move(op);
  epoch_ = 0;
  changed_since_setup_ = false;
}

Json OperatorRunner::TrainEpoch(int64_t num_steps, const Json &info) {
  if (!op_) throw RayException("TorchTrainer: the operator is not set up");
  Json full = info.is_object() ? info : Json::object();
  full["epoch_idx"] = epoch_;
  BatchLoader loader(op_->train_data_, op_->batch_size_, op_->shuffle_, /*training=*/true, epoch_,
                     place_.world_rank, place_.world_size, op_->device_, num_steps);
  for (auto &m : op_->models_) m.ptr()->train(true);
  changed_since_setup_ = true;
  Json stats = op_->TrainEpoch(loader, full);
  if (!stats.is_object()) throw RayException("TrainingOperator::TrainEpoch must return a JSON object");
  ++epoch_;
  stats["epoch"] = epoch_;
  return stats;
}

Json OperatorRunner::Validate(int64_t num_steps, const Json &info) {
  if (!op_) throw RayException("TorchTrainer: the operator is not set up");
  Json full = info.is_object() ? info : Json::object();
  full["epoch_idx"] = epoch_;
  BatchLoader loader(op_->validation_data_, op_->batch_size_, false, /*training=*/false, epoch_,
                     place_.world_rank, place_.world_size, op_->device_, num_steps);
  for (auto &m : op_->models_) m.ptr()->train(false);
  Json stats = op_->Validate(loader, full);
  if (!stats.is_object()) throw RayException("TrainingOperator::Validate must return a JSON object");
  return stats;
}

std::string OperatorRunner::State() {
  if (!op_) throw RayException("TorchTrainer: the operator is not set up");
  ::torch::serialize::OutputArchive archive;
  for (size_t i = 0; i < op_->models_.size(); ++i) {
    ::torch::serialize::OutputArchive sub;
    op_->models_[i].ptr()->save(sub);
    archive.write("model_" + std::to_string(i), sub);
  }
  for (size_t i = 0; i < op_->optimizers_.size(); ++i) {
    ::torch::serialize::OutputArchive sub;
    op_->optimizers_[i]->save(sub);
    archive.write("optimizer_" + std::to_string(i), sub);
  }
  const Json meta{{"epoch", epoch_},
                  {"scheduler_steps", op_->scheduler_steps_},
                  {"num_models", op_->models_.size()},
                  {"num_optimizers", op_->optimizers_.size()},
                  {"extra", op_->ExtraState()}};
  archive.write("lumen_meta", c10::IValue(meta.dump()));
  std::ostringstream out;
  archive.save_to(out);
  return out.str();
}

void OperatorRunner::LoadState(const std::string &state) {
  if (!op_) throw RayException("TorchTrainer: the operator is not set up");
  ::torch::serialize::InputArchive archive;
  archive.load_from(state.data(), state.size(), op_->device_);
  c10::IValue meta_value;
  archive.read("lumen_meta", meta_value);
  const Json meta = Json::parse(meta_value.toStringRef());
  if (meta.at("num_models").get<size_t>() != op_->models_.size() ||
      meta.at("num_optimizers").get<size_t>() != op_->optimizers_.size())
    throw RayException("TorchTrainer: the state holds " + meta.at("num_models").dump() + " models and " +
                       meta.at("num_optimizers").dump() + " optimisers, the operator registered " +
                       std::to_string(op_->models_.size()) + " and " +
                       std::to_string(op_->optimizers_.size()));
  if (changed_since_setup_ || op_->scheduler_steps_ != 0) Setup();
  // Schedulers cannot be told their step count: step fresh ones as often as
  // the saved ones were, then the optimisers' state sets the rates exactly.
  const int64_t steps = meta.at("scheduler_steps").get<int64_t>();
  for (int64_t i = 0; i < steps; ++i) op_->StepSchedulers();
  for (size_t i = 0; i < op_->models_.size(); ++i) {
    ::torch::serialize::InputArchive sub;
    archive.read("model_" + std::to_string(i), sub);
    op_->models_[i].ptr()->load(sub);
  }
  for (size_t i = 0; i < op_->optimizers_.size(); ++i) {
    ::torch::serialize::InputArchive sub;
    archive.read("optimizer_" + std::to_string(i), sub);
    op_->optimizers_[i]->load(sub);
  }
  op_->LoadExtraState(meta.at("extra"));
  epoch_ = meta.at("epoch").get<int64_t>();
  changed_since_setup_ = true;
}

}  // namespace torch
}  // namespace train
}  // namespace ray
