// Lumen Train on libtorch: DistributedDataParallel over real worker
// processes trains an MLP to the same weights as one process on the whole
// batch, step for step (whatever the bucket size, with a parameter the
// forward pass never uses), and rank 0's initial weights reach every worker.
#include <ray/train.h>
#include <ray/train/torch.h>

#include <filesystem>
#include <fstream>

#include "cluster_test_util.h"

namespace {

namespace train = ray::train;
using train::Json;

constexpr int kBatch = 64, kIn = 8, kHidden = 16, kSteps = 8;

struct NetImpl : torch::nn::Module {
  NetImpl() {
    fc1 = register_module("fc1", torch::nn::Linear(kIn, kHidden));
    fc2 = register_module("fc2", torch::nn::Linear(kHidden, 1));
    unused = register_parameter("unused", torch::ones({3}));  // never in the forward pass
  }
  torch::Tensor forward(torch::Tensor x) { return fc2(torch::tanh(fc1(x))); }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  torch::Tensor unused;
};
TORCH_MODULE(Net);

torch::Tensor Inputs() {
  return torch::sin(torch::arange(kBatch * kIn, torch::kFloat).reshape({kBatch, kIn}) * 0.1);
}
torch::Tensor Targets() {
  return torch::cos(torch::arange(kBatch, torch::kFloat).reshape({kBatch, 1}) * 0.3);
}

// The weights after kSteps of SGD on rows [begin, end), as one flat vector.
std::vector<float> Flat(Net &net) {
  std::vector<float> out;
  for (auto &p : net->parameters()) {
    auto c = p.detach().contiguous();
    out.insert(out.end(), c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  }
  return out;
}

void DataParallelLoop(const Json &config) {
  const auto ctx = train::GetContext();
  // Each rank starts from different weights: the broadcast must fix that.
  torch::manual_seed(1000 + ctx.world_rank);
  Net net;
  train::torch::DistributedDataParallel::Options options;
  options.bucket_cap_mb = config.at("bucket_cap_mb");
  train::torch::DistributedDataParallel ddp(net.ptr(), options);
  torch::optim::SGD opt(net->parameters(), 0.05);
  const int64_t begin = kBatch * ctx.world_rank / ctx.world_size,
                end = kBatch * (ctx.world_rank + 1) / ctx.world_size;
  auto x = Inputs().slice(0, begin, end), y = Targets().slice(0, begin, end);
  for (int s = 0; s < kSteps; ++s) {
    opt.zero_grad();
    torch::mse_loss(net->forward(x), y).backward();
    ddp.SynchronizeGradients();
    opt.step();
  }
  train::Report({{"weights", Flat(net)}, {"buckets", ddp.num_buckets()}});
}

// One process, the whole batch, starting from rank 0's weights.
std::vector<float> SerialWeights() {
  torch::manual_seed(1000);
  Net net;
  torch::optim::SGD opt(net->parameters(), 0.05);
  for (int s = 0; s < kSteps; ++s) {
    opt.zero_grad();
    torch::mse_loss(net->forward(Inputs()), Targets()).backward();
    opt.step();
  }
  return Flat(net);
}

class TorchTrainTest : public lumen::testing::ClusterTest {};

TEST_F(TorchTrainTest, TwoWorkersWithDdpMatchOneProcessOnTheWholeBatch) {
  StartCluster({"--num-cpus=2"});
  const auto want = SerialWeights();
  // 25 MB: one bucket; 0.0001 MB: a bucket per parameter, reduced while
  // backward still runs.
  for (double cap : {25.0, 0.0001}) {
    SCOPED_TRACE(cap);
    train::ScalingConfig scaling;
    scaling.num_workers = 2;
    train::RunConfig run;
    run.name = "ddp" + std::to_string(static_cast<int>(cap));
    run.storage_path = tmp_ + "/results";
    auto result = train::DataParallelTrainer(DataParallelLoop, {{"bucket_cap_mb", cap}}, scaling, run).Fit();
    ASSERT_EQ(result.error, "");
    auto got = result.metrics["weights"].get<std::vector<float>>();
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << "weight " << i;
    EXPECT_EQ(result.metrics["buckets"].get<int>() > 1, cap < 1);
  }
}

}  // namespace
