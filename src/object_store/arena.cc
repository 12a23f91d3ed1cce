#include "object_store/arena.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include "base/auth.h"
#include "base/logging.h"
#include "base/parallel_copy.h"

namespace lumen::object_store {

namespace {

// How long a client waits for each of the server's answers.
constexpr int kClientTimeoutMs = 10000;

std::string ErrnoText(const char *what, int err) { return std::string(what) + ": " + std::strerror(err); }

size_t PageSize() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

// Prefaulting the first part of the arena, measured on a 1 GiB memfd (kernel
// 6.18, 4 KiB pages, THP for shmem off): touching one byte per page from user
// space ~650-900 ms; fallocate alone ~230 ms but every page still takes a
// minor fault on a process's first write (first memcpy ~2 GB/s);
// MADV_POPULATE_WRITE alone ~600-1100 ms; fallocate then MADV_POPULATE_WRITE
// ~530-690 ms with no faults afterwards. So the node allocates the pages
// (fallocate) and each writer fills its own page tables (Linux 5.14+'s
// MADV_POPULATE_WRITE, the touch loop where it is missing); the node never
// writes object data, so it skips the second step.
//
// Both steps run on a background thread at SCHED_IDLE, a second after
// start-up: done at start-up they made up ~160 of the ~210 ms from ray::Init
// to a first task's result on a 2-core machine, for a benefit that only the
// first large puts see, and even at idle priority, running during start-up
// they doubled the first task's latency (page zeroing and mmap_lock
// contention). A large write before the thread reaches its pages populates
// them itself on several threads (PrepareWrite); a small one faults as
// usual. Neither fallocate (mode 0 keeps existing data) nor populating
// changes contents. The price: a node short of memory reports it in its log,
// not at start.
constexpr auto kPrefaultDelay = std::chrono::seconds(1);
constexpr size_t kPrefaultChunk = Arena::kPopulateChunk;  // short mmap_lock holds; stop checks between chunks

void PopulateRange(uint8_t *base, size_t bytes) {
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
  if (madvise(base, bytes, MADV_POPULATE_WRITE) == 0) return;
  const size_t page = PageSize();
  // Adds zero: keeps whatever a writer already put there.
  for (size_t off = 0; off < bytes; off += page) {
    __atomic_fetch_add(reinterpret_cast<uint8_t *>(base) + off, 0, __ATOMIC_RELAXED);
  }
}

// Reads exactly `n` bytes from `fd`, giving up on EOF, error, timeout or
// when `stop_fd` (if >= 0) becomes readable.
bool ReadFull(int fd, void *buf, size_t n, int timeout_ms, int stop_fd) {
  auto *p = static_cast<uint8_t *>(buf);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (n > 0) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now())
            .count();
    if (left <= 0) return false;
    pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    int r = poll(fds, stop_fd >= 0 ? 2 : 1, static_cast<int>(left));
    if (r < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (r == 0) return false;
    if (stop_fd >= 0 && (fds[1].revents & POLLIN)) return false;
    ssize_t got = recv(fd, p, n, 0);
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return false;
    }
    if (got == 0) return false;
    p += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

bool SendAll(int fd, const void *buf, size_t n) {
  auto *p = static_cast<const uint8_t *>(buf);
  while (n > 0) {
    ssize_t sent = send(fd, p, n, MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += sent;
    n -= static_cast<size_t>(sent);
  }
  return true;
}

Status FillSockAddr(const std::string &path, sockaddr_un *addr) {
  std::memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr->sun_path)) {
    return Status::InvalidArgument("arena socket path is empty or longer than " +
                                   std::to_string(sizeof(addr->sun_path) - 1) + " bytes: " + path);
  }
  std::memcpy(addr->sun_path, path.data(), path.size());
  return Status::OK();
}

}  // namespace

// ---------------------------------------------------------------- Arena ----

StatusOr<std::unique_ptr<Arena>> Arena::Create(size_t capacity, size_t prefault_bytes) {
  if (capacity == 0) return Status::InvalidArgument("arena capacity must be > 0");
  int fd = memfd_create("lumen-object-store", MFD_CLOEXEC);
  if (fd < 0) return Status::IoError(ErrnoText("memfd_create", errno));
  if (ftruncate(fd, static_cast<off_t>(capacity)) != 0) {
    int err = errno;
    close(fd);
    return Status::IoError(ErrnoText("ftruncate arena", err) + " (capacity " + std::to_string(capacity) +
                           " bytes)");
  }
  void *p = mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    int err = errno;
    close(fd);
    return Status::IoError(ErrnoText("mmap arena", err));
  }
  auto *base = static_cast<uint8_t *>(p);
  // A hint only: transparent huge pages for shmem are often disabled.
  (void)madvise(base, capacity, MADV_HUGEPAGE);
  auto arena = std::unique_ptr<Arena>(new Arena(fd, base, capacity));
  arena->StartPrefault(prefault_bytes < capacity ? prefault_bytes : capacity, /*allocate=*/true);
  return arena;
}

