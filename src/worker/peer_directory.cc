#include "worker/peer_directory.h"

#include <sys/stat.h>

#include <utility>

namespace lumen::worker {

std::string WorkerSocketPath(const std::string &session_dir, const WorkerID &worker) {
  return session_dir + "/sockets/w-" + worker.Hex().substr(0, 24);
}

PeerDirectory::PeerDirectory(std::string session_dir, Lookup lookup)
    : session_dir_(std::move(session_dir)), lookup_(std::move(lookup)) {}

StatusOr<std::string> PeerDirectory::Route(const proto::Address &peer, const std::string &self_node_id) {
  // An address without a node id comes from a single-node cluster, whose
  // processes publish no TCP address: the peer is on this node.
  const bool same_node = peer.node_id() == self_node_id || (peer.node_id().empty() && peer.tcp().empty());
  if (same_node && !peer.unix_path().empty()) return peer.unix_path();
  if (!same_node && !peer.tcp().empty()) return "tcp:" + peer.tcp();
  return Status(StatusCode::kNotFound, "worker " + ToHex(peer.worker_id()) +
                                           (same_node ? " on this node has no Unix socket"
                                                      : " is on another node and has no TCP address"));
}

StatusOr<std::string> PeerDirectory::Resolve(const WorkerID &id, const std::string &self_node_id) {
  {
    MutexLock lock(mu_);
    if (auto it = cache_.find(id.Binary()); it != cache_.end()) return Route(it->second, self_node_id);
  }
  // On this node: its socket is in our session folder.
  std::string local = WorkerSocketPath(session_dir_, id);
  struct stat st;
  if (!lookup_ || (::stat(local.c_str(), &st) == 0 && S_ISSOCK(st.st_mode))) return local;
  auto found = lookup_(id);
  if (!found.ok()) return found.status();
  Remember(*found);
  return Route(*found, self_node_id);
}

void PeerDirectory::Remember(const proto::Address &address) {
  if (address.worker_id().empty()) return;
  MutexLock lock(mu_);
  cache_[address.worker_id()] = address;
}

size_t PeerDirectory::NumCached() {
  MutexLock lock(mu_);
  return cache_.size();
}

}  // namespace lumen::worker
