// ray::internal::Serializer: msgpack encode/decode helpers used for every
// value that crosses the API (Put/Get, task arguments and results).
//
// Encoding conventions: one msgpack object per value; a void result is msgpack
// nil (one byte); an in-band error is msgpack nil followed by the msgpack array
// [int error_type, string message] (see HasError / SerializeError).
//
// All functions are stateless and thread-safe.
//
// Public header: must stay valid C++17.
#pragma once

#include <msgpack.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include <ray/api/msgpack_adaptor.h>
#include <ray/api/ray_exception.h>

namespace ray {
namespace internal {

/// memcpy for large buffers, split across a few threads (defined in the
/// runtime library: one thread's memcpy does not reach memory bandwidth).
void CopyBytes(char *dst, const char *src, size_t n);

/// msgpack output streams for serializing in two passes: count the bytes,
/// then write them straight into storage of exactly that size.
struct SizeCountingStream {
  size_t size = 0;
  void write(const char *, size_t n) { size += n; }
};
struct FixedBufferStream {
  char *out;
  void write(const char *data, size_t n) {
    if (n >= (size_t{1} << 20)) {
      CopyBytes(out, data, n);
    } else {
      std::memcpy(out, data, n);
    }
    out += n;
  }
};

class Serializer {
 public:
  template <typename T>
  static msgpack::sbuffer Serialize(const T &t) {
    msgpack::sbuffer buffer;
    msgpack::pack(buffer, t);
    return buffer;
  }

  /// Raw bytes as one msgpack bin object.
  static msgpack::sbuffer Serialize(const char *data, size_t size) {
    msgpack::sbuffer buffer;
    msgpack::packer<msgpack::sbuffer> packer(buffer);
    packer.pack_bin(static_cast<uint32_t>(size));
    if (size > 0) {
      packer.pack_bin_body(data, static_cast<uint32_t>(size));
    }
    return buffer;
  }

  /// Decodes the first msgpack object of [data, data + size) as a T.
  template <typename T>
  static T Deserialize(const char *data, size_t size) {
    msgpack::object_handle handle = msgpack::unpack(data, size);
    return handle.get().as<T>();
  }

  /// Decodes the msgpack object that starts at byte `offset`.
  template <typename T>
  static T Deserialize(const char *data, size_t size, size_t offset) {
    msgpack::object_handle handle = msgpack::unpack(data, size, offset);
    return handle.get().as<T>();
  }

  /// Decodes the object at *offset and advances *offset past it.
  template <typename T>
  static T Deserialize(const char *data, size_t size, size_t *offset) {
    msgpack::object_handle handle = msgpack::unpack(data, size, *offset);
    return handle.get().as<T>();
  }

  /// True if the buffer is an in-band error payload (nil followed by more).
  static bool HasError(const char *data, size_t size) {
    if (data == nullptr || size <= 1) {
      return false;
    }
    size_t offset = 0;
    msgpack::object_handle first = msgpack::unpack(data, size, offset);
    return first.get().type == msgpack::type::NIL && offset < size;
  }

  /// Builds an in-band error payload: nil, then [error_type, message].
  static msgpack::sbuffer SerializeError(int error_type, const std::string &message) {
    msgpack::sbuffer buffer;
    msgpack::pack(buffer, msgpack::type::nil_t());
    msgpack::pack(buffer, std::make_tuple(error_type, message));
    return buffer;
  }

  /// Returns (error_type, message) of an in-band error payload.
  static std::pair<int, std::string> DeserializeError(const char *data, size_t size) {
    size_t offset = 0;
    msgpack::unpack(data, size, offset);  // the leading nil
    msgpack::object_handle rest = msgpack::unpack(data, size, offset);
    auto parts = rest.get().as<std::tuple<int, std::string>>();
    return {std::get<0>(parts), std::get<1>(parts)};
  }

  /// Throws RayTaskException(message) if the buffer is an in-band error.
  static void ThrowIfError(const char *data, size_t size) {
    if (HasError(data, size)) {
      std::string message;
      try {
        message = DeserializeError(data, size).second;
      } catch (const std::exception &) {
        message = "malformed error payload";
      }
      throw RayTaskException(message);
    }
  }

  /// Decodes a result, throwing for an in-band error payload first.
  template <typename T>
  static std::shared_ptr<T> DeserializeResult(const char *data, size_t size) {
    ThrowIfError(data, size);
    return std::make_shared<T>(Deserialize<T>(data, size));
  }
};

}  // namespace internal
}  // namespace ray