void Arena::StartPrefault(size_t bytes, bool allocate) {
  if (bytes == 0) return;
  prefault_ = std::thread([this, bytes, allocate] {
    sched_param param{};
    (void)pthread_setschedparam(pthread_self(), SCHED_IDLE, &param);
    auto stopped = [this] {
      MutexLock lock(prefault_mu_);
      return stop_prefault_;
    };
    {
      MutexLock lock(prefault_mu_);
      prefault_cv_.wait_for(lock.native(), kPrefaultDelay, [this]() REQUIRES(prefault_mu_) {
        return stop_prefault_ || start_prefault_now_;
      });
      if (stop_prefault_) return;
    }
    for (size_t off = 0; off < bytes && !stopped(); off += kPrefaultChunk) {
      size_t n = bytes - off < kPrefaultChunk ? bytes - off : kPrefaultChunk;
      if (allocate) {
        int r;
        do {
          r = fallocate(fd_, 0, static_cast<off_t>(off), static_cast<off_t>(n));
        } while (r != 0 && errno == EINTR);
        if (r != 0) {
          LUMEN_LOG_ERROR("object store: allocating its first {} bytes failed at byte {}: {}{}", bytes, off,
                          std::strerror(errno),
                          errno == ENOSPC || errno == ENOMEM ? " (not enough memory on this node)" : "");
          return;
        }
      } else {
        PopulateRange(base_ + off, n);
        if (n == kPopulateChunk) MarkPopulated(off / kPopulateChunk);
      }
    }
  });
}

void Arena::WaitForPrefault() {
  {
    MutexLock lock(prefault_mu_);
    start_prefault_now_ = true;
  }
  prefault_cv_.notify_all();
  if (prefault_.joinable()) prefault_.join();
}

StatusOr<std::unique_ptr<Arena>> Arena::Attach(int fd, size_t capacity, size_t populate_bytes) {
  if (fd < 0) return Status::InvalidArgument("Arena::Attach: invalid fd");
  if (capacity == 0) {
    close(fd);
    return Status::InvalidArgument("Arena::Attach: capacity must be > 0");
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return Status::IoError(ErrnoText("fstat arena fd", err));
  }
  if (static_cast<uint64_t>(st.st_size) < capacity) {
    close(fd);
    return Status::InvalidArgument("Arena::Attach: fd holds " + std::to_string(st.st_size) +
                                   " bytes, less than the capacity " + std::to_string(capacity));
  }
  void *p = mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    int err = errno;
    close(fd);
    return Status::IoError(ErrnoText("mmap arena", err));
  }
  auto arena = std::unique_ptr<Arena>(new Arena(fd, static_cast<uint8_t *>(p), capacity));
  // Only the prefix the node prefaults: MAP_POPULATE would allocate the whole
  // arena, gigabytes of it.
  arena->StartPrefault(populate_bytes < capacity ? populate_bytes : capacity, /*allocate=*/false);
  return arena;
}

Arena::Arena(int fd, uint8_t *base, size_t capacity)
    : fd_(fd),
      base_(base),
      capacity_(capacity),
      populated_(new std::atomic<uint64_t>[(capacity + 64 * kPopulateChunk - 1) / (64 * kPopulateChunk)]()) {}

bool Arena::ChunkPopulated(size_t chunk) const {
  return (populated_[chunk / 64].load(std::memory_order_relaxed) >> (chunk % 64)) & 1;
}

void Arena::MarkPopulated(size_t chunk) {
  populated_[chunk / 64].fetch_or(uint64_t{1} << (chunk % 64), std::memory_order_relaxed);
}

