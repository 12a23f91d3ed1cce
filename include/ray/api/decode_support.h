// What decoding a value may know beyond its bytes, and the per-process cache
// of decoded immutable task arguments. Internal to the API; the functions are
// defined in libray_api.so (one copy per process, shared by dlopen'ed user
// libraries).
//
// * DecodeSource: the stored object a value is being decoded from, set for
//   one decode on the decoding thread (ScopedDecodeSource). A ray::Buffer<T>
//   whose elements lie inside it points at them and keeps `owner` (what pins
//   the object in shared memory) instead of copying them.
// * Retains: a thread-local count of decodes that made the value hold on to
//   something beyond its own memory (an ObjectRef, which holds a reference,
//   or a ray::Buffer view, which pins an object). Such values are not cached.
// * The decoded-argument cache: an object is immutable, so a task parameter
//   declared `const T&` that takes a stored object can share one decoded T
//   with every later task on this worker that takes the same object as a T,
//   instead of each decoding it into fresh memory. Keyed by object id and
//   type, bounded in bytes (LUMEN_ARG_CACHE_BYTES), least recently used goes
//   first. Thread-safe.
//
// Public header (included by the API's templates): must stay valid C++17.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <typeinfo>

namespace ray {
namespace internal {

struct DecodeSource {
  const char *data = nullptr;
  size_t size = 0;
  std::shared_ptr<const void> owner;  // keeps [data, data + size) mapped and unchanged
};

/// The source of the decode running on this thread, or nullptr.
const DecodeSource *CurrentDecodeSource();
void SetCurrentDecodeSource(const DecodeSource *source);

class ScopedDecodeSource {
 public:
  explicit ScopedDecodeSource(const DecodeSource *source) : previous_(CurrentDecodeSource()) {
    SetCurrentDecodeSource(source);
  }
  ~ScopedDecodeSource() { SetCurrentDecodeSource(previous_); }
  ScopedDecodeSource(const ScopedDecodeSource &) = delete;
  ScopedDecodeSource &operator=(const ScopedDecodeSource &) = delete;

 private:
  const DecodeSource *previous_;
};

void NoteDecodeRetains();
uint64_t DecodeRetainCount();

std::shared_ptr<const void> FindDecodedArg(std::string_view object_id, const std::type_info &type);
void KeepDecodedArg(std::string_view object_id, const std::type_info &type, std::shared_ptr<const void> value,
                    size_t bytes);

}  // namespace internal
}  // namespace ray
