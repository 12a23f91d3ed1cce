// How a core worker reaches another driver or worker: by its Unix socket when
// the peer is on this node, by TCP otherwise -- never by a Unix path in
// another node's session, so that a node cut off from the network is cut off
// for every process on it.
//
// A peer known by its full address (a leased worker, an actor, a task's
// caller) is routed by Route. A peer known only by its worker id (an object's
// owner, which the object id embeds) is resolved: first this process's cache,
// then this node's socket folder (every core worker listens at a path derived
// from its id there, so a socket present there is a peer on this node), then
// the control service's worker directory, asked once and remembered
// (control/worker_directory.h).
//
// Threading: Route is a pure function. Resolve may block on the control
// service (the Lookup function) and is called off the event loop; the cache
// is guarded by its own mutex, never held while asking.
#pragma once

#include <functional>
#include <string>
#include <unordered_map>

#include "base/id.h"
#include "base/mutex.h"
#include "base/status.h"
#include "protocol/common.pb.h"

namespace lumen::worker {

/// The Unix socket a core worker with id `worker` listens at in `session_dir`.
std::string WorkerSocketPath(const std::string &session_dir, const WorkerID &worker);

class PeerDirectory {
 public:
  /// Asks the control service where `worker` listens; NotFound if it does not know.
  using Lookup = std::function<StatusOr<proto::Address>(const WorkerID &worker)>;

  /// `session_dir`: this node's session folder. `lookup` may be empty: the
  /// cluster is this one node (ray::Init's embedded head), and every peer
  /// is on it.
  PeerDirectory(std::string session_dir, Lookup lookup);

  /// What to connect to for `peer`, seen from the node `self_node_id`
  /// (binary): its Unix path (bare, as rpc::Connect takes it) when it is on
  /// that node, else "tcp:host:port". A peer on another node without a TCP
  /// address cannot be reached (NotFound).
  static StatusOr<std::string> Route(const proto::Address &peer, const std::string &self_node_id);

  /// What to connect to for the worker `id`, from the node `self_node_id`.
  /// Blocking on a first lookup; NotFound when nobody knows the worker
  /// (gone, or never existed).
  StatusOr<std::string> Resolve(const WorkerID &id, const std::string &self_node_id);

  /// Records an address learned elsewhere (an actor's, a leased worker's).
  void Remember(const proto::Address &address) EXCLUDES(mu_);
  size_t NumCached() EXCLUDES(mu_);

 private:
  const std::string session_dir_;
  const Lookup lookup_;
  Mutex mu_;
  std::unordered_map<std::string, proto::Address> cache_ GUARDED_BY(mu_);  // by binary worker id
};

}  // namespace lumen::worker