void Arena::PrepareWrite(size_t offset, size_t size) {
  if (size < kPrepareMinBytes || offset >= capacity_) return;
  size = std::min(size, capacity_ - offset);
  const size_t first = offset / kPopulateChunk, last = (offset + size - 1) / kPopulateChunk;
  // Runs of chunks not yet populated, each populated in one call so that
  // the work splits across threads.
  for (size_t c = first; c <= last;) {
    if (ChunkPopulated(c)) {
      ++c;
      continue;
    }
    size_t end = c;
    while (end + 1 <= last && !ChunkPopulated(end + 1)) ++end;
    const size_t from = c * kPopulateChunk, to = std::min((end + 1) * kPopulateChunk, capacity_);
    ParallelPopulateWrite(base_ + from, to - from);
    for (size_t k = c; k <= end; ++k) MarkPopulated(k);
    c = end + 1;
  }
}

void Arena::StopPrefault() {
  {
    MutexLock lock(prefault_mu_);
    stop_prefault_ = true;
  }
  prefault_cv_.notify_all();
  if (prefault_.joinable()) prefault_.join();
}

Arena::~Arena() {
  StopPrefault();
  if (base_ != nullptr) munmap(base_, capacity_);
  if (fd_ >= 0) close(fd_);
}

// -------------------------------------------------------- ArenaFdServer ----

// One client between accept and the hand-out.
struct ArenaFdServer::Client {
  int fd = -1;
  std::chrono::steady_clock::time_point deadline;
  std::chrono::steady_clock::time_point last_heard;  // accepted, or last sent something
  bool proving = false;                              // the challenge went out; the client's proof is next
  auth::Nonce client_nonce{};
  auth::Nonce server_nonce{};
  uint8_t buf[auth::kNonceSize]{};  // kNonceSize == kMacSize: one buffer for either message
  size_t have = 0;
};

ArenaFdServer::~ArenaFdServer() { Stop(); }

Status ArenaFdServer::Start(const std::string &socket_path, const std::string &token, int arena_fd,
                            size_t capacity, size_t prefault_bytes) {
  if (listen_fd_ >= 0) return Status::InvalidArgument("ArenaFdServer already started");
  if (arena_fd < 0) return Status::InvalidArgument("ArenaFdServer: invalid arena fd");
  sockaddr_un addr;
  LUMEN_RETURN_IF_ERROR(FillSockAddr(socket_path, &addr));

  // A socket file left by a dead node service would make bind fail; remove it,
  // but never anything that is not a socket.
  struct stat st;
  if (lstat(socket_path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return Status::AlreadyExists("arena socket path exists and is not a socket: " + socket_path);
    unlink(socket_path.c_str());
  }

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Status::IoError(ErrnoText("socket", errno));
  if (bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    close(fd);
    return Status::IoError(ErrnoText(("bind " + socket_path).c_str(), err));
  }
  // Restrict before listen(): until then nobody can connect, so there is no
  // window in which another user could reach the socket.
  if (chmod(socket_path.c_str(), 0600) != 0 || listen(fd, SOMAXCONN) != 0) {
    int err = errno;
    close(fd);
    unlink(socket_path.c_str());
    return Status::IoError(ErrnoText(("listen " + socket_path).c_str(), err));
  }
  int stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd < 0) {
    int err = errno;
    close(fd);
    unlink(socket_path.c_str());
    return Status::IoError(ErrnoText("eventfd", err));
  }

  path_ = socket_path;
  token_ = token;
  arena_fd_ = arena_fd;
  capacity_ = capacity;
  prefault_ = prefault_bytes;
  listen_fd_ = fd;
  stop_fd_ = stop_fd;
  stop_.store(false);
  thread_ = std::thread([this] { Serve(); });
  return Status::OK();
}

