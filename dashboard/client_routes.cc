#include "dashboard/client_routes.h"

#include <httplib.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <utility>

#include "base/encoding.h"

namespace lumen::dashboard {
namespace {

namespace fs = std::filesystem;

// Shown at "/" when the UI's files are missing (a build without the UI, or
// files moved): the reason, and the API, which works without them.
constexpr const char *kMissingPage = R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Lumen dashboard</title>
<style>body{font-family:sans-serif;margin:2em auto;max-width:48em}</style></head><body>
<h1>Lumen dashboard</h1>
<p><strong>The web UI's files are not installed</strong>: no <code>index.html</code> in
<code>%DIR%</code>. They are built with Lumen when Node.js and npm are present (CMake option
<code>LUMEN_BUILD_DASHBOARD_UI</code>); <code>LUMEN_DASHBOARD_UI_DIR</code> names another folder.</p>
<p>The state API answers without them (Ray's <code>/api/v0</code> shapes; filters: <code>filter_keys</code>,
<code>filter_predicates</code> (<code>=</code> or <code>!=</code>), <code>filter_values</code>;
<code>limit</code>; <code>detail</code>):</p>
<ul>
<li><a href="/api/v0/nodes">/api/v0/nodes</a></li>
<li><a href="/api/v0/actors">/api/v0/actors</a></li>
<li><a href="/api/v0/jobs">/api/v0/jobs</a></li>
<li><a href="/api/v0/placement_groups">/api/v0/placement_groups</a></li>
<li><a href="/api/v0/tasks">/api/v0/tasks</a> (<a href="/api/v0/tasks/summarize">summarize</a>)</li>
<li><a href="/api/v0/workers">/api/v0/workers</a></li>
<li><a href="/api/v0/objects">/api/v0/objects</a></li>
<li><a href="/api/v0/node_processes">/api/v0/node_processes</a></li>
<li><a href="/api/version">/api/version</a></li>
<li><a href="/metrics">/metrics</a></li>
</ul></body></html>
)";

std::string HtmlEscape(const std::string &text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

void SendJson(httplib::Response &res, int status, const Json &body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

Json Envelope(bool ok, const std::string &msg, Json data = Json::object()) {
  return {{"result", ok}, {"msg", msg}, {"data", std::move(data)}};
}

QueryParams RequestParams(const httplib::Request &req) {
  const size_t mark = req.target.find('?');
  return ParseQueryString(mark == std::string::npos ? std::string_view()
                                                    : std::string_view(req.target).substr(mark + 1));
}

}  // namespace

std::string FindClientDir() {
  if (const char *dir = std::getenv(kClientDirEnv); dir && *dir) return dir;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "share/lumen/dashboard";
  return (exe.parent_path().parent_path() / "share" / "lumen" / "dashboard").lexically_normal().string();
}

const ResourceSchema &NodeProcessSchema() {
  static const ResourceSchema schema{
      {"node_id", "node_ip", "pid", "component"},
      {"node_id", "node_ip", "pid", "component", "cpu_percent", "rss_bytes", "uss_bytes", "shared_bytes"}};
  return schema;
}

std::vector<Json> NodeProcessRows(const proto::GetAllNodesReply &reply) {
  std::vector<Json> rows;
  for (const proto::NodeInfo &n : reply.nodes()) {
    if (!n.alive()) continue;
    const std::string node_id = ToHex(n.node_id());
    for (const proto::ProcessStats &p : n.usage().processes()) {
      rows.push_back({{"node_id", node_id},
                      {"node_ip", n.node_ip()},
                      {"pid", p.pid()},
                      {"component", p.component()},
                      {"cpu_percent", p.cpu_percent()},
                      {"rss_bytes", p.rss_bytes()},
                      {"uss_bytes", p.uss_bytes()},
                      {"shared_bytes", p.shared_bytes()}});
    }
  }
  return rows;
}

void RouteClient(httplib::Server &http, StateSource &source, const std::string &client_dir) {
  std::error_code ec;
  // A mount point answers GETs before the routes do, "/" with its index.html.
  if (client_dir.empty() || !fs::is_regular_file(fs::path(client_dir) / "index.html", ec) ||
      !http.set_mount_point("/", client_dir)) {
    std::string page = kMissingPage;
    page.replace(page.find("%DIR%"), 5, HtmlEscape(client_dir));
    http.Get("/", [page](const httplib::Request &, httplib::Response &res) {
      res.set_content(page, "text/html; charset=utf-8");
    });
  }
  http.Get("/api/v0/node_processes", [&source](const httplib::Request &req, httplib::Response &res) {
    auto query = ParseListQuery(RequestParams(req), NodeProcessSchema().filterable);
    if (!query.ok()) return SendJson(res, 400, Envelope(false, query.status().message()));
    auto nodes = source.NodeProcesses();
    if (!nodes.ok()) return SendJson(res, 500, Envelope(false, nodes.status().message()));
    ListResult result = ApplyListQuery(*query, NodeProcessRows(*nodes), NodeProcessSchema().summary_fields);
    SendJson(res, 200, Envelope(true, "", {{"result", result.ToJson()}}));
  });
}

}  // namespace lumen::dashboard
