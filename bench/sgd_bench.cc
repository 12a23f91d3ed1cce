// Epoch time of Lumen Train's RaySGD TorchTrainer with 2 workers (DDP over
// Lumen collectives) against one libtorch process on the same data, the same
// model and the same global batch (each worker takes half of it).
//
//   sgd_bench [--quick] [--json PATH]
//
//   sgd_epoch_s_2_workers          TorchTrainer::Train(), 2 workers of 1 CPU
//                                  and 1 libtorch thread each, median epoch
//   sgd_epoch_s_1_process_1_thread one process, the plain libtorch loop, 1 thread
//   sgd_epoch_s_1_process_2_threads the same with 2 libtorch threads
//   sgd_samples_per_s_*            samples / median epoch time
//
// Every figure is the median over the measured epochs after one warm-up epoch.
#include <ray/api.h>
#include <ray/train/torch_trainer.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "bench_stats.h"

namespace {

namespace tt = ray::train::torch;
using ray::train::Json;
using Clock = std::chrono::steady_clock;

constexpr int kIn = 64, kHidden = 512;

struct MlpImpl : torch::nn::Module {
  MlpImpl() {
    fc1 = register_module("fc1", torch::nn::Linear(kIn, kHidden));
    fc2 = register_module("fc2", torch::nn::Linear(kHidden, kHidden));
    fc3 = register_module("fc3", torch::nn::Linear(kHidden, kHidden));
    fc4 = register_module("fc4", torch::nn::Linear(kHidden, 1));
  }
  torch::Tensor forward(torch::Tensor x) {
    return fc4(torch::relu(fc3(torch::relu(fc2(torch::relu(fc1(x)))))));
  }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr}, fc3{nullptr}, fc4{nullptr};
};
TORCH_MODULE(Mlp);

tt::TensorDataset Data(int64_t n) {
  torch::manual_seed(3);
  auto x = torch::randn({n, kIn});
  return {x, torch::sin(x).sum(1, true)};
}

class BenchOperator : public tt::TrainingOperator {
 public:
  void Setup(const Json &config) override {
    torch::manual_seed(1);
    Mlp model;
    auto opt = std::make_shared<torch::optim::SGD>(model->parameters(), 0.01);
    Register(model, opt,
             [](const torch::Tensor &a, const torch::Tensor &b) { return torch::mse_loss(a, b); });
    RegisterData(Data(config.at("samples")), tt::TensorDataset(), config.at("batch_per_worker"), false);
  }
};

// One process, the whole global batch per step.
std::vector<double> SerialEpochs(int64_t samples, int64_t batch, int epochs, int threads) {
  torch::set_num_threads(threads);
  torch::manual_seed(1);
  Mlp model;
  torch::optim::SGD opt(model->parameters(), 0.01);
  const auto data = Data(samples);
  std::vector<double> times;
  for (int e = 0; e <= epochs; ++e) {
    const auto start = Clock::now();
    for (int64_t b = 0; b < samples; b += batch) {
      const int64_t end = std::min(samples, b + batch);
      opt.zero_grad();
      torch::mse_loss(model->forward(data.inputs.slice(0, b, end)), data.targets.slice(0, b, end)).backward();
      opt.step();
    }
    if (e > 0)
      times.push_back(std::chrono::duration<double>(Clock::now() - start).count());  // epoch 0 warms up
  }
  return times;
}

}  // namespace

int main(int argc, char **argv) {
  bool quick = false;
  std::string json_path;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) quick = true;
    if (std::strcmp(argv[i], "--json") == 0 && i + 1 < argc) json_path = argv[++i];
  }
  const int64_t samples = quick ? 4096 : 8192, global_batch = 256;
  const int epochs = quick ? 3 : 5;

  ray::RayConfig config;
  config.head_args = {"--num-cpus=2"};
  ray::Init(config);
  std::vector<double> trainer_times;
  {
    tt::TorchTrainerOptions options;
    options.num_workers = 2;
    options.config = {{"samples", samples}, {"batch_per_worker", global_batch / 2}};
    tt::TorchTrainer trainer(tt::OperatorClass<BenchOperator>(), options);
    tt::TrainOptions train;
    train.max_retries = 0;  // no state snapshot per epoch: the bare epoch
    for (int e = 0; e <= epochs; ++e) {
      const auto start = Clock::now();
      trainer.Train(train);
      if (e > 0) trainer_times.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    }
    trainer.Shutdown();
  }
  ray::Shutdown();
  const auto one = SerialEpochs(samples, global_batch, epochs, 1);
  const auto two = SerialEpochs(samples, global_batch, epochs, 2);

  const double t2w = bench::MedianSd(trainer_times).first, t1 = bench::MedianSd(one).first,
               t1x2 = bench::MedianSd(two).first;
  Json out{{"sgd_epoch_s_2_workers", t2w},
           {"sgd_epoch_s_1_process_1_thread", t1},
           {"sgd_epoch_s_1_process_2_threads", t1x2},
           {"sgd_samples_per_s_2_workers", samples / t2w},
           {"sgd_samples_per_s_1_process_1_thread", samples / t1},
           {"sgd_samples_per_s_1_process_2_threads", samples / t1x2},
           {"samples", samples},
           {"global_batch", global_batch},
           {"epochs_measured", epochs},
           {"parameters", kIn * kHidden + 2 * kHidden * kHidden + kHidden + 3 * kHidden + 1}};
  std::printf("MLP %d-%d-%d-%d-1, %lld samples, global batch %lld, median of %d epochs\n", kIn, kHidden,
              kHidden, kHidden, static_cast<long long>(samples), static_cast<long long>(global_batch),
              epochs);
  std::printf("  TorchTrainer, 2 workers (1 thread each)  %.3f s/epoch  %.0f samples/s\n", t2w,
              samples / t2w);
  std::printf("  one libtorch process, 1 thread          %.3f s/epoch  %.0f samples/s\n", t1, samples / t1);
  std::printf("  one libtorch process, 2 threads         %.3f s/epoch  %.0f samples/s\n", t1x2,
              samples / t1x2);
  if (!json_path.empty()) std::ofstream(json_path) << out.dump(2) << "\n";
  return 0;
}