// All clients at once, each a small state machine on a non-blocking socket:
// one that connects and goes quiet holds up nobody (it used to hold the only
// thread for its read timeout, and 64 of them kept workers from starting).
void ArenaFdServer::Serve() {
  std::vector<Client> clients;  // in accept order: the front is the oldest
  std::vector<pollfd> fds;
  while (!stop_.load()) {
    auto now = std::chrono::steady_clock::now();
    int timeout_ms = -1;
    for (size_t i = 0; i < clients.size();) {
      if (clients[i].deadline <= now) {
        close(clients[i].fd);
        clients.erase(clients.begin() + static_cast<std::ptrdiff_t>(i));
        continue;
      }
      auto left = std::chrono::ceil<std::chrono::milliseconds>(clients[i].deadline - now).count();
      if (timeout_ms < 0 || left < timeout_ms) timeout_ms = static_cast<int>(left);
      ++i;
    }
    fds.assign({{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}});
    for (auto &c : clients) fds.push_back({c.fd, POLLIN, 0});
    int r = poll(fds.data(), fds.size(), timeout_ms);
    if (r < 0) {
      if (errno == EINTR) continue;
      LUMEN_LOG_ERROR("object store: poll on the arena socket failed: {}", std::strerror(errno));
      break;
    }
    if (fds[1].revents & POLLIN) break;
    // Clients first (their slots in `fds` match `clients` until it changes).
    std::vector<bool> done(clients.size(), false);
    for (size_t i = 0; i < clients.size(); ++i)
      if (fds[i + 2].revents) done[i] = !Advance(clients[i]);
    for (size_t i = clients.size(); i-- > 0;) {
      if (!done[i]) continue;
      close(clients[i].fd);
      clients.erase(clients.begin() + static_cast<std::ptrdiff_t>(i));
    }
    if (fds[0].revents & POLLIN) {
      for (;;) {
        int conn = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (conn < 0) break;  // EAGAIN: all taken; EMFILE, ECONNABORTED...: next time
        if (clients.size() >= max_waiting_) {
          // Make room. A client that has sent nothing since it was accepted
          // goes first, the oldest of those: a real client sends its nonce
          // as it connects, so the one silent the longest is the likeliest
          // idle. Only when every client has begun the handshake does the one
          // quiet the longest go. (Quiet time alone dropped a real worker
          // that was computing its proof: idle clients accepted after its
          // nonce looked fresher than it.)
          auto victim = std::find_if(clients.begin(), clients.end(), [](const Client &c) {
            int unread = 0;  // its nonce may be waiting, not yet read
            return !c.proving && c.have == 0 && ioctl(c.fd, FIONREAD, &unread) == 0 && unread == 0;
          });
          if (victim == clients.end())
            victim = std::min_element(clients.begin(), clients.end(), [](const Client &x, const Client &y) {
              return x.last_heard < y.last_heard;
            });
          close(victim->fd);
          clients.erase(victim);
        }
        Client c;
        c.fd = conn;
        c.last_heard = std::chrono::steady_clock::now();
        c.deadline = c.last_heard + handshake_timeout_;
        clients.push_back(c);
      }
    } else if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
      LUMEN_LOG_ERROR("object store: the arena socket {} failed; no more processes can attach", path_);
      break;
    }
  }
  for (auto &c : clients) close(c.fd);
}

// Reads what `c` sent and answers it. False once the client is finished
// with: served, refused, gone, or misbehaving.
bool ArenaFdServer::Advance(Client &c) {
  ssize_t got = recv(c.fd, c.buf + c.have, sizeof(c.buf) - c.have, 0);
  if (got < 0) return errno == EINTR || errno == EAGAIN;
  if (got == 0) return false;
  c.last_heard = std::chrono::steady_clock::now();
  c.have += static_cast<size_t>(got);
  if (c.have < sizeof(c.buf)) return true;
  c.have = 0;
  if (!c.proving) {
    // The client's nonce: answer with ours and our proof. 64 bytes into an
    // empty socket buffer: they go at once.
    std::memcpy(c.client_nonce.data(), c.buf, auth::kNonceSize);
    c.server_nonce = auth::NewNonce();
    const auth::Mac mac = auth::HandshakeMac(token_, auth::Prover::kServer, c.client_nonce, c.server_nonce);
    uint8_t answer[auth::kNonceSize + auth::kMacSize];
    std::memcpy(answer, c.server_nonce.data(), auth::kNonceSize);
    std::memcpy(answer + auth::kNonceSize, mac.data(), auth::kMacSize);
    if (send(c.fd, answer, sizeof(answer), MSG_NOSIGNAL | MSG_DONTWAIT) !=
        static_cast<ssize_t>(sizeof(answer)))
      return false;
    c.proving = true;
    return true;
  }
  const auth::Mac want = auth::HandshakeMac(token_, auth::Prover::kClient, c.client_nonce, c.server_nonce);
  if (!auth::MacEquals(std::string_view(reinterpret_cast<const char *>(c.buf), sizeof(c.buf)), want)) {
    uint64_t dropped = 0;
    if (auth::RejectedPeerLog().Allow(&dropped))
      LUMEN_LOG_WARN("object store: a client of {} failed the token handshake{}", path_,
                     dropped ? " (" + std::to_string(dropped) + " similar lines dropped)" : "");
    return false;
  }
  uint64_t sizes[2] = {capacity_, prefault_};
  iovec iov{sizes, sizeof(sizes)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  std::memset(control, 0, sizeof(control));
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr *cm = CMSG_FIRSTHDR(&msg);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cm), &arena_fd_, sizeof(int));
  while (sendmsg(c.fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno == EINTR) {
  }
  return false;  // served
}

