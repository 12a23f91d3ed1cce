// See include/ray/train/torch_trainer.h: TrainingOperator's defaults and
// registration, and BatchLoader.
#include <ray/api/ray_exception.h>
#include <ray/train/torch_trainer.h>

#include <algorithm>

#include "operator_runner.h"

namespace ray {
namespace train {
namespace torch {
namespace {

using ray::internal::RayException;

// All of a sampler's indices for one epoch.
std::vector<int64_t> Drain(::torch::data::samplers::Sampler<> &sampler, size_t size) {
  std::vector<int64_t> out;
  while (auto batch = sampler.next(std::max<size_t>(size, 1)))
    for (size_t i : *batch) out.push_back(static_cast<int64_t>(i));
  return out;
}

}  // namespace

BatchLoader::BatchLoader(const TensorDataset &data, int64_t batch_size, bool shuffle, bool training,
                         int64_t epoch, int world_rank, int world_size, ::torch::Device device,
                         int64_t num_steps)
    : data_(&data), batch_size_(batch_size), device_(device) {
  if (batch_size < 1) throw RayException("RegisterData: the batch size must be at least 1");
  const size_t size = static_cast<size_t>(data.size());
  if (training) {
    // Every rank gets as many samples (the shard is padded with repeats), so
    // every rank takes as many DDP steps; the epoch seeds the shuffle alike
    // on every rank, as PyTorch's DistributedSampler.set_epoch does.
    if (shuffle) {
      ::torch::data::samplers::DistributedRandomSampler sampler(size, world_size, world_rank, true);
      sampler.set_epoch(static_cast<size_t>(epoch));
      sampler.reset();
      indices_ = Drain(sampler, size);
    } else {
      ::torch::data::samplers::DistributedSequentialSampler sampler(size, world_size, world_rank, true);
      sampler.set_epoch(static_cast<size_t>(epoch));
      sampler.reset();
      indices_ = Drain(sampler, size);
    }
  } else {
    // Validation counts every sample once: a contiguous slice per rank.
    const int64_t n = data.size();
    for (int64_t i = n * world_rank / world_size; i < n * (world_rank + 1) / world_size; ++i)
      indices_.push_back(i);
  }
  num_batches_ = (static_cast<int64_t>(indices_.size()) + batch_size - 1) / batch_size;
  if (num_steps >= 0) num_batches_ = std::min(num_batches_, num_steps);
}

std::optional<Batch> BatchLoader::Next() {
  if (next_batch_ >= num_batches_) return std::nullopt;
  const int64_t begin = next_batch_ * batch_size_;
  const int64_t end = std::min<int64_t>(begin + batch_size_, static_cast<int64_t>(indices_.size()));
  ++next_batch_;
  auto index =
      ::torch::tensor(std::vector<int64_t>(indices_.begin() + begin, indices_.begin() + end), ::torch::kLong);
  Batch batch;
  batch.inputs = data_->inputs.index_select(0, index).to(device_);
  if (data_->targets.defined()) batch.targets = data_->targets.index_select(0, index).to(device_);
  return batch;
}

TrainingOperator::~TrainingOperator() = default;

void TrainingOperator::RegisterAnyModel(::torch::nn::AnyModule model) {
  if (model.is_empty()) throw RayException("TrainingOperator::RegisterModel: no module");
  model.ptr()->to(device_);
  std::unique_ptr<DistributedDataParallel> ddp;
  if (wrap_ddp_ && world_size_ > 1) {
    if (device_.is_cuda())
      throw RayException(
          "TrainingOperator: averaging gradients of a model on a GPU needs NCCL, which Lumen's collectives "
          "do "
          "not have yet; set wrap_ddp = false or train on the CPU");
    DistributedDataParallel::Options options;
    options.group = group_;
    ddp = std::make_unique<DistributedDataParallel>(model.ptr(), options);
  }
  models_.push_back(std::move(model));
  ddps_.push_back(std::move(ddp));
}

void TrainingOperator::RegisterOptimizer(std::shared_ptr<::torch::optim::Optimizer> optimizer) {
  if (!optimizer) throw RayException("TrainingOperator::RegisterOptimizer: no optimiser");
  optimizers_.push_back(std::move(optimizer));
}

void TrainingOperator::RegisterCriterion(Criterion criterion) { criterion_ = std::move(criterion); }

void TrainingOperator::RegisterScheduler(std::shared_ptr<::torch::optim::LRScheduler> scheduler) {
  if (!scheduler) throw RayException("TrainingOperator::RegisterScheduler: no scheduler");
  if (scheduler_step_freq_ != "batch" && scheduler_step_freq_ != "epoch" && scheduler_step_freq_ != "manual")
    throw RayException(
        "TrainingOperator::RegisterScheduler: set TorchTrainerOptions::scheduler_step_freq to \"batch\", "
        "\"epoch\" "
        "or \"manual\" to say when the scheduler steps");
  schedulers_.push_back(std::move(scheduler));
}

void TrainingOperator::RegisterData(TensorDataset train, TensorDataset validation, int64_t batch_size,
                                    bool shuffle) {
  if (batch_size < 1) throw RayException("TrainingOperator::RegisterData: the batch size must be at least 1");
  for (const TensorDataset *d : {&train, &validation})
    if (d->inputs.defined() && d->targets.defined() && d->inputs.size(0) != d->targets.size(0))
      throw RayException("TrainingOperator::RegisterData: inputs have " + std::to_string(d->inputs.size(0)) +
                         " rows but targets " + std::to_string(d->targets.size(0)));
  train_data_ = std::move(train);
  validation_data_ = std::move(validation);
  batch_size_ = batch_size;
  shuffle_ = shuffle;
}

void TrainingOperator::Backward(const ::torch::Tensor &loss) {
  loss.backward();
  SynchronizeGradients(-1);
}

void TrainingOperator::SynchronizeGradients(int index) {
  for (size_t i = 0; i < ddps_.size(); ++i)
    if ((index < 0 || static_cast<size_t>(index) == i) && ddps_[i]) ddps_[i]->SynchronizeGradients();
}

void TrainingOperator::StepSchedulers() {
  for (auto &s : schedulers_) s->step();
  ++scheduler_steps_;
}

::torch::nn::AnyModule &TrainingOperator::model(size_t i) {
  if (i >= models_.size())
    throw RayException("TrainingOperator: no model " + std::to_string(i) + " (" +
                       std::to_string(models_.size()) + " registered)");
  return models_[i];
}

std::shared_ptr<::torch::nn::Module> TrainingOperator::model_ptr(size_t i) { return model(i).ptr(); }

::torch::optim::Optimizer &TrainingOperator::optimizer(size_t i) {
  if (i >= optimizers_.size())
    throw RayException("TrainingOperator: no optimiser " + std::to_string(i) + " (" +
                       std::to_string(optimizers_.size()) + " registered)");
  return *optimizers_[i];
}

Json TrainingOperator::TrainEpoch(BatchLoader &loader, const Json &info) {
  std::vector<Json> stats;
  BatchInfo batch_info;
  batch_info.epoch = info.value("epoch_idx", int64_t{0});
  batch_info.info = info;
  while (auto batch = loader.Next()) {
    stats.push_back(TrainBatch(*batch, batch_info));
    ++batch_info.batch_idx;
  }
  if (scheduler_step_freq_ == "epoch") StepSchedulers();
  return AverageBatchStats(stats);
}

Json TrainingOperator::TrainBatch(const Batch &batch, const BatchInfo &info) {
  if (models_.size() != 1 || optimizers_.size() != 1 || !criterion_)
    throw RayException(
        "TrainingOperator: the default TrainBatch needs one model, one optimiser and a criterion "
        "(registered " +
        std::to_string(models_.size()) + ", " + std::to_string(optimizers_.size()) + " and " +
        (criterion_ ? "one" : "none") + "); override TrainBatch for anything else");
  ::torch::Tensor output = models_[0].forward(batch.inputs);
  ::torch::Tensor loss = criterion_(output, batch.targets);
  optimizers_[0]->zero_grad();
  Backward(loss);
  optimizers_[0]->step();
  if (scheduler_step_freq_ == "batch") StepSchedulers();
  return Json{{"train_loss", loss.item<double>()}, {"num_samples", batch.inputs.size(0)}};
}

Json TrainingOperator::Validate(BatchLoader &loader, const Json &info) {
  std::vector<Json> stats;
  BatchInfo batch_info;
  batch_info.epoch = info.value("epoch_idx", int64_t{0});
  batch_info.info = info;
  ::torch::NoGradGuard no_grad;
  while (auto batch = loader.Next()) {
    stats.push_back(ValidateBatch(*batch, batch_info));
    ++batch_info.batch_idx;
  }
  return AverageBatchStats(stats);
}

Json TrainingOperator::ValidateBatch(const Batch &batch, const BatchInfo &info) {
  if (models_.empty() || !criterion_)
    throw RayException(
        "TrainingOperator: the default ValidateBatch needs a model and a criterion; override ValidateBatch");
  ::torch::NoGradGuard no_grad;
  ::torch::Tensor output = models_[0].forward(batch.inputs);
  const int64_t n = batch.inputs.size(0);
  Json stats{{"val_loss", criterion_(output, batch.targets).item<double>()}, {"num_samples", n}};
  // Accuracy where it means something: a score per class and integer labels.
  if (output.dim() == 2 && output.size(1) > 1 && batch.targets.defined() && batch.targets.dim() == 1 &&
      !batch.targets.is_floating_point()) {
    const int64_t correct = output.argmax(1).eq(batch.targets).sum().item<int64_t>();
    stats["val_accuracy"] = n > 0 ? static_cast<double>(correct) / static_cast<double>(n) : 0.0;
  }
  return stats;
}

}  // namespace torch
}  // namespace train
}  // namespace ray
