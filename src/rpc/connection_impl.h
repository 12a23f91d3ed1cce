// Private to src/rpc: the connection's implementation, shared by
// connection.cc (Connection methods) and server.cc (accept, Connect). Its
// state, the outgoing side and the socket types are here; the bodies of the
// rest (deadlines, liveness, closing, everything incoming) are in
// connection_impl.cc.
#pragma once

#include "rpc/rpc.h"

#include <cstdint>
#include <errno.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <future>
#include <limits>
#include <optional>
#include <vector>

#include "base/encoding.h"
#include "base/logging.h"
#include "protocol/rpc.pb.h"
#include "rpc/frame.h"

namespace lumen::rpc {

namespace asio = boost::asio;
using asio::ip::tcp;
using unix_socket = asio::local::stream_protocol;

// ---------------------------------------------------------------------------
// Connection

namespace detail {

inline constexpr size_t kReadChunk = 64 * 1024;
// A reply for a call with a ReplySink is read straight into the sink once
// its body is at least this long and not yet all in the read buffer; below
// that the one copy out of the buffer costs less than the extra reads.
inline constexpr size_t kDirectReadMin = 64 * 1024;
constexpr auto kSweepPeriod = std::chrono::milliseconds(10);
constexpr size_t kKeepBufferCapacity = 4 << 20;
// The peer is checked this many times per PeerTimeout(): pinged at each
// check it has been silent since the last, closed after this many silent ones.
constexpr int kKeepaliveChecks = 5;

enum class Role { kClient, kServer };

// Set while CallSync issues its request; see Impl::TrySendNow.
inline thread_local bool t_direct_send = false;

// Result of the client handshake, handed from the loop to Connect().
struct HandshakeWait {
  Mutex mu;
  std::condition_variable cv;
  bool done GUARDED_BY(mu) = false;
  Status status GUARDED_BY(mu);
  void Finish(Status st) {
    MutexLock lock(mu);
    if (done) return;
    done = true;
    status = std::move(st);
    cv.notify_all();
  }
};

// Growable byte buffer for incoming data: [begin, end) holds unparsed bytes.
class ReadBuffer {
 public:
  char *data() { return buf_.get(); }
  size_t begin = 0, end = 0;
  size_t capacity() const { return cap_; }
  // Ensures at least `want` bytes of free space after `end`, compacting first.
  void Reserve(size_t want) {
    if (begin > 0 && (cap_ - end < want || begin == end)) {
      size_t n = end - begin;
      if (n) std::memmove(buf_.get(), buf_.get() + begin, n);
      begin = 0;
      end = n;
    }
    if (cap_ - end >= want) return;
    size_t ncap = std::max(cap_ * 2, end + want);
    std::unique_ptr<char[]> nb(new char[ncap]);
    if (end > begin) std::memcpy(nb.get(), buf_.get() + begin, end - begin);
    end -= begin;
    begin = 0;
    buf_ = std::move(nb);
    cap_ = ncap;
  }
  // Gives back memory after a very large frame has been consumed.
  void MaybeShrink() {
    if (cap_ > kKeepBufferCapacity && end - begin < kReadChunk) {
      std::unique_ptr<char[]> nb(new char[kReadChunk * 2]);
      size_t n = end - begin;
      if (n) std::memcpy(nb.get(), buf_.get() + begin, n);
      buf_ = std::move(nb);
      cap_ = kReadChunk * 2;
      begin = 0;
      end = n;
    }
  }

 private:
  std::unique_ptr<char[]> buf_;
  size_t cap_ = 0;
};

}  // namespace detail

using namespace detail;

struct Connection::Impl {
  struct Pending {
    ResponseCallback cb;
    Clock::time_point deadline;
    std::optional<ReplySink> sink;  // CallInto's
  };
  // One piece of the outgoing stream: bytes owned here, or bytes lying
  // elsewhere (ReplyPinned) that `pin` keeps valid until they are written.
  struct OutPiece {
    std::string owned;
    std::string_view external;
    std::shared_ptr<const void> pin;
  };
  // A reply being read straight into its call's ReplySink (loop thread).
  struct DirectRead {
    char *dest = nullptr;
    size_t left = 0;     // bytes still to read into dest
    std::string prefix;  // the body's first sink.prefix bytes, for the callback
    ResponseCallback cb;
  };

