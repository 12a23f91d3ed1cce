// The node's shared-memory arena: one memfd created by the node service,
// pre-faulted once, and mapped once by every process on the node. Objects are
// ranges inside it (see Allocator and ObjectStore); nothing is ever mapped per
// object. The fd travels to other processes over a Unix socket (SCM_RIGHTS),
// so no name exists in /dev/shm and nothing outlives the last process.
//
// Threading: an Arena is immutable after construction, apart from one
// background thread that prefaults its first pages at idle priority (see
// Create and Attach) and is joined by the destructor, and a lock-free record
// of the chunks this process has populated (PrepareWrite may be called from
// any thread); ArenaFdServer runs one thread of its own.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "base/mutex.h"
#include "base/status.h"

namespace lumen::object_store {

class Arena {
 public:
  /// Creates a memfd of `capacity` bytes and maps it. The first
  /// `prefault_bytes` are then allocated (fallocate) on a background thread
  /// at idle priority, a second after start-up, so that first writes there
  /// find their pages; start-up does not wait for it. Writers map the same
  /// prefix with Attach.
  static StatusOr<std::unique_ptr<Arena>> Create(size_t capacity, size_t prefault_bytes);
  /// Maps an arena received from the node service; takes ownership of `fd`.
  /// The first `populate_bytes` get their page tables filled the same way,
  /// so this process's first writes there do not fault.
  static StatusOr<std::unique_ptr<Arena>> Attach(int fd, size_t capacity, size_t populate_bytes = 0);
  ~Arena();  // stops and joins the prefault thread, munmap + close

  uint8_t *base() const { return base_; }
  size_t capacity() const { return capacity_; }
  int fd() const { return fd_; }
  /// Starts the background prefault now instead of after the delay and
  /// blocks until it is done; for tests.
  void WaitForPrefault();
  /// Stops the background prefault (if still running) and joins its thread.
  /// Thread-safe; the arena stays usable.
  void StopPrefault();

  /// Before this process writes [offset, offset + size): fills in its page
  /// tables, on several threads, for the chunks of the range it has not
  /// populated yet (by an earlier PrepareWrite or Attach's background
  /// populate), so the writer -- typically msgpack, one thread, value by
  /// value -- does not take a page fault per 4 KiB. Below kPrepareMinBytes
  /// it does nothing: a small write's faults cost less than populating its
  /// whole chunk. Thread-safe; contents are unchanged.
  void PrepareWrite(size_t offset, size_t size);
  static constexpr size_t kPrepareMinBytes = 4u << 20;
  static constexpr size_t kPopulateChunk = 2u << 20;

 private:
  Arena(int fd, uint8_t *base, size_t capacity);
  void StartPrefault(size_t bytes, bool allocate);
  bool ChunkPopulated(size_t chunk) const;
  void MarkPopulated(size_t chunk);
  bool start_prefault_now_ GUARDED_BY(prefault_mu_) = false;
  int fd_;
  uint8_t *base_;
  size_t capacity_;
  Mutex prefault_mu_;
  std::condition_variable prefault_cv_;
  bool stop_prefault_ GUARDED_BY(prefault_mu_) = false;
  std::thread prefault_;  // one background thread at SCHED_IDLE, not a pool's
  // A bit per kPopulateChunk: this process's page tables for it are filled.
  // Set and read with relaxed atomics: a stale "no" only repeats a populate,
  // which is harmless.
  std::unique_ptr<std::atomic<uint64_t>[]> populated_;
};

/// Serves the arena's fd to local processes on a Unix socket. Each client
/// proves it holds the cluster token with base/auth.h's handshake, in raw
/// bytes: its nonce (32 bytes); the server's nonce and proof (64); its proof
/// (32). It then receives the capacity and the prefaulted prefix's size (two
/// u64) with the fd attached. A failed handshake gets the connection closed
/// and nothing else.
///
/// Threading: one thread of its own serves every client side by side on
/// non-blocking sockets, so a client that goes quiet delays nobody else; it
/// is dropped after a deadline, or to make room when max_waiting wait (the one
/// quiet the longest goes first).
class ArenaFdServer {
 public:
  /// How long one client may take over the handshake before it is dropped.
  /// Clients are served side by side, so this only bounds what an idle one
  /// holds (its socket and a slot).
  static constexpr std::chrono::milliseconds kDefaultHandshakeTimeout{10000};

  /// Clients in the middle of the handshake at once. Each holds only a
  /// socket, so the room is large: a burst of connections (a flood, or many
  /// workers starting) must not push a real client out mid-handshake.
  static constexpr size_t kDefaultMaxWaiting = 1024;

  explicit ArenaFdServer(std::chrono::milliseconds handshake_timeout = kDefaultHandshakeTimeout,
                         size_t max_waiting = kDefaultMaxWaiting)
      : handshake_timeout_(handshake_timeout), max_waiting_(max_waiting) {}
  ~ArenaFdServer();  // Stop()s.
  Status Start(const std::string &socket_path, const std::string &token, int arena_fd, size_t capacity,
               size_t prefault_bytes = 0);
  void Stop();  // joins the thread, unlinks the socket file

 private:
  struct Client;
  void Serve();                  // the thread
  bool Advance(Client &client);  // on the thread; false once done with the client
  const std::chrono::milliseconds handshake_timeout_;
  const size_t max_waiting_;
  std::string path_;
  std::string token_;
  int arena_fd_ = -1;
  size_t capacity_ = 0;
  size_t prefault_ = 0;
  int listen_fd_ = -1;
  int stop_fd_ = -1;  // eventfd that wakes the thread on Stop()
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

/// Client side of ArenaFdServer: connects, authenticates, receives and maps.
/// `populate`: fill this process's page tables for the node's prefaulted
/// prefix (in the background; see Arena::Attach).
StatusOr<std::unique_ptr<Arena>> AttachToNodeArena(const std::string &socket_path, const std::string &token,
                                                   bool populate);

}  // namespace lumen::object_store
