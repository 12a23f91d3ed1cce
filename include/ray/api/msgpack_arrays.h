// Contiguous arrays of numbers as one block: msgpack adaptors for
// std::vector<T> and std::array<T, N> of the built-in arithmetic types (double,
// float, the fixed-width integers; not bool, and not char / unsigned char,
// which msgpack already writes as one `bin`).
//
// msgpack's own adaptors write such an array element by element (a type byte
// and a byte-swapped number each) and read it back through one msgpack::object
// per element: for a 32 MiB std::vector<double> that is four million steps and
// ~100 MiB of temporary objects, far more than the work a task does with it.
// Here the elements are one msgpack `ext` value (type kTypedArrayExt) holding
// the array's bytes as they are in memory, so writing and reading are memcpy.
//
// Layout, always 8 bytes of header so that the elements of a value that starts
// on an 8-byte boundary (the start of a stored object) are 8-byte aligned and
// can be read in place (ray::Buffer<T>):
//
//   0xc9 (ext 32) | length (u32, big-endian) | kTypedArrayExt | element code | 0 | elements
//
// The element code is the element's kind ('f' float, 'i' signed, 'u' unsigned)
// in the high bits and its size in bytes in the low four; elements are in the
// writer's byte order, which Lumen requires to be little-endian. Reading
// accepts this form and msgpack's ordinary array form (so values written by
// other msgpack producers still read), and rejects a block of another element
// type or a length that is not a whole number of elements with
// msgpack::type_error.
//
// The adaptors must be visible wherever such a value is packed or unpacked:
// <ray/api/serializer.h> includes this header, so every translation unit that
// uses Lumen's API sees them.
//
// Stateless; thread-safe. Public header: must stay valid C++17.
#pragma once

#include <msgpack.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

namespace ray {
namespace internal {

/// The msgpack ext type of a typed array (application range 0..127).
constexpr int8_t kTypedArrayExt = 0x4c;
/// Bytes before the first element: ext32 header (6) + element code + padding.
constexpr size_t kTypedArrayHeader = 8;

template <typename T>
constexpr uint8_t TypedArrayCode() {
  static_assert(std::is_arithmetic<T>::value && !std::is_same<T, bool>::value, "numbers only");
  const uint8_t kind = std::is_floating_point<T>::value ? 0x10 : std::is_signed<T>::value ? 0x20 : 0x30;
  return static_cast<uint8_t>(kind | sizeof(T));
}

inline bool LittleEndianHost() {
  const uint16_t probe = 1;
  unsigned char first;
  std::memcpy(&first, &probe, 1);
  return first == 1;
}

/// Writes `count` elements of T as one typed-array ext value.
template <typename Stream, typename T>
void PackTypedArray(msgpack::packer<Stream> &o, const T *data, size_t count) {
  const uint64_t bytes = static_cast<uint64_t>(count) * sizeof(T);
  const uint64_t length = bytes + 2;  // element code + padding, then the elements
  if (length > 0xffffffffULL || !LittleEndianHost()) {
    throw msgpack::type_error();  // more than 4 GiB in one array / a big-endian host
  }
  const char header[kTypedArrayHeader] = {static_cast<char>(0xc9),
                                          static_cast<char>((length >> 24) & 0xff),
                                          static_cast<char>((length >> 16) & 0xff),
                                          static_cast<char>((length >> 8) & 0xff),
                                          static_cast<char>(length & 0xff),
                                          static_cast<char>(kTypedArrayExt),
                                          static_cast<char>(TypedArrayCode<T>()),
                                          0};
  // pack_ext_body appends raw bytes: the header is written by hand so that it
  // is always 8 bytes long (pack_ext picks the shortest ext form).
  o.pack_ext_body(header, sizeof header);
  if (bytes > 0) o.pack_ext_body(reinterpret_cast<const char *>(data), static_cast<size_t>(bytes));
}

/// The elements of a typed-array ext value holding T: their first byte and
/// their number. Throws msgpack::type_error if `o` is not one, or holds
/// another element type, or a length that is not whole elements.
template <typename T>
const char *TypedArrayElements(const msgpack::object &o, size_t *count) {
  if (o.type != msgpack::type::EXT || o.via.ext.type() != kTypedArrayExt || o.via.ext.size < 2 ||
      static_cast<uint8_t>(o.via.ext.data()[0]) != TypedArrayCode<T>() ||
      (o.via.ext.size - 2) % sizeof(T) != 0 || !LittleEndianHost()) {
    throw msgpack::type_error();
  }
  *count = (o.via.ext.size - 2) / sizeof(T);
  return o.via.ext.data() + 2;
}

inline bool IsTypedArray(const msgpack::object &o) {
  return o.type == msgpack::type::EXT && o.via.ext.type() == kTypedArrayExt;
}

/// Makes `v` hold the `count` elements at `src` (possibly unaligned) with one
/// copy: assign() from aligned memory copies straight into fresh storage;
/// otherwise the storage is zeroed by resize first.
template <typename T, typename Alloc>
void AssignElements(std::vector<T, Alloc> &v, const char *src, size_t count) {
  if (reinterpret_cast<uintptr_t>(src) % alignof(T) == 0) {
    const T *first = reinterpret_cast<const T *>(src);
    v.assign(first, first + count);
  } else {
    v.resize(count);
    if (count > 0) std::memcpy(v.data(), src, count * sizeof(T));
  }
}

}  // namespace internal
}  // namespace ray

