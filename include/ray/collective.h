// Lumen extension, not part of Ray's C++ API: collective communication among
// a group of actors (or tasks), as Ray Python's ray.util.collective offers it.
// Link lumen::collective (find_package(lumen)).
//
// A group is a fixed set of processes, each with a rank in [0, world size).
// It is made either by every member calling InitCollectiveGroup, or from the
// driver with CreateCollectiveGroup (the members then join on their first
// collective call). Members meet through the cluster's key-value store, then
// talk to each other directly: the bytes never pass through the object store.
//
// Operations work on plain buffers of trivially copyable numbers, in place as
// in Ray (AllReduce leaves the result in the buffer it was given). Every
// member must call the same operations in the same order with the same sizes,
// as with NCCL or Gloo. Each operation has a timeout (GroupOptions); when it
// passes, or a member dies, the operation throws ray::internal::RayException
// in the members still waiting, never hangs, and the group is broken: later
// calls throw at once until it is destroyed and made again.
//
// Joining a group makes the process ignore SIGPIPE (unless it has a handler
// for it): a member that dies must fail the others' operations, not kill
// them.
//
// Backends: Gloo over TCP (CPU memory). NCCL (GPU memory) is not available
// yet and is refused with a clear error.
//
// Security: Gloo's connections carry no cluster token. They listen on the
// node's address (loopback unless the node was started with
// --node-ip-address); see docs/collective.md.
//
// Threading: the functions may be called from any thread; operations on one
// group run one at a time (a second caller waits), different groups in
// parallel.
//
// Public header: must stay valid C++17.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include <ray/api/actor_handle.h>

