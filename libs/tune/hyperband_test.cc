#include "ray/tune/hyperband.h"

#include <gtest/gtest.h>

#include "fake_trial_view.h"

namespace ray::tune {
namespace {

using testing::FakeTrialView;

HyperBandScheduler::Options Options(double max_t, double eta) {
  HyperBandScheduler::Options options;
  options.metric = "score";
  options.mode = "max";
  options.max_t = max_t;
  options.reduction_factor = eta;
  return options;
}

// Plays the runner: applies decisions and orders to the fake view's statuses
// and calls the hooks a runner would.
class Driver {
 public:
  Driver(HyperBandScheduler &scheduler, FakeTrialView &view) : scheduler_(scheduler), view_(view) {}

  void Add(const std::string &id) { scheduler_.OnTrialAdd(view_, view_.Add(id)); }

  Action Report(const std::string &id, double t, double score) {
    TrialInfo &trial = view_.Get(id);
    trial.status = TrialStatus::kRunning;
    const Json result = {{"training_iteration", t}, {"score", score}};
    const Decision decision = scheduler_.OnTrialResult(view_, trial, result);
    if (decision.action == Action::kPause) trial.status = TrialStatus::kPaused;
    if (decision.action == Action::kStop) {
      trial.status = TrialStatus::kTerminated;
      scheduler_.OnTrialComplete(view_, trial, result);
    }
    ApplyOrders();
    return decision.action;
  }

  void Fail(const std::string &id) {
    TrialInfo &trial = view_.Get(id);
    trial.status = TrialStatus::kError;
    scheduler_.OnTrialError(view_, trial);
    ApplyOrders();
  }

  void ApplyOrders() {
    for (const TrialOrder &order : scheduler_.TakeOrders()) {
      ASSERT_EQ(order.decision.action, Action::kStop);
      stopped_by_order.push_back(order.trial_id);
      TrialInfo &trial = view_.Get(order.trial_id);
      trial.status = TrialStatus::kTerminated;
      scheduler_.OnTrialRemove(view_, trial);
    }
  }

  std::vector<std::string> stopped_by_order;

