#include "dashboard/timeline.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>
#include <utility>
#include <vector>

#include "api_runtime/runtime_nodes.h"
#include "base/encoding.h"
#include "control/task_query.h"
#include "dashboard/task_rows.h"

namespace lumen::dashboard {
namespace {

// The trace is plain nlohmann::json (what timeline.h returns); the state API's Json (list_query.h) is
// ordered_json.
using TraceJson = nlohmann::json;

double Micros(int64_t ns) { return static_cast<double>(ns) / 1000.0; }

// Numbers for the trace's processes (nodes) and threads (workers), in the
// order they are met; 0 is the process of attempts no node took.
class Tracks {
 public:
  int Node(const std::string &node_id, TraceJson &events) {
    auto [it, fresh] = nodes_.try_emplace(node_id, static_cast<int>(nodes_.size()) + 1);
    if (fresh)
      events.push_back({{"name", "process_name"},
                        {"ph", "M"},
                        {"pid", it->second},
                        {"args", {{"name", "Node " + ToHex(node_id).substr(0, 12)}}}});
    return it->second;
  }
  int Worker(int pid, const std::string &worker_id, int worker_pid, TraceJson &events) {
    auto [it, fresh] = workers_.try_emplace({pid, worker_id}, static_cast<int>(workers_.size()) + 1);
    if (fresh)
      events.push_back(
          {{"name", "thread_name"},
           {"ph", "M"},
           {"pid", pid},
           {"tid", it->second},
           {"args",
            {{"name", "worker " + ToHex(worker_id).substr(0, 12) +
                          (worker_pid > 0 ? " (pid " + std::to_string(worker_pid) + ")" : "")}}}});
    return it->second;
  }

 private:
  std::map<std::string, int> nodes_;
  std::map<std::pair<int, std::string>, int> workers_;
};

}  // namespace

TraceJson ChromeTrace(const proto::GetTaskEventsReply &tasks, const std::string &job_id_hex, int64_t now_ns) {
  TraceJson events = TraceJson::array();
  Tracks tracks;
  bool unscheduled = false;
  for (const proto::TaskRecord &t : tasks.tasks()) {
    if (!job_id_hex.empty() && api::JobIdHex(t.job_id()) != job_id_hex) continue;
    std::vector<std::pair<int64_t, int>> phases;  // (when entered, state), in time order
    for (const auto &[state, ns] : t.state_time_ns()) phases.emplace_back(ns, state);
    if (phases.empty()) continue;
    std::sort(phases.begin(), phases.end());
    const std::string name = t.function_name().empty() ? t.name() : t.function_name();
    const std::string task_id = ToHex(t.task_id());
    TraceJson args{{"task_id", task_id},
                   {"attempt_number", t.attempt()},
                   {"job_id", api::JobIdHex(t.job_id())},
                   {"func_or_class_name", name},
                   {"state", control::TaskStateName(t.state())}};
    if (!t.actor_id().empty()) args["actor_id"] = ToHex(t.actor_id());
    if (!t.error_message().empty()) args["error_message"] = t.error_message();
    int pid = 0;
    if (!t.node_id().empty()) {
      pid = tracks.Node(t.node_id(), events);
    } else if (!unscheduled) {
      unscheduled = true;
      events.push_back(
          {{"name", "process_name"}, {"ph", "M"}, {"pid", 0}, {"args", {{"name", "Not scheduled"}}}});
    }
    // Its phases, one async track per attempt.
    const std::string async_id = task_id + ":" + std::to_string(t.attempt());
    for (size_t i = 0; i < phases.size(); ++i) {
      const int state = phases[i].second;
      if (state == proto::FINISHED || state == proto::FAILED) break;  // an end, not a phase
      const int64_t end = i + 1 < phases.size() ? phases[i + 1].first : std::max(now_ns, phases[i].first);
      const TraceJson common{{"name", control::TaskStateName(state)},
                             {"cat", "task_state"},
                             {"id", async_id},
                             {"pid", pid},
                             {"tid", 0}};
      TraceJson begin = common, finish = common;
      begin["ph"] = "b";
      begin["ts"] = Micros(phases[i].first);
      begin["args"] = {{"task", name}, {"task_id", task_id}, {"attempt_number", t.attempt()}};
      finish["ph"] = "e";
      finish["ts"] = Micros(end);
      events.push_back(std::move(begin));
      events.push_back(std::move(finish));
    }
    // Its run, on its worker's thread.
    auto running = t.state_time_ns().find(proto::RUNNING);
    if (running == t.state_time_ns().end() || pid == 0 || t.worker_id().empty()) continue;
    int64_t end = now_ns;
    for (int state : {proto::FINISHED, proto::FAILED})
      if (auto it = t.state_time_ns().find(state); it != t.state_time_ns().end()) end = it->second;
    end = std::max(end, running->second);
    const char *color = t.state() == proto::FAILED     ? "terrible"
                        : t.state() == proto::FINISHED ? "good"
                                                       : "thread_state_running";
    events.push_back({{"name", name},
                      {"cat", "task"},
                      {"ph", "X"},
                      {"pid", pid},
                      {"tid", tracks.Worker(pid, t.worker_id(), t.worker_pid(), events)},
                      {"ts", Micros(running->second)},
                      {"dur", Micros(end - running->second)},
                      {"cname", color},
                      {"args", std::move(args)}});
  }
  return events;
}

void RouteTimeline(httplib::Server &http, std::function<StatusOr<proto::GetTaskEventsReply>()> tasks) {
  http.Get("/api/v0/tasks/timeline", [tasks = std::move(tasks)](const httplib::Request &req,
                                                                httplib::Response &res) {
    const std::string job = req.get_param_value("job_id");
    if (job.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
      res.status = 400;
      res.set_content(
          TraceJson{{"result", false}, {"msg", "job_id must be a job's hex id, got '" + job + "'"}}.dump(),
          "application/json");
      return;
    }
    auto reply = tasks();
    if (!reply.ok()) {
      res.status = 500;
      res.set_content(TraceJson{{"result", false}, {"msg", reply.status().message()}}.dump(),
                      "application/json");
      return;
    }
    const auto now = std::chrono::system_clock::now();
    const int64_t now_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
    if (req.get_param_value("download") == "1") {
      const std::time_t t = std::chrono::system_clock::to_time_t(now);
      std::tm tm{};
      localtime_r(&t, &tm);
      char stamp[32];
      std::strftime(stamp, sizeof(stamp), "%Y-%m-%d_%H-%M-%S", &tm);
      res.set_header("Content-Disposition", "attachment; filename=\"timeline-" + (job.empty() ? "all" : job) +
                                                "-" + std::string(stamp) + ".json\"");
    }
    res.set_content(ChromeTrace(*reply, job, now_ns).dump(), "application/json");
  });
}

}  // namespace lumen::dashboard
