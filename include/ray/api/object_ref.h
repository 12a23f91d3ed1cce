// ray::ObjectRef<T>: a handle to an object in the object store.
//
// An ObjectRef holds only the object's binary id. Every live, non-empty copy
// holds one local reference in the runtime (AddLocalReference on construction
// from an id, copy and unpack; RemoveLocalReference on destruction and
// reassignment). After Shutdown (null runtime) the bookkeeping is skipped.
//
// An ObjectRef is itself serializable: it encodes as a msgpack array holding
// the id (the wire shape of MSGPACK_DEFINE(id_)) and reports the id to the
// runtime's nested-reference capture while being packed.
//
// A single ObjectRef object is not synchronized; distinct copies may be used
// from different threads.
//
// Public header: must stay valid C++17.
#pragma once

#include <msgpack.hpp>

#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include <ray/api/ray_runtime.h>
#include <ray/api/serializer.h>

namespace ray {

template <typename T>
class ObjectRef;

namespace internal {

inline void AddLocalRef(const std::string &id) {
  if (id.empty()) {
    return;
  }
  auto runtime = GetRayRuntime();
  if (runtime) {
    runtime->AddLocalReference(id);
  }
}

inline void RemoveLocalRef(const std::string &id) {
  if (id.empty()) {
    return;
  }
  auto runtime = GetRayRuntime();
  if (runtime) {
    runtime->RemoveLocalReference(id);
  }
}

/// Fetches an object's bytes, waiting up to timeout_ms (-1: forever).
inline std::shared_ptr<Buffer> GetObjectBuffer(const std::string &id, int timeout_ms) {
  return GetRayRuntime()->Get(id, timeout_ms);
}

template <typename T>
std::shared_ptr<T> GetFromRuntime(const std::string &id, int timeout_ms) {
  std::shared_ptr<Buffer> buffer = GetObjectBuffer(id, timeout_ms);
  return Serializer::DeserializeResult<T>(buffer->Data(), buffer->Size());
}

/// The id-and-refcount part shared by ObjectRef<T> and ObjectRef<void>.
class ObjectRefBase {
 public:
  ObjectRefBase() = default;
  ObjectRefBase(const std::string &id) : id_(id) { AddLocalRef(id_); }
  ObjectRefBase(const ObjectRefBase &other) : id_(other.id_) { AddLocalRef(id_); }
  ObjectRefBase(ObjectRefBase &&other) noexcept : id_(std::move(other.id_)) { other.id_.clear(); }
  ObjectRefBase &operator=(const ObjectRefBase &other) {
    if (this != &other && id_ != other.id_) {
      AddLocalRef(other.id_);
      RemoveLocalRef(id_);
      id_ = other.id_;
    }
    return *this;
  }
  ObjectRefBase &operator=(ObjectRefBase &&other) noexcept {
    if (this != &other) {
      try {
        RemoveLocalRef(id_);
      } catch (...) {
      }
      id_ = std::move(other.id_);
      other.id_.clear();
    }
    return *this;
  }
  ~ObjectRefBase() {
    try {
      RemoveLocalRef(id_);
    } catch (...) {
      // Never throw from a destructor (refs may die during shutdown).
    }
  }

  /// The raw binary object id (not hex).
  const std::string &ID() const { return id_; }

  template <typename Packer>
  void msgpack_pack(Packer &packer) const {
    NoteSerializedObjectRef(id_);
    packer.pack_array(1);
    packer.pack(id_);
  }

  void msgpack_unpack(const msgpack::object &o) {
    if (o.type != msgpack::type::ARRAY || o.via.array.size != 1) {
      throw msgpack::type_error();
    }
    std::string id = o.via.array.ptr[0].as<std::string>();
    if (id != id_) {
      AddLocalRef(id);
      RemoveLocalRef(id_);
      id_ = std::move(id);
    }
  }

  void msgpack_object(msgpack::object *o, msgpack::zone &zone) const {
    o->type = msgpack::type::ARRAY;
    o->via.array.size = 1;
    o->via.array.ptr = static_cast<msgpack::object *>(zone.allocate_align(sizeof(msgpack::object)));
    o->via.array.ptr[0] = msgpack::object(id_, zone);
  }

 protected:
  std::string id_;
};

}  // namespace internal

template <typename T>
class ObjectRef : public internal::ObjectRefBase {
 public:
  ObjectRef() = default;
  /// Non-explicit on purpose (Ray's API): adds a local reference.
  ObjectRef(const std::string &id) : internal::ObjectRefBase(id) {}
  ObjectRef(const ObjectRef &) = default;
  ObjectRef(ObjectRef &&) noexcept = default;
  ObjectRef &operator=(const ObjectRef &) = default;
  ObjectRef &operator=(ObjectRef &&) noexcept = default;
  ~ObjectRef() = default;

  bool operator==(const ObjectRef<T> &other) const { return id_ == other.id_; }

  /// Blocks until the value is available; each call decodes a fresh copy.
  std::shared_ptr<T> Get() const { return internal::GetFromRuntime<T>(id_, -1); }
  std::shared_ptr<T> Get(const int &timeout_ms) const { return internal::GetFromRuntime<T>(id_, timeout_ms); }

  /// Marker used by the type traits.
  static bool IsObjectRef() { return true; }
};

template <>
class ObjectRef<void> : public internal::ObjectRefBase {
 public:
  ObjectRef() = default;
  ObjectRef(const std::string &id) : internal::ObjectRefBase(id) {}
  ObjectRef(const ObjectRef &) = default;
  ObjectRef(ObjectRef &&) noexcept = default;
  ObjectRef &operator=(const ObjectRef &) = default;
  ObjectRef &operator=(ObjectRef &&) noexcept = default;
  ~ObjectRef() = default;

  bool operator==(const ObjectRef<void> &other) const { return id_ == other.id_; }

  /// Waits for the task to finish; throws if it failed.
  void Get() const { Get(-1); }
  void Get(const int &timeout_ms) const {
    std::shared_ptr<internal::Buffer> buffer = internal::GetObjectBuffer(id_, timeout_ms);
    internal::Serializer::ThrowIfError(buffer->Data(), buffer->Size());
  }

  static bool IsObjectRef() { return true; }
};

}  // namespace ray
