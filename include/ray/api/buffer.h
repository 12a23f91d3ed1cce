// ray::Buffer<T>: an immutable array of numbers that reads a stored object in
// place. A Lumen extension (Ray's C++ API has no such type; it gives C++ what
// numpy arrays get from Ray Python: zero-copy reads from shared memory).
//
//   ray::ObjectRef<std::vector<double>> ref = ray::Put(matrix);   // or Buffer
//   double Sum(ray::Buffer<double> m) { ... m[i] ... }            // a task
//   ray::Task(Sum).Remote(ref);            // m points into the stored object
//   std::shared_ptr<ray::Buffer<double>> v = ray::Get(buffer_ref); // same
//
// On the wire a Buffer<T> is exactly a std::vector<T> (see msgpack_arrays.h),
// so either can be written and the other read. Decoded from a stored object
// (a task argument passed by ObjectRef, a value from ray::Get) whose elements
// are aligned for T, a Buffer is a view: it points into the object's shared
// memory, read-only, and holds the object pinned there, so the object cannot be
// freed or its memory reused while any copy of the Buffer lives, even after
// every ObjectRef to it is gone; the last copy to go releases the pin. A view
// is valid in the process that decoded it until then; sending it to another
// task sends its elements. Otherwise (a small argument carried in the task's
// message, an array nested at an unaligned place inside another value) it
// holds its own copy. Local mode keeps objects in the driver's memory, and a
// Buffer views them there the same way. IsView() tells which.
//
// T: double, float, or a fixed-width integer type (int8_t ... uint64_t; not
// bool, char or unsigned char). Copies share the elements (a copy is a
// reference count); the elements are never written. A Buffer is not
// synchronized, but distinct copies may be used from different threads.
//
// Public header: must stay valid C++17.
#pragma once

#include <msgpack.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <ray/api/decode_support.h>
#include <ray/api/msgpack_arrays.h>

namespace ray {

template <typename T>
class Buffer {
 public:
  using value_type = T;
  using const_iterator = const T *;

  Buffer() = default;
  /// Owns `values` (moved, not copied).
  Buffer(std::vector<T> values) {  // NOLINT: implicit, like the vector it wraps
    auto owned = std::make_shared<const std::vector<T>>(std::move(values));
    data_ = owned->data();
    size_ = owned->size();
    owner_ = std::move(owned);
  }
  /// Copies `count` elements from `data`.
  Buffer(const T *data, size_t count) : Buffer(std::vector<T>(data, data + count)) {}

  const T *data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const T *begin() const { return data_; }
  const T *end() const { return data_ + size_; }
  const T &operator[](size_t i) const { return data_[i]; }
  const T &at(size_t i) const {
    if (i >= size_)
      throw std::out_of_range("ray::Buffer index " + std::to_string(i) + " >= " + std::to_string(size_));
    return data_[i];
  }
  /// A copy of the elements in memory of the caller's.
  std::vector<T> ToVector() const { return std::vector<T>(begin(), end()); }
  /// True if the elements are those of a stored object, read in place.
  bool IsView() const { return view_; }

  template <typename Packer>
  void msgpack_pack(Packer &packer) const {
    internal::PackTypedArray(packer, data_, size_);
  }

  void msgpack_unpack(const msgpack::object &o) {
    if (internal::IsTypedArray(o)) {
      size_t count = 0;
      const char *first = internal::TypedArrayElements<T>(o, &count);
      const internal::DecodeSource *source = internal::CurrentDecodeSource();
      const bool aligned = reinterpret_cast<uintptr_t>(first) % alignof(T) == 0;
      if (source && source->owner && aligned && first >= source->data &&
          first + count * sizeof(T) <= source->data + source->size) {
        data_ = reinterpret_cast<const T *>(first);
        size_ = count;
        owner_ = source->owner;
        view_ = true;
        internal::NoteDecodeRetains();  // holds a pin: never cached
        return;
      }
    }
    std::vector<T> copy;
    o.convert(copy);
    *this = Buffer(std::move(copy));
  }

 private:
  const T *data_ = nullptr;
  size_t size_ = 0;
  std::shared_ptr<const void> owner_;  // the vector owned, or what pins the object viewed
  bool view_ = false;
};

}  // namespace ray
