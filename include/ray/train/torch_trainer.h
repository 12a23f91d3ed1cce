// Lumen Train's RaySGD API: Ray 1.x's ray.util.sgd.torch (TrainingOperator,
// TorchTrainer, TorchTrainer.as_trainable) for libtorch models, in C++. A
// Lumen extension; needs libtorch and links lumen::train_torch.
//
//   class MlpOperator : public ray::train::torch::TrainingOperator {
//    public:
//     void Setup(const ray::train::Json &config) override {
//       Net net;
//       auto opt = std::make_shared<torch::optim::SGD>(net->parameters(), config.value("lr", 0.1));
//       Register(net, opt, torch::nn::MSELoss());
//       RegisterData({inputs, targets}, {val_inputs, val_targets}, /*batch_size=*/32);
//     }
//   };
//   ...
//   ray::train::torch::TorchTrainerOptions options;
//   options.num_workers = 2;
//   options.config = {{"lr", 0.05}};
//   ray::train::torch::TorchTrainer trainer(ray::train::torch::OperatorClass<MlpOperator>(), options);
//   for (int epoch = 0; epoch < 5; ++epoch) std::cout << trainer.Train().dump() << "\n";
//   std::cout << trainer.Validate().dump() << "\n";
//   trainer.Save("/tmp/mlp.pt");
//   trainer.Shutdown();
//
// Each worker is a Lumen Train worker actor (one bundle of a placement group,
// RANK/WORLD_SIZE/... in its environment, a member of the group's collective
// group) holding one instance of the user's operator for the trainer's life.
// Register moves each model to the worker's device and, with wrap_ddp and more
// than one worker, wraps it in DistributedDataParallel (<ray/train/torch.h>):
// rank 0's weights everywhere, gradients averaged over the workers. The data
// given to RegisterData is sharded per rank by libtorch's distributed samplers.
//
// How the operator reaches the workers: OperatorClass<T>() names a function
// instantiated in the user's program by its module and offset (the mechanism
// of Tune's TrainableRef), so every worker, a copy of the same program on
// this node or the same executable started on another, finds it without a
// registration macro. T needs a default constructor.
//
// Failures: a worker that dies during Train() (or a collective that fails
// because of it) tears the group down; with max_retries the group is started
// again, given the state the epoch started from, and the epoch runs again, up
// to max_retries times; then Train throws and the trainer is shut down. A
// user exception in the operator is not retried: Train throws it at once,
// and the trainer is shut down too (its workers may be mid-collective).
//
// Threading: a TorchTrainer is used from one thread. An operator's methods run
// on its worker's actor thread, one at a time.
//
// Public header: must stay valid C++17.
#pragma once

