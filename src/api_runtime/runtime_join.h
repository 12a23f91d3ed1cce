// How a driver joins a running cluster (ray::Init with an address, or
// "auto"): the cluster's token, and which of its nodes this driver attaches
// to: a node on this machine. A machine with no node of the cluster gets
// one for the driver (StartNode with die_with_parent: no resources of its
// own, the driver's object store and its way to the others over TCP, gone
// with the driver), so a driver anywhere runs the same program.
//
// Threading: plain functions; each call runs its own short-lived event loop.
#pragma once

#include <string>

#include "base/status.h"

namespace lumen::api {

/// The node a driver attaches to, and what it needs to.
struct JoinedNode {
  std::string token;
  std::string node_socket;  // this machine's node service (a Unix path); empty: the machine has none
  std::string session_dir;  // that node's session folder
  // With no node here: the control service ("tcp:HOST:PORT") and this
  // machine's address on the way to it, for the node started for the driver.
  std::string control_address;
  std::string local_ip;
};

/// Asks the cluster at `address` ("auto": the one `lumen start` started on
/// this machine; "unix:PATH"; "HOST:PORT") for its nodes and picks this
/// machine's longest-running alive one, passing over a node that does not
/// answer (one just died, not yet seen dead). When no node is on this
/// machine, `node_socket` is empty and `control_address`/`local_ip` say how
/// a node of the driver's joins. An error says what failed (no token, no
/// answer, no live node).
StatusOr<JoinedNode> JoinCluster(const std::string &address);

/// This machine's address on the route to `host` (an IP address or a name),
/// as other machines see it; an error when there is no route.
StatusOr<std::string> LocalAddressToward(const std::string &host);

/// Whether `ip` is an address of one of this machine's interfaces (in this
/// process's network namespace).
bool IsLocalAddress(const std::string &ip);

}  // namespace lumen::api
