// The task timeline (Ray's `ray timeline` and /api/v0/tasks/timeline): the
// task events as Chrome Trace Event JSON, which Perfetto and chrome://tracing
// open. One process per node ("Node <id>"), one thread per worker process
// ("worker <id> (pid N)"); each attempt that ran is a complete event ("X")
// on its worker's thread from RUNNING to FINISHED or FAILED, and each of its
// state phases (PENDING_ARGS_AVAIL, PENDING_NODE_ASSIGNMENT,
// SUBMITTED_TO_WORKER, RUNNING) is an async slice ("b"/"e", one track per
// attempt) from the moment it entered the state to the next one. Complete
// events on a thread never overlap (a worker runs one task at a time), the
// nesting Perfetto needs to draw them right (Ray's #27921).
//
// Threading: pure functions; RouteTimeline's handler runs on cpp-httplib's pool threads.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "base/status.h"
#include "protocol/control.pb.h"

namespace httplib {
class Server;
}

namespace lumen::dashboard {

/// The trace (a JSON array of events, timestamps in microseconds) of the
/// attempts in `tasks` of job `job_id_hex` (empty: every job). `now_ns`
/// ends the slices of attempts still running.
nlohmann::json ChromeTrace(const proto::GetTaskEventsReply &tasks, const std::string &job_id_hex,
                           int64_t now_ns);

/// GET /api/v0/tasks/timeline[?job_id=HEX][&download=1]: the trace; with
/// download, as the attachment timeline-<job>-<time>.json.
void RouteTimeline(httplib::Server &http, std::function<StatusOr<proto::GetTaskEventsReply>()> tasks);

}  // namespace lumen::dashboard
