// The RaySGD API's worker side in one process (world size 1, no cluster):
// stats averaging, the distributed sampler's shards, the default training
// and validation loops against hand-written ones, the state round trip
// (optimiser momentum and scheduler steps included), and the errors a
// mis-set operator gets.
#include <gtest/gtest.h>
#include <ray/train/torch_trainer.h>

#include <set>

#include "operator_runner.h"

namespace {

namespace tt = ray::train::torch;
using ray::train::Json;

constexpr int kRows = 40, kIn = 3;

struct NetImpl : torch::nn::Module {
  NetImpl() {
    fc1 = register_module("fc1", torch::nn::Linear(kIn, 8));
    fc2 = register_module("fc2", torch::nn::Linear(8, 1));
  }
  torch::Tensor forward(torch::Tensor x) { return fc2(torch::tanh(fc1(x))); }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(Net);

torch::Tensor Inputs() {
  return torch::sin(torch::arange(kRows * kIn, torch::kFloat).reshape({kRows, kIn}) * 0.3);
}
torch::Tensor Targets() { return torch::cos(torch::arange(kRows, torch::kFloat).reshape({kRows, 1}) * 0.2); }
torch::Tensor Mse(const torch::Tensor &a, const torch::Tensor &b) { return torch::mse_loss(a, b); }

// SGD with momentum and a StepLR scheduler: state that a round trip must keep.
class RegressionOperator : public tt::TrainingOperator {
 public:
  void Setup(const Json &config) override {
    torch::manual_seed(7);
    Net net;
    auto opt = std::make_shared<torch::optim::SGD>(
        net->parameters(), torch::optim::SGDOptions(config.value("lr", 0.1)).momentum(0.9));
    std::shared_ptr<torch::optim::LRScheduler> sched;
    if (config.value("scheduler", false)) sched = std::make_shared<torch::optim::StepLR>(*opt, 1, 0.5);
    Register(net, opt, Mse, sched);
    RegisterData({Inputs(), Targets()}, {Inputs().slice(0, 0, 10), Targets().slice(0, 0, 10)},
                 config.value("batch_size", 8), config.value("shuffle", true));
    ++setups;
  }
  Json ExtraState() override { return Json{{"setups", setups}}; }
  void LoadExtraState(const Json &state) override { loaded_setups = state.at("setups"); }
  int setups = 0;
  int loaded_setups = -1;
};

class TwoModelOperator : public tt::TrainingOperator {
 public:
  void Setup(const Json &) override {
    RegisterModel(Net());
    RegisterModel(Net());
    RegisterCriterion(Mse);
    RegisterData({Inputs(), Targets()});
  }
};

class SchedulerWithoutFrequency : public tt::TrainingOperator {
 public:
  void Setup(const Json &) override {
    Net net;
    auto opt = std::make_shared<torch::optim::SGD>(net->parameters(), 0.1);
    Register(net, opt, Mse, std::make_shared<torch::optim::StepLR>(*opt, 1));
  }
};

class Classifier : public tt::TrainingOperator {
 public:
  void Setup(const Json &) override {
    // Scores that pick class (row % 3) for rows below 6 and class 0 after.
    auto model = torch::nn::Linear(3, 3);
    {
      torch::NoGradGuard no_grad;
      model->weight.copy_(torch::eye(3) * 10);
      model->bias.zero_();
    }
    RegisterModel(model);
    RegisterCriterion(
        [](const torch::Tensor &out, const torch::Tensor &y) { return torch::cross_entropy_loss(out, y); });
    auto x = torch::zeros({10, 3});
    auto y = torch::zeros({10}, torch::kLong);
    for (int i = 0; i < 10; ++i) {
      x[i][i % 3] = 1;
      y[i] = i < 6 ? i % 3 : (i % 3 + 1) % 3;  // rows 6..9 labelled wrong
    }
    RegisterData({x, y}, {x, y}, 4);
  }
};

Json Settings(const tt::OperatorClassRef &op, Json config = Json::object(), std::string freq = "") {
  return Json{{"operator", op.factory().ToJson()},
              {"config", config},
              {"use_gpu", false},
              {"wrap_ddp", true},
              {"scheduler_step_freq", freq}};
}

std::vector<float> Weights(tt::TrainingOperator &op) {
  std::vector<float> out;
  for (auto &p : op.model_ptr()->parameters()) {
    auto c = p.detach().contiguous();
    out.insert(out.end(), c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  }
  return out;
}

TEST(StatsTest, BatchStatsAreWeightedBySamples) {
  Json avg = tt::AverageBatchStats({{{"train_loss", 1.0}, {"num_samples", 3}, {"tag", "a"}},
                                    {{"train_loss", 5.0}, {"num_samples", 1}, {"tag", "b"}}});
  EXPECT_DOUBLE_EQ(avg["train_loss"].get<double>(), 2.0);
  EXPECT_EQ(avg["num_samples"].get<int64_t>(), 4);
  EXPECT_EQ(avg["tag"], "b");
  EXPECT_EQ(tt::AverageBatchStats({}), Json::object());
}

TEST(StatsTest, WorkerStatsSumSamplesAndWeightNumbers) {
  Json c = tt::CombineWorkerStats({{{"loss", 1.0}, {"num_samples", 30}, {"epoch", 2}, {"note", "rank0"}},
                                   {{"loss", 3.0}, {"num_samples", 10}, {"epoch", 2}, {"note", "rank1"}}});
  EXPECT_DOUBLE_EQ(c["loss"].get<double>(), 1.5);
  EXPECT_EQ(c["num_samples"].get<int64_t>(), 40);
  EXPECT_TRUE(c["epoch"].is_number_integer());  // every worker agrees: kept as it is
  EXPECT_EQ(c["epoch"].get<int>(), 2);
  EXPECT_EQ(c["note"], "rank0");
  // Without sample counts: a plain mean; a worker lacking a stat does not count.
  Json d = tt::CombineWorkerStats({{{"x", 1.0}}, {{"x", 2.0}}, {{"y", 7.0}}});
  EXPECT_DOUBLE_EQ(d["x"].get<double>(), 1.5);
}

TEST(BatchLoaderTest, TrainingShardsAreEqualCoverEverythingAndFollowTheEpoch) {
  tt::TensorDataset data{torch::arange(11, torch::kFloat).reshape({11, 1}), torch::zeros({11, 1})};
  auto ids = [&](int rank, int epoch, bool shuffle) {
    tt::BatchLoader loader(data, 2, shuffle, true, epoch, rank, 2, torch::kCPU, -1);
    std::vector<int> out;
    while (auto b = loader.Next())
      for (int64_t i = 0; i < b->inputs.size(0); ++i)
        out.push_back(static_cast<int>(b->inputs[i][0].item<float>()));
    return out;
  };
  for (bool shuffle : {false, true}) {
    auto r0 = ids(0, 0, shuffle), r1 = ids(1, 0, shuffle);
    EXPECT_EQ(r0.size(), 6u);  // 11 rows over 2 ranks: padded to 6 each
    EXPECT_EQ(r1.size(), 6u);
    std::set<int> all(r0.begin(), r0.end());
    all.insert(r1.begin(), r1.end());
    EXPECT_EQ(all.size(), 11u);
    EXPECT_EQ(ids(0, 0, shuffle), r0);  // the same epoch, the same order
  }
  EXPECT_NE(ids(0, 0, true), ids(0, 1, true));  // another epoch, another shuffle

  tt::BatchLoader limited(data, 2, true, true, 0, 0, 2, torch::kCPU, 2);
  EXPECT_EQ(limited.num_batches(), 2);
}

TEST(BatchLoaderTest, ValidationShardsCountEverySampleOnce) {
  tt::TensorDataset data{torch::arange(11, torch::kFloat).reshape({11, 1}), torch::zeros({11, 1})};
  tt::BatchLoader a(data, 4, false, false, 0, 0, 2, torch::kCPU, -1),
      b(data, 4, false, false, 0, 1, 2, torch::kCPU, -1);
  EXPECT_EQ(a.num_samples() + b.num_samples(), 11);
  EXPECT_EQ(a.num_batches(), 2);  // 5 rows in batches of 4
}

TEST(OperatorRunnerTest, DefaultEpochIsForwardLossBackwardStepOverTheShard) {
  tt::OperatorRunner runner(Settings(tt::OperatorClass<RegressionOperator>(), {{"shuffle", false}}), {});
  runner.Setup();
  Json stats = runner.TrainEpoch(-1, Json::object());
  EXPECT_EQ(stats["num_samples"].get<int>(), kRows);
  EXPECT_EQ(stats["epoch"].get<int>(), 1);

  // The same by hand.
  torch::manual_seed(7);
  Net net;
  torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  double loss_sum = 0;
  for (int b = 0; b < kRows / 8; ++b) {
    auto x = Inputs().slice(0, b * 8, b * 8 + 8), y = Targets().slice(0, b * 8, b * 8 + 8);
    opt.zero_grad();
    auto loss = Mse(net->forward(x), y);
    loss.backward();
    opt.step();
    loss_sum += loss.item<double>();
  }
  EXPECT_NEAR(stats["train_loss"].get<double>(), loss_sum / (kRows / 8), 1e-6);
  auto got = Weights(runner.op());
  size_t i = 0;
  for (auto &p : net->parameters()) {
    auto c = p.detach().contiguous();
    for (int64_t k = 0; k < c.numel(); ++k, ++i) EXPECT_NEAR(got[i], c.data_ptr<float>()[k], 1e-6);
  }

  Json limited = runner.TrainEpoch(2, Json::object());
  EXPECT_EQ(limited["num_samples"].get<int>(), 16);
}

TEST(OperatorRunnerTest, StateRoundTripKeepsMomentumSchedulerAndExtraState) {
  const Json config{{"scheduler", true}};
  tt::OperatorRunner a(Settings(tt::OperatorClass<RegressionOperator>(), config, "epoch"), {});
  a.Setup();
  a.TrainEpoch(-1, Json::object());
  a.TrainEpoch(-1, Json::object());
  const std::string state = a.State();

  tt::OperatorRunner b(Settings(tt::OperatorClass<RegressionOperator>(), config, "epoch"), {});
  b.Setup();
  b.TrainEpoch(1, Json::object());  // trained since Setup: the load starts from a fresh operator
  b.LoadState(state);
  EXPECT_EQ(b.epoch(), 2);
  EXPECT_EQ(Weights(b.op()), Weights(a.op()));
  EXPECT_EQ(static_cast<RegressionOperator &>(b.op()).loaded_setups, 1);
  // StepLR(1, 0.5) keeps the rate at its first step and halves it at each after.
  EXPECT_DOUBLE_EQ(a.op().optimizer().param_groups()[0].options().get_lr(), 0.05);
  EXPECT_DOUBLE_EQ(b.op().optimizer().param_groups()[0].options().get_lr(), 0.05);

  a.TrainEpoch(-1, Json::object());
  b.TrainEpoch(-1, Json::object());
  EXPECT_EQ(Weights(b.op()), Weights(a.op()));
  // The replayed step count: the third step halves again, in both.
  EXPECT_DOUBLE_EQ(a.op().optimizer().param_groups()[0].options().get_lr(), 0.025);
  EXPECT_DOUBLE_EQ(b.op().optimizer().param_groups()[0].options().get_lr(), 0.025);
}

TEST(OperatorRunnerTest, ValidationReportsLossAndAccuracy) {
  tt::OperatorRunner runner(Settings(tt::OperatorClass<Classifier>()), {});
  runner.Setup();
  Json stats = runner.Validate(-1, Json::object());
  EXPECT_EQ(stats["num_samples"].get<int>(), 10);
  EXPECT_DOUBLE_EQ(stats["val_accuracy"].get<double>(), 0.6);
  EXPECT_GT(stats["val_loss"].get<double>(), 0.0);
}

TEST(OperatorRunnerTest, MisSetOperatorsFailWithAClearMessage) {
  tt::OperatorRunner two(Settings(tt::OperatorClass<TwoModelOperator>()), {});
  two.Setup();
  try {
    two.TrainEpoch(-1, Json::object());
    FAIL() << "the default TrainBatch ran with two models";
  } catch (const std::exception &e) {
    EXPECT_NE(std::string(e.what()).find("override TrainBatch"), std::string::npos) << e.what();
  }

  tt::OperatorRunner sched(Settings(tt::OperatorClass<SchedulerWithoutFrequency>()), {});
  try {
    sched.Setup();
    FAIL() << "a scheduler was registered without scheduler_step_freq";
  } catch (const std::exception &e) {
    EXPECT_NE(std::string(e.what()).find("scheduler_step_freq"), std::string::npos) << e.what();
  }

  if (!torch::cuda::is_available()) {
    Json gpu = Settings(tt::OperatorClass<RegressionOperator>());
    gpu["use_gpu"] = true;
    tt::OperatorRunner runner(gpu, {});
    EXPECT_THROW(runner.Setup(), ray::internal::RayException);
  }
}

}  // namespace
