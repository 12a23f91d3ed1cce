// Lumen Train's RaySGD API over real worker processes: two workers with DDP
// train an MLP to the weights of one process on the combined batch, step for
// step; wrap_ddp = false leaves each worker on its own shard; Validate covers
// the validation set once; Save/Load carries the whole state; a worker killed
// mid-epoch is replaced within max_retries and fails Train beyond it; and
// AsTrainable runs a Tune experiment whose trials each reserve a worker group.
#include <ray/train/torch_trainer.h>
#include <ray/tune.h>
#include <signal.h>

#include <filesystem>
#include <fstream>

#include "cluster_test_util.h"

namespace {

namespace fs = std::filesystem;
namespace tt = ray::train::torch;
namespace tune = ray::tune;
using ray::train::Json;

constexpr int kRows = 64, kValRows = 24, kIn = 6, kHidden = 16, kBatch = 8;

struct NetImpl : torch::nn::Module {
  NetImpl() {
    fc1 = register_module("fc1", torch::nn::Linear(kIn, kHidden));
    fc2 = register_module("fc2", torch::nn::Linear(kHidden, 1));
  }
  torch::Tensor forward(torch::Tensor x) { return fc2(torch::tanh(fc1(x))); }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(Net);

torch::Tensor Rows(int n, double phase) {
  return torch::sin(torch::arange(n * kIn, torch::kFloat).reshape({n, kIn}) * 0.17 + phase);
}
torch::Tensor Target(const torch::Tensor &x) { return (x.sum(1, true) * 0.5).cos(); }
tt::TensorDataset TrainData() { return {Rows(kRows, 0), Target(Rows(kRows, 0))}; }
tt::TensorDataset ValData() { return {Rows(kValRows, 1), Target(Rows(kValRows, 1))}; }
torch::Tensor Mse(const torch::Tensor &a, const torch::Tensor &b) { return torch::mse_loss(a, b); }

int CountFiles(const std::string &dir) {
  int n = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); ++it) ++n;
  return n;
}

// Each rank starts from its own weights (DDP must make them rank 0's).
// config["die"] = {"epoch", "batch", "times", "dir"}: rank 1 SIGKILLs its
// process at that batch while fewer than `times` files are in `dir` (leaving
// one there first). config["throw_at_batch"]: rank 0 throws there.
class MlpOperator : public tt::TrainingOperator {
 public:
  void Setup(const Json &config) override {
    torch::manual_seed(100 + world_rank());
    Net net;
    auto opt = std::make_shared<torch::optim::SGD>(
        net->parameters(), torch::optim::SGDOptions(config.at("lr").get<double>()).momentum(0.5));
    Register(net, opt, Mse);
    RegisterData(TrainData(), ValData(), kBatch);
  }
  Json TrainBatch(const tt::Batch &batch, const tt::BatchInfo &info) override {
    const Json &c = config();
    if (c.contains("die") && world_rank() == 1 && info.epoch == c["die"]["epoch"] &&
        info.batch_idx == c["die"]["batch"]) {
      const std::string dir = c["die"]["dir"];
      const int died = CountFiles(dir);
      if (died < c["die"]["times"].get<int>()) {
        std::ofstream(dir + "/" + std::to_string(died)) << "died";
        raise(SIGKILL);
      }
    }
    if (c.contains("throw_at_batch") && world_rank() == 0 && info.batch_idx == c["throw_at_batch"])
      throw std::runtime_error("the loss went to NaN");
    return TrainingOperator::TrainBatch(batch, info);
  }
};

std::vector<float> Flat(Net &net) {
  std::vector<float> out;
  for (auto &p : net->parameters()) {
    auto c = p.detach().contiguous();
    out.insert(out.end(), c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  }
  return out;
}

// The model in a trainer state (TorchTrainer::StateBytes).
Net ModelOf(const std::string &state) {
  torch::serialize::InputArchive archive, model;
  archive.load_from(state.data(), state.size());
  archive.read("model_0", model);
  Net net;
  net->load(model);
  return net;
}

// One process: the batches the given ranks take at each step, combined.
Net Serial(int epochs, double lr, std::vector<int> ranks, int world_size) {
  torch::AutoGradMode grad(true);  // callers may hold a NoGradGuard
  torch::manual_seed(100);
  Net net;
  torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(lr).momentum(0.5));
  const auto data = TrainData();
  for (int e = 0; e < epochs; ++e) {
    std::vector<std::unique_ptr<tt::BatchLoader>> loaders;
    for (int r : ranks)
      loaders.push_back(
          std::make_unique<tt::BatchLoader>(data, kBatch, true, true, e, r, world_size, torch::kCPU, -1));
    for (;;) {
      std::vector<torch::Tensor> xs, ys;
      for (auto &l : loaders)
        if (auto b = l->Next()) {
          xs.push_back(b->inputs);
          ys.push_back(b->targets);
        }
      if (xs.empty()) break;
      opt.zero_grad();
      Mse(net->forward(torch::cat(xs)), torch::cat(ys)).backward();
      opt.step();
    }
  }
  return net;
}

