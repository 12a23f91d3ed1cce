// The experiment loop against a fake backend (no processes): trials run to
// their end, stoppers and schedulers end them early, no more run at once than
// allowed, failures restart from the latest checkpoint or end as errors, bad
// settings fail before any trial starts, and a restored experiment does not
// run finished trials again.
#include "tune_controller.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "ray/tune/async_hyperband.h"
#include "ray/tune/hyperband.h"
#include "ray/tune/pbt.h"

namespace ray::tune::internal {
namespace {

namespace fs = std::filesystem;

void Train(const Json &) {}  // the reference only travels; the fake runs the "trial"

// Trials as plain state machines: each Continue produces the next result.
class FakeBackend : public TrialBackend {
 public:
  std::function<double(const Json &config, int iteration)> loss = [](const Json &c, int i) {
    return c.value("x", 1.0) / i;
  };
  int iterations = 10;  // a trial's trainable returns after this many results
  // A trial fails when it would report this iteration (once per trial).
  std::map<std::string, int> fail_at;
  // After this many events WaitAny throws, as a killed driver stops (-1: never).
  int crash_after_events = -1;

  std::map<std::string, int> starts;
  std::map<std::string, std::optional<std::string>> started_from;
  size_t max_running = 0;

  void Start(const TrialStart &s) override {
    Running r;
    r.config = s.config;
    r.dir = s.trial_dir;
    if (s.restore_from) r.iter = std::stoi(fs::path(*s.restore_from).filename().string().substr(11));
    running_[s.trial_id] = r;
    ready_.push_back(s.trial_id);
    starts[s.trial_id]++;
    started_from[s.trial_id] = s.restore_from;
    max_running = std::max(max_running, running_.size());
  }
  std::optional<TrialEvent> WaitAny(std::chrono::milliseconds) override {
    if (ready_.empty()) return std::nullopt;
    if (crash_after_events >= 0 && events_++ >= crash_after_events) throw std::runtime_error("driver killed");
    const std::string id = ready_.front();
    ready_.pop_front();
    Running &r = running_.at(id);
    TrialEvent e;
    e.trial_id = id;
    auto f = fail_at.find(id);
    if (f != fail_at.end() && r.iter + 1 == f->second) {
      fail_at.erase(f);
      e.kind = TrialEvent::Kind::kError;
      e.error = "boom at iteration " + std::to_string(r.iter + 1);
      running_.erase(id);  // `r` dangles from here
      return e;
    }
    if (r.iter >= iterations) {
      e.kind = TrialEvent::Kind::kDone;
      e.metrics = Metrics(id, r);
      e.metrics[fields::kDone] = true;
      running_.erase(id);
      return e;
    }
    r.iter++;
    e.kind = TrialEvent::Kind::kResult;
    e.metrics = Metrics(id, r);
    e.checkpoint = Checkpoint(r);  // every result comes with one
    return e;
  }
  void Continue(const std::string &id) override {
    running_.at(id);  // must be running
    ready_.push_back(id);
  }
  void Stop(const std::string &id) override { running_.erase(id); }
  std::optional<std::string> Pause(const std::string &id) override {
    auto ckpt = Checkpoint(running_.at(id));
    running_.erase(id);
    return ckpt;
  }
  std::optional<std::string> SaveCheckpoint(const std::string &id) override {
    return Checkpoint(running_.at(id));
  }
  void Restore(const std::string &id, const std::string &dir) override {
    running_.at(id).iter = std::stoi(fs::path(dir).filename().string().substr(11));
  }
  bool ResetConfig(const std::string &id, const Json &config) override {
    running_.at(id).config = config;
    return true;
  }
  size_t NumRunning() const override { return running_.size(); }

 private:
  struct Running {
    Json config;
    std::string dir;
    int iter = 0;
  };
  Json Metrics(const std::string &id, const Running &r) const {
    return {{"loss", loss(r.config, r.iter)}, {fields::kTrainingIteration, r.iter}, {fields::kTrialId, id}};
  }
  static std::string Checkpoint(const Running &r) {
    char name[32];
    std::snprintf(name, sizeof name, "checkpoint_%06d", r.iter);
    fs::create_directories(fs::path(r.dir) / name);
    return (fs::path(r.dir) / name).string();
  }
  std::map<std::string, Running> running_;
  std::deque<std::string> ready_;
  int events_ = 0;
};

class TuneControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "lumen-controller-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  ControllerSettings Settings(Space space, TuneConfig tc = {}, RunConfig rc = {}) {
    ControllerSettings s{TrainableRef(Train)};
    s.trainable_name = "Train";
    s.space = std::move(space);
    s.tune = std::move(tc);
    s.run = std::move(rc);
    s.run.verbose = 0;
    s.experiment_path = (dir_ / "exp").string();
    fs::create_directories(s.experiment_path);
    s.max_parallel = 2;
    s.now = [this] { return clock_ += 0.25; };
    return s;
  }
  fs::path dir_;
  double clock_ = 0;
};

