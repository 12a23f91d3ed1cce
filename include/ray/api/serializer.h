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
#include <ray/api/msgpack_arrays.h>
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

/// For msgpack::unpack: strings, binaries and ext values are referenced in
/// the caller's buffer instead of being copied into the unpack zone first, so
/// a value is copied once, from the buffer into its C++ object (or not at all,
/// for a ray::Buffer view). The buffer must outlive the object handle, which
/// every caller here guarantees: the handle never leaves the function.
inline bool ReferenceInBuffer(msgpack::type::object_type, size_t, void *) { return true; }

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
    size_t offset = 0;
    return Deserialize<T>(data, size, &offset);
  }

  /// Decodes the msgpack object that starts at byte `offset`.
  template <typename T>
  static T Deserialize(const char *data, size_t size, size_t offset) {
    return Deserialize<T>(data, size, &offset);
  }

  /// Decodes the object at *offset and advances *offset past it.
  template <typename T>
  static T Deserialize(const char *data, size_t size, size_t *offset) {
    msgpack::object_handle handle =
        msgpack::unpack(data, size, *offset, ReferenceInBuffer, nullptr, LimitsFor(size));
    return handle.get().as<T>();
  }

  /// What a payload of `size` bytes can hold: every array element takes at
  /// least a byte and every map entry two, so a header claiming more is
  /// malformed and is refused before msgpack allocates room for it (a few
  /// corrupt bytes must not ask for gigabytes). Nesting deeper than
  /// kMaxDepth is refused too: decoding recurses per level.
  static msgpack::unpack_limit LimitsFor(size_t size) {
    constexpr size_t kMaxDepth = 1000;
    const size_t n = size > 0xffffffffULL ? 0xffffffffULL : size;
    return msgpack::unpack_limit(n, n / 2, n, n, n, kMaxDepth);
  }

  /// True if the buffer is an in-band error payload (nil followed by more).
  static bool HasError(const char *data, size_t size) {
    // msgpack nil is the single byte 0xc0; no value starts with it otherwise.
    return data != nullptr && size > 1 && static_cast<unsigned char>(data[0]) == 0xc0;
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
  /// A malformed or truncated payload, or one that is not a T, throws
  /// RayException naming the problem.
  template <typename T>
  static std::shared_ptr<T> DeserializeResult(const char *data, size_t size) {
    ThrowIfError(data, size);
    try {
      return std::make_shared<T>(Deserialize<T>(data, size));
    } catch (const msgpack::type_error &e) {
      throw RayException(std::string("The object does not hold a value of the requested type (") + e.what() +
                         ")");
    } catch (const msgpack::unpack_error &e) {
      throw RayException(std::string("The object's bytes are not a valid msgpack value (") + e.what() + ")");
    } catch (const std::bad_alloc &) {
      throw RayException(
          "The object's bytes are not a valid msgpack value (it claims more memory than exists)");
    }
  }
};

}  // namespace internal
}  // namespace ray
