// The node's shared-memory arena: one memfd created by the node service,
// pre-faulted once, and mapped once by every process on the node. Objects are
// ranges inside it (see Allocator and ObjectStore); nothing is ever mapped per
// object. The fd travels to other processes over a Unix socket (SCM_RIGHTS),
// so no name exists in /dev/shm and nothing outlives the last process.
//
// Threading: an Arena is immutable after construction; ArenaFdServer runs one
// accept thread of its own.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "base/status.h"

namespace lumen::object_store {

class Arena {
 public:
  /// Creates a memfd of `capacity` bytes and maps it. The first
  /// `prefault_bytes` are allocated now (fallocate: no page allocation on a
  /// first write, and ENOSPC now rather than SIGBUS later); writers map them
  /// with Attach(populate).
  static StatusOr<std::unique_ptr<Arena>> Create(size_t capacity, size_t prefault_bytes);
  /// Maps an arena received from the node service; takes ownership of `fd`.
  /// `populate` maps the pages the node already allocated (its prefaulted
  /// prefix) now, so first writes there do not fault.
  static StatusOr<std::unique_ptr<Arena>> Attach(int fd, size_t capacity, bool populate);
  ~Arena();  // munmap + close

  uint8_t *base() const { return base_; }
  size_t capacity() const { return capacity_; }
  int fd() const { return fd_; }

 private:
  Arena(int fd, uint8_t *base, size_t capacity) : fd_(fd), base_(base), capacity_(capacity) {}
  int fd_;
  uint8_t *base_;
  size_t capacity_;
};

/// Serves the arena's fd to local processes on a Unix socket: a client
/// connects, sends the cluster token (u32 length + bytes), and receives the
/// capacity (u64) with the fd attached. A wrong token gets the connection
/// closed and nothing else.
class ArenaFdServer {
 public:
  ArenaFdServer() = default;
  ~ArenaFdServer();  // Stop()s.
  Status Start(const std::string &socket_path, const std::string &token, int arena_fd, size_t capacity);
  void Stop();  // joins the thread, unlinks the socket file

 private:
  void Serve();                     // the accept thread
  void HandleConnection(int conn);  // one client, on the accept thread
  std::string path_;
  std::string token_;
  int arena_fd_ = -1;
  size_t capacity_ = 0;
  int listen_fd_ = -1;
  int stop_fd_ = -1;  // eventfd that wakes the accept thread on Stop()
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

/// Client side of ArenaFdServer: connects, authenticates, receives and maps.
StatusOr<std::unique_ptr<Arena>> AttachToNodeArena(const std::string &socket_path, const std::string &token,
                                                   bool populate);

}  // namespace lumen::object_store