void ArenaFdServer::Stop() {
  if (listen_fd_ < 0) return;
  stop_.store(true);
  uint64_t one = 1;
  ssize_t w = write(stop_fd_, &one, sizeof(one));
  (void)w;
  if (thread_.joinable()) thread_.join();
  close(listen_fd_);
  close(stop_fd_);
  listen_fd_ = -1;
  stop_fd_ = -1;
  unlink(path_.c_str());
}

// ---------------------------------------------------- AttachToNodeArena ----

StatusOr<std::unique_ptr<Arena>> AttachToNodeArena(const std::string &socket_path, const std::string &token,
                                                   bool populate) {
  sockaddr_un addr;
  LUMEN_RETURN_IF_ERROR(FillSockAddr(socket_path, &addr));
  int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return Status::IoError(ErrnoText("socket", errno));
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{sock};

  if (connect(sock, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) != 0) {
    return Status::IoError(ErrnoText(("connect to node arena socket " + socket_path).c_str(), errno));
  }
  // Nothing goes to a socket another user planted, and nothing derived from
  // the token goes anywhere before the server has proved it holds it.
  LUMEN_RETURN_IF_ERROR(auth::CheckPeerIsSameUser(sock, "node arena socket " + socket_path));
  timeval tv{kClientTimeoutMs / 1000, 0};
  setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  const auth::Nonce nonce = auth::NewNonce();
  if (!SendAll(sock, nonce.data(), nonce.size()))
    return Status::IoError(ErrnoText("send arena request", errno));
  uint8_t answer[auth::kNonceSize + auth::kMacSize];
  if (!ReadFull(sock, answer, sizeof(answer), kClientTimeoutMs, -1))
    return Status::Unauthenticated("node arena socket " + socket_path + " did not answer the handshake");
  auth::Nonce server_nonce;
  std::memcpy(server_nonce.data(), answer, auth::kNonceSize);
  if (!auth::MacEquals(
          std::string_view(reinterpret_cast<const char *>(answer) + auth::kNonceSize, auth::kMacSize),
          auth::HandshakeMac(token, auth::Prover::kServer, nonce, server_nonce)))
    return Status::Unauthenticated("node arena socket " + socket_path +
                                   " could not prove it holds this cluster's token");
  const auth::Mac proof = auth::HandshakeMac(token, auth::Prover::kClient, nonce, server_nonce);
  if (!SendAll(sock, proof.data(), proof.size()))
    return Status::IoError(ErrnoText("send arena proof", errno));

  pollfd pfd{sock, POLLIN, 0};
  int r;
  do {
    r = poll(&pfd, 1, kClientTimeoutMs);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return Status::TimedOut("no answer from node arena socket " + socket_path);
  if (r < 0) return Status::IoError(ErrnoText("poll arena socket", errno));

  uint64_t sizes[2] = {0, 0};  // capacity, prefaulted prefix
  iovec iov{sizes, sizeof(sizes)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t got;
  do {
    got = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL);
  } while (got < 0 && errno == EINTR);
  if (got < 0) return Status::IoError(ErrnoText("recvmsg arena fd", errno));

  int fd = -1;
  for (cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm != nullptr; cm = CMSG_NXTHDR(&msg, cm)) {
    if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
        cm->cmsg_len >= CMSG_LEN(sizeof(int))) {
      std::memcpy(&fd, CMSG_DATA(cm), sizeof(int));
      // Close any extra fds a misbehaving peer might have packed in.
      size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 1; i < n; ++i) {
        int extra;
        std::memcpy(&extra, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
        close(extra);
      }
    }
  }
  if (got == 0 && fd < 0)
    return Status::Unauthenticated("node arena socket " + socket_path +
                                   " closed the connection after the handshake");
  if (static_cast<size_t>(got) != sizeof(sizes) || fd < 0 || (msg.msg_flags & MSG_CTRUNC)) {
    if (fd >= 0) close(fd);
    return Status::IoError("malformed answer from node arena socket " + socket_path);
  }
  return Arena::Attach(fd, static_cast<size_t>(sizes[0]), populate ? static_cast<size_t>(sizes[1]) : 0);
}

}  // namespace lumen::object_store
