// The Job Submission API over HTTP (Ray's `/api/jobs/` shapes, bare JSON
// objects rather than the state API's envelope, errors as plain text):
// - POST /api/jobs/: {entrypoint, submission_id?, runtime_env?, metadata?}
//   -> {submission_id}
// - GET /api/jobs/: [JobDetails...]; GET /api/jobs/{id}: JobDetails (404 if
//   unknown)
// - GET /api/jobs/{id}/logs: {"logs": "<the whole log>"}
// - GET /api/jobs/{id}/logs/tail: the log as a chunked text/plain stream that
//   ends with the job (Lumen's form of Ray's WebSocket tail)
// - POST /api/jobs/{id}/stop: {"stopped": bool}
// - DELETE /api/jobs/{id}: {"deleted": true} (400 while it runs)
// - GET|PUT /api/packages/gcs/{name}: whether the head has a working_dir
//   package (200 or 404); upload one, the zip as the body (package_store.h)
// Lumen's extension: `entrypoint` may be a JSON array of strings, the argv
// itself; a string is split into words as a shell would, with no shell and
// no expansion (SplitCommandLine). The request guard (token, origin) runs
// before these routes.
//
// Threading: the handlers run on cpp-httplib's pool threads; JobManager is
// thread-safe. A tail stream polls the log file and ends when the job ends,
// its client goes, or `stopping` is set.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "dashboard/job_manager.h"
#include "dashboard/package_store.h"
#include "protocol/control.pb.h"

namespace httplib {
class Server;
}

namespace lumen::dashboard {

/// Ray's JobSubmitRequest body as a JobRequest; InvalidArgument (with what
/// is wrong) for bad JSON, a missing or empty entrypoint, a field of the wrong
/// type, or a field Lumen does not support.
StatusOr<JobRequest> ParseJobRequest(const std::string &body, const std::string &submitter);

/// Ray's JobDetails for one job, with Lumen's extra fields.
nlohmann::ordered_json JobDetails(const JobInfo &job);

/// The state API's job rows (`rows`, JobRows of `drivers`: the drivers the
/// control service knows) with the submitted jobs merged in, as Ray's
/// /api/v0/jobs lists both: the row of a submitted job's driver becomes the
/// job's SUBMISSION row (its submission_id, status and times); a submitted
/// job whose driver has not registered gets a row of its own (no job_id).
std::vector<nlohmann::ordered_json> WithSubmittedJobs(std::vector<nlohmann::ordered_json> rows,
                                                      const proto::GetAllJobsReply &drivers,
                                                      JobManager &jobs);

/// `drivers`: the cluster's jobs (the control service's), where a submitted
/// job's driver is found once it has called ray::Init(): the driver is the
/// job's process, or a process of its group.
/// A job whose working_dir is a package ("gcs://<name>") runs in the folder
/// `packages` unpacks it to; /api/packages/ serves the uploads.
void RouteJobs(httplib::Server &http, JobManager &jobs, PackageStore &packages,
               std::function<StatusOr<proto::GetAllJobsReply>()> drivers, const std::atomic<bool> &stopping);

}  // namespace lumen::dashboard
