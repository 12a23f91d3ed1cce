// The task timeline as Chrome Trace Event JSON: the events a trace viewer
// needs (metadata naming nodes and workers, a complete event per run, a
// begin and an end per state phase), their times, and the job filter.
#include "dashboard/timeline.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace lumen::dashboard {
namespace {

using Json = nlohmann::json;

constexpr int64_t kSecond = 1000000000;

proto::TaskRecord *Add(proto::GetTaskEventsReply &reply, char id, uint32_t job, const std::string &fn,
                       proto::TaskState state, std::map<proto::TaskState, int64_t> times, char node,
                       char worker) {
  proto::TaskRecord *t = reply.add_tasks();
  t->set_task_id(std::string(24, id));
  t->set_job_id(job);
  t->set_function_name(fn);
  t->set_state(state);
  if (node) t->set_node_id(std::string(28, node));
  if (worker) t->set_worker_id(std::string(16, worker));
  t->set_worker_pid(worker ? 4000 + worker : 0);
  for (auto &[s, ns] : times) (*t->mutable_state_time_ns())[s] = ns;
  return t;
}

std::vector<Json> Of(const Json &trace, const std::string &ph) {
  std::vector<Json> out;
  for (const Json &e : trace)
    if (e["ph"] == ph) out.push_back(e);
  return out;
}

TEST(TimelineTest, RunsAreCompleteEventsOnTheirWorkersAndPhasesAreAsyncSlices) {
  proto::GetTaskEventsReply reply;
  Add(reply, 1, 1, "Square", proto::FINISHED,
      {{proto::PENDING_ARGS_AVAIL, 10 * kSecond},
       {proto::PENDING_NODE_ASSIGNMENT, 11 * kSecond},
       {proto::RUNNING, 12 * kSecond},
       {proto::FINISHED, 15 * kSecond}},
      'a', 'w');
  Add(reply, 2, 1, "Boom", proto::FAILED, {{proto::RUNNING, 16 * kSecond}, {proto::FAILED, 17 * kSecond}},
      'a', 'w')
      ->set_error_message("boom");
  Add(reply, 3, 2, "Slow", proto::RUNNING, {{proto::RUNNING, 18 * kSecond}}, 'b', 'v');
  Add(reply, 4, 2, "Waiting", proto::PENDING_NODE_ASSIGNMENT,
      {{proto::PENDING_NODE_ASSIGNMENT, 19 * kSecond}}, 0, 0);
  const Json trace = ChromeTrace(reply, "", 20 * kSecond);
  ASSERT_TRUE(trace.is_array());

  auto runs = Of(trace, "X");
  ASSERT_EQ(runs.size(), 3u) << trace.dump(1);
  EXPECT_EQ(runs[0]["name"], "Square");
  EXPECT_EQ(runs[0]["ts"], 12e6);
  EXPECT_EQ(runs[0]["dur"], 3e6);
  EXPECT_EQ(runs[0]["cname"], "good");
  std::string square_id;
  for (int i = 0; i < 24; ++i) square_id += "01";
  EXPECT_EQ(runs[0]["args"]["task_id"], square_id);
  EXPECT_EQ(runs[0]["args"]["job_id"], "01000000");
  EXPECT_EQ(runs[1]["name"], "Boom");
  EXPECT_EQ(runs[1]["cname"], "terrible");
  EXPECT_EQ(runs[1]["args"]["error_message"], "boom");
  EXPECT_EQ(runs[0]["pid"], runs[1]["pid"]);  // one node, one worker: one thread, in turn
  EXPECT_EQ(runs[0]["tid"], runs[1]["tid"]);
  EXPECT_LE(runs[0]["ts"].get<double>() + runs[0]["dur"].get<double>(), runs[1]["ts"].get<double>());
  EXPECT_EQ(runs[2]["name"], "Slow");  // still running: up to now
  EXPECT_EQ(runs[2]["dur"], 2e6);
  EXPECT_NE(runs[2]["pid"], runs[0]["pid"]);

  // Metadata names each node and worker that appears.
  std::map<int, std::string> processes;
  for (const Json &m : Of(trace, "M"))
    if (m["name"] == "process_name") processes[m["pid"].get<int>()] = m["args"]["name"];
  EXPECT_EQ(processes.size(), 3u) << trace.dump(1);  // two nodes and "Not scheduled"
  EXPECT_EQ(processes[0], "Not scheduled");
  EXPECT_EQ(processes[runs[0]["pid"].get<int>()].rfind("Node 616161", 0), 0u);
  int threads = 0;
  for (const Json &m : Of(trace, "M"))
    if (m["name"] == "thread_name") {
      ++threads;
      EXPECT_NE(m["args"]["name"].get<std::string>().find("(pid "), std::string::npos);
    }
  EXPECT_EQ(threads, 2);

  // Every phase begins and ends, on its attempt's own track.
  auto begins = Of(trace, "b"), ends = Of(trace, "e");
  ASSERT_EQ(begins.size(), ends.size());
  // Square: 3 phases; Boom: 1; Slow: 1; Waiting: 1.
  EXPECT_EQ(begins.size(), 6u) << trace.dump(1);
  for (size_t i = 0; i < begins.size(); ++i) {
    EXPECT_EQ(begins[i]["id"], ends[i]["id"]);
    EXPECT_EQ(begins[i]["name"], ends[i]["name"]);
    EXPECT_LE(begins[i]["ts"].get<double>(), ends[i]["ts"].get<double>());
  }
  EXPECT_EQ(begins[0]["name"], "PENDING_ARGS_AVAIL");
  EXPECT_EQ(ends[0]["ts"], 11e6);
  EXPECT_EQ(begins[2]["name"], "RUNNING");
  EXPECT_EQ(ends[2]["ts"], 15e6);
}

TEST(TimelineTest, OneJobOnly) {
  proto::GetTaskEventsReply reply;
  Add(reply, 1, 1, "A", proto::FINISHED, {{proto::RUNNING, kSecond}, {proto::FINISHED, 2 * kSecond}}, 'a',
      'w');
  Add(reply, 2, 2, "B", proto::FINISHED, {{proto::RUNNING, kSecond}, {proto::FINISHED, 2 * kSecond}}, 'a',
      'v');
  auto runs = Of(ChromeTrace(reply, "02000000", 3 * kSecond), "X");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0]["name"], "B");
  EXPECT_EQ(runs[0]["args"]["job_id"], "02000000");
  EXPECT_TRUE(ChromeTrace(reply, "09000000", 3 * kSecond).empty());
}

}  // namespace
}  // namespace lumen::dashboard
