// Lumen Train's DataParallelTrainer on a real local cluster: data-parallel
// gradient descent on N workers matches one worker on the whole batch step
// for step; the workers see their ranks and environment; a worker killed
// mid-run is replaced and training resumes from the latest checkpoint.
#include <ray/collective.h>
#include <ray/train.h>
#include <signal.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "cluster_test_util.h"

namespace {

namespace fs = std::filesystem;
namespace train = ray::train;
using train::Json;

// Linear regression, y = X w* (+ a little structure), plain gradient descent
// on the mean squared error. Rows are a fixed function of their index, so
// every process builds the same data.
constexpr int kRows = 96, kDims = 4;
double X(int row, int col) { return std::sin(0.37 * row + 1.3 * col) + (col == 0 ? 1.0 : 0.0); }
double Y(int row) {
  return 2.0 * X(row, 0) - 1.0 * X(row, 1) + 0.5 * X(row, 2) + 0.25 * X(row, 3) + 0.1 * std::cos(row);
}

// Sum over rows [begin, end) of the squared-error gradient (not divided).
std::vector<double> GradientSum(const std::vector<double> &w, int begin, int end) {
  std::vector<double> g(kDims, 0.0);
  for (int r = begin; r < end; ++r) {
    double err = -Y(r);
    for (int c = 0; c < kDims; ++c) err += w[c] * X(r, c);
    for (int c = 0; c < kDims; ++c) g[c] += 2 * err * X(r, c);
  }
  return g;
}

std::vector<double> Step(std::vector<double> w, const std::vector<double> &grad_sum, double lr) {
  for (int c = 0; c < kDims; ++c) w[c] -= lr * grad_sum[c] / kRows;
  return w;
}

// The same descent in one process: what every worker group must reproduce.
std::vector<double> SerialWeights(int epochs, double lr) {
  std::vector<double> w(kDims, 0.0);
  for (int e = 0; e < epochs; ++e) w = Step(w, GradientSum(w, 0, kRows), lr);
  return w;
}

// The training function: each rank computes the gradient of its shard, the
// sums are all-reduced, every rank steps the same weights. A checkpoint per
// epoch holds the weights and the epoch; config["die_at"] >= 0 makes rank 1
// SIGKILL its own process once, at that epoch (config["marker"] says it did).
void Regression(const Json &config) {
  const auto ctx = train::GetContext();
  const int epochs = config.at("epochs");
  const double lr = config.at("lr");
  std::vector<double> w(kDims, 0.0);
  int start = 0;
  if (auto ckpt = train::GetCheckpoint()) {
    std::ifstream in(ckpt->path() + "/state.json");
    Json state = Json::parse(in);
    w = state.at("w").get<std::vector<double>>();
    start = state.at("epoch").get<int>() + 1;
  }
  const int begin = kRows * ctx.world_rank / ctx.world_size,
            end = kRows * (ctx.world_rank + 1) / ctx.world_size;
  for (int e = start; e < epochs; ++e) {
    if (e == config.at("die_at").get<int>() && ctx.world_rank == 1 &&
        !fs::exists(config.at("marker").get<std::string>())) {
      std::ofstream(config.at("marker").get<std::string>()) << "died";
      raise(SIGKILL);
    }
    auto g = GradientSum(w, begin, end);
    ray::collective::AllReduce(g, ctx.collective_group);
    w = Step(w, g, lr);
    const std::string dir =
        config.at("scratch").get<std::string>() + "/rank" + std::to_string(ctx.world_rank);
    fs::create_directories(dir);
    std::ofstream(dir + "/state.json") << Json{{"w", w}, {"epoch", e}}.dump();
    train::Report({{"epoch", e}, {"w", w}}, train::Checkpoint::FromDirectory(dir));
  }
}

// Writes what the worker sees of itself into config["dir"]/<rank>.json.
void Describe(const Json &config) {
  const auto ctx = train::GetContext();
  auto env = [](const char *n) { return std::string(std::getenv(n) ? std::getenv(n) : "<unset>"); };
  Json j = {{"world_rank", ctx.world_rank},
            {"world_size", ctx.world_size},
            {"local_rank", ctx.local_rank},
            {"local_world_size", ctx.local_world_size},
            {"node_rank", ctx.node_rank},
            {"RANK", env("RANK")},
            {"WORLD_SIZE", env("WORLD_SIZE")},
            {"LOCAL_RANK", env("LOCAL_RANK")},
            {"MASTER_ADDR", env("MASTER_ADDR")},
            {"MASTER_PORT", env("MASTER_PORT")},
            {"pid", getpid()},
            {"checkpoint", train::GetCheckpoint().has_value()}};
  std::ofstream(config.at("dir").get<std::string>() + "/" + std::to_string(ctx.world_rank) + ".json")
      << j.dump();
  train::Report({{"rank_seen", ctx.world_rank}});
}

void Throws(const Json &) { throw std::runtime_error("the loss went to NaN"); }

class TrainerTest : public lumen::testing::ClusterTest {
 protected:
  train::RunConfig Run(const std::string &name, int max_failures = 0) {
    train::RunConfig run;
    run.name = name;
    run.storage_path = tmp_ + "/results";
    run.failure_config.max_failures = max_failures;
    return run;
  }
  train::ScalingConfig Workers(int n) {
    train::ScalingConfig s;
    s.num_workers = n;
    return s;
  }
  Json RegressionConfig(int epochs, int die_at = -1) {
    return {{"epochs", epochs},
            {"lr", 0.1},
            {"die_at", die_at},
            {"marker", tmp_ + "/died"},
            {"scratch", tmp_ + "/scratch"}};
  }
};

void ExpectNear(const std::vector<double> &a, const std::vector<double> &b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-9) << "weight " << i;
}

