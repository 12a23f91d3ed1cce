// ray::ObjectRef<T>: a handle to an object in the object store.
//
// Every non-empty ObjectRef made from an id (construction from an id, unpack)
// holds one local reference in the runtime (AddLocalReference), shared by all
// copies made from it: the copies share one LocalReference, so copying or
// destroying an ObjectRef is an atomic count, not a call into the runtime; the
// last copy to go calls RemoveLocalReference. The runtime thus sees the object
// as referenced exactly while some copy lives, as Ray's per-copy counting does,
// at the cost of a map lookup only where a handle is made or released (a Wait
// on 1,000 refs copies every one of them into its result). After Shutdown
// (null runtime) the bookkeeping is skipped.
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

#include <ray/api/decode_support.h>
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

/// Decodes a fetched object as a T. The buffer is the decode's source: a
/// ray::Buffer<T> in the value may view its bytes and keep it (and so the
/// object's pin) alive.
template <typename T>
std::shared_ptr<T> DecodeObject(const std::shared_ptr<Buffer> &buffer) {
  DecodeSource source{buffer->Data(), buffer->Size(), buffer};
  ScopedDecodeSource scoped(&source);
  return Serializer::DeserializeResult<T>(buffer->Data(), buffer->Size());
}

template <typename T>
std::shared_ptr<T> GetFromRuntime(const std::string &id, int timeout_ms) {
  return DecodeObject<T>(GetObjectBuffer(id, timeout_ms));
}

/// One local reference in the runtime, held for as long as any ObjectRef
/// copied from the same handle lives.
class LocalReference {
 public:
  explicit LocalReference(std::string id) : id_(std::move(id)) { AddLocalRef(id_); }
  ~LocalReference() {
    try {
      RemoveLocalRef(id_);
    } catch (...) {
      // Never throw from a destructor (refs may die during shutdown).
    }
  }
  LocalReference(const LocalReference &) = delete;
  LocalReference &operator=(const LocalReference &) = delete;

  const std::string &id() const { return id_; }

 private:
  const std::string id_;
};

/// The id-and-refcount part shared by ObjectRef<T> and ObjectRef<void>.
class ObjectRefBase {
 public:
  ObjectRefBase() = default;
  ObjectRefBase(const std::string &id) : ref_(MakeReference(id)) {}

  /// The raw binary object id (not hex); empty for a default-constructed ref.
  const std::string &ID() const { return ref_ ? ref_->id() : EmptyId(); }

  template <typename Packer>
  void msgpack_pack(Packer &packer) const {
    NoteSerializedObjectRef(ID());
    packer.pack_array(1);
    packer.pack(ID());
  }

  void msgpack_unpack(const msgpack::object &o) {
    if (o.type != msgpack::type::ARRAY || o.via.array.size != 1) {
      throw msgpack::type_error();
    }
    std::string id = o.via.array.ptr[0].as<std::string>();
    NoteDecodeRetains();  // the value now holds a reference
    if (id != ID()) {
      ref_ = MakeReference(id);
    }
  }

  void msgpack_object(msgpack::object *o, msgpack::zone &zone) const {
    o->type = msgpack::type::ARRAY;
    o->via.array.size = 1;
    o->via.array.ptr = static_cast<msgpack::object *>(zone.allocate_align(sizeof(msgpack::object)));
    o->via.array.ptr[0] = msgpack::object(ID(), zone);
  }

 private:
  static std::shared_ptr<const LocalReference> MakeReference(const std::string &id) {
    if (id.empty()) {
      return nullptr;
    }
    return std::make_shared<const LocalReference>(id);
  }
  static const std::string &EmptyId() {
    static const std::string empty;
    return empty;
  }

  // Copies and moves are shared_ptr's: copies share the runtime reference.
  std::shared_ptr<const LocalReference> ref_;
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

  bool operator==(const ObjectRef<T> &other) const { return ID() == other.ID(); }

  /// Blocks until the value is available; each call decodes a fresh copy.
  std::shared_ptr<T> Get() const { return internal::GetFromRuntime<T>(ID(), -1); }
  std::shared_ptr<T> Get(const int &timeout_ms) const {
    return internal::GetFromRuntime<T>(ID(), timeout_ms);
  }

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

  bool operator==(const ObjectRef<void> &other) const { return ID() == other.ID(); }

  /// Waits for the task to finish; throws if it failed.
  void Get() const { Get(-1); }
  void Get(const int &timeout_ms) const {
    std::shared_ptr<internal::Buffer> buffer = internal::GetObjectBuffer(ID(), timeout_ms);
    internal::Serializer::ThrowIfError(buffer->Data(), buffer->Size());
  }

  static bool IsObjectRef() { return true; }
};

}  // namespace ray