namespace ray {
namespace collective {

enum class Backend { kGloo, kNccl };

/// How values are combined. kMean is the sum divided by the world size
/// (integer division for integer types).
enum class ReduceOp { kSum, kProduct, kMin, kMax, kMean };

enum class DataType { kInt8, kUint8, kInt32, kUint32, kInt64, kUint64, kFloat32, kFloat64 };

struct GroupOptions {
  Backend backend = Backend::kGloo;
  /// How long one operation may wait for the other members.
  std::chrono::milliseconds timeout = std::chrono::seconds(30);
  /// How long joining may wait for every member to arrive.
  std::chrono::milliseconds rendezvous_timeout = std::chrono::seconds(180);
};

/// Joins group `group_name` as `rank` of `world_size`; returns once every
/// member has joined. Throws when the arguments are invalid, this process
/// already belongs to a group of that name, or the others do not arrive in
/// time.
void InitCollectiveGroup(int world_size, int rank, Backend backend = Backend::kGloo,
                         const std::string &group_name = "default");
void InitCollectiveGroup(int world_size, int rank, const GroupOptions &options,
                         const std::string &group_name = "default");

/// Leaves the group (this process's part of it); a no-op when not a member.
void DestroyCollectiveGroup(const std::string &group_name = "default");
bool IsGroupInitialized(const std::string &group_name = "default");
/// This process's rank in the group, -1 when it is not a member.
int GetRank(const std::string &group_name = "default");
/// The group's size, -1 when this process is not a member.
int GetCollectiveGroupSize(const std::string &group_name = "default");

namespace internal {
/// Records a group declared by the driver: actor ids (ActorHandle::ID()) and
/// their ranks. Members join lazily on their first call.
/// The group's size, joining it first if the driver declared it with this
/// actor in it; throws when this process is not a member.
int JoinedGroupSize(const std::string &group_name);
void DeclareGroup(const std::vector<std::string> &actor_ids, int world_size, const std::vector<int> &ranks,
                  const GroupOptions &options, const std::string &group_name);

void AllReduce(void *data, size_t count, DataType type, ReduceOp op, const std::string &group_name);
void Reduce(void *data, size_t count, DataType type, int dst_rank, ReduceOp op,
            const std::string &group_name);
void Broadcast(void *data, size_t count, DataType type, int src_rank, const std::string &group_name);
void AllGather(const void *input, size_t count, DataType type, void *output, const std::string &group_name);
void ReduceScatter(const void *input, size_t count, DataType type, void *output, ReduceOp op,
                   const std::string &group_name);
void Send(const void *data, size_t count, DataType type, int dst_rank, const std::string &group_name);
void Recv(void *data, size_t count, DataType type, int src_rank, const std::string &group_name);

template <typename T>
constexpr DataType DataTypeOf() {
  static_assert(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>,
                "collectives work on buffers of numbers (int8..int64, uint8..uint64, float, double)");
  if constexpr (std::is_floating_point_v<T>) {
    static_assert(sizeof(T) == 4 || sizeof(T) == 8, "float or double");
    return sizeof(T) == 4 ? DataType::kFloat32 : DataType::kFloat64;
  } else if constexpr (sizeof(T) == 1) {
    return std::is_signed_v<T> ? DataType::kInt8 : DataType::kUint8;
  } else if constexpr (sizeof(T) == 4) {
    return std::is_signed_v<T> ? DataType::kInt32 : DataType::kUint32;
  } else {
    static_assert(sizeof(T) == 8, "8-, 32- or 64-bit integers");
    return std::is_signed_v<T> ? DataType::kInt64 : DataType::kUint64;
  }
}
}  // namespace internal

/// Declares a group from the driver (Ray's create_collective_group): actor
/// `actors[i]` gets rank `ranks[i]`. The actors join on their first call.
template <typename T>
void CreateCollectiveGroup(const std::vector<ActorHandle<T>> &actors, int world_size,
                           const std::vector<int> &ranks, const GroupOptions &options = GroupOptions(),
                           const std::string &group_name = "default") {
  std::vector<std::string> ids;
  ids.reserve(actors.size());
  for (const auto &a : actors) ids.push_back(a.ID());
  internal::DeclareGroup(ids, world_size, ranks, options, group_name);
}

/// Combines `count` values from every member, element by element; every
/// member ends with the result in `data`.
template <typename T>
void AllReduce(T *data, size_t count, const std::string &group_name = "default",
               ReduceOp op = ReduceOp::kSum) {
  internal::AllReduce(data, count, internal::DataTypeOf<T>(), op, group_name);
}
template <typename T>
void AllReduce(std::vector<T> &data, const std::string &group_name = "default",
               ReduceOp op = ReduceOp::kSum) {
  AllReduce(data.data(), data.size(), group_name, op);
}

/// As AllReduce, but only `dst_rank` gets the result (the others' buffers
/// are left as they were).
template <typename T>
void Reduce(std::vector<T> &data, int dst_rank = 0, const std::string &group_name = "default",
            ReduceOp op = ReduceOp::kSum) {
  internal::Reduce(data.data(), data.size(), internal::DataTypeOf<T>(), dst_rank, op, group_name);
}

/// Copies `src_rank`'s buffer into every member's.
template <typename T>
void Broadcast(T *data, size_t count, int src_rank = 0, const std::string &group_name = "default") {
  internal::Broadcast(data, count, internal::DataTypeOf<T>(), src_rank, group_name);
}
template <typename T>
void Broadcast(std::vector<T> &data, int src_rank = 0, const std::string &group_name = "default") {
  Broadcast(data.data(), data.size(), src_rank, group_name);
}

/// Every member's `input`, in rank order: member r's values land at
/// output[r * count, (r + 1) * count). `output` holds world size * count.
template <typename T>
void AllGather(const T *input, size_t count, T *output, const std::string &group_name = "default") {
  internal::AllGather(input, count, internal::DataTypeOf<T>(), output, group_name);
}
/// Ray's allgather(tensor_list, tensor): one vector per member, in rank order.
template <typename T>
std::vector<std::vector<T>> AllGather(const std::vector<T> &input,
                                      const std::string &group_name = "default") {
  const int size = internal::JoinedGroupSize(group_name);
  std::vector<T> flat(input.size() * static_cast<size_t>(size));
  AllGather(input.data(), input.size(), flat.data(), group_name);
  std::vector<std::vector<T>> out;
  for (int r = 0; r < size; ++r)
    out.emplace_back(flat.begin() + r * input.size(), flat.begin() + (r + 1) * input.size());
  return out;
}

/// Reduces `input` (world size * count values) over the members and leaves
/// block r of the result (count values) in member r's `output`.
template <typename T>
void ReduceScatter(const T *input, size_t count, T *output, const std::string &group_name = "default",
                   ReduceOp op = ReduceOp::kSum) {
  internal::ReduceScatter(input, count, internal::DataTypeOf<T>(), output, op, group_name);
}

/// Returns once every member has called it.
void Barrier(const std::string &group_name = "default");

/// Point to point: Send to `dst_rank` is matched, in order, by its Recv from
/// this rank; both return when the bytes are through (or throw).
template <typename T>
void Send(const T *data, size_t count, int dst_rank, const std::string &group_name = "default") {
  internal::Send(data, count, internal::DataTypeOf<T>(), dst_rank, group_name);
}
template <typename T>
void Send(const std::vector<T> &data, int dst_rank, const std::string &group_name = "default") {
  Send(data.data(), data.size(), dst_rank, group_name);
}
template <typename T>
void Recv(T *data, size_t count, int src_rank, const std::string &group_name = "default") {
  internal::Recv(data, count, internal::DataTypeOf<T>(), src_rank, group_name);
}
template <typename T>
void Recv(std::vector<T> &data, int src_rank, const std::string &group_name = "default") {
  Recv(data.data(), data.size(), src_rank, group_name);
}

}  // namespace collective
}  // namespace ray
