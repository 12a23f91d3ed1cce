// <ray/collective.h> on Lumen's public API: this process's groups by name,
// declared groups joined lazily, and the rendezvous on the cluster's KV store.
#include <ray/api.h>
#include <ray/api/internal_kv.h>
#include <ray/collective.h>

#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>

#include "gloo_group.h"
#include "kv_store.h"

namespace ray {
namespace collective {
namespace {

using lumen::collective::GlooGroup;
using lumen::collective::kCollectiveKvNamespace;
using lumen::collective::KvStore;
using ray::internal::RayException;

// This process's memberships. A group in use stays alive while an operation
// holds it, even if it is destroyed meanwhile.
class Registry {
 public:
  static Registry &Get() {
    static Registry *registry = new Registry();  // never destroyed: used until exit
    return *registry;
  }

  std::shared_ptr<GlooGroup> Find(const std::string &name) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = groups_.find(name);
    return it == groups_.end() ? nullptr : it->second;
  }

  /// Reserves `name` for a group being made (two threads joining the same
  /// group name in one process is a mistake: the second is refused).
  void Reserve(const std::string &name) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!groups_.emplace(name, nullptr).second)
      throw RayException("this process already belongs to collective group '" + name +
                         "' (or is joining it); destroy it first");
  }
  void Fill(const std::string &name, std::shared_ptr<GlooGroup> group) {
    std::lock_guard<std::mutex> lock(mu_);
    groups_[name] = std::move(group);
  }
  void Erase(const std::string &name) {
    std::lock_guard<std::mutex> lock(mu_);
    groups_.erase(name);
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<GlooGroup>> groups_;  // null while being made
};

std::string Hex(const std::string &bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

// The address this member's Gloo device listens on: its node's address, so
// that members on other nodes can reach it (loopback on a loopback node).
std::string NodeAddress() {
  const std::string me = ray::GetRuntimeContext().GetNodeId();
  for (const auto &node : ray::Nodes())
    if (node.node_id == me && !node.address.empty()) return node.address;
  return "127.0.0.1";
}

std::string DeclarationKey(const std::string &group_name) { return "declared/" + group_name; }

void Join(int world_size, int rank, const GroupOptions &options, const std::string &group_name,
          const std::string &key_prefix) {
  if (group_name.empty()) throw RayException("a collective group needs a name");
  if (options.backend == Backend::kNccl)
    throw RayException("collective group '" + group_name +
                       "': the NCCL backend is not available in this build; use Backend::kGloo");
  auto &registry = Registry::Get();
  registry.Reserve(group_name);
  try {
    GlooGroup::Options go;
    go.world_size = world_size;
    go.rank = rank;
    go.name = group_name;
    go.host = NodeAddress();
    go.timeout = options.timeout;
    go.rendezvous_timeout = options.rendezvous_timeout;
    KvStore store(key_prefix, options.rendezvous_timeout);
    std::shared_ptr<GlooGroup> group;
    try {
      group = GlooGroup::Connect(go, store);
    } catch (...) {
      store.DeleteOwnKeys();
      throw;
    }
    // After a barrier every member has finished connecting, so each has
    // read every key (a member's own connection can complete before its
    // peer has read that member's key: Gloo accepts a pair's connection
    // first). Only then may the keys go, so that a group made again under
    // this name later meets afresh.
    try {
      group->Barrier();
    } catch (...) {
      store.DeleteOwnKeys();
      throw;
    }
    store.DeleteOwnKeys();
    registry.Fill(group_name, std::move(group));
  } catch (...) {
    registry.Erase(group_name);
    throw;
  }
}

// The group, joining it first when the driver declared it with this actor in
// it (Ray's create_collective_group: members initialise on first use).
std::shared_ptr<GlooGroup> Group(const std::string &group_name) {
  if (auto group = Registry::Get().Find(group_name)) return group;
  auto declared = ray::experimental::InternalKvGet(DeclarationKey(group_name), kCollectiveKvNamespace);
  const std::string me = ray::GetRuntimeContext().GetActorId();
  if (declared && !me.empty()) {
    auto d = nlohmann::json::parse(*declared);
    auto ranks = d.at("ranks");
    if (ranks.contains(me)) {
      GroupOptions options;
      options.timeout = std::chrono::milliseconds(d.at("timeout_ms").get<int64_t>());
      options.rendezvous_timeout = std::chrono::milliseconds(d.at("rendezvous_timeout_ms").get<int64_t>());
      Join(d.at("world_size").get<int>(), ranks.at(me).get<int>(), options, group_name,
           "group/" + group_name + "/" + d.at("nonce").get<std::string>() + "/");
      if (auto group = Registry::Get().Find(group_name)) return group;
    }
  }
  throw RayException(
      "this process is not a member of collective group '" + group_name +
      "' (call ray::collective::InitCollectiveGroup, or CreateCollectiveGroup from the driver)");
}

}  // namespace

void InitCollectiveGroup(int world_size, int rank, Backend backend, const std::string &group_name) {
  GroupOptions options;
  options.backend = backend;
  InitCollectiveGroup(world_size, rank, options, group_name);
}

void InitCollectiveGroup(int world_size, int rank, const GroupOptions &options,
                         const std::string &group_name) {
  // The world size is part of the prefix, so members that disagree on it
  // time out naming the missing ranks instead of connecting wrongly.
  Join(world_size, rank, options, group_name,
       "group/" + group_name + "/w" + std::to_string(world_size) + "/");
}

void DestroyCollectiveGroup(const std::string &group_name) { Registry::Get().Erase(group_name); }

bool IsGroupInitialized(const std::string &group_name) { return Registry::Get().Find(group_name) != nullptr; }

int GetRank(const std::string &group_name) {
  auto group = Registry::Get().Find(group_name);
  return group ? group->rank() : -1;
}

int GetCollectiveGroupSize(const std::string &group_name) {
  auto group = Registry::Get().Find(group_name);
  return group ? group->world_size() : -1;
}

void Barrier(const std::string &group_name) { Group(group_name)->Barrier(); }

namespace internal {

void DeclareGroup(const std::vector<std::string> &actor_ids, int world_size, const std::vector<int> &ranks,
                  const GroupOptions &options, const std::string &group_name) {
  if (group_name.empty()) throw RayException("a collective group needs a name");
  if (actor_ids.size() != ranks.size())
    throw RayException("CreateCollectiveGroup: " + std::to_string(actor_ids.size()) + " actors but " +
                       std::to_string(ranks.size()) + " ranks");
  if (world_size < 1 || static_cast<int>(actor_ids.size()) != world_size)
    throw RayException("CreateCollectiveGroup: world size " + std::to_string(world_size) + " for " +
                       std::to_string(actor_ids.size()) + " actors");
  std::vector<bool> seen(world_size, false);
  nlohmann::json by_actor = nlohmann::json::object();
  for (size_t i = 0; i < ranks.size(); ++i) {
    int r = ranks[i];
    if (r < 0 || r >= world_size || seen[r])
      throw RayException("CreateCollectiveGroup: ranks must be 0.." + std::to_string(world_size - 1) +
                         ", each once");
    seen[r] = true;
    by_actor[Hex(actor_ids[i])] = r;
  }
  if (options.backend == Backend::kNccl)
    throw RayException(
        "CreateCollectiveGroup: the NCCL backend is not available in this build; use Backend::kGloo");
  std::random_device rd;
  nlohmann::json d = {{"world_size", world_size},
                      {"ranks", by_actor},
                      {"timeout_ms", options.timeout.count()},
                      {"rendezvous_timeout_ms", options.rendezvous_timeout.count()},
                      {"nonce", std::to_string(rd()) + std::to_string(rd())}};
  ray::experimental::InternalKvPut(DeclarationKey(group_name), d.dump(), true, kCollectiveKvNamespace);
}

int JoinedGroupSize(const std::string &group_name) { return Group(group_name)->world_size(); }

void AllReduce(void *data, size_t count, DataType type, ReduceOp op, const std::string &group_name) {
  Group(group_name)->AllReduce(data, count, type, op);
}
void Reduce(void *data, size_t count, DataType type, int dst_rank, ReduceOp op,
            const std::string &group_name) {
  Group(group_name)->Reduce(data, count, type, dst_rank, op);
}
void Broadcast(void *data, size_t count, DataType type, int src_rank, const std::string &group_name) {
  Group(group_name)->Broadcast(data, count, type, src_rank);
}
void AllGather(const void *input, size_t count, DataType type, void *output, const std::string &group_name) {
  Group(group_name)->AllGather(input, count, type, output);
}
void ReduceScatter(const void *input, size_t count, DataType type, void *output, ReduceOp op,
                   const std::string &group_name) {
  Group(group_name)->ReduceScatter(input, count, type, output, op);
}
void Send(const void *data, size_t count, DataType type, int dst_rank, const std::string &group_name) {
  Group(group_name)->Send(data, count, type, dst_rank);
}
void Recv(void *data, size_t count, DataType type, int src_rank, const std::string &group_name) {
  Group(group_name)->Recv(data, count, type, src_rank);
}

}  // namespace internal
}  // namespace collective
}  // namespace ray
