// TaskEventRecorder: events leave in batches, one message per attempt with the
// task's facts and every state in order; what runs here names its place once
// per batch; a full buffer drops and counts per job; off records nothing; the
// current task of a thread is its submissions' parent.
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

// The recorder's batch, as the core worker takes it.
proto::TaskEventBatch Take(TaskEventRecorder &recorder) {
  proto::TaskEventBatch batch;
  recorder.TakeBatch(&batch);
  return batch;
}

// Every state change of `e`, in order.
std::vector<proto::TaskState> States(const proto::TaskEvent &e) {
  std::vector<proto::TaskState> out;
  for (int s : e.states()) out.push_back(static_cast<proto::TaskState>(s));
  return out;
}

TEST(TaskEventRecorderTest, AnAttemptsEventsOfOneBatchLeaveAsOneMessageWithFactsAndEveryStateInOrder) {
  TaskEventRecorder recorder(true, 100);
  auto spec = Spec(1, 4, "Plus");
  spec.set_name("plus-1");
  TaskID parent = TaskID::Of(WorkerID::FromRandom(), 9);
  ASSERT_TRUE(recorder.RecordWithFacts(spec, proto::PENDING_ARGS_AVAIL, parent));
  recorder.Record(spec, proto::PENDING_NODE_ASSIGNMENT, true);
  const TaskPlace place{NodeID::FromRandom(), WorkerID::FromRandom(), 0};
  recorder.RecordAt(spec, proto::SUBMITTED_TO_WORKER, place, true);
  recorder.RecordEnd(spec, proto::TASK_EXECUTION_EXCEPTION, "boom", true);
  EXPECT_EQ(recorder.NumBuffered(), 4u);

  auto batch = Take(recorder);
  ASSERT_EQ(batch.events_size(), 1);
  const auto &e = batch.events(0);
  EXPECT_EQ(e.task_id(), spec.task_id());
  EXPECT_EQ(e.job_id(), 4u);
  EXPECT_EQ(e.function_name(), "Plus");
  EXPECT_EQ(e.name(), "plus-1");
  EXPECT_EQ(e.parent_task_id(), parent.Binary());
  EXPECT_EQ(e.worker_id(), place.worker.Binary());
  EXPECT_EQ(e.node_id(), place.node.Binary());
  EXPECT_EQ(e.worker_pid(), 0);
  EXPECT_FALSE(e.at_sender());
  EXPECT_EQ(States(e),
            (std::vector<proto::TaskState>{proto::PENDING_ARGS_AVAIL, proto::PENDING_NODE_ASSIGNMENT,
                                           proto::SUBMITTED_TO_WORKER, proto::FAILED}));
  ASSERT_EQ(e.times_ns_size(), 4);
  for (int i = 1; i < 4; ++i) EXPECT_GE(e.times_ns(i), e.times_ns(i - 1));
  EXPECT_EQ(e.error_type(), proto::TASK_EXECUTION_EXCEPTION);
  EXPECT_EQ(e.error_message(), "boom");
  // Taken: there is no next batch.
  proto::TaskEventBatch next;
  EXPECT_FALSE(recorder.TakeBatch(&next));
  EXPECT_EQ(next.events_size(), 0);
  EXPECT_EQ(recorder.NumBuffered(), 0u);
}

