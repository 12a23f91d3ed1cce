// The head's copy of other nodes' log files (issue 18: logs of a node that
// died stay readable from the head). Each node ships what its session's
// logs/ folder gained (scheduler/log_shipper.h); this writes it under the
// head's session, <logs>/nodes/<node id hex>/<file name>, at the offset it
// came from, so a chunk sent twice (a retry) writes the same bytes again.
// The dashboard's log API serves those folders by node id.
//
// Bounded: at most `max_bytes_per_node` of one node's files are kept, and
// `max_total_bytes` of all nodes'. Past a node's bound, nothing more of it is
// written (the node's own copy still has it). At the total bound, the files of
// the node that died first go, then of the next to die, until the new bytes
// fit; a live node's files are never removed (if only they remain, nothing
// more is written until one dies).
//
// Threading: not thread-safe; the control service's loop thread owns it.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>

#include "base/status.h"
#include "protocol/control.pb.h"

namespace lumen::control {

class NodeLogStore {
 public:
  /// `logs_dir`: the control service's session's logs/ folder; empty: no
  /// logs are kept (every node is told so). `own_session_dir`: the head's
  /// session folder, whose node writes into `logs_dir` itself.
  NodeLogStore(std::string logs_dir, std::string own_session_dir, int64_t max_bytes_per_node,
               int64_t max_total_bytes);

  /// Writes the batch's chunks. False: this store does not want the node's
  /// logs (its node is the head's own, or no folder was given): it should
  /// stop sending. An error for a malformed batch (a node id of the wrong
  /// size, a file name that is not a plain name) or a failed write.
  StatusOr<bool> Add(const proto::NodeLogBatch &batch);

  /// `node_id` (binary) died: its files are the first to go at the total
  /// bound, after those of the nodes that died before it.
  void OnNodeDead(const std::string &node_id);

  /// Bytes of all nodes' files kept now.
  int64_t total_bytes() const { return total_; }

  /// The folder of `node_hex`'s files.
  std::string NodeDir(const std::string &node_hex) const;

 private:
  /// Removes dead nodes' folders, first dead first, until `needed` more
  /// bytes fit under the total bound; whether they do.
  bool MakeRoom(int64_t needed, const std::string &writer);

  const std::string logs_dir_;
  const std::string own_session_dir_;
  const int64_t max_bytes_per_node_;
  const int64_t max_total_bytes_;
  std::map<std::string, std::map<std::string, int64_t>> sizes_;  // node hex -> file -> bytes kept
  int64_t total_ = 0;                                            // the sum of sizes_
  std::deque<std::string> dead_;                                 // node hex, in the order they died
  std::set<std::string> removed_;                                // dead nodes whose folders went
};

}  // namespace lumen::control
