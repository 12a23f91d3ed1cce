#include "control/worker_directory.h"

#include <iterator>

#include "base/id.h"

namespace lumen::control {

Status WorkerDirectory::Publish(const proto::Address &address) {
  if (address.worker_id().size() != WorkerID::kSize) return Status::InvalidArgument("bad worker id");
  if (address.node_id().size() != NodeID::kSize) return Status::InvalidArgument("bad node id");
  if (address.unix_path().empty() && address.tcp().empty())
    return Status::InvalidArgument("a worker address needs a Unix path or a TCP address");
  by_worker_[address.worker_id()] = address;
  return Status::OK();
}

void WorkerDirectory::Remove(const std::string &worker_id) { by_worker_.erase(worker_id); }

void WorkerDirectory::RemoveNode(const std::string &node_id) {
  for (auto it = by_worker_.begin(); it != by_worker_.end();)
    it = it->second.node_id() == node_id ? by_worker_.erase(it) : std::next(it);
}

const proto::Address *WorkerDirectory::Find(const std::string &worker_id) const {
  auto it = by_worker_.find(worker_id);
  return it == by_worker_.end() ? nullptr : &it->second;
}

}  // namespace lumen::control
