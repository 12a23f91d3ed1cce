// How a reader gets a large object whose copies are on other nodes (Ray's
// object fetcher), and the owner's directory of those copies.
//
// A large object lives in the store of the node where it was sealed
// (ObjectPayload.node_id: a Put's is its owner's node, a task return's the
// node its worker ran on); the owner lists the other nodes that hold copies
// (ObjectPayload.copy_node_ids). A reader on another node has its own node
// pull the object (the bytes go node to node, never through the owner) from
// each holder in turn, the node it was sealed on first, until one succeeds.
// Fetch says what a failure means: no room (another copy would not fit
// either), no copy left that a node admits to, or no node that answered at
// all (their nodes may be dead: the caller asks the control service).
//
// No I/O of its own: the pull is a function the core worker gives (a call
// to its node). Threading: none; Fetch blocks in that function.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/id.h"
#include "base/status.h"
#include "protocol/common.pb.h"

namespace lumen::worker {

class ObjectFetcher {
 public:
  /// Has the local node pull object `id` from node `source` (a NodeID's
  /// binary form); blocks until it is local or the pull failed.
  using PullFn = std::function<Status(const ObjectID &id, const std::string &source)>;
  explicit ObjectFetcher(PullFn pull) : pull_(std::move(pull)) {}

  /// Makes `id` local from the copies `where` lists, `local` being this
  /// node. OK once one pull succeeded. Otherwise: ObjectStoreFull (stops at
  /// the first: no other copy would fit either); Disconnected when no node
  /// said it lacks the object (they may all be dead); ObjectLost when one
  /// did, or when no copy is on another node.
  Status Fetch(const ObjectID &id, const proto::ObjectPayload &where, const std::string &local) const;

  /// The nodes to pull from, in order: where it was sealed, then the other
  /// copies; never `local`, none twice.
  static std::vector<std::string> Sources(const proto::ObjectPayload &where, const std::string &local);

  // The owner's directory of copies, kept in the object's payload.
  static bool HasCopy(const proto::ObjectPayload &payload, const std::string &node);
  /// Lists `node` among the copies unless it holds one already.
  static void AddCopy(proto::ObjectPayload *payload, const std::string &node);
  /// The nodes other than `local` holding a copy: told to drop it when the
  /// object is freed (the local copy goes with the local node's delete).
  static std::vector<std::string> RemoteCopies(const proto::ObjectPayload &payload, const std::string &local);

 private:
  PullFn pull_;
};

}  // namespace lumen::worker