void ExpectSameWeights(Net got, Net want) {
  auto a = Flat(got), b = Flat(want);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5) << "weight " << i;
}

class TorchTrainerTest : public lumen::testing::ClusterTest {
 protected:
  tt::TorchTrainerOptions Options(int workers, Json config = {{"lr", 0.1}}) {
    tt::TorchTrainerOptions o;
    o.num_workers = workers;
    o.config = std::move(config);
    return o;
  }
};

TEST_F(TorchTrainerTest, TwoWorkersMatchOneProcessOnTheCombinedBatchAndValidateOnce) {
  StartCluster({"--num-cpus=2"});
  tt::TorchTrainer trainer(tt::OperatorClass<MlpOperator>(), Options(2));
  for (int e = 1; e <= 3; ++e) {
    Json stats = trainer.Train();
    EXPECT_EQ(stats["num_samples"], kRows);
    EXPECT_EQ(stats["epoch"], e);
    EXPECT_TRUE(stats["train_loss"].is_number());
  }
  EXPECT_EQ(trainer.epoch(), 3);
  const std::string state = trainer.StateBytes();
  ExpectSameWeights(ModelOf(state), Serial(3, 0.1, {0, 1}, 2));

  Json val = trainer.Validate();
  EXPECT_EQ(val["num_samples"], kValRows);
  Net model = ModelOf(state);
  torch::NoGradGuard no_grad;
  const auto v = ValData();
  EXPECT_NEAR(val["val_loss"].get<double>(), Mse(model->forward(v.inputs), v.targets).item<double>(), 1e-5);

  Json per_worker = trainer.Validate({-1, Json(), /*reduce_results=*/false});
  ASSERT_TRUE(per_worker.is_array());
  ASSERT_EQ(per_worker.size(), 2u);
  EXPECT_EQ(per_worker[0]["num_samples"].get<int>() + per_worker[1]["num_samples"].get<int>(), kValRows);
  trainer.Shutdown();
  EXPECT_THROW(trainer.Train(), ray::internal::RayException);
}

TEST_F(TorchTrainerTest, WithoutDdpEachWorkerTrainsAloneOnItsShard) {
  StartCluster({"--num-cpus=2"});
  auto options = Options(2);
  options.wrap_ddp = false;
  tt::TorchTrainer trainer(tt::OperatorClass<MlpOperator>(), options);
  Json stats = trainer.Train();
  EXPECT_EQ(stats["num_samples"], kRows);
  ExpectSameWeights(ModelOf(trainer.StateBytes()), Serial(1, 0.1, {0}, 2));
}

TEST_F(TorchTrainerTest, SaveAndLoadCarryTheWholeStateToAnotherTrainer) {
  StartCluster({"--num-cpus=4"});  // two trainers of two workers at once
  const std::string path = tmp_ + "/mlp.pt";
  tt::TorchTrainer first(tt::OperatorClass<MlpOperator>(), Options(2));
  first.Train();
  first.Train();
  first.Save(path);

  tt::TorchTrainer second(tt::OperatorClass<MlpOperator>(), Options(2));
  second.Load(path);
  EXPECT_EQ(second.epoch(), 2);
  ExpectSameWeights(ModelOf(second.StateBytes()), ModelOf(first.StateBytes()));
  // Momentum and the epoch (the sampler's shuffle) came along: the next epoch agrees too.
  first.Train();
  Json stats = second.Train();
  EXPECT_EQ(stats["epoch"], 3);
  ExpectSameWeights(ModelOf(second.StateBytes()), ModelOf(first.StateBytes()));
  ExpectSameWeights(ModelOf(second.StateBytes()), Serial(3, 0.1, {0, 1}, 2));
  EXPECT_THROW(second.Load(tmp_ + "/missing.pt"), ray::internal::RayException);
}

TEST_F(TorchTrainerTest, AWorkerKilledMidEpochIsReplacedWithinMaxRetries) {
  StartCluster({"--num-cpus=2"});
  const std::string dir = tmp_ + "/deaths";
  fs::create_directories(dir);
  tt::TorchTrainer trainer(
      tt::OperatorClass<MlpOperator>(),
      Options(2, {{"lr", 0.1}, {"die", {{"epoch", 1}, {"batch", 2}, {"times", 1}, {"dir", dir}}}}));
  trainer.Train();
  tt::TrainOptions retry;
  retry.max_retries = 2;
  Json stats = trainer.Train(retry);  // rank 1 dies in here, once
  EXPECT_EQ(CountFiles(dir), 1);
  EXPECT_EQ(trainer.num_failures(), 1);
  EXPECT_EQ(stats["epoch"], 2);
  EXPECT_EQ(stats["num_samples"], kRows);
  trainer.Train();
  // The retried epoch started from the state it began with: as if nothing died.
  ExpectSameWeights(ModelOf(trainer.StateBytes()), Serial(3, 0.1, {0, 1}, 2));
}