  Impl(EventLoop &loop, Role role, std::string peer, const Dispatcher *dispatcher)
      : loop(loop),
        role(role),
        peer(std::move(peer)),
        dispatcher(dispatcher),
        sweep_timer(loop.io()),
        peer_timeout(PeerTimeout()),
        keepalive_timer(loop.io()) {}
  virtual ~Impl() = default;

  // Socket operations, implemented per socket type.
  virtual void StartRead() = 0;
  virtual void StartWrite() = 0;       // writes `writing`, or `writing_pieces` when it has any
  virtual void StartDirectRead() = 0;  // reads into `direct`
  virtual void CloseSocket() = 0;
  virtual int NativeFd() = 0;

  // --- state ---
  EventLoop &loop;
  const Role role;
  std::string peer;
  const Dispatcher *dispatcher;
  std::weak_ptr<Connection> weak_self;

  // The handshake (base/auth.h). Both sides hold the cluster token; the
  // server calls on_authenticated once the client has proved it.
  std::string token;
  std::function<void(const ConnectionPtr &)> on_authenticated;
  std::function<void(Connection *)> on_close_internal;
  // Client side: signalled once the server has proved the token, or on close.
  std::shared_ptr<HandshakeWait> handshake;
  bool authenticated = false;  // loop thread only
  Clock::time_point handshake_deadline{};
  auth::Nonce client_nonce{};  // loop thread (client: set before connecting)
  auth::Nonce server_nonce{};  // loop thread (server)
  bool hello_seen = false;     // loop thread, server: Challenge sent, the proof is next
  std::string peer_who;        // loop thread, server: the client's name and pid, for logs

  std::atomic<bool> close_requested{false};
  std::atomic<bool> closed{false};

  // Outgoing.
  Mutex out_mu;
  std::string out_buf GUARDED_BY(out_mu);  // frames waiting to be written
  // Pieces queued before out_buf, while a pinned payload waits to be written
  // (empty otherwise: then out_buf alone is the queue).
  std::vector<OutPiece> out_pieces GUARDED_BY(out_mu);
  bool write_in_flight GUARDED_BY(out_mu) = false;
  bool out_closed GUARDED_BY(out_mu) = false;
  std::string writing;                         // the batch being written (loop thread)
  std::vector<OutPiece> writing_pieces;        // or this one, holding pins (loop thread)
  std::vector<asio::const_buffer> write_bufs;  // writing_pieces as one writev (loop thread)

  // Calls.
  std::atomic<uint64_t> next_call_id{1};
  Mutex pending_mu;
  std::unordered_map<uint64_t, Pending> pending GUARDED_BY(pending_mu);
  Clock::time_point min_deadline GUARDED_BY(pending_mu) = Clock::time_point::max();
  bool sweep_armed GUARDED_BY(pending_mu) = false;
  bool pending_closed GUARDED_BY(pending_mu) = false;
  asio::steady_timer sweep_timer;

  // Liveness (loop thread, except keep_alive). Checked while calls are
  // pending or keep_alive is set; any bytes from the peer count as a sign
  // of life, so a busy connection sends no pings.
  const std::chrono::milliseconds peer_timeout;
  asio::steady_timer keepalive_timer;
  std::atomic<bool> keep_alive{false};
  bool keepalive_armed = false;
  uint64_t reads = 0;  // completed reads from the socket
  uint64_t reads_at_check = 0;
  int silent_checks = 0;
  // Written on the loop thread, read anywhere (Connection::GetKeepaliveStats).
  std::atomic<uint64_t> pings_sent{0};
  std::atomic<uint64_t> pongs_received{0};
  std::atomic<uint64_t> pings_answered{0};

