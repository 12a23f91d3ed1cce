#include "ray/tune/async_hyperband.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

#include "fake_trial_view.h"

namespace ray::tune {
namespace {

using testing::FakeTrialView;

AsyncHyperBandScheduler::Options MaxOptions() {
  AsyncHyperBandScheduler::Options options;
  options.metric = "score";
  options.mode = "max";
  return options;
}

Json Score(double t, double score) { return {{"training_iteration", t}, {"score", score}}; }

std::vector<double> Milestones(const AsyncHyperBandScheduler::Bracket &bracket) {
  std::vector<double> out;
  for (const auto &rung : bracket.rungs) out.push_back(rung.milestone);
  return out;
}

TEST(AsyncHyperBandTest, DefaultsGiveRaysRungs) {
  AsyncHyperBandScheduler asha(MaxOptions());  // grace 1, max_t 100, rf 4, 1 bracket
  ASSERT_EQ(asha.brackets().size(), 1u);
  EXPECT_EQ(Milestones(asha.brackets()[0]), (std::vector<double>{64, 16, 4, 1}));

  auto options = MaxOptions();
  options.brackets = 3;
  AsyncHyperBandScheduler three(options);
  ASSERT_EQ(three.brackets().size(), 3u);
  EXPECT_EQ(Milestones(three.brackets()[1]), (std::vector<double>{64, 16, 4}));
  EXPECT_EQ(Milestones(three.brackets()[2]), (std::vector<double>{64, 16}));
}

// The _Bracket docstring: grace 1, max_t 10, rf 2 -> milestones 8, 4, 2, 1;
// scores 2 and 4 at the first rung give the cutoff 3.0, a third trial with 1
// is stopped, and the rung's cutoff becomes 2.0.
TEST(AsyncHyperBandTest, DocstringVectors) {
  auto options = MaxOptions();
  options.max_t = 10;
  options.reduction_factor = 2;
  AsyncHyperBandScheduler asha(options);
  EXPECT_EQ(Milestones(asha.brackets()[0]), (std::vector<double>{8, 4, 2, 1}));
  FakeTrialView view;
  for (const char *id : {"t1", "t2", "t3"}) asha.OnTrialAdd(view, view.Add(id));
  EXPECT_EQ(asha.OnTrialResult(view, view.Get("t1"), Score(1, 2)).action, Action::kContinue);
  EXPECT_EQ(asha.OnTrialResult(view, view.Get("t2"), Score(1, 4)).action, Action::kContinue);
  EXPECT_EQ(asha.Cutoff(asha.brackets()[0].rungs.back()), 3.0);
  EXPECT_EQ(asha.OnTrialResult(view, view.Get("t3"), Score(1, 1)).action, Action::kStop);
  EXPECT_EQ(asha.Cutoff(asha.brackets()[0].rungs[3]), 2.0);
  EXPECT_EQ(asha.num_stopped(), 1);
  // A rung is judged once per trial: t1's next result below the cutoff at
  // t=1.5 (no new rung reached) continues.
  EXPECT_EQ(asha.OnTrialResult(view, view.Get("t1"), Score(1.5, -100)).action, Action::kContinue);
}

// Only a score strictly below the cutoff stops (Ray compares with <).
TEST(AsyncHyperBandTest, ScoreEqualToTheCutoffContinues) {
  auto options = MaxOptions();
  options.max_t = 10;
  options.reduction_factor = 2;
  AsyncHyperBandScheduler asha(options);
  FakeTrialView view;
  for (const char *id : {"t1", "t2", "t3"}) asha.OnTrialAdd(view, view.Add(id));
  asha.OnTrialResult(view, view.Get("t1"), Score(1, 2));
  asha.OnTrialResult(view, view.Get("t2"), Score(1, 4));
  EXPECT_EQ(asha.OnTrialResult(view, view.Get("t3"), Score(1, 3)).action, Action::kContinue);
}

// The module's __main__: cutoff over 0..19 with rf 2 is 9.5.
TEST(AsyncHyperBandTest, CutoffOverTwentyValues) {
  auto options = MaxOptions();
  options.max_t = 10;
  options.reduction_factor = 2;
  AsyncHyperBandScheduler asha(options);
  FakeTrialView view;
  for (int i = 0; i < 20; ++i) {
    const std::string id = "t" + std::to_string(i);
    asha.OnTrialAdd(view, view.Add(id));
    asha.OnTrialResult(view, view.Get(id), Score(1, i));
  }
  EXPECT_EQ(asha.Cutoff(asha.brackets()[0].rungs.back()), 9.5);
  EXPECT_NE(asha.DebugString().find("Iter 1: 9.5"), std::string::npos) << asha.DebugString();
}

TEST(AsyncHyperBandTest, MinModeStopsTheHigherLoss) {
  AsyncHyperBandScheduler::Options options;
  options.metric = "loss";
  options.mode = "min";
  AsyncHyperBandScheduler asha(options);
  FakeTrialView view;
  for (const char *id : {"a", "b", "c"}) asha.OnTrialAdd(view, view.Add(id));
  EXPECT_EQ(asha.OnTrialResult(view, view.Get("a"), testing::Result(1, 1.0)).action, Action::kContinue);
  EXPECT_EQ(asha.OnTrialResult(view, view.Get("b"), testing::Result(1, 2.0)).action, Action::kStop);
  EXPECT_EQ(asha.OnTrialResult(view, view.Get("c"), testing::Result(1, 0.5)).action, Action::kContinue);
}

TEST(AsyncHyperBandTest, StopsAtMaxTUnlessStopLastTrialsIsFalse) {
  FakeTrialView view;
  AsyncHyperBandScheduler asha(MaxOptions());
  asha.OnTrialAdd(view, view.Add("a"));
  EXPECT_EQ(asha.OnTrialResult(view, view.Get("a"), Score(99, 1)).action, Action::kContinue);
  EXPECT_EQ(asha.OnTrialResult(view, view.Get("a"), Score(100, 1)).action, Action::kStop);

  auto options = MaxOptions();
  options.stop_last_trials = false;
  AsyncHyperBandScheduler run_on(options);
  run_on.OnTrialAdd(view, view.Get("a"));
  run_on.OnTrialAdd(view, view.Add("b"));
  EXPECT_EQ(run_on.OnTrialResult(view, view.Get("a"), Score(100, 5)).action, Action::kContinue);
  // b reaches rung 64 after a recorded 5 there: 1 < 5 stops it ...
  EXPECT_EQ(run_on.OnTrialResult(view, view.Get("b"), Score(100, 1)).action, Action::kStop);
  // ... while a, already judged at its highest rung, runs on past max_t.
  EXPECT_EQ(run_on.OnTrialResult(view, view.Get("a"), Score(150, -5)).action, Action::kContinue);
}

TEST(AsyncHyperBandTest, ResultsWithoutMetricOrTimeContinue) {
  FakeTrialView view;
  AsyncHyperBandScheduler asha(MaxOptions());
  asha.OnTrialAdd(view, view.Add("a"));
  EXPECT_EQ(asha.OnTrialResult(view, view.Get("a"), Json{{"training_iteration", 100}}).action,
            Action::kContinue);
  EXPECT_EQ(asha.OnTrialResult(view, view.Get("a"), Json{{"score", 1}}).action, Action::kContinue);
}

TEST(AsyncHyperBandTest, NeedsMetricAndModeBeforeAnyTrial) {
  FakeTrialView view;
  AsyncHyperBandScheduler asha;
  EXPECT_THROW(asha.OnTrialAdd(view, view.Add("a")), TuneError);
  ASSERT_TRUE(asha.SetSearchProperties(std::string("score"), std::string("max")));
  EXPECT_NO_THROW(asha.OnTrialAdd(view, view.Get("a")));
  EXPECT_FALSE(asha.SetSearchProperties(std::string("other"), std::nullopt));

  AsyncHyperBandScheduler::Options bad = MaxOptions();
  bad.grace_period = 200;
  EXPECT_THROW(AsyncHyperBandScheduler{bad}, TuneError);
  bad = MaxOptions();
  bad.reduction_factor = 1;
  EXPECT_THROW(AsyncHyperBandScheduler{bad}, TuneError);
  bad = MaxOptions();
  bad.mode = "best";
  EXPECT_THROW(AsyncHyperBandScheduler{bad}, TuneError);
}

// Run `n` trials one after another, each with a fixed random score, until
// stopped or max_t; count the trials that reach each milestone.
std::map<double, int> RunSequential(AsyncHyperBandScheduler &asha, int n, uint64_t seed) {
  FakeTrialView view;
  std::mt19937_64 scores(seed);
  std::uniform_real_distribution<double> uniform(0, 1);
  std::map<double, int> reached;
  for (int i = 0; i < n; ++i) {
    const std::string id = "t" + std::to_string(i);
    asha.OnTrialAdd(view, view.Add(id));
    const double score = uniform(scores);
    for (int t = 1; t <= 100; ++t) {
      if (t == 1 || t == 4 || t == 16 || t == 64) ++reached[t];
      if (asha.OnTrialResult(view, view.Get(id), Score(t, score)).action == Action::kStop) break;
    }
  }
  return reached;
}

TEST(AsyncHyperBandTest, AboutOneInReductionFactorPassesEachRung) {
  AsyncHyperBandScheduler asha(MaxOptions());
  const std::map<double, int> reached = RunSequential(asha, 4000, 11);
  ASSERT_EQ(reached.at(1), 4000);
  const double first = static_cast<double>(reached.at(4)) / reached.at(1);
  const double second = static_cast<double>(reached.at(16)) / reached.at(4);
  EXPECT_NEAR(first, 0.25, 0.03);
  EXPECT_NEAR(second, 0.25, 0.05);
  EXPECT_GT(reached.at(64), 0);
}

TEST(AsyncHyperBandTest, BracketsAreChosenBySoftmaxOverRungCounts) {
  auto options = MaxOptions();
  options.brackets = 3;  // 4, 3 and 2 rungs: weights e^0, e^-1, e^-2
  options.seed = 5;
  AsyncHyperBandScheduler asha(options);
  FakeTrialView view;
  std::vector<int> counts(3);
  const int n = 6000;
  for (int i = 0; i < n; ++i) {
    const std::string id = "t" + std::to_string(i);
    asha.OnTrialAdd(view, view.Add(id));
    ++counts[*asha.BracketOf(id)];
  }
  const double total = 1 + std::exp(-1.0) + std::exp(-2.0);
  EXPECT_NEAR(counts[0] / double(n), 1 / total, 0.02);
  EXPECT_NEAR(counts[1] / double(n), std::exp(-1.0) / total, 0.02);
  EXPECT_NEAR(counts[2] / double(n), std::exp(-2.0) / total, 0.02);
}

TEST(AsyncHyperBandTest, SameSeedSameBrackets) {
  auto options = MaxOptions();
  options.brackets = 3;
  options.seed = 42;
  AsyncHyperBandScheduler first(options);
  AsyncHyperBandScheduler second(options);
  options.seed = 43;
  AsyncHyperBandScheduler other(options);
  FakeTrialView view;
  int differ = 0;
  for (int i = 0; i < 200; ++i) {
    const std::string id = "t" + std::to_string(i);
    view.Add(id);
    first.OnTrialAdd(view, view.Get(id));
    second.OnTrialAdd(view, view.Get(id));
    other.OnTrialAdd(view, view.Get(id));
    EXPECT_EQ(first.BracketOf(id), second.BracketOf(id));
    differ += first.BracketOf(id) != other.BracketOf(id);
  }
  EXPECT_GT(differ, 0);
}

TEST(AsyncHyperBandTest, CompleteRecordsAndRemoveForgets) {
  FakeTrialView view;
  AsyncHyperBandScheduler asha(MaxOptions());
  asha.OnTrialAdd(view, view.Add("a"));
  asha.OnTrialAdd(view, view.Add("b"));
  asha.OnTrialComplete(view, view.Get("a"), Score(4, 10));
  EXPECT_EQ(asha.BracketOf("a"), std::nullopt);
  // a's final result sits in rung 4 (its highest reached): b below it stops.
  EXPECT_EQ(asha.OnTrialResult(view, view.Get("b"), Score(4, 1)).action, Action::kStop);
  asha.OnTrialRemove(view, view.Get("b"));
  EXPECT_EQ(asha.BracketOf("b"), std::nullopt);
}

TEST(AsyncHyperBandTest, SaveRestoreContinuesTheSameDecisions) {
  auto options = MaxOptions();
  options.brackets = 2;
  options.seed = 9;
  AsyncHyperBandScheduler original(options);
  FakeTrialView view;
  std::mt19937_64 scores(3);
  std::uniform_real_distribution<double> uniform(0, 1);
  std::vector<std::pair<std::string, double>> stream;  // (trial, score) per step, interleaved
  for (int i = 0; i < 60; ++i) {
    const std::string id = "t" + std::to_string(i);
    view.Add(id);
    stream.emplace_back(id, uniform(scores));
  }
  // First half of the trials run to iteration 8.
  for (int i = 0; i < 30; ++i) {
    original.OnTrialAdd(view, view.Get(stream[i].first));
    for (int t = 1; t <= 8; ++t)
      original.OnTrialResult(view, view.Get(stream[i].first), Score(t, stream[i].second));
  }
  AsyncHyperBandScheduler restored(options);
  restored.Restore(Json::parse(original.Save().dump()));
  EXPECT_EQ(restored.DebugString(), original.DebugString());
  for (int i = 30; i < 60; ++i) {
    const TrialInfo &trial = view.Get(stream[i].first);
    original.OnTrialAdd(view, trial);
    restored.OnTrialAdd(view, trial);
    ASSERT_EQ(original.BracketOf(trial.id), restored.BracketOf(trial.id));
    for (int t = 1; t <= 20; ++t) {
      ASSERT_EQ(original.OnTrialResult(view, trial, Score(t, stream[i].second)).action,
                restored.OnTrialResult(view, trial, Score(t, stream[i].second)).action)
          << trial.id << " t=" << t;
    }
  }
  EXPECT_EQ(restored.num_stopped(), original.num_stopped());
}

}  // namespace
}  // namespace ray::tune
