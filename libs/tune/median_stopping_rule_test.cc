#include "ray/tune/median_stopping_rule.h"

#include <gtest/gtest.h>

#include "fake_trial_view.h"

namespace ray::tune {
namespace {

using testing::FakeTrialView;
using testing::Result;

MedianStoppingRule::Options Options() {
  MedianStoppingRule::Options options;
  options.time_attr = "training_iteration";
  options.metric = "loss";
  options.mode = "min";
  options.grace_period = 1;
  return options;
}

// Three finished trials with constant losses 1, 2, 3 over t = 1..5: the
// median of their running means is 2 at every t.
void AddReference(MedianStoppingRule &rule, FakeTrialView &view) {
  for (int i = 1; i <= 3; ++i) {
    const std::string id = "ref" + std::to_string(i);
    rule.OnTrialAdd(view, view.Add(id));
    view.Get(id).status = TrialStatus::kRunning;
    for (int t = 1; t <= 5; ++t)
      ASSERT_EQ(rule.OnTrialResult(view, view.Get(id), Result(t, i)).action, Action::kContinue);
    view.Get(id).status = TrialStatus::kTerminated;
    rule.OnTrialComplete(view, view.Get(id), Result(5, i));
  }
}

TEST(MedianStoppingRuleTest, WorseThanMedianStopsBetterAndTiesContinue) {
  MedianStoppingRule rule(Options());
  FakeTrialView view;
  AddReference(rule, view);
  for (const char *id : {"worse", "better", "tie"}) rule.OnTrialAdd(view, view.Add(id));
  EXPECT_EQ(rule.OnTrialResult(view, view.Get("worse"), Result(1, 2.5)).action, Action::kStop);
  EXPECT_EQ(rule.OnTrialResult(view, view.Get("better"), Result(1, 1.5)).action, Action::kContinue);
  EXPECT_EQ(rule.OnTrialResult(view, view.Get("tie"), Result(1, 2.0)).action, Action::kContinue);
  EXPECT_EQ(rule.DebugString(), "Using MedianStoppingRule: num_stopped=1.");
}

TEST(MedianStoppingRuleTest, JudgesTheBestValueSoFar) {
  MedianStoppingRule rule(Options());
  FakeTrialView view;
  AddReference(rule, view);
  rule.OnTrialAdd(view, view.Add("t"));
  EXPECT_EQ(rule.OnTrialResult(view, view.Get("t"), Result(1, 1.0)).action, Action::kContinue);
  // A worse value later: its best (1.0) still beats the median (2).
  EXPECT_EQ(rule.OnTrialResult(view, view.Get("t"), Result(2, 9.0)).action, Action::kContinue);
}

TEST(MedianStoppingRuleTest, MaxModeStopsTheLowerValue) {
  auto options = Options();
  options.mode = "max";
  MedianStoppingRule rule(options);
  FakeTrialView view;
  AddReference(rule, view);
  rule.OnTrialAdd(view, view.Add("low"));
  rule.OnTrialAdd(view, view.Add("high"));
  EXPECT_EQ(rule.OnTrialResult(view, view.Get("low"), Result(1, 1.5)).action, Action::kStop);
  EXPECT_EQ(rule.OnTrialResult(view, view.Get("high"), Result(1, 2.5)).action, Action::kContinue);
}

TEST(MedianStoppingRuleTest, NothingStopsInTheGracePeriod) {
  auto options = Options();
  options.grace_period = 3;
  MedianStoppingRule rule(options);
  FakeTrialView view;
  AddReference(rule, view);
  rule.OnTrialAdd(view, view.Add("t"));
  EXPECT_EQ(rule.OnTrialResult(view, view.Get("t"), Result(1, 100)).action, Action::kContinue);
  EXPECT_EQ(rule.OnTrialResult(view, view.Get("t"), Result(2, 100)).action, Action::kContinue);
  EXPECT_EQ(rule.OnTrialResult(view, view.Get("t"), Result(3, 100)).action, Action::kStop);
}

TEST(MedianStoppingRuleTest, MeansCoverOnlyGraceToNow) {
  auto options = Options();
  options.grace_period = 3;
  MedianStoppingRule rule(options);
  FakeTrialView view;
  // Three trials that were bad early (100 before the grace period) and 1 after.
  for (int i = 1; i <= 3; ++i) {
    const std::string id = "ref" + std::to_string(i);
    rule.OnTrialAdd(view, view.Add(id));
    for (int t = 1; t <= 5; ++t) rule.OnTrialResult(view, view.Get(id), Result(t, t < 3 ? 100 : 1));
  }
  rule.OnTrialAdd(view, view.Add("t"));
  // Median of means over [3, 3] is 1: 2 is worse although the early 100s
  // would have put the mean far above it.
  EXPECT_EQ(rule.OnTrialResult(view, view.Get("t"), Result(3, 2)).action, Action::kStop);
}

TEST(MedianStoppingRuleTest, TooFewSamplesYieldOnlyToWaitingTrials) {
  auto options = Options();
  options.min_time_slice = 2;
  MedianStoppingRule rule(options);
  FakeTrialView view;
  rule.OnTrialAdd(view, view.Add("a"));
  rule.OnTrialAdd(view, view.Add("b"));
  view.Get("a").status = TrialStatus::kRunning;
  view.Get("b").status = TrialStatus::kRunning;
  // Nobody waits: continue despite too few samples.
  EXPECT_EQ(rule.OnTrialResult(view, view.Get("a"), Result(1, 5)).action, Action::kContinue);
  rule.OnTrialAdd(view, view.Add("waiting"));
  EXPECT_EQ(rule.OnTrialResult(view, view.Get("a"), Result(2, 5)).action, Action::kPause);
  // Within min_time_slice of that pause: no second yield.
  EXPECT_EQ(rule.OnTrialResult(view, view.Get("a"), Result(4, 5)).action, Action::kContinue);
  EXPECT_EQ(rule.OnTrialResult(view, view.Get("a"), Result(5, 5)).action, Action::kPause);
}

TEST(MedianStoppingRuleTest, SoftStopPausesOnceThenRunsFifo) {
  auto options = Options();
  options.hard_stop = false;
  MedianStoppingRule rule(options);
  FakeTrialView view;
  AddReference(rule, view);
  rule.OnTrialAdd(view, view.Add("t"));
  EXPECT_EQ(rule.OnTrialResult(view, view.Get("t"), Result(1, 9)).action, Action::kPause);
  EXPECT_EQ(rule.OnTrialResult(view, view.Get("t"), Result(2, 9)).action, Action::kContinue);
}

// Ray compares with max/min, which return the NaN median of a trial that has
// no result inside [grace_period, t]: the trial is stopped. Matched on purpose.
TEST(MedianStoppingRuleTest, ATrialWithNoResultInTheWindowMakesTheMedianNaN) {
  auto options = Options();
  options.min_samples_required = 1;
  options.grace_period = 2;
  MedianStoppingRule rule(options);
  FakeTrialView view;
  rule.OnTrialAdd(view, view.Add("late"));
  rule.OnTrialResult(view, view.Get("late"), Result(10, 5));  // first result only at t=10
  rule.OnTrialAdd(view, view.Add("t"));
  EXPECT_EQ(rule.OnTrialResult(view, view.Get("t"), Result(3, 0)).action, Action::kStop);
}

TEST(MedianStoppingRuleTest, NeedsMetricAndMode) {
  MedianStoppingRule rule;
  FakeTrialView view;
  EXPECT_THROW(rule.OnTrialAdd(view, view.Add("a")), TuneError);
}

TEST(MedianStoppingRuleTest, SaveRestoreContinuesTheSameDecisions) {
  MedianStoppingRule original(Options());
  FakeTrialView view;
  AddReference(original, view);
  original.OnTrialAdd(view, view.Add("soft"));
  MedianStoppingRule restored(Options());
  restored.Restore(Json::parse(original.Save().dump()));
  for (double loss : {2.5, 1.5, 2.0}) {
    const std::string id = "t" + std::to_string(loss);
    view.Add(id);
    original.OnTrialAdd(view, view.Get(id));
    restored.OnTrialAdd(view, view.Get(id));
    EXPECT_EQ(original.OnTrialResult(view, view.Get(id), Result(1, loss)).action,
              restored.OnTrialResult(view, view.Get(id), Result(1, loss)).action);
  }
  EXPECT_EQ(restored.Save(), original.Save());
  EXPECT_EQ(restored.DebugString(), "Using MedianStoppingRule: num_stopped=1.");
}

}  // namespace
}  // namespace ray::tune