  // Close handler.
  Mutex close_mu;
  std::function<void(const Status &)> close_handler GUARDED_BY(close_mu);
  bool close_done GUARDED_BY(close_mu) = false;
  Status close_reason GUARDED_BY(close_mu);

  // Incoming.
  ReadBuffer rbuf;
  DirectRead direct;                  // loop thread
  bool direct_active = false;         // loop thread: the socket is read into `direct`
  bool in_dispatch = false;           // loop thread: inside ParseFrames
  bool flush_after_dispatch = false;  // loop thread

  ConnectionPtr Self() { return weak_self.lock(); }
  static Impl *Of(const ConnectionPtr &c) { return c->impl_.get(); }
  static Impl *Of(Connection *c) { return c->impl_.get(); }

  // Runs `fn` on the loop thread: posted normally, inline if the loop is gone.
  void RunOnLoop(std::function<void()> fn) {
    if (loop.io().stopped()) {
      fn();
    } else {
      loop.Post(std::move(fn));
    }
  }

  // ---- outgoing ----

  // Appends one frame whose body is produced by `write_body(char*)` of `size`
  // bytes. Returns false if the connection is closed.
  template <typename F>
  bool AppendFrame(FrameType type, uint16_t method, uint64_t call_id, size_t size, F &&write_body) {
    bool need_flush = false;
    {
      MutexLock lock(out_mu);
      if (out_closed) return false;
      size_t at = out_buf.size();
      out_buf.resize(at + kFrameHeaderSize + size);
      char *p = out_buf.data() + at;
      detail::EncodeHeader(p, static_cast<uint32_t>(size), static_cast<uint16_t>(type), method, call_id);
      write_body(p + kFrameHeaderSize);
      if (!write_in_flight) {
        if (t_direct_send && at == 0 && out_pieces.empty() && TrySendNow()) return true;
        write_in_flight = true;
        need_flush = true;
      }
    }
    if (need_flush) ScheduleFlush();
    return true;
  }

  // Appends a response frame whose body is `head` then `payload`, the payload
  // written from where it lies (see Connection::ReplyPinned). Returns false
  // if the connection is closed (the pin is then released by the caller).
  bool AppendPinned(uint64_t call_id, const std::string &head, std::string_view payload,
                    std::shared_ptr<const void> &pin) {
    bool need_flush = false;
    {
      MutexLock lock(out_mu);
      if (out_closed) return false;
      size_t at = out_buf.size();
      out_buf.resize(at + kFrameHeaderSize + head.size());
      char *p = out_buf.data() + at;
      detail::EncodeHeader(p, static_cast<uint32_t>(head.size() + payload.size()),
                           static_cast<uint16_t>(FrameType::kResponse), 0, call_id);
      if (!head.empty()) std::memcpy(p + kFrameHeaderSize, head.data(), head.size());
      out_pieces.push_back(OutPiece{std::move(out_buf), {}, nullptr});
      out_buf = std::string();
      if (!payload.empty()) out_pieces.push_back(OutPiece{{}, payload, std::move(pin)});
      if (!write_in_flight) {
        write_in_flight = true;
        need_flush = true;
      }
    }
    if (need_flush) ScheduleFlush();
    return true;
  }

  // A write is due (write_in_flight was just set): the loop flushes.
  void ScheduleFlush() {
    if (loop.InLoopThread() && in_dispatch) {
      // Replying from a handler: flush once after the whole read is parsed.
      flush_after_dispatch = true;
      return;
    }
    ConnectionPtr self = Self();
    if (!self) return;  // being destroyed
    loop.Post([self = std::move(self)] { Impl::Of(self)->Flush(); });
  }

