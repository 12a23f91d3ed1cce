// TaskEventStore: events of one attempt merge into one record (latest state,
// first time of each state, where it ran, its error); attempts are bounded
// per job and in total, the oldest dropped first, with per-job drop counts.
#include "control/task_event_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "base/id.h"

namespace lumen::control {
namespace {

std::string TaskId(int n) {
  std::string id(24, '\0');
  id[0] = static_cast<char>(n & 0xff);
  id[1] = static_cast<char>((n >> 8) & 0xff);
  id[2] = static_cast<char>((n >> 16) & 0xff);
  id[23] = 1;
  return id;
}

proto::TaskEvent Event(int task, uint32_t job, proto::TaskState state, int64_t t, int attempt = 0) {
  proto::TaskEvent e;
  e.set_task_id(TaskId(task));
  e.set_attempt(attempt);
  e.set_job_id(job);
  e.add_states(state);
  e.add_times_ns(t);
  return e;
}

proto::TaskEventBatch Batch(std::initializer_list<proto::TaskEvent> events) {
  proto::TaskEventBatch b;
  for (const auto &e : events) *b.add_events() = e;
  return b;
}

proto::GetTaskEventsRequest AllJobs() {
  proto::GetTaskEventsRequest r;
  r.set_all_jobs(true);
  return r;
}

proto::GetTaskEventsReply Got(const TaskEventStore &store, const proto::GetTaskEventsRequest &request) {
  auto reply = store.Get(request);
  EXPECT_TRUE(reply.ok()) << reply.status().ToString();
  return reply.ok() ? *reply : proto::GetTaskEventsReply();
}

TEST(TaskEventStoreTest, MergesTheSubmittersAndTheExecutorsEventsInEitherOrder) {
  TaskEventStore store;
  auto facts = Event(1, 7, proto::PENDING_ARGS_AVAIL, 100);
  facts.set_function_name("Plus");
  facts.set_type(proto::NORMAL_TASK);
  const NodeID node = NodeID::FromRandom();
  const WorkerID worker = WorkerID::FromRandom();
  auto running = Event(1, 7, proto::RUNNING, 300);
  running.set_node_id(node.Binary());
  running.set_worker_id(worker.Binary());
  running.set_worker_pid(4242);
  auto failed = Event(1, 7, proto::FAILED, 400);
  failed.set_error_type(proto::TASK_EXECUTION_EXCEPTION);
  failed.set_error_message("boom");
  // The executor's batch (RUNNING, FAILED) arrives before the submitter's.
  store.Add(Batch({running, failed}));
  store.Add(Batch({facts, Event(1, 7, proto::SUBMITTED_TO_WORKER, 200)}));

  auto reply = Got(store, AllJobs());
  ASSERT_EQ(reply.tasks_size(), 1);
  const auto &r = reply.tasks(0);
  EXPECT_EQ(r.state(), proto::FAILED);
  EXPECT_EQ(r.function_name(), "Plus");
  EXPECT_EQ(r.name(), "Plus");  // no name option: the function's
  EXPECT_EQ(r.worker_pid(), 4242);
  EXPECT_EQ(r.node_id(), node.Binary());
  EXPECT_EQ(r.worker_id(), worker.Binary());
  EXPECT_EQ(r.error_type(), proto::TASK_EXECUTION_EXCEPTION);
  EXPECT_EQ(r.error_message(), "boom");
  EXPECT_EQ(r.state_time_ns().at(proto::PENDING_ARGS_AVAIL), 100);
  EXPECT_EQ(r.state_time_ns().at(proto::SUBMITTED_TO_WORKER), 200);
  EXPECT_EQ(r.state_time_ns().at(proto::RUNNING), 300);
  EXPECT_EQ(r.state_time_ns().at(proto::FAILED), 400);
}

TEST(TaskEventStoreTest, ARetryIsANewAttempt) {
  TaskEventStore store;
  auto lost = Event(1, 1, proto::FAILED, 10, /*attempt=*/0);
  lost.set_error_type(proto::WORKER_DIED);
  store.Add(Batch({Event(1, 1, proto::RUNNING, 5, 0), lost, Event(1, 1, proto::FINISHED, 20, 1)}));
  auto reply = Got(store, AllJobs());
  ASSERT_EQ(reply.tasks_size(), 2);
  EXPECT_EQ(reply.tasks(0).attempt(), 0);
  EXPECT_EQ(reply.tasks(0).state(), proto::FAILED);
  EXPECT_EQ(reply.tasks(1).attempt(), 1);
  EXPECT_EQ(reply.tasks(1).state(), proto::FINISHED);
}

TEST(TaskEventStoreTest, APerJobBoundDropsThatJobsOldestAndCountsThem) {
  TaskEventStore store({/*max_total=*/100, /*max_per_job=*/3});
  for (int i = 0; i < 5; ++i) store.Add(Batch({Event(i, 1, proto::FINISHED, i)}));
  store.Add(Batch({Event(100, 2, proto::FINISHED, 0)}));
  EXPECT_EQ(store.size(), 4u);
  EXPECT_EQ(store.Dropped(1), 2);
  EXPECT_EQ(store.Dropped(2), 0);
  proto::GetTaskEventsRequest job1;
  job1.set_job_id(1);
  auto reply = Got(store, job1);
  ASSERT_EQ(reply.tasks_size(), 3);
  EXPECT_EQ(reply.tasks(0).task_id(), TaskId(2));  // 0 and 1 went first
  EXPECT_EQ(reply.tasks(2).task_id(), TaskId(4));
  EXPECT_EQ(reply.dropped_per_job().at(1), 2);
  EXPECT_EQ(reply.dropped_per_job().count(2), 0u);
}

TEST(TaskEventStoreTest, TheTotalBoundDropsTheOldestOfAllJobs) {
  TaskEventStore store({/*max_total=*/3, /*max_per_job=*/100});
  store.Add(Batch({Event(1, 1, proto::FINISHED, 0)}));
  store.Add(Batch({Event(2, 2, proto::FINISHED, 0)}));
  store.Add(Batch({Event(3, 1, proto::FINISHED, 0)}));
  store.Add(Batch({Event(4, 2, proto::FINISHED, 0)}));  // task 1 (job 1) is the oldest
  store.Add(Batch({Event(5, 2, proto::FINISHED, 0)}));  // then task 2 (job 2)
  EXPECT_EQ(store.size(), 3u);
  EXPECT_EQ(store.Dropped(1), 1);
  EXPECT_EQ(store.Dropped(2), 1);
  auto reply = Got(store, AllJobs());
  ASSERT_EQ(reply.tasks_size(), 3);
  EXPECT_EQ(reply.tasks(0).task_id(), TaskId(3));
  EXPECT_EQ(reply.tasks(1).task_id(), TaskId(4));
  EXPECT_EQ(reply.tasks(2).task_id(), TaskId(5));
  EXPECT_EQ(reply.dropped_total(), 2);
}

TEST(TaskEventStoreTest, LaterEventsOfAKeptAttemptDoNotCountAsNew) {
  TaskEventStore store({/*max_total=*/2, /*max_per_job=*/2});
  store.Add(Batch({Event(1, 1, proto::PENDING_ARGS_AVAIL, 0), Event(2, 1, proto::PENDING_ARGS_AVAIL, 0)}));
  store.Add(Batch(
      {Event(1, 1, proto::RUNNING, 1), Event(2, 1, proto::FINISHED, 2), Event(1, 1, proto::FINISHED, 3)}));
  EXPECT_EQ(store.size(), 2u);
  EXPECT_EQ(store.Dropped(1), 0);
}

TEST(TaskEventStoreTest, DropsReportedBySendersAreCountedPerJob) {
  TaskEventStore store;
  proto::TaskEventBatch b;
  (*b.mutable_dropped_per_job())[3] = 5;
  store.Add(b);
  store.Add(b);
  EXPECT_EQ(store.Dropped(3), 10);
  EXPECT_EQ(Got(store, AllJobs()).dropped_per_job().at(3), 10);
}

TEST(TaskEventStoreTest, AnEventWithSeveralStatesKeepsEachTimeAndTheLatestState) {
  TaskEventStore store;
  auto e = Event(1, 1, proto::PENDING_ARGS_AVAIL, 10);
  e.add_states(proto::SUBMITTED_TO_WORKER);
  e.add_times_ns(20);
  e.add_states(proto::FINISHED);
  e.add_times_ns(30);
  e.set_function_name("Plus");
  e.set_name("plus-1");
  store.Add(Batch({e}));
  const auto r = Got(store, AllJobs()).tasks(0);
  EXPECT_EQ(r.state(), proto::FINISHED);
  EXPECT_EQ(r.name(), "plus-1");
  EXPECT_EQ(r.function_name(), "Plus");
  EXPECT_EQ(r.state_time_ns().at(proto::PENDING_ARGS_AVAIL), 10);
  EXPECT_EQ(r.state_time_ns().at(proto::SUBMITTED_TO_WORKER), 20);
  EXPECT_EQ(r.state_time_ns().at(proto::FINISHED), 30);
  EXPECT_EQ(r.state_time_ns().count(proto::RUNNING), 0u);
}

TEST(TaskEventStoreTest, AnEventAtItsSenderRunsWhereTheBatchSaysItsSenderIs) {
  TaskEventStore store;
  proto::TaskEventBatch b;
  const NodeID node = NodeID::FromRandom();
  const WorkerID worker = WorkerID::FromRandom();
  b.set_node_id(node.Binary());
  b.set_worker_id(worker.Binary());
  b.set_pid(77);
  auto here = Event(1, 1, proto::RUNNING, 5);
  here.set_at_sender(true);
  *b.add_events() = here;
  *b.add_events() = Event(2, 1, proto::RUNNING, 6);  // not at the sender: nowhere known
  store.Add(b);
  const auto reply = Got(store, AllJobs());
  ASSERT_EQ(reply.tasks_size(), 2);
  EXPECT_EQ(reply.tasks(0).node_id(), node.Binary());
  EXPECT_EQ(reply.tasks(0).worker_id(), worker.Binary());
  EXPECT_EQ(reply.tasks(0).worker_pid(), 77);
  EXPECT_TRUE(reply.tasks(1).node_id().empty());
  EXPECT_EQ(reply.tasks(1).worker_pid(), 0);
}

TEST(TaskEventStoreTest, MalformedEventsAreSkippedAndTheRestKept) {
  TaskEventStore store;
  auto short_id = Event(1, 1, proto::RUNNING, 5);
  short_id.set_task_id("abc");
  auto unknown_state = Event(2, 1, proto::RUNNING, 5);
  unknown_state.add_states(static_cast<proto::TaskState>(99));  // from a newer sender
  unknown_state.add_times_ns(6);
  auto uneven = Event(3, 1, proto::PENDING_ARGS_AVAIL, 5);
  uneven.add_states(proto::FINISHED);  // no time for it
  auto bad_node = Event(4, 1, proto::RUNNING, 5);
  bad_node.set_node_id("node");
  store.Add(Batch({short_id, unknown_state, uneven, bad_node}));
  const auto reply = Got(store, AllJobs());
  ASSERT_EQ(reply.tasks_size(), 3);
  EXPECT_EQ(reply.tasks(0).task_id(), TaskId(2));
  EXPECT_EQ(reply.tasks(0).state(), proto::RUNNING);
  EXPECT_EQ(reply.tasks(1).state(), proto::PENDING_ARGS_AVAIL);
  EXPECT_TRUE(reply.tasks(2).node_id().empty());
}

TEST(TaskEventStoreTest, ManyAttemptsOfManyFunctionsKeepTheirNamesAfterOthersAreDropped) {
  TaskEventStore store({/*max_total=*/100, /*max_per_job=*/100});
  // 5000 attempts, each of its own function: most are dropped, and with them
  // (swept) the names only they held; the kept ones still name theirs.
  for (int i = 0; i < 5000; ++i) {
    auto e = Event(i, 1, proto::FINISHED, 1 + i);
    e.set_function_name("f" + std::to_string(i));
    store.Add(Batch({e}));
  }
  const auto reply = Got(store, AllJobs());
  ASSERT_EQ(reply.tasks_size(), 100);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(reply.tasks(i).function_name(), "f" + std::to_string(4900 + i));
}

// The other process's events of an attempt come up to a batch later: once
// the bound dropped the attempt, they do not bring it back.
TEST(TaskEventStoreTest, LateEventsOfADroppedAttemptDoNotBringItBack) {
  TaskEventStore store({/*max_total=*/3, /*max_per_job=*/3});
  for (int i = 0; i < 5; ++i) store.Add(Batch({Event(i, 1, proto::SUBMITTED_TO_WORKER, 1 + i)}));
  store.Add(Batch({Event(0, 1, proto::FINISHED, 10), Event(1, 1, proto::FINISHED, 11)}));  // late
  const auto reply = Got(store, AllJobs());
  ASSERT_EQ(reply.tasks_size(), 3);
  EXPECT_EQ(reply.tasks(0).task_id(), TaskId(2));
  EXPECT_EQ(reply.tasks(2).task_id(), TaskId(4));
  EXPECT_EQ(reply.dropped_total(), 2);
}

proto::TaskEvent AtSender(proto::TaskEvent e) {
  e.set_at_sender(true);
  return e;
}

// An attempt whose submitter and executor have both sent its end has no late
// events to come: dropping it remembers nothing. One still missing a side's
// end is remembered, and that side's late event does not bring it back.
TEST(TaskEventStoreTest, OnlyADroppedAttemptWithASideStillToReportIsRemembered) {
  TaskEventStore store({/*max_total=*/1, /*max_per_job=*/1});
  store.Add(Batch({Event(1, 1, proto::FINISHED, 1), AtSender(Event(1, 1, proto::FINISHED, 2))}));
  store.Add(Batch({Event(2, 1, proto::FINISHED, 3)}));  // drops 1: both sides ended
  EXPECT_EQ(store.NumRememberedDropped(), 0u);
  store.Add(Batch({Event(3, 1, proto::SUBMITTED_TO_WORKER, 4)}));  // drops 2: its executor's end is due
  EXPECT_EQ(store.NumRememberedDropped(), 1u);
  store.Add(Batch({AtSender(Event(2, 1, proto::FINISHED, 5))}));  // that late end
  const auto reply = Got(store, AllJobs());
  ASSERT_EQ(reply.tasks_size(), 1);
  EXPECT_EQ(reply.tasks(0).task_id(), TaskId(3));
  EXPECT_EQ(reply.dropped_total(), 2);
}

// A remembered drop is forgotten once 2^17 more attempts were recorded after
// it (about two seconds of the busiest callers): the set does not keep old
// drops for ever when the later ones need no remembering.
TEST(TaskEventStoreTest, ARememberedDropIsForgottenAfterEnoughLaterAttempts) {
  TaskEventStore store({/*max_total=*/1, /*max_per_job=*/1});
  store.Add(Batch({Event(0, 1, proto::SUBMITTED_TO_WORKER, 1)}));
  constexpr int kLater = (1 << 17) + 3;  // attempts 2 to 2^17 + 2 came after the drop, then one more
  proto::TaskEventBatch batch;
  for (int i = 1; i <= kLater; ++i) {
    *batch.add_events() = Event(i, 1, proto::FINISHED, 1 + i);
    *batch.add_events() = AtSender(Event(i, 1, proto::FINISHED, 1 + i));
    if (i == 1) {
      store.Add(batch);  // drops 0, remembered
      batch.Clear();
      EXPECT_EQ(store.NumRememberedDropped(), 1u);
    }
  }
  store.Add(batch);
  EXPECT_EQ(store.NumRememberedDropped(), 0u);
  EXPECT_EQ(store.size(), 1u);
}

// Both bounds over many jobs, against a plain model of the rules: a new
// attempt past its job's bound drops that job's oldest; past the total
// bound, the oldest of all.
TEST(TaskEventStoreTest, TheBoundsOverManyJobsKeepWhatAPlainModelKeeps) {
  TaskEventStore store({/*max_total=*/40, /*max_per_job=*/5});
  std::vector<std::pair<int, uint32_t>> model;  // (task, job), oldest first
  std::map<uint32_t, int64_t> dropped;
  uint32_t rng = 12345;
  for (int task = 0; task < 2000; ++task) {
    rng = rng * 1103515245 + 12345;
    const uint32_t job = 1 + (rng >> 16) % 50;
    store.Add(Batch({Event(task, job, proto::FINISHED, 1 + task)}));
    model.push_back({task, job});
    if (std::count_if(model.begin(), model.end(), [&](const auto &m) { return m.second == job; }) > 5) {
      model.erase(std::find_if(model.begin(), model.end(), [&](const auto &m) { return m.second == job; }));
      ++dropped[job];
    }
    while (model.size() > 40) {
      ++dropped[model.front().second];
      model.erase(model.begin());
    }
  }
  const auto reply = Got(store, AllJobs());
  ASSERT_EQ(reply.tasks_size(), static_cast<int>(model.size()));
  for (size_t i = 0; i < model.size(); ++i) EXPECT_EQ(reply.tasks(i).task_id(), TaskId(model[i].first)) << i;
  for (const auto &[job, n] : dropped) EXPECT_EQ(store.Dropped(job), n) << job;
}

// The state API's queries are answered here: filters first, then the
// offset and the limit, with the counts of the whole match.
TEST(TaskEventStoreTest, AQueryFiltersThenPagesAndCountsEveryMatch) {
  TaskEventStore store;
  for (int i = 0; i < 50; ++i) {
    auto e = Event(i, 1, i % 5 == 0 ? proto::RUNNING : proto::FINISHED, 1 + i);
    e.set_function_name(i % 2 == 0 ? "Even" : "Odd");
    store.Add(Batch({e}));
  }
  proto::GetTaskEventsRequest request = AllJobs();
  proto::TaskFilter *f = request.add_filters();
  f->set_key("state");
  f->set_equal(true);
  f->set_value("running");  // any case
  request.set_offset(3);
  request.set_limit(4);
  auto reply = Got(store, request);
  EXPECT_EQ(reply.total(), 50);
  EXPECT_EQ(reply.num_filtered(), 10);
  ASSERT_EQ(reply.tasks_size(), 4);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(reply.tasks(i).task_id(), TaskId(5 * (3 + i)));

  // The last page is short; past the end, nothing.
  request.set_offset(8);
  EXPECT_EQ(Got(store, request).tasks_size(), 2);
  request.set_offset(10);
  EXPECT_EQ(Got(store, request).tasks_size(), 0);
  EXPECT_EQ(Got(store, request).num_filtered(), 10);

  // Two filters AND; "!=" too.
  request.set_offset(0);
  request.set_limit(0);
  proto::TaskFilter *g = request.add_filters();
  g->set_key("func_or_class_name");
  g->set_equal(false);
  g->set_value("EVEN");
  reply = Got(store, request);
  ASSERT_EQ(reply.tasks_size(), 5);  // 5, 15, 25, 35, 45
  EXPECT_EQ(reply.tasks(0).task_id(), TaskId(5));
  EXPECT_EQ(reply.tasks(4).task_id(), TaskId(45));
}

TEST(TaskEventStoreTest, ABadQueryIsAnInvalidArgument) {
  TaskEventStore store;
  proto::GetTaskEventsRequest request = AllJobs();
  request.add_filters()->set_key("colour");
  EXPECT_EQ(store.Get(request).status().code(), StatusCode::kInvalidArgument);
  request = AllJobs();
  request.set_offset(-1);
  EXPECT_EQ(store.Get(request).status().code(), StatusCode::kInvalidArgument);
}

// The summary counts each task once, by its latest matching attempt.
TEST(TaskEventStoreTest, TheSummaryCountsEachTasksLatestMatchingAttempt) {
  TaskEventStore store;
  auto named = [](int task, proto::TaskState state, int attempt, const char *fn) {
    auto e = Event(task, 1, state, 10 + task, attempt);
    e.set_function_name(fn);
    return e;
  };
  store.Add(Batch({named(1, proto::FINISHED, 0, "Plus"), named(2, proto::FAILED, 0, "Plus"),
                   named(2, proto::FAILED, 1, "Plus"), named(2, proto::RUNNING, 2, "Plus"),
                   named(3, proto::FAILED, 0, "Boom")}));
  proto::GetTaskEventsRequest request = AllJobs();
  request.set_summary(true);
  auto reply = Got(store, request);
  EXPECT_EQ(reply.total(), 5);
  EXPECT_EQ(reply.tasks_size(), 0);
  std::map<std::pair<std::string, int>, int64_t> counts;
  for (const auto &c : reply.counts()) counts[{c.function_name(), c.state()}] += c.count();
  EXPECT_EQ(counts, (std::map<std::pair<std::string, int>, int64_t>{{{"Plus", proto::FINISHED}, 1},
                                                                    {{"Plus", proto::RUNNING}, 1},
                                                                    {{"Boom", proto::FAILED}, 1}}));

  // Only FAILED attempts: task 2's latest of those is attempt 1.
  proto::TaskFilter *f = request.add_filters();
  f->set_key("state");
  f->set_equal(true);
  f->set_value("FAILED");
  reply = Got(store, request);
  EXPECT_EQ(reply.num_filtered(), 3);
  counts.clear();
  for (const auto &c : reply.counts()) counts[{c.function_name(), c.state()}] += c.count();
  EXPECT_EQ(counts, (std::map<std::pair<std::string, int>, int64_t>{{{"Plus", proto::FAILED}, 1},
                                                                    {{"Boom", proto::FAILED}, 1}}));
}

// Across jobs the order is the order of arrival; one job's query sees its own.
TEST(TaskEventStoreTest, AttemptsOfSeveralJobsComeOldestFirst) {
  TaskEventStore store;
  for (int i = 0; i < 12; ++i) store.Add(Batch({Event(i, 1 + i % 3, proto::FINISHED, 1 + i)}));
  auto reply = Got(store, AllJobs());
  ASSERT_EQ(reply.tasks_size(), 12);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(reply.tasks(i).task_id(), TaskId(i));
  proto::GetTaskEventsRequest job2;
  job2.set_job_id(2);
  reply = Got(store, job2);
  EXPECT_EQ(reply.total(), 4);
  ASSERT_EQ(reply.tasks_size(), 4);
  EXPECT_EQ(reply.tasks(3).task_id(), TaskId(10));
}

}  // namespace
}  // namespace lumen::control
