// `lumen job submit|status|logs|stop|list|delete`: Ray's Jobs CLI (`ray job
// ...`) on the dashboard's Job Submission API. The command after `--` is
// sent as an argv (Lumen's extension of the API's entrypoint) and run as it
// is, never through a shell. `submit` waits for the job and streams its log
// unless --no-wait, and exits 0 only if the job succeeded.
#include <chrono>
#include <ctime>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <yaml-cpp/yaml.h>

#include "cli/commands.h"
#include "cli/dashboard_client.h"
#include "dashboard/working_dir_package.h"

namespace lumen::cli {
namespace {

using Json = nlohmann::ordered_json;

constexpr char kRule[] = "-------------------------------------------------------";

// A stream (a job's log) may be quiet for as long as the job runs.

bool Terminal(const std::string &status) {
  return status == "SUCCEEDED" || status == "FAILED" || status == "STOPPED";
}

// The reply of a request to the jobs API: its JSON body, or a one-line error
// (InvalidArgument for a 400, NotFound for a 404).
StatusOr<Json> Call(const DashboardTarget &dashboard, const std::string &method, const std::string &path,
                    const std::string &body = "") {
  auto client = dashboard.Client();
  httplib::Result res = method == "GET" ? client->Get(path.c_str(), dashboard.Auth())
                        : method == "DELETE"
                            ? client->Delete(path.c_str(), dashboard.Auth())
                            : client->Post(path.c_str(), dashboard.Auth(), body, "application/json");
  if (!res)
    return Status::IoError("cannot reach the dashboard at " + dashboard.address + ": " +
                           httplib::to_string(res.error()));
  if (res->status == 400) return Status::InvalidArgument(ReplyMessage(*res));
  if (res->status == 404) return Status::NotFound(ReplyMessage(*res));
  if (res->status != 200)
    return Status::IoError("the dashboard at " + dashboard.address + " answered " +
                           std::to_string(res->status) + ": " + ReplyMessage(*res));
  Json json = Json::parse(res->body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return Status::IoError("the dashboard's reply is not JSON");
  return json;
}

int Failed(const char *verb, const Status &st) {
  return Fail(verb, st.message(), st.code() == StatusCode::kInvalidArgument ? 2 : 1);
}

// Streams the job's log to stdout until the job ends.
Status Tail(const DashboardTarget &dashboard, const std::string &id) {
  return StreamToStdout(dashboard, "/api/jobs/" + id + "/logs/tail");
}

std::string Time(const Json &ms) {
  if (!ms.is_number()) return "";
  const std::time_t t = ms.get<int64_t>() / 1000;
  std::tm tm{};
  localtime_r(&t, &tm);
  std::ostringstream out;
  out << std::put_time(&tm, "%Y-%m-%d %H:%M:%S");
  return out.str();
}

// A YAML value as JSON: mappings, sequences, null, and every other scalar as
// a string (runtime_env's values are strings; a number stays as written).
Json YamlToJson(const YAML::Node &node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (const auto &kv : node) out[kv.first.as<std::string>()] = YamlToJson(kv.second);
      return out;
    }
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (const auto &item : node) out.push_back(YamlToJson(item));
      return out;
    }
    case YAML::NodeType::Scalar:
      return node.as<std::string>();
    default:
      return nullptr;
  }
}

// Ray's --runtime-env FILE: the YAML file's mapping.
Status ReadRuntimeEnvFile(const std::string &path, Json *runtime_env) {
  try {
    *runtime_env = YamlToJson(YAML::LoadFile(path));
  } catch (const YAML::Exception &e) {
    return Status::InvalidArgument("--runtime-env " + path + ": " + e.what());
  }
  if (!runtime_env->is_object())
    return Status::InvalidArgument("--runtime-env " + path + " must hold a YAML mapping");
  return Status::OK();
}

Status BuildSubmission(const JobFlags &flags, Json *body) {
  if (flags.entrypoint.empty())
    return Status::InvalidArgument("give the command after --: lumen job submit -- CMD ...");
  Json runtime_env = Json::object();
  if (!flags.runtime_env_file.empty())
    LUMEN_RETURN_IF_ERROR(ReadRuntimeEnvFile(flags.runtime_env_file, &runtime_env));
  if (!flags.runtime_env_json.empty()) {
    runtime_env = Json::parse(flags.runtime_env_json, nullptr, /*allow_exceptions=*/false);
    if (!runtime_env.is_object()) return Status::InvalidArgument("--runtime-env-json must be a JSON object");
  }
  if (!flags.working_dir.empty())
    runtime_env["working_dir"] = flags.working_dir;  // uploaded by UploadWorkingDir
  (*body)["entrypoint"] = flags.entrypoint;
  if (!runtime_env.empty()) (*body)["runtime_env"] = runtime_env;
  if (!flags.submission_id.empty()) (*body)["submission_id"] = flags.submission_id;
  if (!flags.metadata_json.empty()) {
    Json metadata = Json::parse(flags.metadata_json, nullptr, /*allow_exceptions=*/false);
    if (!metadata.is_object()) return Status::InvalidArgument("--metadata-json must be a JSON object");
    (*body)["metadata"] = metadata;
  }
  return Status::OK();
}