  // out_mu held, no write in flight. Sends out_buf straight from the calling
  // thread (a CallSync caller that is about to block anyway, so there is
  // nothing to batch with) and saves a hop through the loop. Returns true if
  // everything went; otherwise out_buf keeps what is left for the loop.
  // Holding out_mu keeps DoClose from closing the descriptor meanwhile.
  bool TrySendNow() REQUIRES(out_mu) {
    int fd = NativeFd();
    if (fd < 0) return false;
    size_t off = 0;
    while (off < out_buf.size()) {
      ssize_t n = ::send(fd, out_buf.data() + off, out_buf.size() - off, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        break;  // EAGAIN or an error: the loop's write reports errors
      }
      off += static_cast<size_t>(n);
    }
    if (off == out_buf.size()) {
      out_buf.clear();
      return true;
    }
    out_buf.erase(0, off);
    return false;
  }

  bool AppendMessage(FrameType type, uint16_t method, uint64_t call_id,
                     const google::protobuf::MessageLite &msg, Status *error) {
    size_t size = msg.ByteSizeLong();
    if (size > kMaxFrameBody) {
      *error =
          Status::InvalidArgument("message of " + std::to_string(size) + " bytes exceeds the frame limit");
      return false;
    }
    bool ok = AppendFrame(type, method, call_id, size, [&](char *p) {
      msg.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t *>(p));
    });
    if (!ok) *error = Status::Disconnected("connection to " + peer + " is closed");
    return ok;
  }

  bool AppendRaw(FrameType type, uint16_t method, uint64_t call_id, std::string_view body, Status *error) {
    if (body.size() > kMaxFrameBody) {
      *error = Status::InvalidArgument("message of " + std::to_string(body.size()) +
                                       " bytes exceeds the frame limit");
      return false;
    }
    bool ok = AppendFrame(type, method, call_id, body.size(), [&](char *p) {
      if (!body.empty()) std::memcpy(p, body.data(), body.size());
    });
    if (!ok) *error = Status::Disconnected("connection to " + peer + " is closed");
    return ok;
  }

  // Loop thread: write everything queued so far in one go.
  void Flush() {
    std::vector<OutPiece> written;  // the last write's: their pins go once out_mu is released
    written.swap(writing_pieces);
    if (closed.load(std::memory_order_acquire)) return;
    {
      MutexLock lock(out_mu);
      writing.clear();
      if (writing.capacity() > kKeepBufferCapacity) std::string().swap(writing);
      if (!out_pieces.empty()) {
        writing_pieces.swap(out_pieces);
        if (!out_buf.empty()) writing_pieces.push_back(OutPiece{std::move(out_buf), {}, nullptr});
        out_buf = std::string();
      } else {
        writing.swap(out_buf);
        if (writing.empty()) {
          write_in_flight = false;
          return;
        }
      }
    }
    written.clear();
    StartWrite();
  }

  // Loop thread: the buffers of `writing_pieces`, for one scatter-gather write.
  const std::vector<asio::const_buffer> &WriteBuffers() {
    write_bufs.clear();
    for (const OutPiece &piece : writing_pieces) {
      if (!piece.owned.empty()) write_bufs.emplace_back(piece.owned.data(), piece.owned.size());
      if (!piece.external.empty()) write_bufs.emplace_back(piece.external.data(), piece.external.size());
    }
    return write_bufs;
  }

  void OnWriteDone(const boost::system::error_code &ec) {
    if (ec) {
      writing_pieces.clear();  // the socket is done with them
      if (ec != asio::error::operation_aborted)
        DoClose(Status::Disconnected("write to " + peer + " failed: " + ec.message()));
      return;
    }
    Flush();
  }

  // ---- calls ----

  void FailCallback(ResponseCallback cb, Status st) {
    RunOnLoop([cb = std::move(cb), st = std::move(st)]() mutable { cb(std::move(st), {}); });
  }

