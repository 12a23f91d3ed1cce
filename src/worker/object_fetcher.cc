#include "worker/object_fetcher.h"

#include <algorithm>

namespace lumen::worker {

std::vector<std::string> ObjectFetcher::Sources(const proto::ObjectPayload &where, const std::string &local) {
  std::vector<std::string> sources;
  auto add = [&](const std::string &node) {
    if (node.empty() || node == local || std::find(sources.begin(), sources.end(), node) != sources.end())
      return;
    sources.push_back(node);
  };
  add(where.node_id());
  for (const auto &n : where.copy_node_ids()) add(n);
  return sources;
}

Status ObjectFetcher::Fetch(const ObjectID &id, const proto::ObjectPayload &where,
                            const std::string &local) const {
  const std::vector<std::string> sources = Sources(where, local);
  if (sources.empty())
    return Status(StatusCode::kObjectLost, "object " + id.Hex() + " is not in the local object store");
  Status last;
  bool unreachable = true;  // no source answered that it lacks the object
  for (const auto &source : sources) {
    last = pull_(id, source);
    if (last.ok()) return last;
    if (last.code() == StatusCode::kObjectStoreFull) break;  // another copy would not fit either
    if (last.code() == StatusCode::kNotFound) unreachable = false;
  }
  StatusCode code = last.code() == StatusCode::kObjectStoreFull ? last.code()
                    : unreachable                               ? StatusCode::kDisconnected
                                                                : StatusCode::kObjectLost;
  return Status(code, "object " + id.Hex() + " could not be fetched from any of its " +
                          std::to_string(sources.size()) + " copies on other nodes: " + last.message());
}

bool ObjectFetcher::HasCopy(const proto::ObjectPayload &payload, const std::string &node) {
  if (payload.node_id() == node) return true;
  for (const auto &n : payload.copy_node_ids())
    if (n == node) return true;
  return false;
}

void ObjectFetcher::AddCopy(proto::ObjectPayload *payload, const std::string &node) {
  if (!HasCopy(*payload, node)) payload->add_copy_node_ids(node);
}

std::vector<std::string> ObjectFetcher::RemoteCopies(const proto::ObjectPayload &payload,
                                                     const std::string &local) {
  std::vector<std::string> nodes;
  auto add = [&](const std::string &node) {
    if (!node.empty() && node != local) nodes.push_back(node);
  };
  add(payload.node_id());
  for (const auto &n : payload.copy_node_ids()) add(n);
  return nodes;
}

}  // namespace lumen::worker
