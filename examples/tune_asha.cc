// tune_asha: the seed's Tune example in C++. The objective a^2 + b^3 - (a/b)*0.5
// is searched over a in [0, 1], b in [1, 2] (its minimum, 0.9375, is at a = 0.25,
// b = 1) by trials that each approach their config's value over 100
// iterations, as a model's loss falls while it trains. ASHA stops the trials
// whose curves are behind their peers' at each rung, so most trials end after
// a few iterations and the search costs a fraction of running them all.
//
//   tune_asha [--small] [--samples N] [--plot FILE.png]
#include <ray/api.h>
#include <ray/tune.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace tune = ray::tune;

static double Objective(double a, double b) { return a * a + b * b * b - (a / b) * 0.5; }

// One trial: its loss approaches Objective(a, b) as iterations go on.
static void Train(const tune::Json &config) {
  const double a = config["a"].get<double>(), b = config["b"].get<double>();
  const int iterations = config["iterations"].get<int>();
  for (int step = 1; step <= iterations; ++step) {
    tune::Report({{"loss", Objective(a, b) + 2.0 / std::sqrt(step)}});
  }
}

int main(int argc, char **argv) {
  int samples = 64, iterations = 100;
  std::string plot;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--small")) {
      samples = 16;
      iterations = 27;
    } else if (!std::strcmp(argv[i], "--samples") && i + 1 < argc) {
      samples = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--plot") && i + 1 < argc) {
      plot = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--small] [--samples N] [--plot FILE.png]\n", argv[0]);
      return 2;
    }
  }
  ray::Init();
  tune::AsyncHyperBandScheduler::Options asha;
  asha.max_t = iterations;
  asha.grace_period = 1;
  asha.reduction_factor = 3;
  asha.seed = 1;
  tune::TuneConfig tc;
  tc.metric = "loss";
  tc.mode = "min";
  tc.num_samples = samples;
  tc.seed = 7;
  tc.scheduler = std::make_shared<tune::AsyncHyperBandScheduler>(asha);
  tune::RunConfig rc;
  rc.name = "tune_asha";
  rc.storage_path =
      (std::getenv("TMPDIR") ? std::string(std::getenv("TMPDIR")) : std::string("/tmp")) + "/lumen_results";
  tune::Space space{{"a", tune::Uniform(0, 1)}, {"b", tune::Uniform(1, 2)}, {"iterations", iterations}};
  tune::ResultGrid grid = tune::Tuner(Train, space, tc, rc).Fit();

  const tune::Result &best = grid.GetBestResult();
  long long iterations_run = 0;
  int full = 0;
  for (const tune::Result &r : grid) {
    iterations_run += static_cast<long long>(r.metrics_history.size());
    full += static_cast<int>(r.metrics_history.size()) == iterations;
  }
  std::printf("\n%zu trials, %d run to the end (%d iterations); %lld iterations in all instead of %lld.\n",
              grid.size(), full, iterations, iterations_run, static_cast<long long>(samples) * iterations);
  std::printf(
      "Best: a = %.4f, b = %.4f, loss %.4f after %zu iterations (objective there: %.4f; optimum 0.9375).\n",
      best.config["a"].get<double>(), best.config["b"].get<double>(), best.metrics["loss"].get<double>(),
      best.metrics_history.size(), Objective(best.config["a"], best.config["b"]));
  std::printf("Results: %s\n", grid.experiment_path().c_str());
  if (!plot.empty()) {
    tune::PlotLearningCurves(grid.experiment_path(), "loss", plot);
    std::printf("Learning curves: %s\n", plot.c_str());
  }
  ray::Shutdown();
  return grid.num_errors() == 0 ? 0 : 1;
}
