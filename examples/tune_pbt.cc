// tune_pbt: Population Based Training of a small model in plain C++. Each trial
// fits a linear model y = w.x + b to noisy data by gradient descent (the class
// API: one Step is 10 epochs, checkpoints hold the weights). The learning rate
// is what PBT tunes: every 4 steps the worst quarter of the population copies
// the weights of a trial from the best quarter (exploit) and perturbs its
// learning rate (explore). Compare the final losses with the learning rates
// the population started with: PBT's schedule beats a fixed rate.
//
//   tune_pbt [--small]
#include <ray/api.h>
#include <ray/tune.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace tune = ray::tune;

namespace {

constexpr int kFeatures = 8, kSamples = 512;

// The data: the same in every trial (a fixed seed), so losses compare.
struct Data {
  std::vector<std::vector<double>> x;
  std::vector<double> y;
  Data() {
    std::mt19937_64 rng(2024);
    std::normal_distribution<double> n(0, 1);
    std::vector<double> w(kFeatures);
    for (auto &v : w) v = n(rng);
    for (int i = 0; i < kSamples; ++i) {
      std::vector<double> row(kFeatures);
      double t = 0.5;
      for (int j = 0; j < kFeatures; ++j) t += (row[j] = n(rng)) * w[j];
      x.push_back(row);
      y.push_back(t + 0.1 * n(rng));
    }
  }
};

class LinearModel : public tune::Trainable {
 public:
  void Setup(const tune::Json &config) override {
    lr_ = config["lr"].get<double>();
    w_.assign(kFeatures + 1, 0.0);
  }
  tune::Json Step() override {
    double loss = 0;
    for (int epoch = 0; epoch < 10; ++epoch) loss = Epoch();
    return {{"loss", loss}, {"lr", lr_}};
  }
  void SaveCheckpoint(const std::string &dir) override {
    std::ofstream out(dir + "/weights.txt");
    out.precision(17);
    for (double v : w_) out << v << "\n";
  }
  void LoadCheckpoint(const std::string &dir) override {
    std::ifstream in(dir + "/weights.txt");
    for (double &v : w_) in >> v;
  }
  bool ResetConfig(const tune::Json &config) override {
    lr_ = config["lr"].get<double>();
    return true;
  }

 private:
  // One pass of full-batch gradient descent; the mean squared error before it.
  double Epoch() {
    static const Data data;
    std::vector<double> grad(w_.size(), 0.0);
    double loss = 0;
    for (int i = 0; i < kSamples; ++i) {
      double p = w_[kFeatures];
      for (int j = 0; j < kFeatures; ++j) p += w_[j] * data.x[i][j];
      const double e = p - data.y[i];
      loss += e * e;
      for (int j = 0; j < kFeatures; ++j) grad[j] += 2 * e * data.x[i][j];
      grad[kFeatures] += 2 * e;
    }
    for (size_t j = 0; j < w_.size(); ++j) w_[j] -= lr_ * grad[j] / kSamples;
    return loss / kSamples;
  }
  double lr_ = 0;
  std::vector<double> w_;
};

}  // namespace

int main(int argc, char **argv) {
  int population = 8, steps = 24;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--small")) {
      population = 4;
      steps = 12;
    } else {
      std::fprintf(stderr, "usage: %s [--small]\n", argv[0]);
      return 2;
    }
  }
  ray::Init();
  tune::PopulationBasedTraining::Options pbt;
  pbt.time_attr = "training_iteration";
  pbt.perturbation_interval = 4;
  pbt.hyperparam_mutations = {{"lr", tune::Mutation::Of(tune::LogUniform(1e-4, 0.5))}};
  pbt.seed = 3;
  tune::TuneConfig tc;
  tc.metric = "loss";
  tc.mode = "min";
  tc.num_samples = population;
  tc.seed = 11;
  tc.scheduler = std::make_shared<tune::PopulationBasedTraining>(pbt);
  tune::RunConfig rc;
  rc.name = "tune_pbt";
  rc.storage_path =
      (std::getenv("TMPDIR") ? std::string(std::getenv("TMPDIR")) : std::string("/tmp")) + "/lumen_results";
  rc.stop = {{"training_iteration", steps}};
  tune::ResultGrid grid =
      tune::Tuner(tune::TrainableRef::Class<LinearModel>(), {{"lr", tune::LogUniform(1e-4, 1e-2)}}, tc, rc)
          .Fit();

  std::printf("\n%-14s %-12s %-12s %s\n", "trial", "first lr", "last lr", "final loss");
  for (const tune::Result &r : grid) {
    std::printf("%-14s %-12.3g %-12.3g %.5f\n", r.trial_id.c_str(),
                r.metrics_history.front()["lr"].get<double>(), r.metrics["lr"].get<double>(),
                r.metrics["loss"].get<double>());
  }
  const tune::Result &best = grid.GetBestResult();
  std::printf("Best: %s, loss %.5f. PBT's exploits: %s/pbt_global.txt\n", best.trial_id.c_str(),
              best.metrics["loss"].get<double>(), grid.experiment_path().c_str());
  ray::Shutdown();
  return grid.num_errors() == 0 ? 0 : 1;
}
