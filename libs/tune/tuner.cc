#include "ray/tune/tuner.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>

#include <ray/api.h>
#include <ray/api/runtime_context.h>

#include "trial_executor.h"
#include "trial_resources.h"
#include "tune_controller.h"

namespace ray {
namespace tune {
namespace {

namespace fs = std::filesystem;

std::string DefaultStoragePath() {
  const char *home = std::getenv("HOME");
  return (fs::path(home && *home ? home : fs::temp_directory_path().string()) / "lumen_results").string();
}

std::string Timestamp() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d_%H-%M-%S", &tm);
  return buf;
}

// How many trials fit at once in the cluster's total resources.
int MaxParallel(const TuneConfig &tc) {
  int n = internal::TrialsThatFit(tc.resources_per_trial, ray::ClusterResources());
  if (tc.max_concurrent_trials > 0) n = std::min(n, tc.max_concurrent_trials);
  return n;
}

}  // namespace

Tuner::Tuner(TrainableRef trainable, Space param_space, TuneConfig tune_config, RunConfig run_config)
    : trainable_(std::move(trainable)),
      param_space_(std::move(param_space)),
      tune_config_(std::move(tune_config)),
      run_config_(std::move(run_config)) {
  if (const Resources *own = trainable_.resources()) {
    // Ray's tune.with_resources: the trainable says what a trial holds; a
    // TuneConfig that says something else as well is a contradiction.
    const Resources &given = tune_config_.resources_per_trial;
    const bool given_is_default =
        given.cpu == 1 && given.gpu == 0 && given.custom.empty() && given.bundles.empty();
    if (!given_is_default)
      throw TuneError(
          "the trainable " + trainable_.Describe() +
          " says what each trial holds (WithResources); leave TuneConfig::resources_per_trial unset");
    tune_config_.resources_per_trial = *own;
  }
  if (run_config_.storage_path.empty()) run_config_.storage_path = DefaultStoragePath();
  if (run_config_.name.empty()) run_config_.name = trainable_.Name() + "_" + Timestamp();
  experiment_path_ = (fs::path(run_config_.storage_path) / run_config_.name).string();
}

bool Tuner::CanRestore(const std::string &path) {
  std::ifstream in(fs::path(path) / internal::TuneController::kStateFile);
  if (!in) return false;
  Json state = Json::parse(in, nullptr, false);
  return state.is_object() && state.value("version", 0) == 1;
}

Tuner Tuner::Restore(const std::string &path, TrainableRef trainable, Space param_space,
                     TuneConfig tune_config, RunConfig run_config, bool resume_errored,
                     bool restart_errored) {
  if (!CanRestore(path)) throw TuneError("no Lumen Tune experiment to restore at " + path);
  const fs::path p = fs::absolute(path).lexically_normal();
  run_config.storage_path = p.parent_path().string();
  run_config.name = p.filename().string();
  Tuner t(std::move(trainable), std::move(param_space), std::move(tune_config), std::move(run_config));
  t.restoring_ = true;
  t.resume_errored_ = resume_errored;
  t.restart_errored_ = restart_errored;
  return t;
}

ResultGrid Tuner::Fit() {
  if (!ray::IsInitialized()) throw TuneError("call ray::Init() before running a Tune experiment");
  internal::CheckTrialResources(tune_config_.resources_per_trial, ray::Nodes());
  std::error_code ec;
  fs::create_directories(experiment_path_, ec);
  if (ec) throw TuneError("cannot create the experiment folder " + experiment_path_ + ": " + ec.message());

  internal::ControllerSettings settings(trainable_);
  settings.trainable_name = trainable_.Name();
  settings.space = param_space_;
  settings.tune = tune_config_;
  settings.run = run_config_;
  settings.experiment_path = experiment_path_;
  settings.max_parallel = MaxParallel(tune_config_);
  for (const auto &[name, amount] : ray::ClusterResources()) settings.cluster_total[name] = amount;
  settings.out = &std::cout;
  settings.out_is_terminal = isatty(STDOUT_FILENO) == 1;
  internal::TrialExecutor backend;
  internal::TuneController controller(std::move(settings), backend);
  if (restoring_) {
    std::ifstream in(fs::path(experiment_path_) / internal::TuneController::kStateFile);
    Json state = Json::parse(in, nullptr, false);
    if (state.value("trainable_name", "") != trainable_.Name()) {
      throw TuneError("the experiment at " + experiment_path_ + " ran trainable \"" +
                      state.value("trainable_name", "") + "\", not \"" + trainable_.Name() + "\"");
    }
    controller.Restore(state, resume_errored_, restart_errored_);
  }
  return controller.Run();
}

ResultGrid Run(TrainableRef trainable, Space config, TuneConfig tune_config, RunConfig run_config) {
  return Tuner(std::move(trainable), std::move(config), std::move(tune_config), std::move(run_config)).Fit();
}

}  // namespace tune
}  // namespace ray
