// train_sgd: Lumen Train's RaySGD API (Ray 1.x's TorchTrainer) on libtorch.
// An operator says what each worker trains -- an MLP, Adam, the MSE loss and
// synthetic data -- and a TorchTrainer runs it on 2 workers with
// DistributedDataParallel, an epoch per Train(). Then AsTrainable hands the
// same trainer to Tune, which tries two learning rates, each trial holding a
// worker group of its own.
//
//   train_sgd [--small]
#include <ray/api.h>
#include <ray/train/torch_trainer.h>
#include <ray/tune.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>

namespace tt = ray::train::torch;
namespace tune = ray::tune;
namespace fs = std::filesystem;
using ray::train::Json;

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

// y = sum of sin(x_i) and a product term; the same rows in every worker.
tt::TensorDataset Data(int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  auto x = torch::randn({n, kIn});
  auto y = torch::sin(x).sum(1, true) + 0.5 * x.select(1, 0).unsqueeze(1) * x.select(1, 1).unsqueeze(1);
  return {x, y};
}

class MlpOperator : public tt::TrainingOperator {
 public:
  void Setup(const Json &config) override {
    Mlp model;
    auto opt = std::make_shared<torch::optim::Adam>(model->parameters(),
                                                    torch::optim::AdamOptions(config.at("lr").get<double>()));
    Register(model, opt, torch::nn::MSELoss());
    const int64_t n = config.at("samples");
    RegisterData(Data(n, 7), Data(n / 4, 8), config.at("batch_size"));
  }
};

}  // namespace

int main(int argc, char **argv) {
  const bool small = argc > 1 && std::strcmp(argv[1], "--small") == 0;
  ray::RayConfig ray_config;
  ray_config.head_args = {"--num-cpus=6"};  // two trials of three bundles each
  ray::Init(ray_config);

  tt::TorchTrainerOptions options;
  options.num_workers = 2;
  options.config = {{"lr", 0.003}, {"samples", small ? 1024 : 4096}, {"batch_size", 32}};
  std::printf("TorchTrainer: 2 workers, DistributedDataParallel, an MLP on synthetic data\n");
  {
    tt::TorchTrainer trainer(tt::OperatorClass<MlpOperator>(), options);
    for (int epoch = 0; epoch < 3; ++epoch) {
      Json stats = trainer.Train();
      std::printf("  epoch %d  train_loss %.4f  (%d samples)\n", stats["epoch"].get<int>(),
                  stats["train_loss"].get<double>(), stats["num_samples"].get<int>());
    }
    Json val = trainer.Validate();
    std::printf("  validation  val_loss %.4f  (%d samples)\n", val["val_loss"].get<double>(),
                val["num_samples"].get<int>());
    const std::string path = fs::temp_directory_path() / ("train_sgd-" + std::to_string(getpid()) + ".pt");
    trainer.Save(path);
    std::printf("  saved rank 0's state to %s (%ju bytes)\n", path.c_str(),
                static_cast<uintmax_t>(fs::file_size(path)));
    fs::remove(path);
    trainer.Shutdown();
  }

  std::printf("AsTrainable: Tune picks the learning rate, each trial a group of 2 workers\n");
  tune::TuneConfig tune_config;
  tune_config.metric = "val_loss";
  tune_config.mode = "min";
  tune::RunConfig run;
  run.name = "train_sgd";
  run.storage_path = fs::temp_directory_path() / ("train_sgd-" + std::to_string(getpid()));
  run.stop = {{"training_iteration", small ? 2 : 3}};
  run.verbose = 0;
  tune::Tuner tuner(tt::TorchTrainer::AsTrainable(tt::OperatorClass<MlpOperator>(), options),
                    tune::Space{{"lr", tune::GridSearch({0.0003, 0.003})}}, tune_config, run);
  tune::ResultGrid grid = tuner.Fit();
  for (const auto &r : grid)
    std::printf("  lr %-7g val_loss %.4f after %d epochs%s\n", r.config["lr"].get<double>(),
                r.metrics.value("val_loss", -1.0), r.metrics.value("training_iteration", 0),
                r.error ? (" (failed: " + *r.error + ")").c_str() : "");
  const bool ok = grid.num_errors() == 0 && grid.size() == 2;
  if (ok) std::printf("best lr: %g\n", grid.GetBestResult().config["lr"].get<double>());
  std::error_code ec;
  fs::remove_all(run.storage_path, ec);
  ray::Shutdown();
  return ok ? 0 : 1;
}