namespace msgpack {
MSGPACK_API_VERSION_NAMESPACE(MSGPACK_DEFAULT_API_NS) {
  namespace adaptor {

  // One set of adaptors per element type: partial specializations on the
  // element type are more specialized than msgpack's std::vector<T, Alloc> and
  // std::array<T, N> ones, so they win for these types and only these.
#define LUMEN_TYPED_ARRAY_ADAPTORS(T)                                                             \
  template <typename Alloc>                                                                       \
  struct pack<std::vector<T, Alloc>> {                                                            \
    template <typename Stream>                                                                    \
    packer<Stream> &operator()(packer<Stream> &o, const std::vector<T, Alloc> &v) const {         \
      ray::internal::PackTypedArray(o, v.data(), v.size());                                       \
      return o;                                                                                   \
    }                                                                                             \
  };                                                                                              \
  template <typename Alloc>                                                                       \
  struct convert<std::vector<T, Alloc>> {                                                         \
    const msgpack::object &operator()(const msgpack::object &o, std::vector<T, Alloc> &v) const { \
      if (!ray::internal::IsTypedArray(o)) {                                                      \
        if (o.type != msgpack::type::ARRAY) throw msgpack::type_error();                          \
        v.resize(o.via.array.size);                                                               \
        for (uint32_t i = 0; i < o.via.array.size; ++i) o.via.array.ptr[i].convert(v[i]);         \
        return o;                                                                                 \
      }                                                                                           \
      size_t count = 0;                                                                           \
      const char *src = ray::internal::TypedArrayElements<T>(o, &count);                          \
      ray::internal::AssignElements(v, src, count);                                               \
      return o;                                                                                   \
    }                                                                                             \
  };                                                                                              \
  template <typename Alloc>                                                                       \
  struct as<std::vector<T, Alloc>> {                                                              \
    std::vector<T, Alloc> operator()(const msgpack::object &o) const {                            \
      std::vector<T, Alloc> v;                                                                    \
      convert<std::vector<T, Alloc>>()(o, v);                                                     \
      return v;                                                                                   \
    }                                                                                             \
  };                                                                                              \
  template <std::size_t N>                                                                        \
  struct pack<std::array<T, N>> {                                                                 \
    template <typename Stream>                                                                    \
    packer<Stream> &operator()(packer<Stream> &o, const std::array<T, N> &v) const {              \
      ray::internal::PackTypedArray(o, v.data(), N);                                              \
      return o;                                                                                   \
    }                                                                                             \
  };                                                                                              \
  template <std::size_t N>                                                                        \
  struct convert<std::array<T, N>> {                                                              \
    const msgpack::object &operator()(const msgpack::object &o, std::array<T, N> &v) const {      \
      if (!ray::internal::IsTypedArray(o)) {                                                      \
        if (o.type != msgpack::type::ARRAY || o.via.array.size != N) throw msgpack::type_error(); \
        for (std::size_t i = 0; i < N; ++i) o.via.array.ptr[i].convert(v[i]);                     \
        return o;                                                                                 \
      }                                                                                           \
      size_t count = 0;                                                                           \
      const char *src = ray::internal::TypedArrayElements<T>(o, &count);                          \
      if (count != N) throw msgpack::type_error();                                                \
      if (N > 0) std::memcpy(v.data(), src, N * sizeof(T));                                       \
      return o;                                                                                   \
    }                                                                                             \
  };

  LUMEN_TYPED_ARRAY_ADAPTORS(double)
  LUMEN_TYPED_ARRAY_ADAPTORS(float)
  LUMEN_TYPED_ARRAY_ADAPTORS(signed char)
  LUMEN_TYPED_ARRAY_ADAPTORS(short)
  LUMEN_TYPED_ARRAY_ADAPTORS(unsigned short)
  LUMEN_TYPED_ARRAY_ADAPTORS(int)
  LUMEN_TYPED_ARRAY_ADAPTORS(unsigned int)
  LUMEN_TYPED_ARRAY_ADAPTORS(long)
  LUMEN_TYPED_ARRAY_ADAPTORS(unsigned long)
  LUMEN_TYPED_ARRAY_ADAPTORS(long long)
  LUMEN_TYPED_ARRAY_ADAPTORS(unsigned long long)
#undef LUMEN_TYPED_ARRAY_ADAPTORS

  }  // namespace adaptor
}  // MSGPACK_API_VERSION_NAMESPACE(MSGPACK_DEFAULT_API_NS)
}  // namespace msgpack
