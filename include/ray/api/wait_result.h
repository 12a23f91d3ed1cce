// ray::WaitResult<T>: the outcome of ray::Wait. Both lists keep the order of
// the refs passed to Wait; they are std::list as in Ray (no indexing).
//
// Public header: must stay valid C++17.
#pragma once

#include <list>
#include <utility>

#include <ray/api/object_ref.h>

namespace ray {

template <typename T>
class WaitResult {
 public:
  WaitResult() = default;
  WaitResult(std::list<ObjectRef<T>> &&ready_objects, std::list<ObjectRef<T>> &&unready_objects)
      : ready(std::move(ready_objects)), unready(std::move(unready_objects)) {}

  std::list<ObjectRef<T>> ready;
  std::list<ObjectRef<T>> unready;
};

}  // namespace ray
