// Lumen Train on libtorch: what PyTorch's DistributedDataParallel does for a
// C++ model, which libtorch's C++ frontend lacks. A Lumen extension; needs
// libtorch (Debian's libtorch-dev) and links lumen::train_torch.
//
//   void TrainLoop(const ray::train::Json &config) {
//     auto model = std::make_shared<Net>();
//     ray::train::torch::DistributedDataParallel ddp(model);  // rank 0's weights everywhere
//     torch::optim::SGD opt(model->parameters(), 0.1);
//     for (auto &batch : *loader) {                            // this rank's shard
//       opt.zero_grad();
//       loss_fn(model->forward(batch.data), batch.target).backward();
//       ddp.SynchronizeGradients();                            // averaged over the workers
//       opt.step();
//     }
//   }
//
// Gradients are all-reduced in buckets (about 25 MB each, parameters in
// reverse order, as DDP does) while the backward pass still runs: a hook on
// each parameter copies its gradient into its bucket, and a full bucket is
// all-reduced on a background thread, buckets strictly in order so that
// every worker issues the same collectives in the same order.
// SynchronizeGradients waits for all of them and writes the averages into
// each parameter's .grad() (parameters that got no gradient count as zero).
// Shard the data per rank with libtorch's
// torch::data::samplers::DistributedRandomSampler(size, world_size, rank).
//
// Threading: one DistributedDataParallel per model, used from the training
// function's thread (hooks run on autograd's threads; the bucket thread is
// its own).
#pragma once

#include <torch/torch.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ray {
namespace train {
namespace torch {

class DistributedDataParallel {
 public:
  struct Options {
    /// Bucket size in MiB (DDP's bucket_cap_mb).
    double bucket_cap_mb = 25;
    /// The collective group; empty: the training run's (GetContext()).
    std::string group;
    /// Broadcast rank 0's parameters and buffers at construction.
    bool broadcast_parameters = true;
  };

  explicit DistributedDataParallel(std::shared_ptr<::torch::nn::Module> module);
  DistributedDataParallel(std::shared_ptr<::torch::nn::Module> module, Options options);
  ~DistributedDataParallel();
  DistributedDataParallel(const DistributedDataParallel &) = delete;
  DistributedDataParallel &operator=(const DistributedDataParallel &) = delete;

  /// After backward(), before the optimiser's step: every parameter's
  /// .grad() becomes the mean over the workers. Throws RayException when a
  /// collective failed (a worker died).
  void SynchronizeGradients();

  int num_buckets() const { return static_cast<int>(buckets_.size()); }

 private:
  struct Bucket {
    std::vector<size_t> params;    // indices into params_
    std::vector<int64_t> offsets;  // each param's offset in `flat` (elements)
    ::torch::Tensor flat;          // the bucket's gradients, contiguous
    size_t ready = 0;              // params whose gradient is in `flat` (mu_)
    bool reduced = false;          // mu_
  };

  void OnGradient(size_t param, const ::torch::Tensor &grad);
  void ReduceLoop();

  std::shared_ptr<::torch::nn::Module> module_;
  Options options_;
  std::vector<::torch::Tensor> params_;
  std::vector<size_t> bucket_of_;  // param index -> bucket
  std::vector<unsigned> hooks_;    // each parameter's hook handle
  std::vector<Bucket> buckets_;
  int world_size_ = 1;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<bool> have_grad_;  // mu_: this step
  size_t next_bucket_ = 0;       // mu_: the bucket thread's next
  bool stopping_ = false;        // mu_
  std::string error_;            // mu_: a failed all-reduce, for SynchronizeGradients
  std::thread reducer_;
};

}  // namespace torch
}  // namespace train
}  // namespace ray
