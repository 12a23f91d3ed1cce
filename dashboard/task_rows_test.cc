// A task filter means the same wherever it is applied: the control service
// answers the state API's task queries itself (control/task_query.h), and
// what it matches must be what the dashboard's own list filters
// (list_query.h) would keep of the rows TaskRows makes. Every filter key is
// tried with every text its rows show (and others), either case, both
// predicates, over records with and without each optional field.
#include "dashboard/task_rows.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "control/task_event_store.h"

namespace lumen::dashboard {
namespace {

using Attempts = std::set<std::pair<std::string, int64_t>>;  // (task id hex, attempt)

std::string TaskId(int n) {
  std::string id(24, '\0');
  id[0] = static_cast<char>(n);
  id[23] = static_cast<char>(0xAB);
  return id;
}

// Records of every shape: no facts yet, a normal task, an actor creation and
// call, a failure with and without a named error, a retry, two jobs, with and
// without node, worker, pid and parent.
proto::TaskEventBatch Shapes() {
  proto::TaskEventBatch batch;
  batch.set_node_id(std::string(16, '\x5A'));
  auto add = [&](int task, int attempt, uint32_t job, proto::TaskState state) -> proto::TaskEvent & {
    proto::TaskEvent *e = batch.add_events();
    e->set_task_id(TaskId(task));
    e->set_attempt(attempt);
    e->set_job_id(job);
    e->add_states(state);
    e->add_times_ns(1000 + task);
    return *e;
  };
  add(1, 0, 1, proto::PENDING_ARGS_AVAIL);  // no facts
  auto &plain = add(2, 0, 1, proto::FINISHED);
  plain.set_function_name("Plus");
  plain.set_worker_pid(321);
  plain.set_worker_id(std::string(16, '\x11'));
  plain.set_at_sender(true);
  auto &named = add(3, 0, 2, proto::RUNNING);
  named.set_function_name("Plus");
  named.set_name("plus-one");
  named.set_parent_task_id(TaskId(2));
  auto &create = add(4, 0, 1, proto::FINISHED);
  create.set_function_name("Counter");
  create.set_type(proto::ACTOR_CREATION_TASK);
  create.set_actor_id(std::string(16, '\x22'));
  auto &call = add(5, 0, 1, proto::FAILED);
  call.set_function_name("Counter::Add");
  call.set_type(proto::ACTOR_TASK);
  call.set_actor_id(std::string(16, '\x22'));
  call.set_error_type(proto::ACTOR_DIED);
  call.set_error_message("the actor died");
  auto &unnamed_error = add(6, 0, 0x01020304, proto::FAILED);
  unnamed_error.set_function_name("Odd");
  unnamed_error.set_error_type(static_cast<proto::ErrorType>(42));  // from a newer sender: no name
  auto &retry = add(2, 1, 1, proto::RUNNING);
  retry.set_function_name("Plus");
  retry.set_worker_pid(654);
  return batch;
}

Attempts OfRows(const std::vector<Json> &rows) {
  Attempts out;
  for (const Json &r : rows)
    out.insert({r["task_id"].get<std::string>(), r["attempt_number"].get<int64_t>()});
  return out;
}

Attempts OfReply(const proto::GetTaskEventsReply &reply) {
  Attempts out;
  for (const proto::TaskRecord &t : reply.tasks()) out.insert({ToHex(t.task_id()), t.attempt()});
  return out;
}

std::string Upper(std::string s) {
  for (char &c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

TEST(TaskRowsTest, AFilterMatchesTheSameAttemptsInTheControlServiceAsInTheDashboard) {
  control::TaskEventStore store;
  store.Add(Shapes());
  proto::GetTaskEventsRequest all;
  all.set_all_jobs(true);
  auto everything = store.Get(all);
  ASSERT_TRUE(everything.ok());
  const std::vector<Json> rows = TaskRows(*everything);
  ASSERT_EQ(rows.size(), 7u);

  int tried = 0;
  for (const std::string &key : control::TaskFilterKeys()) {
    std::set<std::string> values{"", "nonsense", "0", "00", "NIL"};
    for (const Json &row : rows) {
      const Json &v = row[key];
      if (v.is_null()) continue;
      const std::string text = v.is_string() ? v.get<std::string>() : v.dump();
      values.insert(text);
      values.insert(Upper(text));
    }
    for (const std::string &value : values) {
      for (bool equal : {true, false}) {
        ListQuery query;
        query.limit = kMaxListLimit;
        query.filters.push_back({key, equal, value});
        const Attempts want = OfRows(ApplyListQuery(query, rows, {}).rows.get<std::vector<Json>>());
        proto::GetTaskEventsRequest request = all;
        proto::TaskFilter *f = request.add_filters();
        f->set_key(key);
        f->set_equal(equal);
        f->set_value(value);
        auto got = store.Get(request);
        ASSERT_TRUE(got.ok()) << got.status().ToString();
        EXPECT_EQ(OfReply(*got), want) << key << (equal ? " = " : " != ") << "'" << value << "'";
        EXPECT_EQ(got->num_filtered(), static_cast<int64_t>(want.size()));
        ++tried;
      }
    }
  }
  EXPECT_GT(tried, 200);
}

TEST(TaskRowsTest, TheSummaryNamesEachFunctionWithItsStatesAndWhatWasDropped) {
  control::TaskEventStore store;
  proto::TaskEventBatch batch = Shapes();
  (*batch.mutable_dropped_per_job())[1] = 7;
  store.Add(batch);
  proto::GetTaskEventsRequest request;
  request.set_all_jobs(true);
  request.set_summary(true);
  auto reply = store.Get(request);
  ASSERT_TRUE(reply.ok());
  const Json summary = SummarizeTasks(*reply);
  const Json &cluster = summary["result"]["node_id_to_summary"]["cluster"];
  EXPECT_EQ(cluster["total_tasks"], 6);                                 // 7 attempts of 6 tasks
  EXPECT_EQ(cluster["summary"]["Plus"]["state_counts"]["RUNNING"], 2);  // the retry and plus-one
  EXPECT_EQ(cluster["summary"]["Counter"]["type"], "ACTOR_CREATION_TASK");
  EXPECT_EQ(cluster["total_actor_tasks"], 1);
  EXPECT_EQ(summary["num_dropped"], 7);
  ASSERT_TRUE(summary["warnings"].is_array());
  EXPECT_NE(summary["warnings"][0].get<std::string>().find("7 task attempts"), std::string::npos);
}

}  // namespace
}  // namespace lumen::dashboard