TEST_F(TrainerTest, TwoWorkersTrainAsOneWorkerOnTheWholeBatchStepForStep) {
  StartCluster({"--num-cpus=2"});
  const int epochs = 12;
  for (int n : {1, 2}) {
    SCOPED_TRACE(n);
    auto result = train::DataParallelTrainer(Regression, RegressionConfig(epochs), Workers(n),
                                             Run("regression" + std::to_string(n)))
                      .Fit();
    ASSERT_EQ(result.error, "");
    ASSERT_EQ(result.metrics_history.size(), static_cast<size_t>(epochs));
    for (int e = 0; e < epochs; ++e) {
      EXPECT_EQ(result.metrics_history[e]["training_iteration"], e + 1);
      ExpectNear(result.metrics_history[e]["w"].get<std::vector<double>>(), SerialWeights(e + 1, 0.1));
    }
    ASSERT_TRUE(result.checkpoint.has_value());
    EXPECT_EQ(fs::path(result.checkpoint->path()).filename(), "checkpoint_000011");
    EXPECT_EQ(result.path, tmp_ + "/results/regression" + std::to_string(n));
    EXPECT_EQ(result.failures, 0);
  }
}

TEST_F(TrainerTest, WorkersSeeTheirRanksAndEnvironment) {
  StartCluster({"--num-cpus=3"});
  const std::string dir = tmp_ + "/seen";
  fs::create_directories(dir);
  auto result = train::DataParallelTrainer(Describe, {{"dir", dir}}, Workers(3), Run("describe")).Fit();
  ASSERT_EQ(result.error, "");
  std::set<int> pids;
  for (int r = 0; r < 3; ++r) {
    std::ifstream in(dir + "/" + std::to_string(r) + ".json");
    ASSERT_TRUE(in) << "rank " << r << " wrote nothing";
    Json j = Json::parse(in);
    EXPECT_EQ(j["world_rank"], r);
    EXPECT_EQ(j["world_size"], 3);
    EXPECT_EQ(j["local_rank"], r);  // one node: local ranks are world ranks
    EXPECT_EQ(j["local_world_size"], 3);
    EXPECT_EQ(j["node_rank"], 0);
    EXPECT_EQ(j["RANK"], std::to_string(r));
    EXPECT_EQ(j["WORLD_SIZE"], "3");
    EXPECT_EQ(j["LOCAL_RANK"], std::to_string(r));
    EXPECT_EQ(j["MASTER_ADDR"], "127.0.0.1");
    EXPECT_GT(std::stoi(j["MASTER_PORT"].get<std::string>()), 0);
    EXPECT_EQ(j["checkpoint"], false);
    pids.insert(j["pid"].get<int>());
  }
  EXPECT_EQ(pids.size(), 3u);                 // one process per worker
  EXPECT_EQ(result.metrics["rank_seen"], 0);  // rank 0's report is the one kept
}

// Rank 1 SIGKILLs itself at epoch 5: the group is started again from the
// checkpoint of epoch 4 and ends with the weights of an uninterrupted run.
TEST_F(TrainerTest, AKilledWorkerIsReplacedAndTrainingResumesFromTheLatestCheckpoint) {
  StartCluster({"--num-cpus=2"});
  const int epochs = 10;
  auto result =
      train::DataParallelTrainer(Regression, RegressionConfig(epochs, 5), Workers(2), Run("restart", 1))
          .Fit();
  ASSERT_EQ(result.error, "");
  EXPECT_TRUE(fs::exists(tmp_ + "/died"));
  EXPECT_EQ(result.failures, 1);
  ASSERT_EQ(result.metrics_history.size(), static_cast<size_t>(epochs));
  for (int e = 0; e < epochs; ++e) EXPECT_EQ(result.metrics_history[e]["epoch"], e);
  ExpectNear(result.metrics["w"].get<std::vector<double>>(), SerialWeights(epochs, 0.1));
}

TEST_F(TrainerTest, FailuresBeyondMaxFailuresEndTheRunWithTheError) {
  StartCluster({"--num-cpus=2"});
  auto crashed =
      train::DataParallelTrainer(Regression, RegressionConfig(10, 3), Workers(2), Run("crash", 0)).Fit();
  EXPECT_NE(crashed.error, "");
  EXPECT_EQ(crashed.failures, 0);
  EXPECT_EQ(crashed.metrics_history.size(), 3u);  // epochs 0..2 were reported

  auto threw = train::DataParallelTrainer(Throws, Json::object(), Workers(2), Run("throws", 1)).Fit();
  EXPECT_NE(threw.error.find("the loss went to NaN"), std::string::npos) << threw.error;
  EXPECT_EQ(threw.failures, 1);  // tried again once, failed again

  EXPECT_THROW(train::DataParallelTrainer(Throws, Json::object(), Workers(0), Run("none")).Fit(),
               ray::internal::RayException);
  auto bad = Workers(1);
  bad.placement_strategy = "EVERYWHERE";
  EXPECT_THROW(train::DataParallelTrainer(Throws, Json::object(), bad, Run("bad")).Fit(),
               ray::internal::RayException);
}

TEST_F(TrainerTest, ReportOutsideATrainingFunctionIsAnError) {
  StartCluster({"--num-cpus=1"});
  EXPECT_THROW(train::Report({{"x", 1}}), ray::internal::RayException);
  EXPECT_THROW(train::GetContext(), ray::internal::RayException);
}

}  // namespace