#include <ray/api.h>
#include <ray/train.h>
#include <ray/train/torch.h>
#include <ray/tune/trainable.h>
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace ray {
namespace train {
namespace torch {

/// Inputs and targets, one sample per row (dimension 0) of each.
struct TensorDataset {
  ::torch::Tensor inputs;
  ::torch::Tensor targets;
  int64_t size() const { return inputs.defined() ? inputs.size(0) : 0; }
};

/// One batch, on the worker's device.
struct Batch {
  ::torch::Tensor inputs;
  ::torch::Tensor targets;
};

/// Where a batch stands (Ray's batch_info): its index in the epoch, the
/// epoch's number, and the `info` given to Train/Validate.
struct BatchInfo {
  int64_t batch_idx = 0;
  int64_t epoch = 0;
  Json info;
};

/// This worker's batches of one epoch: its shard of the registered data,
/// batch by batch, at most `num_steps` of them when Train/Validate ask so.
class BatchLoader {
 public:
  /// Training: libtorch's DistributedRandomSampler (or Sequential without
  /// shuffle), seeded by the epoch, padded so every rank has as many batches.
  /// Validation: a contiguous, unpadded slice per rank (every sample once).
  BatchLoader(const TensorDataset &data, int64_t batch_size, bool shuffle, bool training, int64_t epoch,
              int world_rank, int world_size, ::torch::Device device, int64_t num_steps);
  /// The next batch; none at the end of the shard (or after num_steps).
  std::optional<Batch> Next();
  /// Batches this loader yields in all.
  int64_t num_batches() const { return num_batches_; }
  /// Samples in this rank's shard of the epoch (padding included).
  int64_t num_samples() const { return static_cast<int64_t>(indices_.size()); }

 private:
  const TensorDataset *data_;
  std::vector<int64_t> indices_;
  int64_t batch_size_;
  int64_t num_batches_;
  int64_t next_batch_ = 0;
  ::torch::Device device_;
};

/// The loss: output and target to a scalar tensor. A libtorch loss module
/// (torch::nn::MSELoss()) or a lambda both fit.
using Criterion = std::function<::torch::Tensor(const ::torch::Tensor &, const ::torch::Tensor &)>;

/// Ray's TrainingOperator: the user's subclass says what a worker trains
/// (Setup) and may change how (TrainEpoch, TrainBatch, Validate,
/// ValidateBatch). One instance per worker, constructed there with T().
class TrainingOperator {
 public:
  virtual ~TrainingOperator();

  /// Once per worker, before anything else: build the model(s), optimiser(s),
  /// loss, schedulers and data, and Register them. Every worker must register
  /// the same models in the same order (DDP broadcasts rank 0's weights).
  virtual void Setup(const Json &config) = 0;

  /// One epoch over this worker's shard. The default calls TrainBatch for
  /// each batch and returns the numeric stats averaged over the batches,
  /// weighted by their "num_samples" (summed), plus "epoch"; then steps the
  /// schedulers when scheduler_step_freq is "epoch".
  virtual Json TrainEpoch(BatchLoader &loader, const Json &info);
  /// One batch: forward, loss, zero_grad, Backward (gradients averaged over
  /// the workers), step; steps the schedulers when scheduler_step_freq is
  /// "batch". Returns {"train_loss", "num_samples"}. Needs one model, one
  /// optimiser and a criterion; override it for anything else.
  virtual Json TrainBatch(const Batch &batch, const BatchInfo &info);
  /// The validation shard: ValidateBatch per batch, averaged as TrainEpoch does.
  virtual Json Validate(BatchLoader &loader, const Json &info);
  /// Without gradients: {"val_loss", "num_samples"} and, when the output has
  /// one column per class and the targets are integer labels, "val_accuracy".
  virtual Json ValidateBatch(const Batch &batch, const BatchInfo &info);

  /// State beyond the registered models, optimisers and schedulers (Ray's
  /// state_dict / load_state_dict overrides), saved with them. Default: none.
  virtual Json ExtraState() { return nullptr; }
  virtual void LoadExtraState(const Json &state) { (void)state; }

  // What Setup registers (Ray's register / register_data).

  /// A model: moved to device(), wrapped in DistributedDataParallel when
  /// wrap_ddp and world_size() > 1. Any libtorch module with a
  /// `forward(Tensor) -> Tensor` (or a ModuleHolder of one) fits.
  template <class Module>
  void RegisterModel(Module model) {
    RegisterAnyModel(::torch::nn::AnyModule(std::move(model)));
  }
  void RegisterOptimizer(std::shared_ptr<::torch::optim::Optimizer> optimizer);
  void RegisterCriterion(Criterion criterion);
  /// Stepped by the default loops per scheduler_step_freq ("batch", "epoch"),
  /// or by StepSchedulers() ("manual"). Load restores its step count.
  void RegisterScheduler(std::shared_ptr<::torch::optim::LRScheduler> scheduler);
  /// The common case in one call.
  template <class Module>
  void Register(Module model, std::shared_ptr<::torch::optim::Optimizer> optimizer,
                Criterion criterion = nullptr,
                std::shared_ptr<::torch::optim::LRScheduler> scheduler = nullptr) {
    RegisterModel(std::move(model));
    RegisterOptimizer(std::move(optimizer));
    if (criterion) RegisterCriterion(std::move(criterion));
    if (scheduler) RegisterScheduler(std::move(scheduler));
  }
  /// The data, sharded per rank by the trainer. `validation` may be empty.
  void RegisterData(TensorDataset train, TensorDataset validation = TensorDataset(), int64_t batch_size = 32,
                    bool shuffle = true);

  // For TrainBatch overrides.

  /// loss.backward(), then every wrapped model's gradients averaged over the
  /// workers (what DDP's backward does in PyTorch). One backward per step;
  /// with several losses, call backward yourself and SynchronizeGradients.
  void Backward(const ::torch::Tensor &loss);
  /// Model `index`'s gradients averaged over the workers (all models: -1).
  /// Parameters without a gradient count as zero.
  void SynchronizeGradients(int index = -1);
  /// Steps every registered scheduler once (counted, so Load restores it).
  void StepSchedulers();

  ::torch::nn::AnyModule &model(size_t i = 0);
  std::shared_ptr<::torch::nn::Module> model_ptr(size_t i = 0);
  size_t num_models() const { return models_.size(); }
  ::torch::optim::Optimizer &optimizer(size_t i = 0);
  size_t num_optimizers() const { return optimizers_.size(); }
  const Criterion &criterion() const { return criterion_; }
  size_t num_schedulers() const { return schedulers_.size(); }
  const TensorDataset &train_data() const { return train_data_; }
  const TensorDataset &validation_data() const { return validation_data_; }
  int64_t batch_size() const { return batch_size_; }
  bool shuffle() const { return shuffle_; }

  int world_rank() const { return world_rank_; }
  int local_rank() const { return local_rank_; }
  int world_size() const { return world_size_; }
  /// CUDA (the worker's own GPU) with use_gpu, else the CPU.
  ::torch::Device device() const { return device_; }
  bool use_gpu() const { return use_gpu_; }
  const Json &config() const { return config_; }
  const std::string &scheduler_step_freq() const { return scheduler_step_freq_; }

 protected:
  TrainingOperator() = default;

 private:
  friend class OperatorRunner;
  void RegisterAnyModel(::torch::nn::AnyModule model);

  std::vector<::torch::nn::AnyModule> models_;
  std::vector<std::unique_ptr<DistributedDataParallel>> ddps_;  // per model; null when not wrapped
  std::vector<std::shared_ptr<::torch::optim::Optimizer>> optimizers_;
  std::vector<std::shared_ptr<::torch::optim::LRScheduler>> schedulers_;
  Criterion criterion_;
  TensorDataset train_data_, validation_data_;
  int64_t batch_size_ = 32;
  bool shuffle_ = true;
  int64_t scheduler_steps_ = 0;

  int world_rank_ = 0, local_rank_ = 0, world_size_ = 1;
  ::torch::Device device_ = ::torch::kCPU;
  bool use_gpu_ = false;
  bool wrap_ddp_ = true;
  std::string group_;
  std::string scheduler_step_freq_;
  Json config_;
};

namespace internal {
/// Hands a new operator to the worker that is creating one (the body of the
/// function OperatorClass names).
void AdoptOperator(TrainingOperator *op);
template <class T>
void NewOperator(const Json &) {
  static_assert(std::is_base_of<TrainingOperator, T>::value,
                "an operator class must derive from ray::train::torch::TrainingOperator");
  AdoptOperator(new T());
}
}  // namespace internal

/// The user's operator class as it travels to the workers.
class OperatorClassRef {
 public:
  explicit OperatorClassRef(ray::tune::TrainableRef factory) : factory_(std::move(factory)) {}
  const ray::tune::TrainableRef &factory() const { return factory_; }

 private:
  ray::tune::TrainableRef factory_;
};

/// Ray's training_operator_cls=T.
template <class T>
OperatorClassRef OperatorClass() {
  return OperatorClassRef(ray::tune::TrainableRef(&internal::NewOperator<T>));
}

/// Ray's TorchTrainer arguments.
struct TorchTrainerOptions {
  int num_workers = 1;
  /// Each worker holds one GPU (its own in CUDA_VISIBLE_DEVICES) and trains on it.
  bool use_gpu = false;
  double num_cpus_per_worker = 1;
  /// Given to every operator's Setup (and the Tune trial's config merged over it).
  Json config = Json::object();
  /// false: models are not wrapped in DistributedDataParallel (each worker
  /// trains on its own, and the operator synchronises what it wants).
  bool wrap_ddp = true;
  /// "batch", "epoch" or "manual"; needed when a scheduler is registered.
  std::string scheduler_step_freq;
  /// How the workers' bundles are placed ("PACK", "SPREAD", ...).
  std::string placement_strategy = "PACK";
  /// How long one collective may wait for the others (a dead peer fails it at once).
  double collective_timeout_s = 30;
  /// How long starting a worker group may wait for its resources.
  double placement_timeout_s = 300;
};

struct TrainOptions {
  /// At most this many batches (Ray's num_steps); -1: the whole shard.
  int64_t num_steps = -1;
  /// Times a failed epoch (a worker died) is run again on a new worker group
  /// from the state it started from.
  int max_retries = 3;
  /// Given to TrainEpoch and each TrainBatch's BatchInfo.
  Json info;
  /// false: one result per worker (a JSON array in rank order).
  bool reduce_results = true;
};

struct ValidateOptions {
  int64_t num_steps = -1;
  Json info;
  bool reduce_results = true;
};

/// Ray's TorchTrainer: the operator on num_workers workers.
class TorchTrainer {
 public:
  /// Starts the workers and runs Setup on each; throws RayException when
  /// they cannot be placed or Setup fails.
  TorchTrainer(OperatorClassRef operator_class, TorchTrainerOptions options);
  ~TorchTrainer();
  TorchTrainer(const TorchTrainer &) = delete;
  TorchTrainer &operator=(const TorchTrainer &) = delete;

  /// One epoch on every worker. The workers' stats are combined: num_samples
  /// summed, numbers averaged weighted by each worker's num_samples, other
  /// values taken from rank 0.
  Json Train(const TrainOptions &options = TrainOptions());
  Json Validate(const ValidateOptions &options = ValidateOptions());

  /// Rank 0's state: models, optimisers, scheduler steps, epoch and the
  /// operator's ExtraState, in libtorch's archive format (torch::save).
  std::string StateBytes();
  /// Every worker takes `state` (from StateBytes or Save).
  void LoadStateBytes(const std::string &state);
  /// StateBytes into the file `path` (on the driver's machine).
  void Save(const std::string &path);
  /// The state Save wrote, into every worker.
  void Load(const std::string &path);

  /// Ends the workers and releases their resources; later calls throw.
  void Shutdown();

  /// Epochs trained so far.
  int64_t epoch() const { return epoch_; }
  /// How many times a worker group failed and was replaced.
  int num_failures() const { return num_failures_; }
  int num_workers() const { return options_.num_workers; }

  /// Ray's TorchTrainer.as_trainable: a Tune class trainable that builds this
  /// trainer in each trial (the trial's config merged over options.config),
  /// runs Train() and Validate() per result, saves and loads the trainer's
  /// state as its checkpoints (so PBT works), and reserves the whole worker
  /// group per trial: a placement group of {CPU: 1} for the trial's actor and
  /// one bundle per worker (the resources travel with the reference, Ray's
  /// tune.with_resources). Pass it to ray::tune::Tuner as any trainable.
  static ray::tune::TrainableRef AsTrainable(OperatorClassRef operator_class, TorchTrainerOptions options);

  /// Internal (AsTrainable's trainable): workers in bundles [first_bundle,
  /// first_bundle + num_workers) of `group`, which stays its owner's.
  TorchTrainer(OperatorClassRef operator_class, TorchTrainerOptions options, ray::PlacementGroup group,
               int first_bundle);

 private:
  class Group;
  void StartGroup(const std::string *state);
  // One call on every worker; the replies in rank order. `error` says what
  // failed; `died` whether a worker died (retryable).
  std::vector<std::string> CallAll(const std::string &request, std::string *error, bool *died);
  void Check() const;

  OperatorClassRef operator_class_;
  TorchTrainerOptions options_;
  ray::PlacementGroup borrowed_group_;
  int first_bundle_ = 0;
  std::unique_ptr<Group> group_;
  int64_t epoch_ = 0;
  int num_failures_ = 0;
  int starts_ = 0;
  bool shut_down_ = false;
};

}  // namespace torch
}  // namespace train
}  // namespace ray
