#include "dashboard/dashboard_server.h"

#include <httplib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>
#include <vector>

#include "base/encoding.h"
#include "dashboard/client_routes.h"
#include "dashboard/cluster_metrics.h"
#include "dashboard/job_manager.h"
#include "dashboard/job_routes.h"
#include "dashboard/list_query.h"
#include "dashboard/log_routes.h"
#include "dashboard/state_rows.h"
#include "dashboard/task_rows.h"
#include "dashboard/timeline.h"
#include "dashboard/user_metrics.h"

namespace lumen::dashboard {
namespace {

using Rows = std::vector<Json>;

// Ray's envelope for its dashboard's own endpoints (rest_response).
Json Envelope(bool ok, const std::string &msg, Json data = Json::object()) {
  return {{"result", ok}, {"msg", msg}, {"data", std::move(data)}};
}

void SendJson(httplib::Response &res, int status, const Json &body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

// The query string's parameters, every repeated pair kept (see ParseQueryString).
QueryParams RequestParams(const httplib::Request &req) {
  const size_t mark = req.target.find('?');
  return ParseQueryString(mark == std::string::npos ? std::string_view()
                                                    : std::string_view(req.target).substr(mark + 1));
}

// The control service's task query for a state API query: every job, its
// filters, then its page, or the counts (`summary`), or every match
// (`whole`: the timeline).
proto::GetTaskEventsRequest TaskRequest(const ListQuery &query, bool summary, bool whole = false) {
  proto::GetTaskEventsRequest request;
  request.set_all_jobs(true);
  for (const ListFilter &f : query.filters) {
    proto::TaskFilter *filter = request.add_filters();
    filter->set_key(f.key);
    filter->set_equal(f.equal);
    filter->set_value(f.value);
  }
  request.set_summary(summary);
  if (!summary && !whole) {
    request.set_offset(query.offset);
    request.set_limit(query.limit);
  }
  return request;
}

RequestFacts Facts(const httplib::Request &req) {
  RequestFacts facts;
  facts.authorization = req.get_header_value("Authorization");
  facts.x_ray_authorization = req.get_header_value("X-Ray-Authorization");
  facts.cookie = req.get_header_value("Cookie");
  facts.host = req.get_header_value("Host");
  facts.origin = req.get_header_value("Origin");
  facts.sec_fetch_site = req.get_header_value("Sec-Fetch-Site");
  return facts;
}

// The Host values a server bound to `host`:`port` answers to.
std::vector<std::string> HostsFor(const std::string &host, int port) {
  const std::string p = ":" + std::to_string(port);
  if (host == "0.0.0.0" || host.empty()) return {"*" + p, "localhost" + p};
  std::vector<std::string> hosts{host + p};
  if (host.rfind("127.", 0) == 0 || host == "localhost") {
    for (const char *alias : {"localhost", "127.0.0.1"})
      if (host != alias) hosts.push_back(alias + p);
  }
  return hosts;
}

// Plain HTML, no script: the page asks for the token once and the server
// keeps it in an HttpOnly cookie for the browser session.
constexpr const char *kLoginPage = R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Lumen dashboard: sign in</title>
<style>body{font-family:sans-serif;margin:4em auto;max-width:32em}input{width:100%;padding:.4em}</style>
</head><body><h1>Lumen dashboard</h1>
<p>%MESSAGE%</p>
<form method="post" action="/login">
<label for="token">Cluster token (the <code>token</code> file of the head's session folder)</label>
<input id="token" name="token" type="password" autocomplete="current-password" autofocus>
<p><button type="submit">Sign in</button></p>
</form></body></html>
)";

std::string LoginPage(const std::string &message) {
  std::string page = kLoginPage;
  page.replace(page.find("%MESSAGE%"), 9, message);
  return page;
}

}  // namespace

DashboardServer::DashboardServer(DashboardOptions options, std::unique_ptr<StateSource> source)
    : options_(std::move(options)), source_(std::move(source)), http_(std::make_unique<httplib::Server>()) {
  JobManagerOptions jobs;
  jobs.logs_dir = options_.session_dir + "/logs";
  jobs.default_working_dir = options_.session_dir;
  jobs.cluster_address = options_.cluster_address;
  jobs.token = options_.token;
  jobs.stop_grace = options_.job_stop_grace;
  jobs_ = std::make_unique<JobManager>(std::move(jobs));
  packages_ = std::make_unique<PackageStore>(options_.session_dir + "/runtime_resources");
  Route();
}

DashboardServer::~DashboardServer() {
  Stop();
  if (serving_.joinable()) serving_.join();
}

StatusOr<int> DashboardServer::Start() {
  int port = options_.port;
  if (port == 0) {
    port = http_->bind_to_any_port(options_.host);
  } else if (!http_->bind_to_port(options_.host, port)) {
    port = -1;
  }
  if (port <= 0)
    return Status::IoError("cannot listen on " + options_.host + ":" + std::to_string(options_.port) + ": " +
                           std::strerror(errno));
  guard_ = std::make_unique<RequestGuard>(options_.token, HostsFor(options_.host, port));
  serving_ = std::thread([this] {
    http_->listen_after_bind();
    serve_returned_ = true;
  });
  // cpp-httplib's stop() does nothing until the serving loop has begun: wait
  // for that (a moment), so that a Stop right after Start is never lost.
  while (!http_->is_running() && !serve_returned_) std::this_thread::yield();
  return port;
}

void DashboardServer::WaitForShutdown() {
  MutexLock lock(mu_);
  stopped_cv_.wait(lock.native(), [this]() REQUIRES(mu_) { return stopped_; });
}

void DashboardServer::Stop() {
  stopping_ = true;
  http_->stop();
  MutexLock lock(mu_);
  stopped_ = true;
  stopped_cv_.notify_all();
}

void DashboardServer::Route() {
  // cpp-httplib's default is SO_REUSEPORT, which lets a second server (a
  // second head, or another program of this user) bind the same port and take
  // a share of the requests. SO_REUSEADDR only: a restart may reuse a port
  // whose old connections linger in TIME_WAIT, and a port in use is an error.
  http_->set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  // A reply's headers and body go out in separate writes: with Nagle on, the
  // body waits for the client's delayed ACK (~40 ms on Linux) on a kept-alive
  // connection, which the UI's pages pay on each of their requests.
  http_->set_tcp_nodelay(true);
  // Referrer-Policy same-origin, not no-referrer: under no-referrer a browser
  // sends "Origin: null" with the login form's POST, which the guard refuses.
  http_->set_default_headers({{"Cache-Control", "no-store"},
                              {"X-Content-Type-Options", "nosniff"},
                              {"X-Frame-Options", "DENY"},
                              {"Referrer-Policy", "same-origin"}});
  // Every request, before its route: the origin and the token.
  http_->set_pre_routing_handler([this](const httplib::Request &req, httplib::Response &res) {
    switch (guard_->Check(Facts(req))) {
      case Verdict::kAllowed:
        return httplib::Server::HandlerResponse::Unhandled;
      case Verdict::kForeignOrigin:
        SendJson(res, 403,
                 Envelope(false,
                          "refused: a request from another site, or to a host name this "
                          "dashboard does not serve"));
        return httplib::Server::HandlerResponse::Handled;
      case Verdict::kNoToken:
        break;
    }
    if (req.path == "/login") return httplib::Server::HandlerResponse::Unhandled;
    if (req.path.rfind("/api/", 0) == 0 || req.path == "/metrics") {  // programs: no login page
      res.set_header("WWW-Authenticate", "Bearer");
      SendJson(res, 401, Envelope(false, "the cluster token is required: Authorization: Bearer <token>"));
    } else {
      res.status = 303;
      res.set_header("Location", "/login");
    }
    return httplib::Server::HandlerResponse::Handled;
  });

  http_->Get("/login", [](const httplib::Request &, httplib::Response &res) {
    res.set_content(LoginPage("Sign in with the cluster's token."), "text/html; charset=utf-8");
  });
  http_->Post("/login", [this](const httplib::Request &req, httplib::Response &res) {
    if (!guard_->TokenMatches(req.get_param_value("token"))) {
      res.status = 401;
      res.set_content(LoginPage("That is not this cluster's token."), "text/html; charset=utf-8");
      return;
    }
    res.set_header("Set-Cookie", guard_->SessionCookie());
    res.status = 303;
    res.set_header("Location", "/");
  });
  RouteClient(*http_, *source_, options_.client_dir);  // the web UI (client_routes.h)

  http_->Get("/api/version", [this](const httplib::Request &, httplib::Response &res) {
    SendJson(res, 200,
             {{"version", "lumen-1"},
              {"ray_version", options_.version},
              {"ray_commit", ""},
              {"session_name", std::filesystem::path(options_.session_dir).filename().string()}});
  });
  http_->Get("/api/gcs_healthz", [this](const httplib::Request &, httplib::Response &res) {
    auto nodes = source_->Jobs();  // the cheapest table: the control service's own
    res.status = nodes.ok() ? 200 : 503;
    res.set_content(nodes.ok() ? "success" : nodes.status().message(), "text/plain");
  });

  // Prometheus' scrape (with the token: `authorization` in its scrape config):
  // the cluster's tables, its processes' CPU and memory, the user metrics.
  http_->Get("/metrics", [this](const httplib::Request &, httplib::Response &res) {
    auto nodes = source_->NodeProcesses();
    auto actors = nodes.ok() ? source_->Actors() : nodes.status();
    auto groups = actors.ok() ? source_->PlacementGroups() : actors.status();
    auto tasks = groups.ok() ? source_->Tasks(TaskRequest({}, /*summary=*/true)) : groups.status();
    auto metrics = tasks.ok() ? source_->Metrics() : tasks.status();
    if (!metrics.ok()) {
      res.status = 503;
      res.set_content(metrics.status().message(), "text/plain");
      return;
    }
    const std::string session = std::filesystem::path(options_.session_dir).filename().string();
    auto families = ClusterMetricFamilies(*nodes, *actors, *groups, *tasks, session);
    proto::ProcessStats self;  // this process: Ray's "dashboard" component
    self.set_pid(getpid());
    self.set_component("dashboard");
    if (auto cpu = cpu_.Percent(getpid()); cpu.ok()) self.set_cpu_percent(*cpu);
    if (auto mem = ReadProcessMemory(getpid()); mem.ok()) {
      self.set_rss_bytes(mem->rss_bytes);
      self.set_uss_bytes(mem->uss_bytes);
      self.set_shared_bytes(mem->shared_bytes);
    }
    std::vector<proto::ProcessStats> head{metrics->control(), self};
    for (auto &f : ComponentFamilies(*nodes, head, session)) families.push_back(std::move(f));
    std::set<std::string> taken;
    for (const auto &f : families) taken.insert(f.name);
    for (auto &f : UserMetricFamilies(*metrics, session, taken)) families.push_back(std::move(f));
    families.push_back(DroppedSeriesFamily(*metrics, session));
    res.set_content(MetricsText(families), "text/plain; version=0.0.4");
  });

  // The state API: rows from the source, the query applied, Ray's envelope.
  auto list = [](const ResourceSchema &schema, std::function<StatusOr<Rows>()> rows) {
    return [&schema, rows = std::move(rows)](const httplib::Request &req, httplib::Response &res) {
      auto query = ParseListQuery(RequestParams(req), schema.filterable);
      if (!query.ok()) return SendJson(res, 400, Envelope(false, query.status().message()));
      auto all = rows();
      if (!all.ok()) return SendJson(res, 500, Envelope(false, all.status().message()));
      ListResult result = ApplyListQuery(*query, std::move(*all), schema.summary_fields);
      SendJson(res, 200, Envelope(true, "", {{"result", result.ToJson()}}));
    };
  };
  http_->Get("/api/v0/nodes", list(NodeSchema(), [this]() -> StatusOr<Rows> {
               auto reply = source_->Nodes();
               if (!reply.ok()) return reply.status();
               return NodeRows(*reply, options_.session_dir);
             }));
  http_->Get("/api/v0/actors", list(ActorSchema(), [this]() -> StatusOr<Rows> {
               auto reply = source_->Actors();
               if (!reply.ok()) return reply.status();
               return ActorRows(*reply);
             }));
  http_->Get("/api/v0/jobs", list(JobSchema(), [this]() -> StatusOr<Rows> {
               auto reply = source_->Jobs();
               if (!reply.ok()) return reply.status();
               return WithSubmittedJobs(JobRows(*reply), *reply, *jobs_);
             }));
  http_->Get("/api/v0/placement_groups", list(PlacementGroupSchema(), [this]() -> StatusOr<Rows> {
               auto reply = source_->PlacementGroups();
               if (!reply.ok()) return reply.status();
               return PlacementGroupRows(*reply);
             }));
  RouteTasksWorkersObjects();
  RouteJobs(
      *http_, *jobs_, *packages_, [this] { return source_->Jobs(); }, stopping_);
  RouteLogs(
      *http_, options_.session_dir + "/logs",
      [this]() -> std::string {  // the head's node: the one whose session this is
        auto nodes = source_->Nodes();
        if (nodes.ok())
          for (const proto::NodeInfo &n : nodes->nodes())
            if (n.session_dir() == options_.session_dir) return ToHex(n.node_id());
        return "head";
      },
      stopping_);
  RouteTimeline(*http_,
                [this] { return source_->Tasks(TaskRequest({}, /*summary=*/false, /*whole=*/true)); });
}

void DashboardServer::RouteTasksWorkersObjects() {
  // A list of rows from `rows` with the query applied (as Route's list).
  auto list = [](const ResourceSchema &schema, std::function<StatusOr<Rows>()> rows) {
    return [&schema, rows = std::move(rows)](const httplib::Request &req, httplib::Response &res) {
      auto query = ParseListQuery(RequestParams(req), schema.filterable);
      if (!query.ok()) return SendJson(res, 400, Envelope(false, query.status().message()));
      auto all = rows();
      if (!all.ok()) return SendJson(res, 500, Envelope(false, all.status().message()));
      ListResult result = ApplyListQuery(*query, std::move(*all), schema.summary_fields);
      SendJson(res, 200, Envelope(true, "", {{"result", result.ToJson()}}));
    };
  };
  // Tasks are filtered, paged and counted where the records are (the
  // control service): a page of a million attempts costs a page.
  http_->Get("/api/v0/tasks", [this](const httplib::Request &req, httplib::Response &res) {
    auto query = ParseListQuery(RequestParams(req), TaskSchema().filterable);
    if (!query.ok()) return SendJson(res, 400, Envelope(false, query.status().message()));
    auto reply = source_->Tasks(TaskRequest(*query, /*summary=*/false));
    if (!reply.ok()) return SendJson(res, 500, Envelope(false, reply.status().message()));
    ListResult result;
    result.total = reply->total();
    result.num_filtered = reply->num_filtered();
    for (Json &row : TaskRows(*reply))
      result.rows.push_back(SummaryRow(std::move(row), query->detail, TaskSchema().summary_fields));
    result.warnings = TaskWarnings(*reply);
    result.num_dropped = reply->dropped_total();
    SendJson(res, 200, Envelope(true, "", {{"result", result.ToJson()}}));
  });
  // Counts by function and state; filters as for the list (before counting),
  // and no limit: every matching task is counted.
  http_->Get("/api/v0/tasks/summarize", [this](const httplib::Request &req, httplib::Response &res) {
    auto query = ParseListQuery(RequestParams(req), TaskSchema().filterable);
    if (!query.ok()) return SendJson(res, 400, Envelope(false, query.status().message()));
    auto reply = source_->Tasks(TaskRequest(*query, /*summary=*/true));
    if (!reply.ok()) return SendJson(res, 500, Envelope(false, reply.status().message()));
    SendJson(res, 200, Envelope(true, "", {{"result", SummarizeTasks(*reply)}}));
  });
  http_->Get("/api/v0/workers", list(WorkerSchema(), [this]() -> StatusOr<Rows> {
               auto reply = source_->NodeFacts(/*workers=*/true, /*objects=*/false);
               if (!reply.ok()) return reply.status();
               return WorkerRows(*reply);
             }));
  http_->Get("/api/v0/objects", list(ObjectSchema(), [this]() -> StatusOr<Rows> {
               auto reply = source_->NodeFacts(/*workers=*/false, /*objects=*/true);
               if (!reply.ok()) return reply.status();
               return ObjectRows(*reply);
             }));
}

}  // namespace lumen::dashboard
