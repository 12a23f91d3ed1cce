// `lumen logs`, `lumen timeline` and `lumen memory`: Ray's `ray logs`,
// `ray timeline` and `ray memory` on the dashboard's API (/api/v0/logs,
// /api/v0/tasks/timeline, /api/v0/objects).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "cli/dashboard_client.h"

namespace lumen::cli {
namespace {

using Json = nlohmann::ordered_json;

// A stream may be quiet for as long as the file does not grow.

int Failed(const char *verb, const Status &st) {
  return Fail(verb, st.message(), st.code() == StatusCode::kInvalidArgument ? 2 : 1);
}

// GET `path` with the token: its body, or a one-line error (InvalidArgument
// for a 400, NotFound for a 404).
StatusOr<std::string> Fetch(const DashboardTarget &dashboard, const std::string &path) {
  auto client = dashboard.Client();
  auto res = client->Get(path.c_str(), dashboard.Auth());
  if (!res)
    return Status::IoError("cannot reach the dashboard at " + dashboard.address + ": " +
                           httplib::to_string(res.error()));
  if (res->status == 400) return Status::InvalidArgument(ReplyMessage(*res));
  if (res->status == 404) return Status::NotFound(ReplyMessage(*res));
  if (res->status != 200)
    return Status::IoError("the dashboard at " + dashboard.address + " answered " +
                           std::to_string(res->status) + ": " + ReplyMessage(*res));
  return res->body;
}

StatusOr<Json> FetchJson(const DashboardTarget &dashboard, const std::string &path) {
  auto body = Fetch(dashboard, path);
  if (!body.ok()) return body.status();
  Json json = Json::parse(*body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return Status::IoError("the dashboard's reply to " + path + " is not JSON");
  return json;
}

std::string Stamp(const char *format) {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  std::ostringstream out;
  out << std::put_time(&tm, format);
  return out.str();
}

// Streams the file's tail and then what is appended, until interrupted.
Status Follow(const DashboardTarget &dashboard, const std::string &node, const std::string &filename,
              long lines) {
  return StreamToStdout(dashboard,
                        httplib::append_query_params(
                            "/api/v0/logs/stream",
                            {{"node_id", node}, {"filename", filename}, {"lines", std::to_string(lines)}}));
}

// "1.50 MiB" for `bytes` in `units` (B, KB, MB, GB: Ray's --units, powers of 1024).
std::string Size(double bytes, const std::string &units) {
  const std::map<std::string, double> scale{
      {"B", 1}, {"KB", 1024}, {"MB", 1024 * 1024}, {"GB", 1024 * 1024 * 1024}};
  std::ostringstream out;
  if (units == "B") {
    out << static_cast<int64_t>(bytes) << " B";
  } else {
    out << std::fixed << std::setprecision(2) << bytes / scale.at(units) << " " << units;
  }
  return out.str();
}

void PrintTable(const std::vector<std::vector<std::string>> &cells) {
  std::vector<size_t> width;
  for (const auto &row : cells)
    for (size_t c = 0; c < row.size(); ++c) {
      if (width.size() <= c) width.push_back(0);
      width[c] = std::max(width[c], row[c].size());
    }
  for (const auto &row : cells) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line += std::string(width[c] - row[c].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::cout << line << "\n";
  }
}

std::string Text(const Json &value) {
  if (value.is_null()) return "";
  return value.is_string() ? value.get<std::string>() : value.dump();
}

}  // namespace

int RunLogs(const ObserveFlags &flags) {
  if (flags.tail < -1) return Fail("logs", "--tail must be a count of lines, or -1 for all of them", 2);
  auto dashboard = FindDashboard(flags.address, flags.token);
  if (!dashboard.ok()) return Failed("logs", dashboard.status());
  // A path is no file of the logs folder: the dashboard says so (a 400).
  const bool path = flags.filename.find('/') != std::string::npos || flags.filename == "..";
  // The files whose names contain the argument, on every node (or the one
  // named); one of them (or the one named exactly) is printed, several are
  // listed. A name on several nodes is the head's unless --node-id says.
  httplib::Params params{{"glob", flags.filename}};
  if (!flags.node_id.empty()) params.emplace("node_id", flags.node_id);
  auto listing = FetchJson(*dashboard, httplib::append_query_params("/api/v0/logs", params));
  if (!listing.ok()) return Failed("logs", listing.status());
  const Json &nodes = (*listing)["data"]["result"];
  struct Match {
    std::string node, name;
  };
  std::vector<Match> matches;
  for (auto node = nodes.begin(); node != nodes.end(); ++node)
    for (auto category = node.value().begin(); category != node.value().end(); ++category)
      for (const Json &name : category.value()) matches.push_back({node.key(), name.get<std::string>()});
  if (!flags.filename.empty()) {
    std::vector<Match> pick;
    for (const Match &m : matches)
      if (m.name == flags.filename) pick.push_back(m);
    if (pick.empty()) pick = matches;
    if (path) pick = {Match{flags.node_id, flags.filename}};
    if (pick.size() == 1) {
      if (flags.follow) {
        Status st = Follow(*dashboard, pick[0].node, pick[0].name, flags.tail);
        return st.ok() ? 0 : Failed("logs", st);
      }
      auto text = Fetch(*dashboard, httplib::append_query_params("/api/v0/logs/file",
                                                                 {{"node_id", pick[0].node},
                                                                  {"filename", pick[0].name},
                                                                  {"lines", std::to_string(flags.tail)}}));
      if (!text.ok()) return Failed("logs", text.status());
      std::cout << *text << std::flush;
      return 0;
    }
    if (pick.empty())
      return Fail("logs", "no log file matches '" + flags.filename + "' (lumen logs lists them)");
    if (std::all_of(pick.begin(), pick.end(), [&](const Match &m) { return m.name == pick[0].name; }))
      return Fail(
          "logs",
          "'" + pick[0].name + "' is on " + std::to_string(pick.size()) + " nodes: name one with --node-id",
          2);
    if (flags.follow)
      return Fail("logs",
                  std::to_string(pick.size()) + " files match '" + flags.filename + "': name one to follow",
                  2);
  }
  for (auto node = nodes.begin(); node != nodes.end(); ++node) {
    std::cout << "=== node_id: " << node.key() << " ===\n";
    for (auto category = node.value().begin(); category != node.value().end(); ++category) {
      std::cout << category.key() << ":\n";
      for (const Json &name : category.value()) std::cout << "  " << name.get<std::string>() << "\n";
    }
  }
  return 0;
}

int RunTimeline(const ObserveFlags &flags) {
  auto dashboard = FindDashboard(flags.address, flags.token);
  if (!dashboard.ok()) return Failed("timeline", dashboard.status());
  httplib::Params params;
  if (!flags.job_id.empty()) params.emplace("job_id", flags.job_id);
  auto trace = Fetch(*dashboard, httplib::append_query_params("/api/v0/tasks/timeline", params));
  if (!trace.ok()) return Failed("timeline", trace.status());
  std::string output = flags.output;
  if (output.empty())
    output =
        (std::filesystem::temp_directory_path() / ("lumen-timeline-" + Stamp("%Y-%m-%d_%H-%M-%S") + ".json"))
            .string();
  std::ofstream out(output, std::ios::binary | std::ios::trunc);
  out << *trace;
  out.close();
  if (!out) return Fail("timeline", "cannot write " + output);
  std::cout << "Trace file written to " << output << " (" << trace->size() << " bytes)\n"
            << "You can open this with https://ui.perfetto.dev or chrome://tracing\n";
  return 0;
}

int RunMemory(const ObserveFlags &flags) {
  auto dashboard = FindDashboard(flags.address, flags.token);
  if (!dashboard.ok()) return Failed("memory", dashboard.status());
  auto reply = FetchJson(*dashboard, "/api/v0/objects?detail=true&limit=10000");
  if (!reply.ok()) return Failed("memory", reply.status());
  std::vector<Json> objects;
  for (const Json &o : (*reply)["data"]["result"]["result"])
    if (Text(o["type"]) != "FREED") objects.push_back(o);
  auto size = [](const Json &o) { return o.value("object_size", int64_t{0}); };
  std::stable_sort(objects.begin(), objects.end(), [&](const Json &a, const Json &b) {
    if (flags.sort_by == "PID") return a.value("pid", 0) < b.value("pid", 0);
    if (flags.sort_by == "REFERENCE_TYPE") return Text(a["reference_type"]) < Text(b["reference_type"]);
    return size(a) > size(b);
  });
  // Groups: by node (its address and id), or by owner (the worker whose id
  // begins the object's).
  const bool by_owner = flags.group_by == "OWNER";
  std::map<std::string, std::vector<const Json *>> groups;
  for (const Json &o : objects)
    groups[by_owner ? Text(o["owner_worker_id"])
                    : Text(o["ip"]) + " (node " + Text(o["node_id"]).substr(0, 12) + ")"]
        .push_back(&o);
  std::cout << "======== Object references status: " << Stamp("%Y-%m-%d %H:%M:%S") << " ========\n";
  const char *what = by_owner ? "owner worker" : "node address";
  int64_t total = 0;
  for (const auto &[key, members] : groups) {
    int64_t bytes = 0, pinned = 0, local = 0;
    for (const Json *o : members) {
      bytes += size(*o);
      (Text((*o)["reference_type"]) == "PINNED_IN_MEMORY" ? pinned : local) += 1;
    }
    total += bytes;
    std::cout << "--- Summary for " << what << ": " << key << " ---\n";
    PrintTable({{"Mem Used by Objects", "Local References", "Pinned Count", "Objects"},
                {Size(static_cast<double>(bytes), flags.units), std::to_string(local), std::to_string(pinned),
                 std::to_string(members.size())}});
    if (flags.stats_only) continue;
    std::cout << "--- Object references for " << what << ": " << key << " ---\n";
    std::vector<std::vector<std::string>> cells{
        {"IP Address", "PID", "Node", "Owner Worker", "Status", "Size", "Reference Type", "Object Ref"}};
    int shown = 0;
    for (const Json *o : members) {
      if (flags.num_entries >= 0 && shown++ >= flags.num_entries) break;
      cells.push_back({Text((*o)["ip"]), Text((*o)["pid"]), Text((*o)["node_id"]).substr(0, 12),
                       Text((*o)["owner_worker_id"]).substr(0, 12), Text((*o)["task_status"]),
                       Size(static_cast<double>(size(*o)), flags.units), Text((*o)["reference_type"]),
                       Text((*o)["object_id"])});
    }
    PrintTable(cells);
    std::cout << "\n";
  }
  std::cout << "--- Aggregate object store stats across all nodes ---\n"
            << "Object store memory usage " << Size(static_cast<double>(total), flags.units) << ", "
            << objects.size() << " objects\n";
  const Json &result = (*reply)["data"]["result"];
  if (result.value("num_filtered", 0) > result.value("num_after_truncation", 0))
    std::cerr << "(memory: " << result.value("num_after_truncation", 0) << " of "
              << result.value("num_filtered", 0) << " objects shown)\n";
  return 0;
}

}  // namespace lumen::cli
