// The submitter's pipelining policy without a process: depth from the
// budget, functions that may be long, stalled workers, and the averages.
#include "worker/pipeline_policy.h"

#include <gtest/gtest.h>

#include <chrono>

namespace lumen::worker {
namespace {

using namespace std::chrono_literals;
using P = PipelinePolicy;

TEST(PipelinePolicyTest, UntilATaskHasFinishedAWorkerTakesOneAtATime) {
  P p;
  EXPECT_LT(p.AverageUs(), 0);
  EXPECT_EQ(p.Depth(), 1);
  EXPECT_TRUE(p.MaybeLong("f"));
  EXPECT_TRUE(p.TakesMore(0, 0, 0s));   // an idle worker always takes one
  EXPECT_FALSE(p.TakesMore(1, 0, 0s));  // nothing known yet: no pipelining
}

TEST(PipelinePolicyTest, DepthIsTheBudgetOverATasksTimeWithinOneAndTheMaximum) {
  P fast;
  fast.RecordTask("f", 10);  // 2000 / 10 = 200: capped
  EXPECT_EQ(fast.Depth(), P::kMaxDepth);
  P medium;
  medium.RecordTask("f", 500);
  EXPECT_EQ(medium.Depth(), 4);
  P slow;
  slow.RecordTask("f", 5000);
  EXPECT_EQ(slow.Depth(), 1);
  P instant;
  instant.RecordTask("f", 0);  // no division by zero
  EXPECT_EQ(instant.Depth(), P::kMaxDepth);
}

TEST(PipelinePolicyTest, OnlyTasksOfFunctionsKnownToBeShortArePipelined) {
  P p;
  p.RecordTask("short", 100);
  p.RecordTask("long", 2 * P::kBudgetUs);  // the queue's average: 100 * 0.8 + 4000 * 0.2 = 880
  EXPECT_FALSE(p.MaybeLong("short"));
  EXPECT_TRUE(p.MaybeLong("long"));
  EXPECT_TRUE(p.MaybeLong("never-ran"));
  // A worker running a maybe-long task takes nothing behind it, whatever
  // the depth (here 2000 / 880: 2).
  EXPECT_EQ(p.Depth(), 2);
  EXPECT_TRUE(p.TakesMore(1, 0, 0s));
  EXPECT_FALSE(p.TakesMore(1, 1, 0s));
  EXPECT_FALSE(p.TakesMore(p.Depth(), 0, 0s));
}

TEST(PipelinePolicyTest, AWorkerSilentFarLongerThanItsTasksTakeGetsNoMore) {
  P p;
  p.RecordTask("f", 100);
  // The floor: a descheduled worker on a busy machine is not stalled.
  EXPECT_EQ(p.StalledAfter(), std::chrono::duration_cast<Clock::Duration>(50ms));
  EXPECT_TRUE(p.TakesMore(1, 0, 49ms));
  EXPECT_FALSE(p.TakesMore(1, 0, 51ms));
  // Above the floor the threshold follows the tasks' time.
  P slower;
  slower.RecordTask("g", 20000);
  EXPECT_EQ(slower.StalledAfter(), std::chrono::duration_cast<Clock::Duration>(80ms));
}

TEST(PipelinePolicyTest, AveragesMoveAFifthOfTheWayToEachNewTime) {
  P p;
  p.RecordTask("f", 1000);
  EXPECT_DOUBLE_EQ(p.AverageUs(), 1000);
  p.RecordTask("f", 3000);
  EXPECT_DOUBLE_EQ(p.AverageUs(), 1400);
  // Per function too: "f" is now 1400 (short), and one slow call of it
  // moves it to 1400 * 0.8 + 5000 * 0.2 = 2120 (maybe long).
  EXPECT_FALSE(p.MaybeLong("f"));
  p.RecordTask("f", 5000);
  EXPECT_DOUBLE_EQ(p.AverageUs(), 2120);
  EXPECT_TRUE(p.MaybeLong("f"));
  // A function's first time is its average.
  p.RecordTask("g", 10);
  EXPECT_FALSE(p.MaybeLong("g"));
}

}  // namespace
}  // namespace lumen::worker