TEST(TaskEventRecorderTest, AttemptsInterleavedKeepTheirOwnMessagesInTheOrderTheyBegan) {
  TaskEventRecorder recorder(true, 100);
  auto a = Spec(1, 1, "f"), b = Spec(2, 1, "g"), a_retry = Spec(1, 1, "f");
  a_retry.set_attempt(1);
  recorder.RecordWithFacts(a, proto::PENDING_ARGS_AVAIL, TaskID());
  recorder.RecordWithFacts(b, proto::PENDING_ARGS_AVAIL, TaskID());
  recorder.RecordEnd(a, proto::WORKER_DIED, "lost", true);
  recorder.RecordWithFacts(a_retry, proto::PENDING_ARGS_AVAIL, TaskID());
  recorder.RecordEnd(b, proto::NO_ERROR, "ignored: no error", true);
  auto batch = Take(recorder);
  ASSERT_EQ(batch.events_size(), 3);
  EXPECT_EQ(batch.events(0).task_id(), a.task_id());
  EXPECT_EQ(batch.events(0).attempt(), 0);
  EXPECT_EQ(States(batch.events(0)),
            (std::vector<proto::TaskState>{proto::PENDING_ARGS_AVAIL, proto::FAILED}));
  EXPECT_EQ(batch.events(1).function_name(), "g");
  EXPECT_EQ(States(batch.events(1)),
            (std::vector<proto::TaskState>{proto::PENDING_ARGS_AVAIL, proto::FINISHED}));
  EXPECT_TRUE(batch.events(1).error_message().empty());
  EXPECT_EQ(batch.events(2).attempt(), 1);
  EXPECT_EQ(States(batch.events(2)), (std::vector<proto::TaskState>{proto::PENDING_ARGS_AVAIL}));
}

TEST(TaskEventRecorderTest, WhatRunsHereIsAtTheSendersPlaceWhichTheBatchSaysOnce) {
  TaskEventRecorder recorder(true, 100);
  const TaskPlace self{NodeID::FromRandom(), WorkerID::FromRandom(), 4242};
  recorder.SetSelfPlace(self);
  const auto one = Spec(1, 1, "f"), two = Spec(2, 1, "f");
  const bool kept = recorder.RecordHere(one, proto::RUNNING);
  recorder.RecordHereEnd(one, proto::NO_ERROR, {}, kept);
  recorder.RecordHereEnd(two, proto::TASK_EXECUTION_EXCEPTION, "boom",
                         recorder.RecordHere(two, proto::RUNNING));
  auto batch = Take(recorder);
  ASSERT_EQ(batch.events_size(), 2);
  for (const auto &e : batch.events()) {
    EXPECT_TRUE(e.at_sender());
    EXPECT_TRUE(e.node_id().empty());
    EXPECT_EQ(e.function_name(), "f");  // a record of its own, should the submitter drop the attempt
  }
  EXPECT_EQ(States(batch.events(0)), (std::vector<proto::TaskState>{proto::RUNNING, proto::FINISHED}));
  EXPECT_EQ(States(batch.events(1)), (std::vector<proto::TaskState>{proto::RUNNING, proto::FAILED}));
  EXPECT_EQ(batch.events(1).error_message(), "boom");
  EXPECT_EQ(batch.node_id(), self.node.Binary());
  EXPECT_EQ(batch.worker_id(), self.worker.Binary());
  EXPECT_EQ(batch.pid(), 4242);
}

TEST(TaskEventRecorderTest, AnAttemptIsKeptOrDroppedWholeWhenTheBufferFills) {
  TaskEventRecorder recorder(true, 2);
  auto a = Spec(1, 1, "f"), b = Spec(2, 1, "f"), c = Spec(3, 1, "f");
  const bool a_kept = recorder.RecordWithFacts(a, proto::PENDING_ARGS_AVAIL, TaskID());
  const bool b_kept = recorder.RecordWithFacts(b, proto::PENDING_ARGS_AVAIL, TaskID());
  const bool c_kept = recorder.RecordWithFacts(c, proto::PENDING_ARGS_AVAIL, TaskID());  // full
  EXPECT_TRUE(a_kept);
  EXPECT_TRUE(b_kept);
  EXPECT_FALSE(c_kept);
  // The kept attempts end past the bound; the dropped one's end is dropped too.
  for (auto [spec, kept] : {std::pair{a, a_kept}, {b, b_kept}, {c, c_kept}})
    recorder.RecordEnd(spec, proto::NO_ERROR, {}, kept);
  auto batch = Take(recorder);
  ASSERT_EQ(batch.events_size(), 2);
  for (const auto &e : batch.events())
    EXPECT_EQ(States(e), (std::vector<proto::TaskState>{proto::PENDING_ARGS_AVAIL, proto::FINISHED}));
  EXPECT_EQ(batch.dropped_per_job().at(1), 2);  // c's two events
}

