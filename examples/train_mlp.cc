// train_mlp: data-parallel training of a small MLP with Lumen Train and
// libtorch. Two workers each take half of every batch of synthetic data;
// DistributedDataParallel averages their gradients, so they train as one
// model. Every epoch reports the loss and a checkpoint (torch::save). Once,
// at epoch 3, rank 1 kills its own process: the trainer starts a new worker
// group from the latest checkpoint and training ends as if nothing happened.
//
//   train_mlp [--small]
#include <ray/api.h>
#include <ray/train.h>
#include <ray/train/torch.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

namespace train = ray::train;
namespace fs = std::filesystem;

namespace {

constexpr int kIn = 16, kHidden = 64;

struct MlpImpl : torch::nn::Module {
  MlpImpl() {
    fc1 = register_module("fc1", torch::nn::Linear(kIn, kHidden));
    fc2 = register_module("fc2", torch::nn::Linear(kHidden, kHidden));
    fc3 = register_module("fc3", torch::nn::Linear(kHidden, 1));
  }
  torch::Tensor forward(torch::Tensor x) { return fc3(torch::relu(fc2(torch::relu(fc1(x))))); }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr}, fc3{nullptr};
};
TORCH_MODULE(Mlp);

// y = sum of sin(x_i) and a product term: something an MLP learns in a few epochs.
std::pair<torch::Tensor, torch::Tensor> Data(int64_t n) {
  torch::manual_seed(7);
  auto x = torch::randn({n, kIn});
  auto y = torch::sin(x).sum(1, true) + 0.5 * x.select(1, 0).unsqueeze(1) * x.select(1, 1).unsqueeze(1);
  return {x, y};
}

void TrainLoop(const train::Json &config) {
  const auto ctx = train::GetContext();
  const int epochs = config.at("epochs"), batch = config.at("batch");
  auto [x, y] = Data(config.at("samples").get<int64_t>());
  Mlp model;
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(config.at("lr").get<double>()));
  int start = 0;
  if (auto ckpt = train::GetCheckpoint()) {  // a restarted group resumes here
    torch::load(model, ckpt->path() + "/model.pt");
    torch::load(opt, ckpt->path() + "/optimizer.pt");
    std::ifstream(ckpt->path() + "/epoch") >> start;
    ++start;
  }
  train::torch::DistributedDataParallel ddp(model.ptr());
  for (int epoch = start; epoch < epochs; ++epoch) {
    if (epoch == 3 && ctx.world_rank == 1 && !fs::exists(config.at("marker").get<std::string>())) {
      std::ofstream(config.at("marker").get<std::string>()) << "once";
      std::printf("  (rank 1, pid %d, kills itself at epoch %d)\n", getpid(), epoch);
      std::fflush(stdout);
      raise(SIGKILL);
    }
    double total = 0;
    int batches = 0;
    for (int64_t b = 0; b + batch <= x.size(0); b += batch) {
      // This rank's half of the batch.
      const int64_t half = batch / ctx.world_size, from = b + half * ctx.world_rank;
      auto loss =
          torch::mse_loss(model->forward(x.slice(0, from, from + half)), y.slice(0, from, from + half));
      opt.zero_grad();
      loss.backward();
      ddp.SynchronizeGradients();
      opt.step();
      total += loss.item<double>();
      ++batches;
    }
    const std::string dir =
        config.at("scratch").get<std::string>() + "/rank" + std::to_string(ctx.world_rank);
    fs::create_directories(dir);
    torch::save(model, dir + "/model.pt");
    torch::save(opt, dir + "/optimizer.pt");
    std::ofstream(dir + "/epoch") << epoch;
    train::Report({{"epoch", epoch}, {"loss", total / batches}}, train::Checkpoint::FromDirectory(dir));
  }
}

}  // namespace

int main(int argc, char **argv) {
  const bool small = argc > 1 && std::strcmp(argv[1], "--small") == 0;
  ray::RayConfig config;
  config.head_args = {"--num-cpus=2"};
  ray::Init(config);
  const std::string scratch = fs::temp_directory_path() / ("train_mlp-" + std::to_string(getpid()));
  train::ScalingConfig scaling;
  scaling.num_workers = 2;
  train::RunConfig run;
  run.name = "train_mlp";
  run.storage_path = scratch + "/results";
  run.failure_config.max_failures = 1;
  train::Json loop_config = {{"epochs", small ? 5 : 8},
                             {"batch", 64},
                             {"samples", small ? 1024 : 4096},
                             {"lr", 0.003},
                             {"scratch", scratch},
                             {"marker", scratch + "/killed"}};
  std::printf("2 workers, DistributedDataParallel, an MLP on synthetic data; rank 1 dies once at epoch 3\n");
  auto result = train::DataParallelTrainer(TrainLoop, loop_config, scaling, run).Fit();
  for (auto &m : result.metrics_history)
    std::printf("  epoch %d  loss %.4f\n", m["epoch"].get<int>(), m["loss"].get<double>());
  std::printf("worker group restarts: %d; %s\n", result.failures,
              result.error.empty() ? "training finished" : ("failed: " + result.error).c_str());
  std::printf("checkpoints and result.json in %s\n", result.path.c_str());
  ray::Shutdown();
  std::error_code ec;
  fs::remove_all(scratch, ec);
  return result.error.empty() && result.failures == 1 ? 0 : 1;
}