  template <typename AppendFn>
  void StartCall(ResponseCallback cb, std::chrono::milliseconds timeout, AppendFn &&append,
                 std::optional<ReplySink> sink = std::nullopt) {
    uint64_t id = next_call_id.fetch_add(1, std::memory_order_relaxed);
    auto deadline = Clock::now() + timeout;
    bool need_arm = false;
    {
      MutexLock lock(pending_mu);
      if (pending_closed) {
        lock.Unlock();
        FailCallback(std::move(cb), Status::Disconnected("connection to " + peer + " is closed"));
        return;
      }
      pending.emplace(id, Pending{std::move(cb), deadline, sink});
      if (deadline < min_deadline) min_deadline = deadline;
      if (!sweep_armed) {
        sweep_armed = true;
        need_arm = true;
      }
    }
    if (need_arm) {
      if (ConnectionPtr self = Self()) loop.Post([self = std::move(self)] { Impl::Of(self)->ArmSweep(); });
    }
    Status error;
    if (!append(id, &error)) {
      ResponseCallback failed;
      {
        MutexLock lock(pending_mu);
        auto it = pending.find(id);
        if (it != pending.end()) {
          failed = std::move(it->second.cb);
          pending.erase(it);
        }
      }
      // If the entry is gone, DoClose already failed it.
      if (failed) FailCallback(std::move(failed), std::move(error));
    }
  }

  void ArmSweep() {
    ArmKeepalive();
    sweep_timer.expires_after(kSweepPeriod);
    ConnectionPtr self = Self();
    if (!self) return;
    sweep_timer.async_wait([self = std::move(self)](const boost::system::error_code &ec) {
      if (ec) return;
      Impl::Of(self)->Sweep();
    });
  }

  // Loop thread, every kSweepPeriod while calls are pending (or the handshake
  // has not finished): fails calls past their deadline.
  void Sweep();

  // ---- liveness ----

  // Loop thread. Starts the periodic check unless it runs already; it stops
  // itself once nothing is pending, so a call costs no timer of its own.
  void ArmKeepalive() {
    if (keepalive_armed || closed.load()) return;
    keepalive_armed = true;
    reads_at_check = reads;
    silent_checks = 0;
    ScheduleKeepaliveCheck();
  }

  void ScheduleKeepaliveCheck() {
    ConnectionPtr self = Self();
    if (!self) {
      keepalive_armed = false;
      return;
    }
    keepalive_timer.expires_after(peer_timeout / kKeepaliveChecks);
    keepalive_timer.async_wait([self = std::move(self)](const boost::system::error_code &ec) {
      if (ec) return;
      Impl::Of(self)->CheckKeepalive();
    });
  }

  void CheckKeepalive();

  // ---- close ----

  void DoClose(Status reason);

  // Fails every pending call, and the one whose reply was being read into
  // its sink, saying why the connection closed (a peer that stopped
  // responding reads differently from one that went away). Loop thread, or
  // any thread once the loop has stopped (~Connection).
  void FailAllPending(const Status &reason);

  // ---- incoming ----

  void OnReadError(const boost::system::error_code &ec);

  void OnRead(const boost::system::error_code &ec, size_t n);

  void FlushAfterDispatch() {
    if (flush_after_dispatch) {
      flush_after_dispatch = false;
      Flush();
    }
  }

  // Loop thread: `n` more bytes of the reply read into its sink.
  void OnDirectRead(const boost::system::error_code &ec, size_t n);

  // The whole reply is in the sink: the call succeeds with the prefix.
  void FinishDirectRead();

  void RunResponseCallback(const ResponseCallback &cb, Status st, std::string_view body);

  // A reply frame whose header has arrived but not all its body: if its call
  // has a sink the body fits, takes the call and starts reading into the
  // sink (direct_active), and returns 0; returns how many more bytes the
  // prefix needs to be buffered first; returns SIZE_MAX to parse it the
  // usual way. `avail` counts the header.
  size_t MaybeReadIntoSink(const detail::FrameHeader &h, size_t avail);

  void ProtocolError(const std::string &what);

  // Closes a connection whose peer has not authenticated. Anyone who can
  // connect can make this happen as often as they like: the log line is
  // rate-limited and holds nothing the peer sent but bounded, printable text.
  void RefusePeer(const std::string &why);

