// Binary identifiers for workers, nodes, jobs, tasks, objects and actors.
//
// An ObjectID embeds its owner's WorkerID, so any process holding only the id
// (for example a ref nested inside another object) knows whom to ask about it.
// Layout: WorkerID (16 bytes) | sequence (8) | index (4) = 28 bytes, the size
// of Ray's object ids. Value types; no threading concerns.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>

#include "base/encoding.h"  // ToHex, which Hex() uses

namespace lumen {

template <size_t N, typename Tag>
class FixedId {
 public:
  static constexpr size_t kSize = N;
  FixedId() { bytes_.fill(0); }
  static FixedId FromBinary(std::string_view b) {
    FixedId id;
    if (b.size() == N) std::memcpy(id.bytes_.data(), b.data(), N);
    return id;
  }
  static FixedId FromRandom();
  static FixedId Nil() { return FixedId(); }

  bool IsNil() const {
    for (auto c : bytes_)
      if (c) return false;
    return true;
  }
  std::string Binary() const { return std::string(reinterpret_cast<const char *>(bytes_.data()), N); }
  std::string Hex() const;
  const uint8_t *data() const { return bytes_.data(); }
  uint8_t *mutable_data() { return bytes_.data(); }

  bool operator==(const FixedId &o) const { return bytes_ == o.bytes_; }
  bool operator!=(const FixedId &o) const { return bytes_ != o.bytes_; }
  bool operator<(const FixedId &o) const { return bytes_ < o.bytes_; }

  // The standard library's byte hash (8 bytes a step): ids are looked up on
  // every reference count and Wait, where byte-wise FNV-1a showed in profiles.
  size_t Hash() const {
    return std::hash<std::string_view>{}(std::string_view(reinterpret_cast<const char *>(bytes_.data()), N));
  }

 protected:
  std::array<uint8_t, N> bytes_;
};

struct WorkerTag {};
struct NodeTag {};
using WorkerID = FixedId<16, WorkerTag>;
using NodeID = FixedId<16, NodeTag>;

/// Fills `out` with cryptographically random bytes (getrandom).
void FillRandom(void *out, size_t n);
/// `num_bytes` random bytes, in hex.
std::string RandomHex(size_t num_bytes);

template <size_t N, typename Tag>
FixedId<N, Tag> FixedId<N, Tag>::FromRandom() {
  FixedId id;
  FillRandom(id.bytes_.data(), N);
  return id;
}
template <size_t N, typename Tag>
std::string FixedId<N, Tag>::Hex() const {
  return ToHex(std::string_view(reinterpret_cast<const char *>(bytes_.data()), N));
}

/// Task ids: the submitting worker plus its submission counter.
struct TaskTag {};
class TaskID : public FixedId<24, TaskTag> {
 public:
  TaskID() = default;
  TaskID(const FixedId<24, TaskTag> &b) : FixedId<24, TaskTag>(b) {}
  static TaskID Of(const WorkerID &submitter, uint64_t seq);
  WorkerID Submitter() const {
    return WorkerID::FromBinary(std::string_view(reinterpret_cast<const char *>(data()), 16));
  }
};

struct ObjectTag {};
class ObjectID : public FixedId<28, ObjectTag> {
 public:
  ObjectID() = default;
  ObjectID(const FixedId<28, ObjectTag> &b) : FixedId<28, ObjectTag>(b) {}
  static ObjectID FromBinary(std::string_view b) { return ObjectID(FixedId<28, ObjectTag>::FromBinary(b)); }
  /// Return value `index` (1-based) of a task, or a Put when index is 0.
  static ObjectID ForTaskReturn(const TaskID &task, uint32_t index);
  WorkerID Owner() const {
    return WorkerID::FromBinary(std::string_view(reinterpret_cast<const char *>(data()), 16));
  }
  TaskID Task() const;
  uint32_t Index() const;
};

struct ActorTag {};
using ActorID = FixedId<16, ActorTag>;

}  // namespace lumen

namespace std {
template <size_t N, typename Tag>
struct hash<lumen::FixedId<N, Tag>> {
  size_t operator()(const lumen::FixedId<N, Tag> &id) const { return id.Hash(); }
};
template <>
struct hash<lumen::ObjectID> {
  size_t operator()(const lumen::ObjectID &id) const { return id.Hash(); }
};
template <>
struct hash<lumen::TaskID> {
  size_t operator()(const lumen::TaskID &id) const { return id.Hash(); }
};
}  // namespace std
