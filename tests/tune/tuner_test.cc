// Tuner end to end on a real local cluster: an ASHA search on an objective
// with a known optimum (the best config, rungs cutting trials, trials running
// at the same time), a trial whose worker dies restarting from its checkpoint,
// bad settings failing before any trial starts, and an experiment whose driver
// is SIGKILLed resumed with Tuner::Restore without re-running finished trials.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include <ray/tune.h>

#include "cluster_test_util.h"

extern char **environ;

namespace {

namespace fs = std::filesystem;
namespace tune = ray::tune;
using tune::Json;

size_t Lines(const fs::path &path) {
  std::ifstream in(path);
  size_t n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

// ---- trainables (run in the trials' workers)

// loss(x, t) = (x - 0.3)^2 + 1/t: the optimum is x = 0.3. The first two trials
// also meet in config["rendezvous"] (each waits until both have written their
// pid there), which only happens if they run at the same time.
void Quadratic(const Json &config) {
  const double x = config.at("x");
  bool met = true;
  if (config.at("__index__").get<int>() < 2) {
    const std::string dir = config.at("rendezvous");
    std::ofstream(dir + "/" + std::to_string(getpid())) << "here";
    met = lumen::testing::PollUntil(
        [&] { return std::distance(fs::directory_iterator(dir), fs::directory_iterator()) >= 2; });
  }
  for (int t = 1; t <= config.at("max_t").get<int>(); ++t) {
    tune::Report({{"loss", (x - 0.3) * (x - 0.3) + 1.0 / t}, {"met", met}});
  }
}

// Counts to 6 with a checkpoint per step; on its first run it kills its own
// process at step 3 (a crashed worker).
void CrashOnce(const Json &config) {
  int start = 0;
  if (auto ckpt = tune::GetCheckpoint()) std::ifstream(ckpt->path() + "/step") >> start;
  for (int step = start + 1; step <= 6; ++step) {
    const std::string marker = config.at("marker");
    if (step == 3 && !fs::exists(marker)) {
      std::ofstream(marker) << "crashed once";
      kill(getpid(), SIGKILL);
    }
    const std::string dir = config.at("scratch").get<std::string>() + "/ckpt" + std::to_string(step);
    fs::create_directories(dir);
    std::ofstream(dir + "/step") << step;
    tune::Report({{"step", step}}, tune::Checkpoint::FromDirectory(dir));
  }
}

// Trials with config["i"] >= 3 wait for the file config["release"] before
// reporting: the driver is killed while they wait.
void Gated(const Json &config) {
  if (config.at("i").get<int>() >= 3) {
    const std::string release = config.at("release");
    if (!lumen::testing::PollUntil([&] { return fs::exists(release); }))
      throw std::runtime_error("never released");
  }
  for (int t = 1; t <= 5; ++t) tune::Report({{"loss", 1.0 / t + config.at("i").get<int>()}});
}

int Square(int x) { return x * x; }

// Squares its config's x in a task in bundle 1 of its trial's placement group.
void SquareInBundleOne(const Json &config) {
  tune::TrialContext context = tune::GetContext();
  const int x = config.at("x");
  const int squared = *ray::Task(Square).SetPlacementGroup(context.placement_group, 1).Remote(x).Get();
  tune::Report({{"loss", squared}, {"group", context.placement_group.GetID()}});
}

tune::Space GatedSpace(const std::string &release) {
  return {{"i", tune::GridSearch({0, 1, 2, 3, 4, 5})}, {"release", release}};
}

tune::TuneConfig GatedConfig() {
  tune::TuneConfig tc;
  tc.metric = "loss";
  tc.mode = "min";
  return tc;
}

class TunerTest : public lumen::testing::ClusterTest {
 protected:
  void SetUp() override { StartCluster({"--num-cpus=2"}); }
  tune::RunConfig Run(const std::string &name) {
    tune::RunConfig rc;
    rc.name = name;
    rc.storage_path = tmp_ + "/results";
    rc.verbose = 0;
    return rc;
  }
};

TEST_F(TunerTest, AshaFindsTheOptimumCutsTrialsAndRunsThemInParallel) {
  const std::string rendezvous = tmp_ + "/rendezvous";
  fs::create_directories(rendezvous);
  tune::AsyncHyperBandScheduler::Options asha;
  asha.max_t = 9;
  asha.grace_period = 1;
  asha.reduction_factor = 3;
  asha.seed = 1;
  tune::TuneConfig tc;
  tc.metric = "loss";
  tc.mode = "min";
  tc.num_samples = 1;
  tc.scheduler = std::make_shared<tune::AsyncHyperBandScheduler>(asha);
  std::vector<Json> xs;
  for (int i = 0; i < 30; ++i) xs.push_back(i / 29.0);  // a grid, so the best is known: 0.3103
  std::vector<Json> index;
  tune::Space space{{"x", tune::GridSearch(xs)},
                    {"max_t", 9},
                    {"rendezvous", rendezvous},
                    {"__index__", tune::SampleFrom([](const Json &c) {
                       return Json(static_cast<int>(std::lround(c.at("x").get<double>() * 29)));
                     })}};
  tune::ResultGrid grid = tune::Tuner(Quadratic, space, tc, Run("asha")).Fit();
  ASSERT_EQ(grid.size(), 30u);
  EXPECT_EQ(grid.num_errors(), 0u);
  const tune::Result &best = grid.GetBestResult();
  EXPECT_NEAR(best.config["x"].get<double>(), 0.3, 0.02) << best.config.dump();
  EXPECT_EQ(best.metrics["training_iteration"], 9);
  // Rungs at 1, 3 and 9: trials past each rung thin out.
  int past1 = 0, past3 = 0;
  for (const tune::Result &r : grid) {
    past1 += r.metrics_history.size() > 1;
    past3 += r.metrics_history.size() > 3;
    if (r.config["__index__"].get<int>() < 2) {
      EXPECT_TRUE(r.metrics_history.front()["met"].get<bool>());
    }
  }
  // Rung 1 keeps about 1/3 (the first trials at a rung always pass; in grid
  // order the later ones are mostly worse, so few pass). Rung survival over
  // thousands of trials is checked in the scheduler's unit tests.
  EXPECT_LE(past1, 15) << "ASHA cut too few trials at its first rung";
  EXPECT_GE(past1, 3);
  EXPECT_LE(past3, past1);
  // The files say the same as the returned grid.
  tune::ResultGrid loaded = tune::ResultGrid::Load(grid.experiment_path(), "loss", tune::Mode::kMin);
  EXPECT_EQ(loaded.GetBestResult().config, best.config);
  EXPECT_TRUE(fs::exists(fs::path(grid.experiment_path()) / "experiment_state.json"));
}

TEST_F(TunerTest, ATrialWhoseWorkerDiesRestartsFromItsCheckpoint) {
  tune::RunConfig rc = Run("crash");
  rc.failure_config.max_failures = 1;
  tune::Space space{{"marker", tmp_ + "/crashed"}, {"scratch", tmp_ + "/scratch"}};
  tune::ResultGrid grid = tune::Tuner(CrashOnce, space, tune::TuneConfig(), rc).Fit();
  ASSERT_EQ(grid.size(), 1u);
  const tune::Result &r = grid[0];
  EXPECT_FALSE(r.error.has_value()) << r.error.value_or("");
  EXPECT_TRUE(fs::exists(tmp_ + "/crashed"));
  ASSERT_EQ(r.metrics_history.size(), 6u);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(r.metrics_history[i]["step"], i + 1);
    EXPECT_EQ(r.metrics_history[i]["training_iteration"], i + 1);
  }
  // Without retries the same crash is the trial's error.
  fs::remove(tmp_ + "/crashed");
  tune::RunConfig no_retry = Run("crash-no-retry");
  tune::ResultGrid failed = tune::Tuner(CrashOnce, space, tune::TuneConfig(), no_retry).Fit();
  ASSERT_EQ(failed.num_errors(), 1u);
  EXPECT_FALSE(failed[0].error->empty());
}

TEST_F(TunerTest, BadSettingsFailBeforeAnyTrialStarts) {
  auto no_trial_ran = [&](const std::string &name) {
    const fs::path exp = fs::path(tmp_) / "results" / name;
    if (!fs::exists(exp)) return true;
    for (const auto &e : fs::directory_iterator(exp))
      if (e.is_directory()) return false;
    return true;
  };
  tune::TuneConfig bad_mode;
  bad_mode.metric = "loss";
  bad_mode.mode = "maximum";
  EXPECT_THROW(tune::Tuner(Gated, GatedSpace(""), bad_mode, Run("bad-mode")).Fit(), tune::TuneError);
  EXPECT_TRUE(no_trial_ran("bad-mode"));
  EXPECT_THROW(tune::Tuner(Gated, {{"i", tune::GridSearch({})}}, GatedConfig(), Run("empty-grid")).Fit(),
               tune::TuneError);
  EXPECT_TRUE(no_trial_ran("empty-grid"));
  tune::TuneConfig huge = GatedConfig();
  huge.resources_per_trial.custom["no_such_accelerator"] = 1;
  EXPECT_THROW(tune::Tuner(Gated, GatedSpace(""), huge, Run("no-node")).Fit(), tune::TuneError);
  EXPECT_TRUE(no_trial_ran("no-node"));
  // A metric no trial reports: clear at the first result.
  tune::TuneConfig typo = GatedConfig();
  typo.metric = "los";
  try {
    tune::Tuner(Gated, {{"i", 0}, {"release", ""}}, typo, Run("typo")).Fit();
    ADD_FAILURE() << "no error";
  } catch (const tune::TuneError &e) {
    EXPECT_NE(std::string(e.what()).find("\"los\""), std::string::npos) << e.what();
  }
}

TEST_F(TunerTest, TrialsWithPlacementGroupBundlesRunAndGiveTheirGroupsBack) {
  tune::TuneConfig tc;
  tc.metric = "loss";
  tc.mode = "min";
  // Two CPUs a trial on a two-CPU node: one trial at a time.
  tc.resources_per_trial = tune::Resources::PlacementGroup({{{"CPU", 1}}, {{"CPU", 1}}});
  tune::ResultGrid grid =
      tune::Tuner(SquareInBundleOne, {{"x", tune::GridSearch({-2, 1, 3})}}, tc, Run("bundles")).Fit();
  ASSERT_EQ(grid.size(), 3u);
  std::set<std::string> groups;
  for (const tune::Result &r : grid) {
    EXPECT_EQ(r.status, tune::TrialStatus::kTerminated) << r.trial_id << ": " << r.error.value_or("");
    EXPECT_EQ(r.metrics["loss"], r.config["x"].get<int>() * r.config["x"].get<int>());
    groups.insert(r.metrics["group"].get<std::string>());
  }
  EXPECT_EQ(groups.size(), 3u) << "a placement group per trial";
  EXPECT_EQ(grid.GetBestResult().config["x"], 1);
  for (const ray::PlacementGroup &g : ray::GetAllPlacementGroups())
    EXPECT_EQ(g.GetState(), ray::PlacementGroupState::REMOVED) << g.GetID();

  // A group no node can hold fails before any trial starts.
  tc.resources_per_trial =
      tune::Resources::PlacementGroup({{{"CPU", 1}}, {{"CPU", 1}}}, ray::PlacementStrategy::STRICT_SPREAD);
  EXPECT_THROW(tune::Tuner(SquareInBundleOne, {{"x", 1}}, tc, Run("spread")).Fit(), tune::TuneError);
}

// Not a test on its own: the driver the next test starts and kills. It runs
// only with LUMEN_TUNE_TEST_CHILD set (to the experiment's storage folder).
TEST(TunerChild, DriverToKill) {
  const char *storage = std::getenv("LUMEN_TUNE_TEST_CHILD");
  if (storage == nullptr) GTEST_SKIP() << "run by TunerTest.ARestoredExperimentDoesNotRerunFinishedTrials";
  ray::Init();
  tune::RunConfig rc;
  rc.name = "killed";
  rc.storage_path = storage;
  rc.verbose = 0;
  tune::Tuner(Gated, GatedSpace(std::string(storage) + "/release"), GatedConfig(), rc).Fit();
  ray::Shutdown();
}

TEST_F(TunerTest, ARestoredExperimentDoesNotRerunFinishedTrials) {
  const std::string storage = tmp_ + "/results";
  const fs::path exp = fs::path(storage) / "killed";
  fs::create_directories(storage);
  // The child driver: this binary, running only TunerChild, in a process
  // group of its own with its embedded cluster.
  std::string self = fs::read_symlink("/proc/self/exe").string(), filter = "--gtest_filter=TunerChild.*";
  char *argv[] = {self.data(), filter.data(), nullptr};
  std::vector<std::string> env_strings = {"LUMEN_TUNE_TEST_CHILD=" + storage,
                                          "LUMEN_TMPDIR=" + tmp_ + "/child"};
  for (char **e = environ; *e; ++e)
    if (std::string(*e).rfind("LUMEN_TMPDIR=", 0) != 0) env_strings.push_back(*e);
  std::vector<char *> envp;
  for (auto &s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  fs::create_directories(tmp_ + "/child");
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t child = -1;
  ASSERT_EQ(posix_spawn(&child, self.c_str(), nullptr, &attr, argv, envp.data()), 0);
  posix_spawnattr_destroy(&attr);

  // Kill it once the experiment's state shows the three ungated trials done.
  auto finished_in_state = [&] {
    std::ifstream in(exp / "experiment_state.json");
    Json state = Json::parse(in, nullptr, false);
    int done = 0;
    if (state.is_object())
      for (const Json &t : state["trials"]) done += t["status"] == "TERMINATED";
    return done;
  };
  ASSERT_TRUE(lumen::testing::PollUntil([&] { return finished_in_state() >= 3; }))
      << "the child driver never finished 3 trials";
  kill(-child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);

  std::map<std::string, size_t> lines_before;
  for (const auto &e : fs::directory_iterator(exp))
    if (e.is_directory()) lines_before[e.path().filename()] = Lines(e.path() / "result.json");

  ASSERT_TRUE(tune::Tuner::CanRestore(exp.string()));
  std::ofstream(storage + "/release") << "go";
  tune::RunConfig rc;
  rc.verbose = 0;
  tune::ResultGrid grid =
      tune::Tuner::Restore(exp.string(), Gated, GatedSpace(storage + "/release"), GatedConfig(), rc).Fit();
  ASSERT_EQ(grid.size(), 6u);
  for (const tune::Result &r : grid) {
    EXPECT_EQ(r.status, tune::TrialStatus::kTerminated) << r.trial_id;
    EXPECT_EQ(r.metrics_history.size(), 5u) << r.trial_id;
    const std::string name = fs::path(r.path).filename();
    if (r.config["i"].get<int>() < 3) {
      // Finished before the kill: not run again, its file untouched.
      EXPECT_EQ(Lines(fs::path(r.path) / "result.json"), lines_before[name]) << name;
    }
  }
  EXPECT_NEAR(grid.GetBestResult().metrics["loss"].get<double>(), 0.2, 1e-9);
}

}  // namespace

RAY_REMOTE(Square);