// A working_dir that is a folder here (not a URI) travels as Ray's does: zipped
// (less runtime_env.excludes), uploaded unless the head has the same package
// already, and named by its URI in the submission.
Status UploadWorkingDir(const DashboardTarget &dashboard, Json *body) {
  if (!body->contains("runtime_env")) return Status::OK();
  Json &env = (*body)["runtime_env"];
  if (!env.contains("working_dir") || !env["working_dir"].is_string()) return Status::OK();
  const std::string dir = env["working_dir"].get<std::string>();
  if (dir.find("://") != std::string::npos) return Status::OK();  // a package already
  std::vector<std::string> excludes;
  if (env.contains("excludes")) {
    const Json &list = env["excludes"];
    if (!list.is_array()) return Status::InvalidArgument("runtime_env.excludes must be a list of strings");
    for (const Json &p : list) {
      if (!p.is_string()) return Status::InvalidArgument("runtime_env.excludes must be a list of strings");
      excludes.push_back(p.get<std::string>());
    }
  }
  auto package = dashboard::PackDirectory(dir, excludes);
  if (!package.ok()) return package.status();
  const std::string path = "/api/packages/gcs/" + package->name;
  const std::string uri = std::string(dashboard::kPackageScheme) + package->name;
  auto client = dashboard.Client();
  httplib::Result has = client->Get(path.c_str(), dashboard.Auth());
  if (!has)
    return Status::IoError("cannot reach the dashboard at " + dashboard.address + ": " +
                           httplib::to_string(has.error()));
  if (has->status == 200) {
    std::cout << "Package " << uri << " is on the head already.\n";
  } else if (has->status == 404) {
    std::cout << "Uploading package " << uri << " (" << package->files << " files, " << package->zip.size()
              << " bytes zipped) from local folder '" << dir << "'.\n";
    httplib::Result put = client->Put(path.c_str(), dashboard.Auth(), package->zip, "application/zip");
    if (!put) return Status::IoError("uploading " + uri + ": " + httplib::to_string(put.error()));
    if (put->status != 200)
      return Status::IoError("uploading " + uri + ": the dashboard answered " + std::to_string(put->status) +
                             ": " + ReplyMessage(*put));
  } else {
    return Status::IoError("the dashboard at " + dashboard.address + " answered " +
                           std::to_string(has->status) + ": " + ReplyMessage(*has));
  }
  env["working_dir"] = uri;
  return Status::OK();
}

}  // namespace

int RunJobSubmit(const JobFlags &flags) {
  Json body;
  if (Status st = BuildSubmission(flags, &body); !st.ok()) return Fail("job submit", st.message(), 2);
  auto dashboard = FindDashboard(flags.address, flags.token);
  if (!dashboard.ok()) return Failed("job submit", dashboard.status());
  if (Status st = UploadWorkingDir(*dashboard, &body); !st.ok()) return Failed("job submit", st);
  auto reply = Call(*dashboard, "POST", "/api/jobs/", body.dump());
  if (!reply.ok()) return Failed("job submit", reply.status());
  const std::string id = (*reply).value("submission_id", "");
  std::cout << "Job submission server address: http://" << dashboard->address << "\n\n"
            << kRule << "\nJob '" << id << "' submitted successfully\n"
            << kRule << "\n\n"
            << "Next steps\n"
            << "  Query the logs of the job:\n    lumen job logs " << id << "\n"
            << "  Query the status of the job:\n    lumen job status " << id << "\n"
            << "  Request the job to be stopped:\n    lumen job stop " << id << "\n";
  if (flags.no_wait) return 0;
  std::cout << "\nTailing logs until the job exits (disable with --no-wait):\n" << std::flush;
  if (Status st = Tail(*dashboard, id); !st.ok()) return Failed("job submit", st);
  auto job = Call(*dashboard, "GET", "/api/jobs/" + id);
  if (!job.ok()) return Failed("job submit", job.status());
  const std::string status = (*job).value("status", "");
  std::cout << "\n" << kRule << "\n";
  if (status == "SUCCEEDED") {
    std::cout << "Job '" << id << "' succeeded\n" << kRule << "\n";
    return 0;
  }
  if (status == "STOPPED") {
    std::cout << "Job '" << id << "' was stopped\n" << kRule << "\n";
  } else {
    std::cout << "Job '" << id << "' failed\n"
              << kRule << "\n"
              << "Status message: " << (*job).value("message", "") << "\n";
  }
  return 1;
}