  // Client, loop thread, on the freshly connected socket: the hello goes out
  // alone. Whatever callers queue meanwhile stays in out_buf (write_in_flight
  // is held) until the server has proved the token; nothing derived from the
  // token leaves before that. Fits the empty socket buffer at once.
  Status SendHello();

  // Client: the server's Challenge proved the token; our proof leads the
  // queue, and what callers queued follows it.
  void SendProof(const std::string &proof);

  // Dispatches every complete frame in the buffer. Returns how many bytes of
  // free space the next read should have to complete the partial frame.
  size_t ParseFrames(const ConnectionPtr &self);

  // Server, before the client has authenticated: Hello, answered with a
  // Challenge, then HelloProof (both kHello frames).
  void HandleServerHandshake(const ConnectionPtr &self, FrameType type, std::string_view body);

  void HandleFrame(const ConnectionPtr &self, const detail::FrameHeader &h, std::string_view body);
};

namespace detail {

// How much one write system call may take: all of it. asio's default,
// transfer_all, caps each call at 64 KiB, so an 8 MiB object chunk took 128
// calls and 128 trips through the loop; the kernel takes what its buffer holds.
struct WriteAsMuchAsFits {
  size_t operator()(const boost::system::error_code &ec, size_t) const {
    return ec ? 0 : std::numeric_limits<size_t>::max();
  }
};

template <typename Socket>
struct SocketImpl final : Connection::Impl {
  SocketImpl(EventLoop &loop, Role role, std::string peer, const Dispatcher *dispatcher, Socket sock)
      : Impl(loop, role, std::move(peer), dispatcher), socket(std::move(sock)) {}
  // Unopened socket, built in place (moving a closed asio socket trips a
  // GCC -Wmaybe-uninitialized false positive).
  SocketImpl(EventLoop &loop, Role role, std::string peer, const Dispatcher *dispatcher)
      : Impl(loop, role, std::move(peer), dispatcher), socket(loop.io()) {}

  Socket socket;

  void StartRead() override {
    ConnectionPtr self = Self();
    if (!self) return;
    rbuf.Reserve(kReadChunk);
    socket.async_read_some(asio::buffer(rbuf.data() + rbuf.end, rbuf.capacity() - rbuf.end),
                           [self = std::move(self)](const boost::system::error_code &ec, size_t n) {
                             Impl::Of(self)->OnRead(ec, n);
                           });
  }

  void StartWrite() override {
    ConnectionPtr self = Self();
    if (!self) return;
    auto done = [self = std::move(self)](const boost::system::error_code &ec, size_t) {
      Impl::Of(self)->OnWriteDone(ec);
    };
    if (!writing_pieces.empty()) {
      asio::async_write(socket, WriteBuffers(), WriteAsMuchAsFits(), std::move(done));
    } else {
      asio::async_write(socket, asio::buffer(writing), WriteAsMuchAsFits(), std::move(done));
    }
  }

  void StartDirectRead() override {
    ConnectionPtr self = Self();
    if (!self) return;
    socket.async_read_some(asio::buffer(direct.dest, direct.left),
                           [self = std::move(self)](const boost::system::error_code &ec, size_t n) {
                             Impl::Of(self)->OnDirectRead(ec, n);
                           });
  }

  int NativeFd() override { return socket.is_open() ? socket.native_handle() : -1; }

  void CloseSocket() override {
    boost::system::error_code ec;
    socket.shutdown(asio::socket_base::shutdown_both, ec);
    socket.close(ec);
  }
};

template <typename Socket, typename... SocketArg>
ConnectionPtr MakeConnection(EventLoop &loop, Role role, std::string peer, const Dispatcher *dispatcher,
                             SocketArg &&...sock) {
  auto impl = std::make_unique<SocketImpl<Socket>>(loop, role, std::move(peer), dispatcher,
                                                   std::forward<SocketArg>(sock)...);
  Connection::Impl *raw = impl.get();
  auto conn = std::make_shared<Connection>(std::move(impl));
  raw->weak_self = conn;
  return conn;
}

}  // namespace detail

}  // namespace lumen::rpc
