// How a driver joins a running cluster (ray::Init with an address, or
// "auto"): the cluster's token, and which of its nodes this driver attaches
// to (a node on this machine, else any alive one).
//
// Threading: plain functions; each call runs its own short-lived event loop.
#pragma once

#include <string>

#include "base/status.h"

namespace lumen::api {

/// The node a driver attaches to, and what it needs to.
struct JoinedNode {
  std::string token;
  std::string node_socket;  // the node service's address (a Unix path, or "tcp:HOST:PORT")
  std::string session_dir;  // the node's session folder
};

/// Asks the cluster at `address` ("auto": the one `lumen start` started on
/// this machine; "unix:PATH"; "HOST:PORT") for its nodes and picks this
/// machine's: the first alive one listed whose address is an address of
/// this machine, else the first alive, passing over a node that does not
/// answer (one just died, not yet seen dead). An error says what failed (no
/// token, no answer, no live node).
StatusOr<JoinedNode> JoinCluster(const std::string &address);

/// Whether `ip` is an address of one of this machine's interfaces (in this
/// process's network namespace).
bool IsLocalAddress(const std::string &ip);

}  // namespace lumen::api