TEST_F(TuneControllerTest, GridTrialsRunToTheirEndAndWriteTheirFiles) {
  FakeBackend backend;
  TuneConfig tc;
  tc.metric = "loss";
  tc.mode = "min";
  TuneController c(Settings({{"x", GridSearch({3, 1, 2})}}, tc), backend);
  ResultGrid grid = c.Run();
  ASSERT_EQ(grid.size(), 3u);
  for (const Result &r : grid) {
    EXPECT_EQ(r.status, TrialStatus::kTerminated);
    EXPECT_EQ(r.metrics_history.size(), 10u) << r.trial_id;
    EXPECT_EQ(r.metrics["config"]["x"], r.config["x"]);
    EXPECT_TRUE(fs::exists(fs::path(r.path) / "params.json"));
    EXPECT_FALSE(r.checkpoint_path.empty());
  }
  EXPECT_EQ(grid.GetBestResult().config["x"], 1);
  EXPECT_LE(backend.max_running, 2u);
  // What the files hold reads back the same.
  ResultGrid loaded = ResultGrid::Load((dir_ / "exp").string(), "loss", Mode::kMin);
  EXPECT_EQ(loaded.size(), 3u);
  EXPECT_EQ(loaded.GetBestResult().config["x"], 1);
  EXPECT_TRUE(fs::exists(dir_ / "exp" / TuneController::kStateFile));
}

TEST_F(TuneControllerTest, StopCriteriaEndTrials) {
  FakeBackend backend;
  RunConfig rc;
  rc.stop = {{"training_iteration", 3}};
  TuneConfig tc;
  tc.num_samples = 4;
  tc.seed = 7;
  TuneController c(Settings({{"x", Uniform(1, 2)}}, tc, rc), backend);
  ResultGrid grid = c.Run();
  ASSERT_EQ(grid.size(), 4u);
  for (const Result &r : grid) EXPECT_EQ(r.metrics_history.size(), 3u);
}

TEST_F(TuneControllerTest, NoMoreThanMaxParallelAtOnce) {
  FakeBackend backend;
  TuneConfig tc;
  tc.num_samples = 7;
  auto s = Settings({{"x", Uniform(1, 2)}}, tc);
  s.max_parallel = 3;
  TuneController c(std::move(s), backend);
  EXPECT_EQ(c.Run().size(), 7u);
  EXPECT_EQ(backend.max_running, 3u);
}

TEST_F(TuneControllerTest, AshaStopsMostTrialsEarly) {
  FakeBackend backend;
  backend.iterations = 27;
  AsyncHyperBandScheduler::Options o;
  o.max_t = 27;
  o.grace_period = 1;
  o.reduction_factor = 3;
  TuneConfig tc;
  tc.metric = "loss";
  tc.mode = "min";
  tc.num_samples = 30;
  tc.seed = 3;
  tc.scheduler = std::make_shared<AsyncHyperBandScheduler>(o);
  TuneController c(Settings({{"x", Uniform(1, 100)}}, tc), backend);
  ResultGrid grid = c.Run();
  ASSERT_EQ(grid.size(), 30u);
  int full = 0, cut = 0;
  for (const Result &r : grid) (r.metrics_history.size() == 27u ? full : cut)++;
  EXPECT_GT(cut, 15) << "ASHA let " << full << " of 30 trials run to max_t";
  EXPECT_GE(full, 1);
  EXPECT_EQ(grid.GetBestResult().metrics_history.size(), 27u);
}

// Fails the first trial it starts when it would report `iteration`.
class FailFirstTrial : public FakeBackend {
 public:
  explicit FailFirstTrial(int iteration) : iteration_(iteration) {}
  void Start(const TrialStart &s) override {
    if (starts.empty()) fail_at[s.trial_id] = iteration_;
    FakeBackend::Start(s);
  }

 private:
  int iteration_;
};

