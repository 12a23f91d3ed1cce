// How the `lumen` verbs that use the dashboard's HTTP API (list, get,
// summary, job, logs, timeline, memory) reach it: the cluster's address (as
// for `lumen status`) leads through the control service's KV store to the
// dashboard's "host:port", and every request carries the cluster token. An
// address given as http://HOST:PORT (Ray's job CLI form) names the dashboard
// itself; the token then comes from --token or LUMEN_TOKEN.
//
// Threading: the main thread only (a connection to the control service runs
// an rpc event loop of its own while it lasts).
#pragma once

#include <httplib.h>

#include <memory>
#include <string>

#include "base/status.h"

namespace lumen::cli {

struct DashboardTarget {
  std::string address;  // "host:port"
  std::string token;

  /// A client for it with the CLI's timeouts (Ray's state CLI: 30 s).
  std::unique_ptr<httplib::Client> Client() const;
  /// The Authorization header with the token.
  httplib::Headers Auth() const;
};

/// The dashboard of the cluster at `address_flag` (empty: RAY_ADDRESS, else
/// the head started here), with its token. The error is one line that says
/// what is missing.
StatusOr<DashboardTarget> FindDashboard(const std::string &address_flag, const std::string &token_flag);

/// The first line of an error reply's body (JSON `msg` or plain text), for
/// one-line errors.
std::string ReplyMessage(const httplib::Response &res);

/// GETs `path` and copies its body to stdout as it arrives, until the server
/// ends it (a job's log until the job ends, a followed file until
/// interrupted). A reply other than 200 is an error: 400 InvalidArgument,
/// 404 NotFound (with the body's first line), else IoError.
Status StreamToStdout(const DashboardTarget &dashboard, const std::string &path);

}  // namespace lumen::cli
