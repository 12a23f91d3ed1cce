#include "dashboard/job_routes.h"

#include <httplib.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <set>
#include <utility>

#include "api_runtime/runtime_nodes.h"
#include "dashboard/log_routes.h"

namespace lumen::dashboard {
namespace {

using Json = nlohmann::ordered_json;

// A submission's body is a command and a few settings, never bulk data.
constexpr size_t kMaxBodyBytes = 1 << 20;

void SendText(httplib::Response &res, int status, const std::string &text) {
  res.status = status;
  res.set_content(text + "\n", "text/plain; charset=utf-8");
}

void SendJson(httplib::Response &res, const Json &body) {
  res.status = 200;
  res.set_content(body.dump(), "application/json");
}

int HttpStatus(const Status &st) {
  switch (st.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kAlreadyExists:
      return 400;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kCancelled:
      return 503;
    default:
      return 500;
  }
}

Status StringMap(const Json &value, const std::string &what, std::map<std::string, std::string> *out) {
  if (!value.is_object()) return Status::InvalidArgument(what + " must be a JSON object of strings");
  for (auto it = value.begin(); it != value.end(); ++it) {
    if (!it.value().is_string())
      return Status::InvalidArgument(what + "['" + it.key() + "'] must be a string, got " +
                                     it.value().dump());
    (*out)[it.key()] = it.value().get<std::string>();
  }
  return Status::OK();
}

Status ParseRuntimeEnv(const Json &env, JobRequest *request) {
  if (!env.is_object()) return Status::InvalidArgument("runtime_env must be a JSON object");
  for (auto it = env.begin(); it != env.end(); ++it) {
    if (it.key() == "working_dir") {
      if (!it.value().is_string())
        return Status::InvalidArgument(
            "runtime_env.working_dir must be a string (a folder on the head, or gcs://<an uploaded "
            "package>)");
      request->working_dir = it.value().get<std::string>();
    } else if (it.key() == "env_vars") {
      LUMEN_RETURN_IF_ERROR(StringMap(it.value(), "runtime_env.env_vars", &request->env_vars));
    } else if (it.key() == "excludes") {
      // What the submitter left out of its working_dir package: used there,
      // kept here only to be shown.
      if (!it.value().is_array() ||
          !std::all_of(it.value().begin(), it.value().end(), [](const Json &p) { return p.is_string(); }))
        return Status::InvalidArgument("runtime_env.excludes must be a list of strings");
    } else {
      return Status::InvalidArgument("runtime_env." + it.key() +
                                     " is not supported by Lumen (working_dir, excludes and env_vars are)");
    }
  }
  request->runtime_env_json = env.dump();
  return Status::OK();
}

std::string ReadWholeFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The {id} of /api/jobs/{id}..., checked before any use.
StatusOr<std::string> JobId(const httplib::Request &req) {
  const std::string id = req.matches[1];
  if (!ValidSubmissionId(id)) return Status::NotFound("Job " + id + " does not exist");
  return id;
}

// The process group of `pid`; 0 if it is gone.
int ProcessGroupOf(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = stat.rfind(')');
  char state = 0;
  int ppid = 0, pgrp = 0;
  if (close == std::string::npos ||
      std::sscanf(stat.c_str() + close + 1, " %c %d %d", &state, &ppid, &pgrp) != 3)
    return 0;
  return pgrp;
}

// Finds the cluster job of each submitted job whose driver is not known yet:
// the one whose driver is the job's process or (while it lives) one of its
// group.
void LinkDrivers(JobManager &jobs, const proto::GetAllJobsReply &cluster) {
  std::vector<JobInfo> unlinked;
  for (JobInfo &job : jobs.List())
    if (job.pid > 0 && job.driver_job_id.empty()) unlinked.push_back(std::move(job));
  if (unlinked.empty()) return;
  for (const proto::JobInfo &driver : cluster.jobs()) {
    if (driver.driver_pid() <= 0) continue;
    const int pid = driver.driver_pid();
    int group = -1;  // read once, only if needed
    for (const JobInfo &job : unlinked) {
      if (pid != job.pid) {
        if (group < 0) group = driver.finished() ? 0 : ProcessGroupOf(pid);
        if (group != job.pid) continue;
      }
      jobs.NoteDriver(job.submission_id, api::JobIdHex(driver.job_id()), pid);
    }
  }
}

// As LinkDrivers, asking `drivers` for the cluster's jobs only if some
// submitted job needs it. Best effort: without the control service the jobs
// stay unlinked.
void LinkDrivers(JobManager &jobs, const std::function<StatusOr<proto::GetAllJobsReply>()> &drivers) {
  bool needed = false;
  for (const JobInfo &job : jobs.List()) needed |= job.pid > 0 && job.driver_job_id.empty();
  if (!needed) return;
  if (auto cluster = drivers(); cluster.ok()) LinkDrivers(jobs, *cluster);
}

// Ray's package API: GET says whether the head has a package (200, or 404),
// PUT uploads one (the zip as the body, streamed to a file; 413 if too big).
void RoutePackages(httplib::Server &http, PackageStore &packages) {
  constexpr char kPath[] = R"(/api/packages/([^/]+)/([^/]+))";
  auto check = [](const httplib::Request &req, httplib::Response &res) {
    if (req.matches[1] != "gcs") {
      SendText(res, 400,
               "unknown package protocol '" + std::string(req.matches[1]) + "' (Lumen keeps gcs:// only)");
      return false;
    }
    if (!ValidPackageName(std::string(req.matches[2]))) {
      SendText(res, 400, "'" + std::string(req.matches[2]) + "' is not a package name (_ray_pkg_<hex>.zip)");
      return false;
    }
    return true;
  };
  http.Get(kPath, [&packages, check](const httplib::Request &req, httplib::Response &res) {
    if (!check(req, res)) return;
    if (packages.Has(std::string(req.matches[2]))) return SendText(res, 200, "package exists");
    SendText(res, 404, "package not found");
  });
  http.Put(kPath, [&packages, check](const httplib::Request &req, httplib::Response &res,
                                     const httplib::ContentReader &reader) {
    if (!check(req, res)) return;
    if (req.get_header_value<uint64_t>("Content-Length") > packages.max_bytes())
      return SendText(res, 413,
                      "the package is over the " + std::to_string(packages.max_bytes() >> 20) +
                          " MiB a package may hold");
    Status st = packages.Put(std::string(req.matches[2]), [&reader](const auto &sink) {
      return reader([&sink](const char *data, size_t size) { return sink(data, size); });
    });
    if (st.code() == StatusCode::kInvalidArgument) return SendText(res, 413, st.message());
    if (!st.ok()) return SendText(res, 500, st.message());
    SendText(res, 200, "package uploaded");
  });
}

}  // namespace

StatusOr<JobRequest> ParseJobRequest(const std::string &body, const std::string &submitter) {
  if (body.size() > kMaxBodyBytes)
    return Status::InvalidArgument("the request body is over " + std::to_string(kMaxBodyBytes) + " bytes");
  Json json = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return Status::InvalidArgument("the request body is not valid JSON");
  if (!json.is_object()) return Status::InvalidArgument("the request body must be a JSON object");
  JobRequest request;
  request.submitter = submitter;
  if (!json.contains("entrypoint")) return Status::InvalidArgument("the request has no entrypoint");
  for (auto it = json.begin(); it != json.end(); ++it) {
    const std::string &key = it.key();
    const Json &value = it.value();
    if (key == "entrypoint") {
      if (value.is_string()) {
        auto argv = SplitCommandLine(value.get<std::string>());
        if (!argv.ok()) return argv.status();
        request.argv = std::move(*argv);
        request.entrypoint = value.get<std::string>();
      } else if (value.is_array()) {  // Lumen's extension: the argv itself
        for (const Json &arg : value) {
          if (!arg.is_string()) return Status::InvalidArgument("entrypoint: every argument must be a string");
          request.argv.push_back(arg.get<std::string>());
        }
        if (request.argv.empty() || request.argv[0].empty())
          return Status::InvalidArgument("entrypoint: the command is empty");
        request.entrypoint = JoinCommandLine(request.argv);
      } else {
        return Status::InvalidArgument("entrypoint must be a string or an array of strings");
      }
    } else if (key == "submission_id" || key == "job_id") {  // job_id: Ray's deprecated name
      if (value.is_null()) continue;
      if (!value.is_string()) return Status::InvalidArgument(key + " must be a string");
      request.submission_id = value.get<std::string>();
      if (!ValidSubmissionId(request.submission_id))
        return Status::InvalidArgument(key + " '" + request.submission_id +
                                       "' is not 1 to 128 of letters, digits, '_', '-' and '.'");
    } else if (key == "runtime_env") {
      if (value.is_null()) continue;
      LUMEN_RETURN_IF_ERROR(ParseRuntimeEnv(value, &request));
    } else if (key == "metadata") {
      if (value.is_null()) continue;
      LUMEN_RETURN_IF_ERROR(StringMap(value, "metadata", &request.metadata));
    } else if (key == "entrypoint_num_cpus" || key == "entrypoint_num_gpus" || key == "entrypoint_memory" ||
               key == "entrypoint_resources") {
      if (value.is_null() || (value.is_number() && value.get<double>() == 0) ||
          (value.is_object() && value.empty()))
        continue;
      return Status::InvalidArgument(key + " is not supported by Lumen: the entrypoint runs on the head " +
                                     "and reserves nothing; its tasks ask for their own resources");
    } else {
      return Status::InvalidArgument("unknown field '" + key + "'");
    }
  }
  return request;
}

Json JobDetails(const JobInfo &job) {
  Json runtime_env = Json::parse(job.runtime_env_json, nullptr, false);
  Json details{{"type", "SUBMISSION"},
               {"job_id", job.driver_job_id.empty() ? Json(nullptr) : Json(job.driver_job_id)},
               {"submission_id", job.submission_id},
               {"driver_info", job.driver_job_id.empty() ? Json(nullptr)
                                                         : Json{{"id", job.driver_job_id},
                                                                {"node_ip_address", nullptr},
                                                                {"pid", std::to_string(job.driver_pid)}}},
               {"status", JobStatusName(job.status)},
               {"entrypoint", job.entrypoint},
               {"message", job.message},
               {"error_type", nullptr},
               {"start_time", job.submission_time_ms},
               {"end_time", job.end_time_ms ? Json(job.end_time_ms) : Json(nullptr)},
               {"metadata", job.metadata},
               {"runtime_env", runtime_env.is_discarded() ? Json::object() : runtime_env},
               {"driver_agent_http_address", nullptr},
               {"driver_node_id", nullptr},
               {"driver_exit_code", job.driver_exit_code ? Json(*job.driver_exit_code) : Json(nullptr)}};
  if (job.status == JobStatus::kFailed)
    details["error_type"] = job.pid ? "JOB_ENTRYPOINT_COMMAND_ERROR" : "JOB_ENTRYPOINT_COMMAND_START_ERROR";
  // Lumen's extensions: the argv run, who submitted it, its process.
  details["entrypoint_argv"] = job.argv;
  details["submitter_address"] = job.submitter;
  details["submission_time"] = job.submission_time_ms;
  details["driver_start_time"] = job.start_time_ms ? Json(job.start_time_ms) : Json(nullptr);
  details["driver_pid"] = job.pid ? Json(job.pid) : Json(nullptr);
  details["working_dir"] = job.working_dir;
  details["log_file"] = "job-driver-" + job.submission_id + ".log";
  return details;
}

std::vector<Json> WithSubmittedJobs(std::vector<Json> rows, const proto::GetAllJobsReply &drivers,
                                    JobManager &jobs) {
  LinkDrivers(jobs, drivers);
  for (const JobInfo &job : jobs.List()) {
    auto row = job.driver_job_id.empty() ? rows.end()
                                         : std::find_if(rows.begin(), rows.end(), [&job](const Json &r) {
                                             return r.value("job_id", "") == job.driver_job_id;
                                           });
    if (row == rows.end()) {
      rows.push_back({{"job_id", job.driver_job_id.empty() ? Json(nullptr) : Json(job.driver_job_id)},
                      {"submission_id", nullptr},
                      {"type", "SUBMISSION"},
                      {"status", nullptr},
                      {"is_dead", false},
                      {"start_time", nullptr},
                      {"end_time", nullptr},
                      {"driver_info", nullptr},
                      {"ray_namespace", nullptr}});
      row = rows.end() - 1;
    }
    (*row)["submission_id"] = job.submission_id;
    (*row)["type"] = "SUBMISSION";
    (*row)["status"] = JobStatusName(job.status);
    (*row)["is_dead"] = IsTerminal(job.status);
    (*row)["start_time"] = job.submission_time_ms;
    (*row)["end_time"] = job.end_time_ms ? Json(job.end_time_ms) : Json(nullptr);
    (*row)["entrypoint"] = job.entrypoint;
  }
  return rows;
}

void RouteJobs(httplib::Server &http, JobManager &jobs, PackageStore &packages,
               std::function<StatusOr<proto::GetAllJobsReply>()> drivers, const std::atomic<bool> &stopping) {
  RoutePackages(http, packages);
  auto submit = [&jobs, &packages](const httplib::Request &req, httplib::Response &res) {
    auto request = ParseJobRequest(req.body, req.remote_addr + ":" + std::to_string(req.remote_port));
    if (!request.ok()) return SendText(res, 400, request.status().message());
    if (request->working_dir.find("://") != std::string::npos) {
      auto dir = packages.WorkingDirOf(request->working_dir);  // unpacked here, on the first job of a package
      if (!dir.ok())
        return SendText(res, dir.status().code() == StatusCode::kIoError ? 500 : 400, dir.status().message());
      request->working_dir = *dir;
    }
    auto id = jobs.Submit(std::move(*request));
    if (!id.ok()) return SendText(res, HttpStatus(id.status()), id.status().message());
    SendJson(res, {{"submission_id", *id}, {"job_id", nullptr}});
  };
  auto list = [&jobs, drivers](const httplib::Request &, httplib::Response &res) {
    LinkDrivers(jobs, drivers);
    Json all = Json::array();
    for (const JobInfo &job : jobs.List()) all.push_back(JobDetails(job));
    SendJson(res, all);
  };
  http.Post("/api/jobs/", submit);
  http.Post("/api/jobs", submit);
  http.Get("/api/jobs/", list);
  http.Get("/api/jobs", list);
  http.Get(R"(/api/jobs/([^/]+))", [&jobs, drivers](const httplib::Request &req, httplib::Response &res) {
    LinkDrivers(jobs, drivers);
    auto id = JobId(req);
    auto job = id.ok() ? jobs.Get(*id) : StatusOr<JobInfo>(id.status());
    if (!job.ok()) return SendText(res, HttpStatus(job.status()), job.status().message());
    SendJson(res, JobDetails(*job));
  });
  http.Get(R"(/api/jobs/([^/]+)/logs)", [&jobs](const httplib::Request &req, httplib::Response &res) {
    auto id = JobId(req);
    auto job = id.ok() ? jobs.Get(*id) : StatusOr<JobInfo>(id.status());
    if (!job.ok()) return SendText(res, HttpStatus(job.status()), job.status().message());
    SendJson(res, {{"logs", ReadWholeFile(job->log_path)}});
  });
  http.Get(R"(/api/jobs/([^/]+)/logs/tail)",
           [&jobs, &stopping](const httplib::Request &req, httplib::Response &res) {
             auto id = JobId(req);
             auto job = id.ok() ? jobs.Get(*id) : StatusOr<JobInfo>(id.status());
             if (!job.ok()) return SendText(res, HttpStatus(job.status()), job.status().message());
             StreamFile(
                 res, job->log_path, 0, "",
                 [&jobs, id = *id] {
                   auto now = jobs.Get(id);
                   return !now.ok() || IsTerminal(now->status);
                 },
                 stopping);
           });
  http.Post(R"(/api/jobs/([^/]+)/stop)", [&jobs](const httplib::Request &req, httplib::Response &res) {
    auto id = JobId(req);
    auto stopped = id.ok() ? jobs.Stop(*id) : StatusOr<bool>(id.status());
    if (!stopped.ok()) return SendText(res, HttpStatus(stopped.status()), stopped.status().message());
    SendJson(res, {{"stopped", *stopped}});
  });
  http.Delete(R"(/api/jobs/([^/]+))", [&jobs](const httplib::Request &req, httplib::Response &res) {
    auto id = JobId(req);
    Status st = id.ok() ? jobs.Delete(*id) : id.status();
    if (!st.ok()) return SendText(res, HttpStatus(st), st.message());
    SendJson(res, {{"deleted", true}});
  });
}

}  // namespace lumen::dashboard
