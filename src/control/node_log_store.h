// The head's copy of other nodes' log files (issue 18: logs of a node that
// died stay readable from the head). Each node ships what its session's
// logs/ folder gained (scheduler/log_shipper.h); this writes it under the
// head's session, <logs>/nodes/<node id hex>/<file name>, at the offset it
// came from, so a chunk sent twice (a retry) writes the same bytes again.
// The dashboard's log API serves those folders by node id.
//
// Bounded: at most `max_bytes_per_node` of one node's files are kept; what
// lies beyond is not written (the node's own copy still has it).
//
// Threading: not thread-safe; the control service's loop thread owns it.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "base/status.h"
#include "protocol/control.pb.h"

namespace lumen::control {

class NodeLogStore {
 public:
  /// `logs_dir`: the control service's session's logs/ folder; empty: no
  /// logs are kept (every node is told so). `own_session_dir`: the head's
  /// session folder, whose node writes into `logs_dir` itself.
  NodeLogStore(std::string logs_dir, std::string own_session_dir, int64_t max_bytes_per_node);

  /// Writes the batch's chunks. False: this store does not want the node's
  /// logs (its node is the head's own, or no folder was given): it should
  /// stop sending. An error for a malformed batch (a node id of the wrong
  /// size, a file name that is not a plain name) or a failed write.
  StatusOr<bool> Add(const proto::NodeLogBatch &batch);

  /// The folder of `node_hex`'s files.
  std::string NodeDir(const std::string &node_hex) const;

 private:
  const std::string logs_dir_;
  const std::string own_session_dir_;
  const int64_t max_bytes_per_node_;
  std::map<std::string, std::map<std::string, int64_t>> sizes_;  // node hex -> file -> bytes kept
};

}  // namespace lumen::control
