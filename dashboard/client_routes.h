// The dashboard's web UI on its HTTP server: the built page and its assets
// (dashboard/client, built by CMake into share/lumen/dashboard beside bin/,
// in the build tree as in an install), "/" saying so when they are missing,
// and the one endpoint the UI needs beyond Ray's state API:
// `/api/v0/node_processes` (a Lumen extension), every alive node's processes
// with their CPU and memory, which Ray's dashboard gets from its per-node
// agents. Every request has passed the server's RequestGuard before these
// routes: the page and its files need the token as the API does.
//
// Threading: RouteClient runs once, before the server starts; the handlers it
// registers run on cpp-httplib's pool threads and call the StateSource
// concurrently.
#pragma once

#include <string>
#include <vector>

#include "dashboard/list_query.h"
#include "dashboard/state_rows.h"
#include "dashboard/state_source.h"

namespace httplib {
class Server;
}

namespace lumen::dashboard {

/// The environment variable that overrides where the UI's files are.
inline constexpr const char *kClientDirEnv = "LUMEN_DASHBOARD_UI_DIR";

/// Where the UI's built files are: $LUMEN_DASHBOARD_UI_DIR when set, else
/// `<folder of this program>/../share/lumen/dashboard`. The folder is
/// returned whether or not it holds the files (RouteClient says which).
std::string FindClientDir();

const ResourceSchema &NodeProcessSchema();

/// One row per process of each alive node (node_id, node_ip, pid, component,
/// cpu_percent, rss_bytes, uss_bytes, shared_bytes).
std::vector<Json> NodeProcessRows(const proto::GetAllNodesReply &reply);

/// Serves the UI from `client_dir` when it holds index.html, else "/" is a
/// page that says where the files were looked for and lists the API; and
/// `/api/v0/node_processes` from `source`.
void RouteClient(httplib::Server &http, StateSource &source, const std::string &client_dir);

}  // namespace lumen::dashboard