int RunJobStatus(const JobFlags &flags) {
  auto dashboard = FindDashboard(flags.address, flags.token);
  if (!dashboard.ok()) return Failed("job status", dashboard.status());
  auto job = Call(*dashboard, "GET", "/api/jobs/" + flags.id);
  if (!job.ok()) return Failed("job status", job.status());
  std::cout << "Status for job '" << flags.id << "': " << (*job).value("status", "") << "\n"
            << "Status message: " << (*job).value("message", "") << "\n";
  return 0;
}

int RunJobLogs(const JobFlags &flags) {
  auto dashboard = FindDashboard(flags.address, flags.token);
  if (!dashboard.ok()) return Failed("job logs", dashboard.status());
  if (flags.follow) {
    if (Status st = Tail(*dashboard, flags.id); !st.ok()) return Failed("job logs", st);
    return 0;
  }
  auto logs = Call(*dashboard, "GET", "/api/jobs/" + flags.id + "/logs");
  if (!logs.ok()) return Failed("job logs", logs.status());
  std::cout << (*logs).value("logs", "") << std::flush;
  return 0;
}

int RunJobStop(const JobFlags &flags) {
  auto dashboard = FindDashboard(flags.address, flags.token);
  if (!dashboard.ok()) return Failed("job stop", dashboard.status());
  std::cout << "Attempting to stop job '" << flags.id << "'\n" << std::flush;
  auto stopped = Call(*dashboard, "POST", "/api/jobs/" + flags.id + "/stop");
  if (!stopped.ok()) return Failed("job stop", stopped.status());
  if (!(*stopped).value("stopped", false)) {
    auto job = Call(*dashboard, "GET", "/api/jobs/" + flags.id);
    std::cout << "Job '" << flags.id << "' had already ended"
              << (job.ok() ? " (" + (*job).value("status", "") + ")" : std::string()) << "\n";
    return 0;
  }
  if (flags.no_wait) return 0;
  std::cout << "Waiting for job '" << flags.id << "' to exit (disable with --no-wait):\n" << std::flush;
  // The dashboard escalates to SIGKILL after its grace: the wait ends.
  for (;;) {
    auto job = Call(*dashboard, "GET", "/api/jobs/" + flags.id);
    if (!job.ok()) return Failed("job stop", job.status());
    const std::string status = (*job).value("status", "");
    if (Terminal(status)) {
      std::cout << (status == "STOPPED" ? "Job '" + flags.id + "' was stopped"
                                        : "Job '" + flags.id + "' ended " + status)
                << "\n";
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

int RunJobList(const JobFlags &flags) {
  auto dashboard = FindDashboard(flags.address, flags.token);
  if (!dashboard.ok()) return Failed("job list", dashboard.status());
  auto jobs = Call(*dashboard, "GET", "/api/jobs/");
  if (!jobs.ok()) return Failed("job list", jobs.status());
  if (flags.format == "json") {
    std::cout << jobs->dump(2) << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> cells{
      {"SUBMISSION_ID", "STATUS", "START_TIME", "END_TIME", "EXIT_CODE", "SUBMITTED_FROM", "ENTRYPOINT"}};
  for (const Json &job : *jobs) {
    const Json &code = job["driver_exit_code"];
    cells.push_back({job.value("submission_id", ""), job.value("status", ""), Time(job["start_time"]),
                     Time(job["end_time"]), code.is_number() ? code.dump() : "",
                     job.value("submitter_address", ""), job.value("entrypoint", "")});
  }
  std::vector<size_t> width(cells[0].size(), 0);
  for (const auto &row : cells)
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  for (const auto &row : cells) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line += std::string(width[c] - row[c].size() + 2, ' ');
    }
    std::cout << line << "\n";
  }
  return 0;
}

int RunJobDelete(const JobFlags &flags) {
  auto dashboard = FindDashboard(flags.address, flags.token);
  if (!dashboard.ok()) return Failed("job delete", dashboard.status());
  auto deleted = Call(*dashboard, "DELETE", "/api/jobs/" + flags.id);
  if (!deleted.ok()) return Failed("job delete", deleted.status());
  std::cout << "Job '" << flags.id << "' deleted successfully\n";
  return 0;
}

}  // namespace lumen::cli