TEST_F(TuneControllerTest, AFailedTrialRestartsFromItsCheckpoint) {
  FailFirstTrial failing(4);
  TuneConfig tc;
  tc.num_samples = 2;
  RunConfig rc;
  rc.failure_config.max_failures = 1;
  TuneController c(Settings({{"x", 1}}, tc, rc), failing);
  ResultGrid g = c.Run();
  ASSERT_EQ(g.size(), 2u);
  const Result &first = g[0];
  EXPECT_EQ(first.status, TrialStatus::kTerminated);
  EXPECT_FALSE(first.error.has_value());
  EXPECT_EQ(failing.starts[first.trial_id], 2);
  ASSERT_TRUE(failing.started_from[first.trial_id].has_value());
  EXPECT_EQ(fs::path(*failing.started_from[first.trial_id]).filename(), "checkpoint_000003");
  // Iterations 1..3, then 4..10 after the restart: none twice, none lost.
  ASSERT_EQ(first.metrics_history.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(first.metrics_history[i]["training_iteration"], i + 1);
}

TEST_F(TuneControllerTest, AFailedTrialWithoutRetriesIsAnError) {
  FailFirstTrial failing(2);
  TuneConfig tc;
  tc.num_samples = 2;
  TuneController c(Settings({{"x", 1}}, tc), failing);
  ResultGrid g = c.Run();
  ASSERT_EQ(g.num_errors(), 1u);
  EXPECT_EQ(g.num_terminated(), 1u);
  const Result &bad = *g.Errors()[0];
  EXPECT_EQ(bad.error.value_or(""), "boom at iteration 2");
  EXPECT_TRUE(fs::exists(fs::path(bad.path) / "error.txt"));
  EXPECT_EQ(ResultGrid::Load((dir_ / "exp").string()).num_errors(), 1u);
}

TEST_F(TuneControllerTest, BadSettingsFailBeforeAnyTrial) {
  FakeBackend backend;
  TuneConfig bad_mode;
  bad_mode.metric = "loss";
  bad_mode.mode = "maximum";
  EXPECT_THROW(TuneController(Settings({{"x", 1}}, bad_mode), backend), TuneError);
  TuneConfig no_samples;
  no_samples.num_samples = 0;
  EXPECT_THROW(TuneController(Settings({{"x", 1}}, no_samples), backend), TuneError);
  TuneConfig empty_grid;
  EXPECT_THROW(TuneController(Settings({{"x", GridSearch({})}}, empty_grid), backend), TuneError);
  // ASHA needs a metric: the first trial's addition fails, before it starts.
  TuneConfig asha;
  asha.scheduler = std::make_shared<AsyncHyperBandScheduler>();
  TuneController c(Settings({{"x", 1}}, asha), backend);
  EXPECT_THROW(c.Run(), TuneError);
  EXPECT_TRUE(backend.starts.empty());
}

TEST_F(TuneControllerTest, ARestoredExperimentDoesNotRunFinishedTrialsAgain) {
  TuneConfig tc;
  tc.num_samples = 6;
  tc.seed = 11;
  tc.metric = "loss";
  tc.mode = "min";
  {
    FakeBackend crashing;
    crashing.iterations = 4;
    crashing.crash_after_events = 17;  // a few trials done, two running, the rest not started
    TuneController c(Settings({{"x", Uniform(1, 2)}}, tc), crashing);
    EXPECT_THROW(c.Run(), std::runtime_error);
  }
  std::ifstream in(dir_ / "exp" / TuneController::kStateFile);
  const Json state = Json::parse(in);
  std::map<std::string, std::string> status_before;
  for (const Json &t : state["trials"]) status_before[t["trial_id"]] = t["status"];
  int finished_before = 0;
  for (auto &[id, st] : status_before) finished_before += st == "TERMINATED";
  ASSERT_GE(finished_before, 1);

  FakeBackend backend;
  backend.iterations = 4;
  TuneController c(Settings({{"x", Uniform(1, 2)}}, tc), backend);
  c.Restore(state, /*resume_errored=*/false, /*restart_errored=*/false);
  ResultGrid grid = c.Run();
  ASSERT_EQ(grid.size(), 6u);
  for (const Result &r : grid) {
    EXPECT_EQ(r.status, TrialStatus::kTerminated) << r.trial_id;
    if (status_before.count(r.trial_id) && status_before[r.trial_id] == "TERMINATED") {
      EXPECT_EQ(backend.starts.count(r.trial_id), 0u) << "finished trial " << r.trial_id << " ran again";
    }
    ASSERT_EQ(r.metrics_history.size(), 4u) << r.trial_id;
    for (int i = 0; i < 4; ++i) EXPECT_EQ(r.metrics_history[i]["training_iteration"], i + 1) << r.trial_id;
  }
}

TEST_F(TuneControllerTest, PbtExploitsAndWritesItsPolicyLog) {
  FakeBackend backend;
  backend.iterations = 12;
  backend.loss = [](const Json &c, int) { return c["x"].get<double>(); };  // x is the loss
  PopulationBasedTraining::Options o;
  o.time_attr = "training_iteration";
  o.perturbation_interval = 2;
  o.hyperparam_mutations = {{"x", Mutation::Values({1, 2, 3, 4, 5, 6, 7, 8})}};
  o.seed = 5;
  TuneConfig tc;
  tc.metric = "loss";
  tc.mode = "min";
  tc.scheduler = std::make_shared<PopulationBasedTraining>(o);
  auto s = Settings({{"x", GridSearch({1, 8, 7, 6})}}, tc);
  s.max_parallel = 4;
  TuneController c(std::move(s), backend);
  ResultGrid grid = c.Run();
  ASSERT_EQ(grid.size(), 4u);
  std::ifstream global(dir_ / "exp" / "pbt_global.txt");
  std::string line;
  int exploits = 0;
  while (std::getline(global, line)) {
    Json entry = Json::parse(line);
    ASSERT_TRUE(entry.is_array()) << line;
    ASSERT_TRUE(fs::exists(dir_ / "exp" / ("pbt_policy_" + entry[0].get<std::string>() + ".txt")));
    ++exploits;
  }
  EXPECT_GE(exploits, 1);
  // The bad trials took configs near the good one's: the worst final loss
  // is no longer 8.
  double worst = 0;
  for (const Result &r : grid) worst = std::max(worst, r.metrics["loss"].get<double>());
  EXPECT_LT(worst, 8);
}

TEST_F(TuneControllerTest, AnUnknownMetricEndsTheExperimentAtTheFirstResult) {
  FakeBackend backend;
  TuneConfig tc;
  tc.metric = "accuracy";  // the trials report "loss"
  tc.mode = "max";
  tc.num_samples = 3;
  TuneController c(Settings({{"x", 1}}, tc), backend);
  try {
    c.Run();
    FAIL() << "no error";
  } catch (const TuneError &e) {
    EXPECT_NE(std::string(e.what()).find("\"accuracy\""), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("loss"), std::string::npos) << e.what();
  }
}

TEST_F(TuneControllerTest, HyperBandHalvesEveryBracket) {
  FakeBackend backend;
  backend.iterations = 27;
  HyperBandScheduler::Options o;
  o.max_t = 27;
  o.reduction_factor = 3;
  TuneConfig tc;
  tc.metric = "loss";
  tc.mode = "min";
  tc.num_samples = 20;
  tc.seed = 3;
  tc.scheduler = std::make_shared<HyperBandScheduler>(o);
  TuneController c(Settings({{"x", Uniform(0, 1)}}, tc), backend);
  ResultGrid grid = c.Run();
  ASSERT_EQ(grid.size(), 20u);
  std::map<size_t, int> lengths;
  for (const Result &r : grid) lengths[r.metrics_history.size()]++;
  std::string seen;
  for (auto &[len, n] : lengths) seen += std::to_string(n) + " trials of " + std::to_string(len) + "; ";
  // Brackets of 4 (r 27), 6 (r 9) and 12 (r 3, here 10 trials): the last two
  // halve, so far fewer than 20 trials run to 27.
  EXPECT_LE(lengths[27], 10) << seen;
}

// A searcher that never has a config: nothing will ever run.
class NeverReady : public Searcher {
 public:
  bool SetSearchProperties(const SearchProperties &) override { return true; }
  Suggestion Suggest(const std::string &) override { return Suggestion::NotNow(); }
  void OnTrialComplete(const std::string &, const Json &, bool) override {}
  Json Save() const override { return Json::object(); }
  void Restore(const Json &) override {}
};

TEST_F(TuneControllerTest, AnExperimentWhereNothingCanStartEndsInsteadOfWaiting) {
  FakeBackend backend;
  TuneConfig tc;
  tc.search_alg = std::make_shared<NeverReady>();
  auto s = Settings({{"x", 1}}, tc);
  std::ostringstream out;
  s.out = &out;
  s.run.verbose = 1;
  TuneController c(std::move(s), backend);
  EXPECT_EQ(c.Run().size(), 0u);
  EXPECT_TRUE(backend.starts.empty());
  EXPECT_NE(out.str().find("none can start"), std::string::npos) << out.str();
}

}  // namespace
}  // namespace ray::tune::internal