TEST_F(TorchTrainerTest, FailuresBeyondMaxRetriesAndUserErrorsFailTrain) {
  StartCluster({"--num-cpus=2"});
  const std::string dir = tmp_ + "/deaths";
  fs::create_directories(dir);
  tt::TorchTrainer dying(
      tt::OperatorClass<MlpOperator>(),
      Options(2, {{"lr", 0.1}, {"die", {{"epoch", 0}, {"batch", 1}, {"times", 100}, {"dir", dir}}}}));
  tt::TrainOptions once;
  once.max_retries = 1;
  try {
    dying.Train(once);
    FAIL() << "Train survived a worker that dies every time";
  } catch (const ray::internal::RayException &e) {
    EXPECT_NE(std::string(e.what()).find("died"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("after 1 retries"), std::string::npos) << e.what();
  }
  EXPECT_EQ(CountFiles(dir), 2);  // the first try and one retry
  EXPECT_EQ(dying.num_failures(), 1);
  EXPECT_THROW(dying.Train(), ray::internal::RayException);  // shut down

  // A user's exception is no death: not retried, and it says what happened.
  auto options = Options(2, {{"lr", 0.1}, {"throw_at_batch", 1}});
  options.collective_timeout_s = 5;  // rank 1 waits that long in its all-reduce
  tt::TorchTrainer throwing(tt::OperatorClass<MlpOperator>(), options);
  try {
    throwing.Train();
    FAIL() << "Train hid the operator's exception";
  } catch (const ray::internal::RayException &e) {
    EXPECT_NE(std::string(e.what()).find("the loss went to NaN"), std::string::npos) << e.what();
  }
  EXPECT_EQ(throwing.num_failures(), 0);

  EXPECT_THROW(tt::TorchTrainer(tt::OperatorClass<MlpOperator>(), Options(0)), ray::internal::RayException);
  auto bad = Options(1);
  bad.scheduler_step_freq = "hourly";
  EXPECT_THROW(tt::TorchTrainer(tt::OperatorClass<MlpOperator>(), bad), ray::internal::RayException);
}

TEST_F(TorchTrainerTest, AsTrainableTunesTheLearningRateWithAWorkerGroupPerTrial) {
  StartCluster({"--num-cpus=6"});
  // The trial's lr wins over the trainer's (which would diverge).
  auto trainable =
      tt::TorchTrainer::AsTrainable(tt::OperatorClass<MlpOperator>(), Options(2, {{"lr", 1000.0}}));
  ASSERT_NE(trainable.resources(), nullptr);
  EXPECT_EQ(trainable.resources()->bundles.size(), 3u);  // the trial's actor and two workers
  EXPECT_EQ(trainable.resources()->Total().at("CPU"), 3.0);

  tune::TuneConfig tune_config;
  tune_config.metric = "val_loss";
  tune_config.mode = "min";
  tune::RunConfig run;
  run.name = "sgd";
  run.storage_path = tmp_ + "/results";
  run.stop = {{"training_iteration", 2}};
  run.verbose = 0;
  tune::Tuner tuner(trainable, tune::Space{{"lr", tune::GridSearch({0.02, 0.2})}}, tune_config, run);
  tune::ResultGrid grid = tuner.Fit();
  ASSERT_EQ(grid.size(), 2u);
  for (const auto &r : grid) ASSERT_FALSE(r.error.has_value()) << *r.error;
  const auto v = ValData();
  for (const auto &r : grid) {
    const double lr = r.config["lr"];
    SCOPED_TRACE(lr);
    EXPECT_EQ(r.metrics["training_iteration"], 2);
    EXPECT_EQ(r.metrics["num_samples"], kRows);  // both workers trained
    EXPECT_EQ(r.metrics["val_num_samples"], kValRows);
    Net want = Serial(2, lr, {0, 1}, 2);
    torch::NoGradGuard no_grad;
    EXPECT_NEAR(r.metrics["val_loss"].get<double>(), Mse(want->forward(v.inputs), v.targets).item<double>(),
                1e-5);
  }
  const double best = grid.GetBestResult().config["lr"];
  const double other = best == 0.02 ? 0.2 : 0.02;
  torch::NoGradGuard no_grad;
  EXPECT_LE(Mse(Serial(2, best, {0, 1}, 2)->forward(v.inputs), v.targets).item<double>(),
            Mse(Serial(2, other, {0, 1}, 2)->forward(v.inputs), v.targets).item<double>());

  // Resources in two places contradict each other.
  tune_config.resources_per_trial.cpu = 2;
  EXPECT_THROW(tune::Tuner(trainable, tune::Space{{"lr", 0.1}}, tune_config, run), tune::TuneError);
}

}  // namespace
