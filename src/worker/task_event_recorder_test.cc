// TaskEventRecorder: events leave in batches with the task's facts on the
// first one only; a full buffer drops and counts per job; off records nothing;
// the current task of a thread is its submissions' parent.
#include "worker/task_event_recorder.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace lumen::worker {
namespace {

proto::TaskSpec Spec(uint64_t seq, uint32_t job, const std::string &fn) {
  proto::TaskSpec spec;
  spec.set_task_id(TaskID::Of(WorkerID::FromRandom(), seq).Binary());
  spec.set_job_id(job);
  spec.set_type(proto::NORMAL_TASK);
  spec.mutable_function()->set_function_name(fn);
  return spec;
}

TEST(TaskEventRecorderTest, BatchesCarryEveryEventOnceWithFactsOnTheFirst) {
  TaskEventRecorder recorder(true, 100);
  auto spec = Spec(1, 4, "Plus");
  TaskID parent = TaskID::Of(WorkerID::FromRandom(), 9);
  recorder.RecordWithFacts(spec, proto::PENDING_ARGS_AVAIL, parent);
  recorder.Record(spec, proto::PENDING_NODE_ASSIGNMENT);
  const TaskPlace place{NodeID::FromRandom(), WorkerID::FromRandom(), 0};
  recorder.RecordAt(spec, proto::SUBMITTED_TO_WORKER, place, false);
  recorder.RecordEnd(spec, proto::TASK_EXECUTION_EXCEPTION, "boom");
  EXPECT_EQ(recorder.NumBuffered(), 4u);

  auto batch = recorder.TakeBatch();
  ASSERT_EQ(batch.events_size(), 4);
  EXPECT_EQ(batch.events(0).function_name(), "Plus");
  EXPECT_EQ(batch.events(0).parent_task_id(), parent.Binary());
  EXPECT_EQ(batch.events(0).job_id(), 4u);
  EXPECT_TRUE(batch.events(1).function_name().empty());
  EXPECT_EQ(batch.events(2).worker_id(), place.worker.Binary());
  EXPECT_EQ(batch.events(2).node_id(), place.node.Binary());
  EXPECT_EQ(batch.events(2).worker_pid(), 0);
  EXPECT_EQ(batch.events(3).state(), proto::FAILED);
  EXPECT_EQ(batch.events(3).error_message(), "boom");
  for (int i = 1; i < 4; ++i) EXPECT_GE(batch.events(i).time_ns(), batch.events(i - 1).time_ns());
  // Taken: the next batch is empty.
  EXPECT_EQ(recorder.TakeBatch().events_size(), 0);
  EXPECT_EQ(recorder.NumBuffered(), 0u);
}

TEST(TaskEventRecorderTest, AFullBufferDropsAndCountsPerJobUntilTheNextBatch) {
  TaskEventRecorder recorder(true, 3);
  for (int i = 0; i < 3; ++i) recorder.Record(Spec(i, 1, "f"), proto::FINISHED);
  recorder.Record(Spec(10, 1, "f"), proto::FINISHED);
  recorder.Record(Spec(11, 2, "f"), proto::FINISHED);
  recorder.Record(Spec(12, 2, "f"), proto::FINISHED);
  auto batch = recorder.TakeBatch();
  EXPECT_EQ(batch.events_size(), 3);
  EXPECT_EQ(batch.dropped_per_job().at(1), 1);
  EXPECT_EQ(batch.dropped_per_job().at(2), 2);
  // Counted once: room again, nothing dropped since.
  recorder.Record(Spec(13, 1, "f"), proto::FINISHED);
  auto next = recorder.TakeBatch();
  EXPECT_EQ(next.events_size(), 1);
  EXPECT_TRUE(next.dropped_per_job().empty());
}

TEST(TaskEventRecorderTest, OffRecordsNothing) {
  TaskEventRecorder recorder(false, 100);
  recorder.RecordWithFacts(Spec(1, 1, "f"), proto::PENDING_ARGS_AVAIL, TaskID());
  recorder.RecordEnd(Spec(1, 1, "f"), proto::NO_ERROR, "");
  EXPECT_EQ(recorder.NumBuffered(), 0u);
  EXPECT_EQ(recorder.TakeBatch().events_size(), 0);
}

TEST(TaskEventRecorderTest, TheCurrentTaskIsPerThreadAndRestored) {
  TaskID outer = TaskID::Of(WorkerID::FromRandom(), 1);
  TaskID inner = TaskID::Of(WorkerID::FromRandom(), 2);
  EXPECT_TRUE(TaskEventRecorder::CurrentTask().IsNil());
  {
    TaskEventRecorder::ScopedCurrentTask a(outer);
    {
      TaskEventRecorder::ScopedCurrentTask b(inner);
      EXPECT_EQ(TaskEventRecorder::CurrentTask(), inner);
      std::thread([] { EXPECT_TRUE(TaskEventRecorder::CurrentTask().IsNil()); }).join();
    }
    EXPECT_EQ(TaskEventRecorder::CurrentTask(), outer);
  }
  EXPECT_TRUE(TaskEventRecorder::CurrentTask().IsNil());
}

TEST(TaskEventRecorderTest, ConcurrentRecordersAndATakerLoseNothing) {
  TaskEventRecorder recorder(true, 1000000);
  constexpr int kThreads = 4, kEach = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&recorder, t] {
      for (int i = 0; i < kEach; ++i) recorder.Record(Spec(t * kEach + i, 1, "f"), proto::FINISHED);
    });
  int taken = 0;
  for (int i = 0; i < 50; ++i) taken += recorder.TakeBatch().events_size();
  for (auto &t : threads) t.join();
  taken += recorder.TakeBatch().events_size();
  EXPECT_EQ(taken, kThreads * kEach);
}

}  // namespace
}  // namespace lumen::worker