TEST(TaskEventRecorderTest, NamesOutliveTheBatchTheyWereInternedFor) {
  TaskEventRecorder recorder(true, 100);
  std::string long_name(200, 'x');
  recorder.RecordWithFacts(Spec(1, 1, long_name), proto::PENDING_ARGS_AVAIL, TaskID());
  // Recorded while the first batch is being built: its name must not point
  // into the table the first batch took.
  auto first = Take(recorder);
  recorder.RecordWithFacts(Spec(2, 1, long_name), proto::PENDING_ARGS_AVAIL, TaskID());
  auto second = Take(recorder);
  EXPECT_EQ(first.events(0).function_name(), long_name);
  EXPECT_EQ(second.events(0).function_name(), long_name);
}

TEST(TaskEventRecorderTest, AFullBufferDropsAndCountsPerJobUntilTheNextBatch) {
  TaskEventRecorder recorder(true, 3);
  for (int i = 0; i < 3; ++i) recorder.RecordWithFacts(Spec(i, 1, "f"), proto::PENDING_ARGS_AVAIL, TaskID());
  EXPECT_FALSE(recorder.RecordWithFacts(Spec(10, 1, "f"), proto::PENDING_ARGS_AVAIL, TaskID()));
  EXPECT_FALSE(recorder.RecordWithFacts(Spec(11, 2, "f"), proto::PENDING_ARGS_AVAIL, TaskID()));
  EXPECT_FALSE(recorder.RecordHere(Spec(12, 2, "f"), proto::RUNNING));
  auto batch = Take(recorder);
  EXPECT_EQ(batch.events_size(), 3);
  EXPECT_EQ(batch.dropped_per_job().at(1), 1);
  EXPECT_EQ(batch.dropped_per_job().at(2), 2);
  // Counted once: room again, nothing dropped since.
  EXPECT_TRUE(recorder.RecordWithFacts(Spec(13, 1, "f"), proto::PENDING_ARGS_AVAIL, TaskID()));
  auto next = Take(recorder);
  EXPECT_EQ(next.events_size(), 1);
  EXPECT_TRUE(next.dropped_per_job().empty());
}

TEST(TaskEventRecorderTest, OffRecordsNothing) {
  TaskEventRecorder recorder(false, 100);
  EXPECT_FALSE(recorder.RecordWithFacts(Spec(1, 1, "f"), proto::PENDING_ARGS_AVAIL, TaskID()));
  recorder.RecordEnd(Spec(1, 1, "f"), proto::NO_ERROR, "", true);
  EXPECT_FALSE(recorder.RecordHere(Spec(1, 1, "f"), proto::RUNNING));
  EXPECT_EQ(recorder.NumBuffered(), 0u);
  EXPECT_EQ(Take(recorder).events_size(), 0);
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
      for (int i = 0; i < kEach; ++i) {
        const auto spec = Spec(t * kEach + i, 1, "f");
        recorder.RecordEnd(spec, proto::NO_ERROR, {},
                           recorder.RecordWithFacts(spec, proto::PENDING_ARGS_AVAIL, {}));
      }
    });
  // Every state change, whichever batch it went in (an attempt's two may be split).
  auto states = [](const proto::TaskEventBatch &b) {
    int n = 0;
    for (const auto &e : b.events()) n += e.states_size();
    return n;
  };
  int taken = 0;
  for (int i = 0; i < 50; ++i) taken += states(Take(recorder));
  for (auto &t : threads) t.join();
  taken += states(Take(recorder));
  EXPECT_EQ(taken, 2 * kThreads * kEach);
}

}  // namespace
}  // namespace lumen::worker