 private:
  HyperBandScheduler &scheduler_;
  FakeTrialView &view_;
};

TEST(HyperBandTest, BracketSizesForMaxT81Eta3) {
  HyperBandScheduler hb(Options(81, 3));
  ASSERT_EQ(hb.brackets_per_band(), 5);
  const std::vector<int> n0 = {5, 8, 15, 34, 81};
  const std::vector<int> r0 = {81, 27, 9, 3, 1};
  for (int s = 0; s < 5; ++s) {
    EXPECT_EQ(hb.BracketSize(s), n0[s]) << "s=" << s;
    EXPECT_EQ(hb.BracketInitialBudget(s), r0[s]) << "s=" << s;
  }
}

TEST(HyperBandTest, TrialsFillBracketsThenBands) {
  HyperBandScheduler hb(Options(81, 3));
  FakeTrialView view;
  Driver driver(hb, view);
  const int band = 5 + 8 + 15 + 34 + 81;
  for (int i = 0; i < band + 1; ++i) driver.Add("t" + std::to_string(i));
  const auto brackets = hb.Brackets();
  ASSERT_EQ(brackets.size(), 6u);
  const std::vector<int> sizes = {5, 8, 15, 34, 81, 1};
  for (size_t b = 0; b < brackets.size(); ++b) {
    EXPECT_EQ(brackets[b].live_trials.size(), static_cast<size_t>(sizes[b])) << b;
    EXPECT_EQ(brackets[b].band, b < 5 ? 0 : 1);
    EXPECT_EQ(brackets[b].s, static_cast<int>(b % 5));
  }
  EXPECT_EQ(brackets[0].milestone, 81);
  EXPECT_EQ(brackets[4].milestone, 1);
  EXPECT_EQ(brackets[0].live_trials.front(), "t0");
  EXPECT_EQ(brackets[1].live_trials.front(), "t5");
  EXPECT_EQ(hb.Brackets()[5].live_trials.front(), "t" + std::to_string(band));
}

TEST(HyperBandTest, NeedsMetricAndMode) {
  HyperBandScheduler hb;
  FakeTrialView view;
  EXPECT_THROW(hb.OnTrialAdd(view, view.Add("a")), TuneError);
  EXPECT_FALSE(hb.SupportsBufferedResults());
}

// max_t 9, eta 3: brackets (n0, r0) = (3, 9), (5, 3), (9, 1). In the second
// bracket five trials pause at 3; the last to arrive halves the bracket to
// ceil(5/3) = 2, stops the other three and raises the milestone to 9.
TEST(HyperBandTest, SuccessiveHalvingPausesStopsAndResumes) {
  HyperBandScheduler hb(Options(9, 3));
  FakeTrialView view;
  Driver driver(hb, view);
  for (const char *id : {"x0", "x1", "x2", "a", "b", "c", "d", "e"}) driver.Add(id);
  ASSERT_EQ(hb.Brackets()[1].max_size, 5);
  ASSERT_EQ(hb.Brackets()[1].milestone, 3);

  const std::map<std::string, double> score = {{"a", 5}, {"b", 1}, {"c", 4}, {"d", 2}, {"e", 3}};
  for (const char *id : {"a", "b", "c", "d"}) {
    EXPECT_EQ(driver.Report(id, 1, score.at(id)), Action::kContinue);
    EXPECT_EQ(driver.Report(id, 2, score.at(id)), Action::kContinue);
    EXPECT_EQ(driver.Report(id, 3, score.at(id)), Action::kPause) << id;
  }
  // Nothing is released yet: the paused trials wait for e.
  EXPECT_EQ(hb.ChooseTrialToRun(view), "x0");
  EXPECT_EQ(driver.Report("e", 1, 3), Action::kContinue);
  EXPECT_EQ(driver.Report("e", 2, 3), Action::kContinue);
  // e (3) is third: stopped by the halving; b (1) and d (2) by orders.
  EXPECT_EQ(driver.Report("e", 3, 3), Action::kStop);
  EXPECT_EQ(driver.stopped_by_order, (std::vector<std::string>{"b", "d"}));
  EXPECT_EQ(hb.num_stopped(), 3);
  const auto bracket = hb.Brackets()[1];
  EXPECT_EQ(bracket.max_size, 2);
  EXPECT_EQ(bracket.milestone, 9);
  EXPECT_EQ(bracket.halvings_left, 0);
  EXPECT_EQ(bracket.live_trials, (std::vector<std::string>{"a", "c"}));

  // The survivors are released (PAUSED, now runnable); the first bracket's
  // trials are busy.
  view.Get("x0").status = TrialStatus::kRunning;
  view.Get("x1").status = TrialStatus::kRunning;
  view.Get("x2").status = TrialStatus::kRunning;
  EXPECT_EQ(hb.ChooseTrialToRun(view), "a");
  EXPECT_EQ(driver.Report("a", 4, 5), Action::kContinue);
  EXPECT_EQ(hb.ChooseTrialToRun(view), "c");
  for (int t = 5; t < 9; ++t) EXPECT_EQ(driver.Report("a", t, 5), Action::kContinue);
  EXPECT_EQ(driver.Report("a", 9, 5), Action::kPause);  // waits for c at max_t
  for (int t = 4; t < 9; ++t) EXPECT_EQ(driver.Report("c", t, 4), Action::kContinue);
  // The bracket is finished: c stops, and so does the paused a (an order).
  EXPECT_EQ(driver.Report("c", 9, 4), Action::kStop);
  EXPECT_EQ(driver.stopped_by_order.back(), "a");
}

TEST(HyperBandTest, ChoosePrefersLeastCompleteBracket) {
  HyperBandScheduler hb(Options(9, 3));
  FakeTrialView view;
  Driver driver(hb, view);
  for (const char *id : {"x0", "x1", "x2", "a", "b", "c", "d", "e"}) driver.Add(id);
  EXPECT_EQ(hb.ChooseTrialToRun(view), "x0");  // both at 0%: band order
  EXPECT_EQ(driver.Report("x0", 2, 1), Action::kContinue);
  // Bracket 0 has progress now; bracket 1 has none.
  EXPECT_EQ(hb.ChooseTrialToRun(view), "a");
}

TEST(HyperBandTest, ARemovedTrialCompletesTheMilestone) {
  HyperBandScheduler hb(Options(9, 3));
  FakeTrialView view;
  Driver driver(hb, view);
  for (const char *id : {"x0", "x1", "x2", "a", "b", "c", "d", "e"}) driver.Add(id);
  const std::map<std::string, double> score = {{"a", 5}, {"b", 1}, {"c", 4}, {"d", 2}};
  for (const char *id : {"a", "b", "c", "d"}) EXPECT_EQ(driver.Report(id, 3, score.at(id)), Action::kPause);
  // e fails before reaching the milestone: the four others are halved to 2.
  driver.Fail("e");
  EXPECT_EQ(driver.stopped_by_order, (std::vector<std::string>{"b", "d"}));
  EXPECT_EQ(hb.Brackets()[1].live_trials, (std::vector<std::string>{"a", "c"}));
  view.Get("x0").status = view.Get("x1").status = view.Get("x2").status = TrialStatus::kRunning;
  EXPECT_EQ(hb.ChooseTrialToRun(view), "a");
}

TEST(HyperBandTest, SaveRestoreContinuesTheSameDecisions) {
  HyperBandScheduler original(Options(9, 3));
  FakeTrialView view;
  Driver driver(original, view);
  for (const char *id : {"x0", "x1", "x2", "a", "b", "c", "d", "e"}) driver.Add(id);
  for (const char *id : {"a", "b", "c"}) driver.Report(id, 3, id[0]);

  HyperBandScheduler restored(Options(9, 3));
  restored.Restore(Json::parse(original.Save().dump()));
  EXPECT_EQ(restored.DebugString(), original.DebugString());
  FakeTrialView view2;
  for (const TrialInfo *t : view.Trials()) view2.Add(t->id).status = t->status;
  Driver driver2(restored, view2);
  for (const char *id : {"d", "e"}) {
    for (int t = 1; t <= 3; ++t) ASSERT_EQ(driver.Report(id, t, id[0]), driver2.Report(id, t, id[0]));
  }
  EXPECT_EQ(driver2.stopped_by_order, driver.stopped_by_order);
  EXPECT_EQ(restored.ChooseTrialToRun(view2), original.ChooseTrialToRun(view));
  EXPECT_EQ(restored.Save(), original.Save());
}

}  // namespace
}  // namespace ray::tune
