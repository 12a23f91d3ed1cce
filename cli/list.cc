// `lumen list`, `lumen get` and `lumen summary tasks`: Ray's state CLI
// (`ray list`, `ray get`, `ray summary`) on
// the dashboard's state API. The dashboard is found through the cluster's
// control service (lumen_dashboard publishes its address there), the request
// carries the cluster token, and the rows come back in Ray's schema order,
// which the table's columns follow.
#include <httplib.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/dashboard_client.h"

namespace lumen::cli {
namespace {

using Json = nlohmann::ordered_json;

struct Resource {
  const char *cli_name;  // as the user types it (Ray's)
  const char *api_path;  // /api/v0/<path>
  const char *id_key;    // what `get` looks up
  const char *title;     // for the table's banner
};

constexpr Resource kResources[] = {
    {"nodes", "nodes", "node_id", "Nodes"},
    {"actors", "actors", "actor_id", "Actors"},
    {"jobs", "jobs", "job_id", "Jobs"},
    {"placement-groups", "placement_groups", "placement_group_id", "Placement Groups"},
    {"tasks", "tasks", "task_id", "Tasks"},
    {"workers", "workers", "worker_id", "Workers"},
    {"objects", "objects", "object_id", "Objects"},
};

const Resource *FindResource(const std::string &name) {
  for (const Resource &r : kResources)
    if (name == r.cli_name) return &r;
  return nullptr;
}

std::string ResourceNames() {
  std::string out;
  for (const Resource &r : kResources) out += (out.empty() ? "" : ", ") + std::string(r.cli_name);
  return out;
}

// KEY=VALUE or KEY!=VALUE as the API's three parameters.
Status AddFilter(const std::string &filter, httplib::Params &params) {
  const size_t ne = filter.find("!=");
  const size_t eq = filter.find('=');
  const bool not_equal = ne != std::string::npos && ne < eq;
  const size_t at = not_equal ? ne : eq;
  if (at == std::string::npos || at == 0)
    return Status::InvalidArgument("a filter is KEY=VALUE or KEY!=VALUE, got '" + filter + "'");
  params.emplace("filter_keys", filter.substr(0, at));
  params.emplace("filter_predicates", not_equal ? "!=" : "=");
  params.emplace("filter_values", filter.substr(at + (not_equal ? 2 : 1)));
  return Status::OK();
}

// GET /api/v0/<resource> with the flags' query; the reply's data.result.
// A 400 (a bad filter or limit) is an InvalidArgument.
StatusOr<Json> Query(const Resource &resource, const ListFlags &flags, const httplib::Params &params,
                     const std::string &suffix = "") {
  auto dashboard = FindDashboard(flags.address, flags.token);
  if (!dashboard.ok()) return dashboard.status();
  auto client = dashboard->Client();
  const std::string path =
      httplib::append_query_params(std::string("/api/v0/") + resource.api_path + suffix, params);
  auto res = client->Get(path.c_str(), dashboard->Auth());
  if (!res)
    return Status::IoError("cannot reach the dashboard at " + dashboard->address + ": " +
                           httplib::to_string(res.error()));
  Json body = Json::parse(res->body, nullptr, /*allow_exceptions=*/false);
  const std::string msg = body.is_object() ? body.value("msg", "") : "";
  if (res->status == 400) return Status::InvalidArgument(msg);
  if (res->status != 200 || !body.is_object() || !body.contains("data"))
    return Status::IoError("the dashboard at " + dashboard->address + " answered " +
                           std::to_string(res->status) + (msg.empty() ? "" : ": " + msg));
  return body["data"]["result"];
}

// A cell of the table: text as it is, nested values as compact JSON.
std::string Cell(const Json &value) {
  if (value.is_null()) return "";
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

std::string Upper(std::string s) {
  for (char &c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string Now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1000000;
  std::tm tm{};
  localtime_r(&t, &tm);
  std::ostringstream out;
  out << std::put_time(&tm, "%Y-%m-%d %H:%M:%S") << "." << std::setw(6) << std::setfill('0') << micros;
  return out.str();
}

// Ray's `ray list` layout: a banner, the stats, then the rows with an index
// column and upper-case headers in the schema's order.
void PrintTable(const Resource &resource, const Json &result) {
  const Json &rows = result["result"];
  std::cout << "======== List: " << Now() << " ========\n"
            << "Stats:\n------------------------------\n"
            << "Total: " << result.value("num_after_truncation", 0) << "\n\n"
            << "Table:\n------------------------------\n";
  std::vector<std::string> columns;
  for (const Json &row : rows)
    for (auto it = row.begin(); it != row.end(); ++it)
      if (std::find(columns.begin(), columns.end(), it.key()) == columns.end()) columns.push_back(it.key());
  std::vector<std::vector<std::string>> cells(rows.size() + 1);
  cells[0].push_back("");
  for (const std::string &c : columns) cells[0].push_back(Upper(c));
  for (size_t i = 0; i < rows.size(); ++i) {
    cells[i + 1].push_back(std::to_string(i));
    for (const std::string &c : columns) cells[i + 1].push_back(rows[i].contains(c) ? Cell(rows[i][c]) : "");
  }
  std::vector<size_t> width(columns.size() + 1, 0);
  for (const auto &line : cells)
    for (size_t c = 0; c < line.size(); ++c) width[c] = std::max(width[c], line[c].size());
  for (const auto &line : cells) {
    std::string text;
    for (size_t c = 0; c < line.size(); ++c) {
      text += line[c];
      if (c + 1 < line.size()) text += std::string(width[c] - line[c].size() + 2, ' ');
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    std::cout << text << "\n";
  }
  if (result.value("num_filtered", 0) > result.value("num_after_truncation", 0))
    std::cerr << "(" << resource.cli_name << ": showing " << result.value("num_after_truncation", 0) << " of "
              << result.value("num_filtered", 0) << "; raise --limit to see more)\n";
}

// The reply's warnings (tasks: what the bounds dropped), on stderr in every
// format, as Ray's CLI prints them.
void PrintWarnings(const Resource &resource, const Json &result) {
  if (auto w = result.find("warnings"); w != result.end() && w->is_array())
    for (const Json &text : *w)
      if (text.is_string()) std::cerr << "(" << resource.cli_name << ": " << text.get<std::string>() << ")\n";
}

void EmitYaml(YAML::Emitter &out, const Json &value) {
  if (value.is_object()) {
    out << YAML::BeginMap;
    for (auto it = value.begin(); it != value.end(); ++it) {
      out << YAML::Key << it.key() << YAML::Value;
      EmitYaml(out, it.value());
    }
    out << YAML::EndMap;
  } else if (value.is_array()) {
    out << YAML::BeginSeq;
    for (const Json &item : value) EmitYaml(out, item);
    out << YAML::EndSeq;
  } else if (value.is_null()) {
    out << YAML::Null;
  } else if (value.is_string()) {
    out << value.get<std::string>();
  } else {
    out << value.dump();  // numbers and booleans as JSON writes them, which YAML reads the same
  }
}

void PrintYaml(const Json &value) {
  YAML::Emitter out;
  EmitYaml(out, value);
  std::cout << out.c_str() << "\n";
}

// Exit status of a failed query: 2 for what the user typed wrong.
int QueryFailed(const char *verb, const Status &st) {
  return Fail(verb, st.message(), st.code() == StatusCode::kInvalidArgument ? 2 : 1);
}

}  // namespace

int RunList(const ListFlags &flags) {
  const Resource *resource = FindResource(flags.resource);
  if (!resource)
    return Fail("list", "unknown resource '" + flags.resource + "'; the resources are: " + ResourceNames(),
                2);
  httplib::Params params{{"limit", std::to_string(flags.limit)}, {"detail", flags.detail ? "true" : "false"}};
  for (const std::string &filter : flags.filters)
    if (Status st = AddFilter(filter, params); !st.ok()) return Fail("list", st.message(), 2);
  auto result = Query(*resource, flags, params);
  if (!result.ok()) return QueryFailed("list", result.status());
  const std::string format = flags.format.empty() ? (flags.detail ? "yaml" : "table") : flags.format;
  if (format == "json") {
    std::cout << (*result)["result"].dump(2) << "\n";
  } else if (format == "yaml") {
    PrintYaml((*result)["result"]);
  } else {
    PrintTable(*resource, *result);
  }
  PrintWarnings(*resource, *result);
  return 0;
}

int RunGet(const ListFlags &flags) {
  const Resource *resource = FindResource(flags.resource);
  if (!resource)
    return Fail("get", "unknown resource '" + flags.resource + "'; the resources are: " + ResourceNames(), 2);
  // A task's id names each of its attempts: they are all shown.
  const bool tasks = std::string(resource->cli_name) == "tasks";
  httplib::Params params{{"limit", tasks ? "10000" : "2"},
                         {"detail", "true"},
                         {"filter_keys", resource->id_key},
                         {"filter_predicates", "="},
                         {"filter_values", flags.id}};
  auto result = Query(*resource, flags, params);
  if (!result.ok()) return QueryFailed("get", result.status());
  const Json &rows = (*result)["result"];
  if (rows.empty()) return Fail("get", std::string("no ") + resource->id_key + " " + flags.id);
  const Json &shown = tasks ? rows : rows[0];
  if (flags.format == "json") {
    std::cout << shown.dump(2) << "\n";
  } else {
    PrintYaml(shown);
  }
  return 0;
}

int RunSummary(const ListFlags &flags) {
  const Resource *resource = FindResource(flags.resource);
  if (!resource || std::string(resource->cli_name) != "tasks")
    return Fail("summary", "unknown resource '" + flags.resource + "'; the resources are: tasks", 2);
  httplib::Params params;
  for (const std::string &filter : flags.filters)
    if (Status st = AddFilter(filter, params); !st.ok()) return Fail("summary", st.message(), 2);
  auto result = Query(*resource, flags, params, "/summarize");
  if (!result.ok()) return QueryFailed("summary", result.status());
  const Json &cluster = (*result)["result"]["node_id_to_summary"]["cluster"];
  if (flags.format == "json") {
    std::cout << cluster.dump(2) << "\n";
    return 0;
  }
  if (flags.format == "yaml") {
    PrintYaml(cluster);
    return 0;
  }
  // Ray's layout: a banner, the stats as YAML, then a row per function.
  std::cout << "======== Tasks Summary: " << Now() << " ========\n"
            << "Stats:\n------------------------------------\n"
            << "total_actor_scheduled: " << cluster.value("total_actor_scheduled", 0) << "\n"
            << "total_actor_tasks: " << cluster.value("total_actor_tasks", 0) << "\n"
            << "total_tasks: " << cluster.value("total_tasks", 0) << "\n\n"
            << "Table (group by func_name):\n------------------------------------\n";
  std::vector<std::vector<std::string>> cells{{"", "FUNC_OR_CLASS_NAME", "STATE_COUNTS", "TYPE"}};
  size_t index = 0;
  for (auto it = cluster["summary"].begin(); it != cluster["summary"].end(); ++it) {
    std::string counts;
    for (auto c = it.value()["state_counts"].begin(); c != it.value()["state_counts"].end(); ++c)
      counts += (counts.empty() ? "" : ", ") + c.key() + ": " + c.value().dump();
    cells.push_back({std::to_string(index++), it.key(), counts, it.value().value("type", "")});
  }
  std::vector<size_t> width(4, 0);
  for (const auto &line : cells)
    for (size_t c = 0; c < line.size(); ++c) width[c] = std::max(width[c], line[c].size());
  for (const auto &line : cells) {
    std::string text;
    for (size_t c = 0; c < line.size(); ++c) {
      text += line[c];
      if (c + 1 < line.size()) text += std::string(width[c] - line[c].size() + 2, ' ');
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    std::cout << text << "\n";
  }
  return 0;
}

}  // namespace lumen::cli
