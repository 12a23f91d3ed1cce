#include "ray/tune/trial_scheduler.h"

#include <gtest/gtest.h>

#include "fake_trial_view.h"

namespace ray::tune {
namespace {

using testing::FakeTrialView;

TEST(FIFOSchedulerTest, RunsPendingTrialsFirstThenPausedInAddOrder) {
  FakeTrialView view;
  FIFOScheduler fifo;
  for (const char *id : {"a", "b", "c", "d"}) {
    view.Add(id);
    EXPECT_EQ(fifo.OnTrialAdd(view, view.Get(id)), std::nullopt);
  }
  view.Get("a").status = TrialStatus::kPaused;
  view.Get("b").status = TrialStatus::kRunning;
  EXPECT_EQ(fifo.ChooseTrialToRun(view), "c");
  EXPECT_EQ(fifo.ChooseTrialToRun(view), "c");  // idempotent
  view.Get("c").status = TrialStatus::kRunning;
  view.Get("d").status = TrialStatus::kTerminated;
  EXPECT_EQ(fifo.ChooseTrialToRun(view), "a");
  view.Get("a").status = TrialStatus::kRunning;
  EXPECT_EQ(fifo.ChooseTrialToRun(view), std::nullopt);
  EXPECT_EQ(fifo.OnTrialResult(view, view.Get("b"), testing::Result(1, 1)).action, Action::kContinue);
}

TEST(TrialSchedulerTest, SearchPropertiesFillInAndConflict) {
  FIFOScheduler fifo;
  EXPECT_TRUE(fifo.SetSearchProperties(std::nullopt, std::string("max")));
  EXPECT_EQ(fifo.metric(), kDefaultMetric);  // Ray's anonymous metric
  EXPECT_EQ(fifo.mode(), Mode::kMax);
  // Both are set now: another top-level value is a conflict.
  EXPECT_FALSE(fifo.SetSearchProperties(std::string("loss"), std::nullopt));
  EXPECT_FALSE(fifo.SetSearchProperties(std::nullopt, std::string("min")));

  FIFOScheduler other;
  EXPECT_THROW(other.SetSearchProperties(std::string("loss"), std::string("maximum")), TuneError);
  EXPECT_TRUE(other.SetSearchProperties(std::string("loss"), std::string("min")));
  EXPECT_EQ(other.metric(), "loss");
  EXPECT_EQ(other.mode(), Mode::kMin);
}

TEST(TrialSchedulerTest, SaveRestoreKeepsMetricAndMode) {
  FIFOScheduler fifo;
  ASSERT_TRUE(fifo.SetSearchProperties(std::string("acc"), std::string("max")));
  FIFOScheduler restored;
  restored.Restore(fifo.Save());
  EXPECT_EQ(restored.metric(), "acc");
  EXPECT_EQ(restored.mode(), Mode::kMax);
  EXPECT_EQ(restored.DebugString(), "Using FIFO scheduling algorithm.");
}

}  // namespace
}  // namespace ray::tune
