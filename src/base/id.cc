#include "base/id.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdlib>

namespace lumen {

void FillRandom(void *out, size_t n) {
  auto *p = static_cast<uint8_t *>(out);
  while (n > 0) {
    ssize_t r = getrandom(p, n, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      std::abort();  // no entropy source: nothing sensible to do
    }
    p += r;
    n -= static_cast<size_t>(r);
  }
}

std::string RandomHex(size_t num_bytes) {
  std::string b(num_bytes, '\0');
  FillRandom(b.data(), num_bytes);
  return ToHex(b);
}

TaskID TaskID::Of(const WorkerID &submitter, uint64_t seq) {
  TaskID t;
  std::memcpy(t.mutable_data(), submitter.data(), 16);
  std::memcpy(t.mutable_data() + 16, &seq, 8);
  return t;
}

ObjectID ObjectID::ForTaskReturn(const TaskID &task, uint32_t index) {
  ObjectID o;
  std::memcpy(o.mutable_data(), task.data(), 24);
  std::memcpy(o.mutable_data() + 24, &index, 4);
  return o;
}

TaskID ObjectID::Task() const {
  TaskID t;
  std::memcpy(t.mutable_data(), data(), 24);
  return t;
}

uint32_t ObjectID::Index() const {
  uint32_t i;
  std::memcpy(&i, data() + 24, 4);
  return i;
}

}  // namespace lumen
