// Asynchronous transport: EventLoop, Connection (unix and tcp behind one
// implementation), Server, Connect. See rpc.h for the wire format.
#include "rpc/rpc.h"

#include <errno.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <future>
#include <unordered_set>
#include <vector>

#include "base/logging.h"
#include "protocol/rpc.pb.h"
#include "rpc/frame.h"

namespace lumen::rpc {

namespace asio = boost::asio;
using asio::ip::tcp;
using unix_socket = asio::local::stream_protocol;

namespace detail {

bool TokenEquals(std::string_view a, std::string_view b) {
  // Walk the longer of the two so the time depends only on the lengths.
  size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= x ^ y;
  }
  // Keep the compiler from short-circuiting the loop.
  volatile unsigned char result = diff;
  return result == 0;
}

StatusOr<ParsedAddress> ParseAddress(const std::string &address) {
  ParsedAddress out;
  std::string_view a = address;
  if (a.rfind("unix:", 0) == 0 || (!a.empty() && a[0] == '/')) {
    out.is_unix = true;
    out.path = std::string(a[0] == '/' ? a : a.substr(5));
    if (out.path.empty()) return Status::InvalidArgument("empty unix socket path in '" + address + "'");
    return out;
  }
  if (a.rfind("tcp:", 0) == 0) {
    a.remove_prefix(4);
    size_t colon = a.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == a.size())
      return Status::InvalidArgument("bad tcp address '" + address + "', want tcp:host:port");
    std::string host(a.substr(0, colon));
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    int port = 0;
    for (char c : a.substr(colon + 1)) {
      if (c < '0' || c > '9' || port > 65535) return Status::InvalidArgument("bad port in '" + address + "'");
      port = port * 10 + (c - '0');
    }
    if (port <= 0 || port > 65535) return Status::InvalidArgument("bad port in '" + address + "'");
    out.host = std::move(host);
    out.port = port;
    return out;
  }
  return Status::InvalidArgument("unknown address scheme '" + address + "', want unix:/path or tcp:host:port");
}

std::string MakeHelloBody(const std::string &token) {
  lumen::rpc::Hello hello;
  hello.set_token(token);
  hello.set_client_name(program_invocation_short_name ? program_invocation_short_name : "lumen");
  hello.set_pid(static_cast<int32_t>(getpid()));
  return hello.SerializeAsString();
}

}  // namespace detail

// ---------------------------------------------------------------------------
// EventLoop

EventLoop::EventLoop(std::string name) : guard_(asio::make_work_guard(io_)) {
  thread_ = std::thread([this, name = std::move(name)] {
    pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
    for (;;) {
      try {
        io_.run();
        break;
      } catch (const std::exception &e) {
        // A handler threw; log and keep the loop alive.
        LUMEN_LOG_ERROR("event loop: handler threw: {}", e.what());
      } catch (...) {
        LUMEN_LOG_ERROR("event loop: handler threw a non-std exception");
      }
    }
  });
  thread_id_ = thread_.get_id();
}

EventLoop::~EventLoop() {
  Stop();
  if (thread_.joinable()) thread_.detach();  // only when destroyed on its own thread
}

void EventLoop::Post(std::function<void()> fn) { asio::post(io_, std::move(fn)); }

bool EventLoop::InLoopThread() const { return std::this_thread::get_id() == thread_id_; }

void EventLoop::Stop() {
  guard_.reset();
  io_.stop();
  if (thread_.joinable() && !InLoopThread()) thread_.join();
}

// ---------------------------------------------------------------------------
// Dispatcher

void Dispatcher::Register(uint16_t method, Handler handler) { handlers_[method] = std::move(handler); }

const Handler *Dispatcher::Find(uint16_t method) const {
  auto it = handlers_.find(method);
  return it == handlers_.end() ? nullptr : &it->second;
}

bool ParseBody(std::string_view body, google::protobuf::MessageLite *msg) {
  if (body.size() > static_cast<size_t>(INT32_MAX)) return false;
  return msg->ParseFromArray(body.data(), static_cast<int>(body.size()));
}

// ---------------------------------------------------------------------------
// Connection

namespace {

constexpr size_t kReadChunk = 64 * 1024;
constexpr auto kSweepPeriod = std::chrono::milliseconds(10);
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
constexpr size_t kKeepBufferCapacity = 4 << 20;

enum class Role { kClient, kServer };

// Set while CallSync issues its request; see Impl::TrySendNow.
thread_local bool t_direct_send = false;

// Result of the client handshake, handed from the loop to Connect().
struct HandshakeWait {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  Status status;
  void Finish(Status st) {
    std::lock_guard<std::mutex> lock(mu);
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

}  // namespace

struct Connection::Impl {
  struct Pending {
    ResponseCallback cb;
    Clock::time_point deadline;
  };

  Impl(EventLoop &loop, Role role, std::string peer, const Dispatcher *dispatcher)
      : loop(loop), role(role), peer(std::move(peer)), dispatcher(dispatcher), sweep_timer(loop.io()) {}
  virtual ~Impl() = default;

  // Socket operations, implemented per socket type.
  virtual void StartRead() = 0;
  virtual void StartWrite() = 0;  // writes `writing`
  virtual void CloseSocket() = 0;
  virtual int NativeFd() = 0;

  // --- state ---
  EventLoop &loop;
  const Role role;
  std::string peer;
  const Dispatcher *dispatcher;
  std::weak_ptr<Connection> weak_self;

  // Server side: expected token; called after a good hello / on close.
  std::string token;
  std::function<void(const ConnectionPtr &)> on_authenticated;
  std::function<void(Connection *)> on_close_internal;
  // Client side: signalled on hello ack or close.
  std::shared_ptr<HandshakeWait> handshake;
  bool authenticated = false;  // loop thread only
  Clock::time_point handshake_deadline{};

  std::atomic<bool> close_requested{false};
  std::atomic<bool> closed{false};

  // Outgoing.
  std::mutex out_mu;
  std::string out_buf;     // frames waiting to be written (out_mu)
  bool write_in_flight = false;  // out_mu
  bool out_closed = false;       // out_mu
  std::string writing;     // the batch being written (loop thread)

  // Calls.
  std::atomic<uint64_t> next_call_id{1};
  std::mutex pending_mu;
  std::unordered_map<uint64_t, Pending> pending;  // pending_mu
  Clock::time_point min_deadline = Clock::time_point::max();  // pending_mu
  bool sweep_armed = false;  // pending_mu
  bool pending_closed = false;  // pending_mu
  asio::steady_timer sweep_timer;

  // Close handler.
  std::mutex close_mu;
  std::function<void(const Status &)> close_handler;  // close_mu
  bool close_done = false;                            // close_mu
  Status close_reason;                                // close_mu

  // Incoming.
  ReadBuffer rbuf;
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
      asio::post(loop.io(), std::move(fn));
    }
  }

  // ---- outgoing ----

  // Appends one frame whose body is produced by `write_body(char*)` of `size`
  // bytes. Returns false if the connection is closed.
  template <typename F>
  bool AppendFrame(FrameType type, uint16_t method, uint64_t call_id, size_t size, F &&write_body) {
    bool need_flush = false;
    {
      std::lock_guard<std::mutex> lock(out_mu);
      if (out_closed) return false;
      size_t at = out_buf.size();
      out_buf.resize(at + kFrameHeaderSize + size);
      char *p = out_buf.data() + at;
      detail::EncodeHeader(p, static_cast<uint32_t>(size), static_cast<uint16_t>(type), method, call_id);
      write_body(p + kFrameHeaderSize);
      if (!write_in_flight) {
        if (t_direct_send && at == 0 && TrySendNow()) return true;
        write_in_flight = true;
        need_flush = true;
      }
    }
    if (need_flush) {
      if (loop.InLoopThread() && in_dispatch) {
        // Replying from a handler: flush once after the whole read is parsed.
        flush_after_dispatch = true;
        return true;
      }
      ConnectionPtr self = Self();
      if (!self) return true;  // being destroyed
      asio::post(loop.io(), [self = std::move(self)] { Impl::Of(self)->Flush(); });
    }
    return true;
  }

  // out_mu held, no write in flight. Sends out_buf straight from the calling
  // thread (a CallSync caller that is about to block anyway, so there is
  // nothing to batch with) and saves a hop through the loop. Returns true if
  // everything went; otherwise out_buf keeps what is left for the loop.
  // Holding out_mu keeps DoClose from closing the descriptor meanwhile.
  bool TrySendNow() {
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
      *error = Status::InvalidArgument("message of " + std::to_string(size) + " bytes exceeds the frame limit");
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
      *error = Status::InvalidArgument("message of " + std::to_string(body.size()) + " bytes exceeds the frame limit");
      return false;
    }
    bool ok = AppendFrame(type, method, call_id, body.size(),
                          [&](char *p) { if (!body.empty()) std::memcpy(p, body.data(), body.size()); });
    if (!ok) *error = Status::Disconnected("connection to " + peer + " is closed");
    return ok;
  }

  // Loop thread: write everything queued so far in one go.
  void Flush() {
    if (closed.load(std::memory_order_acquire)) return;
    {
      std::lock_guard<std::mutex> lock(out_mu);
      writing.clear();
      if (writing.capacity() > kKeepBufferCapacity) std::string().swap(writing);
      writing.swap(out_buf);
      if (writing.empty()) {
        write_in_flight = false;
        return;
      }
    }
    StartWrite();
  }

  void OnWriteDone(const boost::system::error_code &ec) {
    if (ec) {
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
  void StartCall(ResponseCallback cb, std::chrono::milliseconds timeout, AppendFn &&append) {
    uint64_t id = next_call_id.fetch_add(1, std::memory_order_relaxed);
    auto deadline = Clock::now() + timeout;
    bool need_arm = false;
    {
      std::unique_lock<std::mutex> lock(pending_mu);
      if (pending_closed) {
        lock.unlock();
        FailCallback(std::move(cb), Status::Disconnected("connection to " + peer + " is closed"));
        return;
      }
      pending.emplace(id, Pending{std::move(cb), deadline});
      if (deadline < min_deadline) min_deadline = deadline;
      if (!sweep_armed) {
        sweep_armed = true;
        need_arm = true;
      }
    }
    if (need_arm) {
      if (ConnectionPtr self = Self())
        asio::post(loop.io(), [self = std::move(self)] { Impl::Of(self)->ArmSweep(); });
    }
    Status error;
    if (!append(id, &error)) {
      ResponseCallback failed;
      {
        std::lock_guard<std::mutex> lock(pending_mu);
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
  void Sweep() {
    if (closed.load()) return;
    auto now = Clock::now();
    if (role == Role::kServer && !authenticated && now >= handshake_deadline) {
      LUMEN_LOG_ERROR("rpc: {} did not complete the handshake in time; closing", peer);
      DoClose(Status::Unauthenticated("handshake timed out"));
      return;
    }
    std::vector<ResponseCallback> expired;
    bool rearm;
    {
      std::lock_guard<std::mutex> lock(pending_mu);
      if (now >= min_deadline) {
        Clock::time_point next = Clock::time_point::max();
        for (auto it = pending.begin(); it != pending.end();) {
          if (it->second.deadline <= now) {
            expired.push_back(std::move(it->second.cb));
            it = pending.erase(it);
          } else {
            next = std::min(next, it->second.deadline);
            ++it;
          }
        }
        min_deadline = next;
      }
      // Stay armed one idle tick so back-to-back calls do not re-post.
      rearm = !pending.empty() || !expired.empty() || (role == Role::kServer && !authenticated);
      if (!rearm) sweep_armed = false;
    }
    for (auto &cb : expired) cb(Status::TimedOut("call to " + peer + " timed out"), {});
    if (rearm) ArmSweep();
  }

  // ---- close ----

  void DoClose(Status reason) {
    if (closed.exchange(true)) return;
    close_requested = true;
    {
      std::lock_guard<std::mutex> lock(out_mu);
      out_closed = true;
      out_buf.clear();
    }
    CloseSocket();
    boost::system::error_code ec;
    sweep_timer.cancel(ec);
    if (handshake) handshake->Finish(role == Role::kClient && reason.code() == StatusCode::kDisconnected
                                         ? Status::Unauthenticated("server " + peer + " closed the connection during the handshake: " + reason.message())
                                         : reason);
    FailAllPending();
    std::function<void(const Status &)> handler;
    {
      std::lock_guard<std::mutex> lock(close_mu);
      close_done = true;
      close_reason = reason;
      handler = std::move(close_handler);
      close_handler = nullptr;
    }
    if (on_close_internal) {
      auto f = std::move(on_close_internal);
      on_close_internal = nullptr;
      f(Self().get());
    }
    if (handler) handler(reason);
  }

  void FailAllPending() {
    std::unordered_map<uint64_t, Pending> failed;
    {
      std::lock_guard<std::mutex> lock(pending_mu);
      pending_closed = true;
      failed.swap(pending);
    }
    for (auto &[id, p] : failed) p.cb(Status::Disconnected("connection to " + peer + " closed"), {});
  }

  // ---- incoming ----

  void OnRead(const boost::system::error_code &ec, size_t n) {
    if (closed.load()) return;
    if (ec) {
      if (ec == asio::error::eof || ec == asio::error::connection_reset)
        DoClose(Status::Disconnected("peer " + peer + " closed the connection"));
      else if (ec != asio::error::operation_aborted)
        DoClose(Status::Disconnected("read from " + peer + " failed: " + ec.message()));
      return;
    }
    rbuf.end += n;
    ConnectionPtr self = Self();
    if (!self) return;
    in_dispatch = true;
    size_t need = ParseFrames(self);
    in_dispatch = false;
    if (flush_after_dispatch) {
      flush_after_dispatch = false;
      Flush();
    }
    if (closed.load()) return;
    rbuf.MaybeShrink();
    rbuf.Reserve(std::max(kReadChunk, need));
    StartRead();
  }

  void ProtocolError(const std::string &what) {
    LUMEN_LOG_ERROR("rpc: protocol error from {}: {}; closing the connection", peer, what);
    DoClose(Status::IoError("protocol error: " + what));
  }

  // Dispatches every complete frame in the buffer. Returns how many bytes of
  // free space the next read should have to complete the partial frame.
  size_t ParseFrames(const ConnectionPtr &self) {
    while (!closed.load(std::memory_order_relaxed)) {
      size_t avail = rbuf.end - rbuf.begin;
      if (avail < kFrameHeaderSize) return kFrameHeaderSize;
      const char *p = rbuf.data() + rbuf.begin;
      detail::FrameHeader h = detail::DecodeHeader(p);
      if (!detail::ValidFrameType(h.type)) {
        ProtocolError("unknown frame type " + std::to_string(h.type));
        return 0;
      }
      uint32_t limit = authenticated ? kMaxFrameBody : detail::kMaxHelloBody;
      if (h.body_len > limit) {
        ProtocolError("frame body of " + std::to_string(h.body_len) + " bytes exceeds the limit of " +
                      std::to_string(limit));
        return 0;
      }
      if (avail < kFrameHeaderSize + h.body_len) return kFrameHeaderSize + h.body_len - avail;
      std::string_view body(p + kFrameHeaderSize, h.body_len);
      rbuf.begin += kFrameHeaderSize + h.body_len;
      HandleFrame(self, h, body);
      // `body` stays valid until the next read: the buffer only moves in Reserve.
    }
    return 0;
  }

  void HandleFrame(const ConnectionPtr &self, const detail::FrameHeader &h, std::string_view body) {
    auto type = static_cast<FrameType>(h.type);
    if (!authenticated) {
      if (role == Role::kServer) {
        if (type != FrameType::kHello) {
          ProtocolError("frame type " + std::to_string(h.type) + " before the hello");
          return;
        }
        lumen::rpc::Hello hello;
        if (!ParseBody(body, &hello)) {
          ProtocolError("unparsable hello");
          return;
        }
        if (!detail::TokenEquals(hello.token(), token)) {
          LUMEN_LOG_ERROR("rpc: {} ({} pid {}) presented a wrong cluster token; closing", peer,
                          hello.client_name(), hello.pid());
          DoClose(Status::Unauthenticated("wrong cluster token"));
          return;
        }
        authenticated = true;
        Status ignored;
        AppendRaw(FrameType::kHelloAck, 0, 0, {}, &ignored);
        LUMEN_LOG_DEBUG("rpc: {} ({} pid {}) authenticated", peer, hello.client_name(), hello.pid());
        if (on_authenticated) on_authenticated(self);
        return;
      }
      if (type == FrameType::kHelloAck) {
        authenticated = true;
        if (handshake) handshake->Finish(Status::OK());
        return;
      }
      if (type == FrameType::kError) {
        lumen::rpc::ErrorReply err;
        std::string msg = ParseBody(body, &err) ? err.message() : "handshake refused";
        LUMEN_LOG_ERROR("rpc: server {} refused the handshake: {}", peer, msg);
        if (handshake) handshake->Finish(Status::Unauthenticated(msg));
        DoClose(Status::Unauthenticated(msg));
        return;
      }
      ProtocolError("frame type " + std::to_string(h.type) + " before the hello ack");
      return;
    }
    switch (type) {
      case FrameType::kRequest:
      case FrameType::kOneway: {
        uint64_t call_id = type == FrameType::kRequest ? h.call_id : 0;
        if (type == FrameType::kRequest && call_id == 0) {
          ProtocolError("request with call_id 0");
          return;
        }
        const Handler *handler = dispatcher ? dispatcher->Find(h.method) : nullptr;
        if (!handler) {
          LUMEN_LOG_WARN("rpc: {} sent {} for unknown method {}", peer,
                         type == FrameType::kRequest ? "a request" : "a one-way message", h.method);
          if (type == FrameType::kRequest)
            self->ReplyError(call_id, Status::NotFound("no handler for method " + std::to_string(h.method)));
          return;
        }
        try {
          (*handler)(self, call_id, body);
        } catch (const std::exception &e) {
          LUMEN_LOG_ERROR("rpc: handler for method {} from {} threw: {}", h.method, peer, e.what());
          if (call_id) self->ReplyError(call_id, Status::Internal(std::string("handler threw: ") + e.what()));
        } catch (...) {
          LUMEN_LOG_ERROR("rpc: handler for method {} from {} threw", h.method, peer);
          if (call_id) self->ReplyError(call_id, Status::Internal("handler threw"));
        }
        return;
      }
      case FrameType::kResponse:
      case FrameType::kError: {
        ResponseCallback cb;
        {
          std::lock_guard<std::mutex> lock(pending_mu);
          auto it = pending.find(h.call_id);
          if (it != pending.end()) {
            cb = std::move(it->second.cb);
            pending.erase(it);
          }
        }
        if (!cb) {
          LUMEN_LOG_DEBUG("rpc: reply from {} for unknown or expired call {}", peer, h.call_id);
          return;
        }
        Status st;
        if (type == FrameType::kError) {
          lumen::rpc::ErrorReply err;
          if (!ParseBody(body, &err)) {
            st = Status::Internal("unparsable error reply from " + peer);
          } else {
            int code = err.code();
            if (code <= 0 || code > static_cast<int>(StatusCode::kInternal)) code = static_cast<int>(StatusCode::kInternal);
            st = Status(static_cast<StatusCode>(code), err.message());
          }
          body = {};
        }
        try {
          cb(std::move(st), body);
        } catch (const std::exception &e) {
          LUMEN_LOG_ERROR("rpc: response callback for a call to {} threw: {}", peer, e.what());
        } catch (...) {
          LUMEN_LOG_ERROR("rpc: response callback for a call to {} threw", peer);
        }
        return;
      }
      case FrameType::kHello:
      case FrameType::kHelloAck:
        ProtocolError("repeated handshake frame");
        return;
    }
  }
};

namespace {

template <typename Socket>
struct SocketImpl final : Connection::Impl {
  SocketImpl(EventLoop &loop, Role role, std::string peer, const Dispatcher *dispatcher, Socket sock)
      : Impl(loop, role, std::move(peer), dispatcher), socket(std::move(sock)) {}

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
    asio::async_write(socket, asio::buffer(writing),
                      [self = std::move(self)](const boost::system::error_code &ec, size_t) {
                        Impl::Of(self)->OnWriteDone(ec);
                      });
  }

  int NativeFd() override { return socket.is_open() ? socket.native_handle() : -1; }

  void CloseSocket() override {
    boost::system::error_code ec;
    socket.shutdown(asio::socket_base::shutdown_both, ec);
    socket.close(ec);
  }
};

template <typename Socket>
ConnectionPtr MakeConnection(EventLoop &loop, Role role, std::string peer, const Dispatcher *dispatcher,
                             Socket sock) {
  auto impl = std::make_unique<SocketImpl<Socket>>(loop, role, std::move(peer), dispatcher, std::move(sock));
  Connection::Impl *raw = impl.get();
  auto conn = std::make_shared<Connection>(std::move(impl));
  raw->weak_self = conn;
  return conn;
}

}  // namespace

Connection::Connection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Connection::~Connection() {
  // Normally the connection is closed long before this (open connections keep
  // themselves alive through their pending reads). When the loop was stopped
  // under it, fail what is left so every callback still runs once.
  impl_->closed = true;
  impl_->FailAllPending();
  std::function<void(const Status &)> handler;
  {
    std::lock_guard<std::mutex> lock(impl_->close_mu);
    if (!impl_->close_done) {
      impl_->close_done = true;
      handler = std::move(impl_->close_handler);
    }
  }
  if (handler) handler(Status::Disconnected("connection destroyed"));
  if (impl_->handshake) impl_->handshake->Finish(Status::Disconnected("connection destroyed"));
}

void Connection::Call(uint16_t method, const google::protobuf::MessageLite &request, ResponseCallback cb,
                      std::chrono::milliseconds timeout) {
  impl_->StartCall(std::move(cb), timeout, [&](uint64_t id, Status *error) {
    return impl_->AppendMessage(FrameType::kRequest, method, id, request, error);
  });
}

void Connection::CallRaw(uint16_t method, std::string body, ResponseCallback cb, std::chrono::milliseconds timeout) {
  impl_->StartCall(std::move(cb), timeout, [&](uint64_t id, Status *error) {
    return impl_->AppendRaw(FrameType::kRequest, method, id, body, error);
  });
}

namespace {
struct SyncWait {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  Status status;
  std::string body;
};
}  // namespace

StatusOr<std::string> Connection::CallSync(uint16_t method, const google::protobuf::MessageLite &request,
                                           std::chrono::milliseconds timeout) {
  if (impl_->loop.InLoopThread())
    return Status::Internal("CallSync called on the event loop thread (would deadlock)");
  auto wait = std::make_shared<SyncWait>();
  t_direct_send = true;
  Call(
      method, request,
      [wait](Status st, std::string_view body) {
        std::lock_guard<std::mutex> lock(wait->mu);
        wait->status = std::move(st);
        if (wait->status.ok()) wait->body.assign(body.data(), body.size());
        wait->done = true;
        wait->cv.notify_one();
      },
      timeout);
  t_direct_send = false;
  std::unique_lock<std::mutex> lock(wait->mu);
  // The sweeper enforces the deadline; the grace period only guards against a
  // loop that stopped running.
  if (!wait->cv.wait_for(lock, timeout + std::chrono::seconds(2), [&] { return wait->done; }))
    return Status::TimedOut("call to " + impl_->peer + " timed out (event loop not responding)");
  if (!wait->status.ok()) return wait->status;
  return std::move(wait->body);
}

Status Connection::CallSync(uint16_t method, const google::protobuf::MessageLite &request,
                            google::protobuf::MessageLite *reply, std::chrono::milliseconds timeout) {
  auto body = CallSync(method, request, timeout);
  if (!body.ok()) return body.status();
  if (reply && !ParseBody(*body, reply)) return Status::Internal("malformed reply from " + impl_->peer);
  return Status::OK();
}

void Connection::Notify(uint16_t method, const google::protobuf::MessageLite &message) {
  Status error;
  if (!impl_->AppendMessage(FrameType::kOneway, method, 0, message, &error)) {
    if (error.code() == StatusCode::kInvalidArgument) {
      LUMEN_LOG_ERROR("rpc: dropping one-way message {} to {}: {}", method, impl_->peer, error.ToString());
    } else {
      LUMEN_LOG_DEBUG("rpc: dropping one-way message {} to {}: {}", method, impl_->peer, error.ToString());
    }
  }
}

void Connection::Reply(uint64_t call_id, const google::protobuf::MessageLite &response) {
  Status error;
  if (!impl_->AppendMessage(FrameType::kResponse, 0, call_id, response, &error)) {
    if (error.code() == StatusCode::kInvalidArgument) {
      ReplyError(call_id, error);
    } else {
      LUMEN_LOG_DEBUG("rpc: dropping reply to {}: {}", impl_->peer, error.ToString());
    }
  }
}

void Connection::ReplyRaw(uint64_t call_id, std::string body) {
  Status error;
  if (!impl_->AppendRaw(FrameType::kResponse, 0, call_id, body, &error)) {
    if (error.code() == StatusCode::kInvalidArgument) {
      ReplyError(call_id, error);
    } else {
      LUMEN_LOG_DEBUG("rpc: dropping reply to {}: {}", impl_->peer, error.ToString());
    }
  }
}

void Connection::ReplyError(uint64_t call_id, const Status &status) {
  lumen::rpc::ErrorReply err;
  err.set_code(static_cast<int32_t>(status.ok() ? StatusCode::kInternal : status.code()));
  err.set_message(status.message());
  Status error;
  if (!impl_->AppendMessage(FrameType::kError, 0, call_id, err, &error))
    LUMEN_LOG_DEBUG("rpc: dropping error reply to {}: {}", impl_->peer, error.ToString());
}

void Connection::Close() {
  if (impl_->close_requested.exchange(true)) return;
  {
    // Refuse new frames right away.
    std::lock_guard<std::mutex> lock(impl_->out_mu);
    impl_->out_closed = true;
  }
  ConnectionPtr self = shared_from_this();
  impl_->RunOnLoop([self] { Impl::Of(self)->DoClose(Status::Disconnected("connection closed locally")); });
}

bool Connection::IsOpen() const { return !impl_->close_requested.load() && !impl_->closed.load(); }

void Connection::SetCloseHandler(std::function<void(const Status &reason)> handler) {
  bool run_now = false;
  Status reason;
  {
    std::lock_guard<std::mutex> lock(impl_->close_mu);
    if (impl_->close_done) {
      // Already closed: the new handler still learns about it, once.
      run_now = true;
      reason = impl_->close_reason;
    } else {
      impl_->close_handler = std::move(handler);
    }
  }
  if (run_now && handler) {
    impl_->RunOnLoop([handler = std::move(handler), reason = std::move(reason)] { handler(reason); });
  }
}

const std::string &Connection::PeerName() const { return impl_->peer; }

// ---------------------------------------------------------------------------
// Server

namespace {

struct ServerState : std::enable_shared_from_this<ServerState> {
  ServerState(EventLoop &loop, std::string token, const Dispatcher *dispatcher)
      : loop(loop), token(std::move(token)), dispatcher(dispatcher) {}

  EventLoop &loop;
  const std::string token;
  const Dispatcher *dispatcher;

  std::mutex mu;
  bool stopped = false;  // mu
  std::vector<std::unique_ptr<unix_socket::acceptor>> unix_acceptors;  // mu
  std::vector<std::string> unix_paths;                                 // mu
  std::vector<std::unique_ptr<tcp::acceptor>> tcp_acceptors;           // mu
  std::unordered_map<Connection *, ConnectionPtr> conns;                // mu
  std::atomic<size_t> num_authenticated{0};
  std::function<void(const ConnectionPtr &)> connect_handler;          // mu

  void Adopt(const ConnectionPtr &conn) {
    auto *impl = ConnImpl(conn);
    impl->token = token;
    impl->handshake_deadline = Clock::now() + kHandshakeTimeout;
    std::weak_ptr<ServerState> weak = shared_from_this();
    impl->on_authenticated = [weak](const ConnectionPtr &c) {
      auto st = weak.lock();
      if (!st) return;
      std::function<void(const ConnectionPtr &)> h;
      {
        std::lock_guard<std::mutex> lock(st->mu);
        h = st->connect_handler;
      }
      st->num_authenticated++;
      ConnImpl(c)->on_authenticated = nullptr;
      if (h) h(c);
    };
    impl->on_close_internal = [weak](Connection *c) {
      auto st = weak.lock();
      if (!st) return;
      ConnectionPtr keep;
      std::lock_guard<std::mutex> lock(st->mu);
      auto it = st->conns.find(c);
      if (it != st->conns.end()) {
        if (ConnImpl(it->second)->authenticated) st->num_authenticated--;
        keep = std::move(it->second);  // released after the lock
        st->conns.erase(it);
      }
    };
    {
      std::lock_guard<std::mutex> lock(mu);
      if (stopped) {
        conn->Close();
        return;
      }
      conns.emplace(conn.get(), conn);
    }
    impl->sweep_armed = true;  // the handshake deadline
    impl->ArmSweep();
    impl->StartRead();
  }

  static Connection::Impl *ConnImpl(const ConnectionPtr &c) { return Connection::Impl::Of(c); }

  void AcceptUnix(unix_socket::acceptor *acc, std::string path) {
    auto self = shared_from_this();
    acc->async_accept([self, acc, path](const boost::system::error_code &ec, unix_socket::socket sock) {
      if (ec) {
        if (ec == asio::error::operation_aborted) return;
        LUMEN_LOG_WARN("rpc: accept on unix:{} failed: {}", path, ec.message());
      } else {
        self->Adopt(MakeConnection(self->loop, Role::kServer, "unix:" + path, self->dispatcher, std::move(sock)));
      }
      std::lock_guard<std::mutex> lock(self->mu);
      if (!self->stopped && acc->is_open()) self->AcceptUnix(acc, path);
    });
  }

  void AcceptTcp(tcp::acceptor *acc) {
    auto self = shared_from_this();
    acc->async_accept([self, acc](const boost::system::error_code &ec, tcp::socket sock) {
      if (ec) {
        if (ec == asio::error::operation_aborted) return;
        LUMEN_LOG_WARN("rpc: tcp accept failed: {}", ec.message());
      } else {
        boost::system::error_code ignored;
        sock.set_option(tcp::no_delay(true), ignored);
        std::string peer = "tcp:?";
        auto ep = sock.remote_endpoint(ignored);
        if (!ignored) peer = "tcp:" + ep.address().to_string() + ":" + std::to_string(ep.port());
        self->Adopt(MakeConnection(self->loop, Role::kServer, std::move(peer), self->dispatcher, std::move(sock)));
      }
      std::lock_guard<std::mutex> lock(self->mu);
      if (!self->stopped && acc->is_open()) self->AcceptTcp(acc);
    });
  }

  // Loop thread (or with the loop stopped).
  void StopNow() {
    std::vector<ConnectionPtr> to_close;
    {
      std::lock_guard<std::mutex> lock(mu);
      stopped = true;
      boost::system::error_code ec;
      for (auto &a : unix_acceptors) a->close(ec);
      for (auto &a : tcp_acceptors) a->close(ec);
      for (auto &p : unix_paths) ::unlink(p.c_str());
      unix_paths.clear();
      for (auto &[raw, c] : conns) to_close.push_back(c);
    }
    for (auto &c : to_close) Connection::Impl::Of(c)->DoClose(Status::Disconnected("server stopped"));
  }
};

}  // namespace

struct Server::Impl {
  std::shared_ptr<ServerState> st;
};

Server::Server(EventLoop &loop, std::string token, const Dispatcher *dispatcher)
    : impl_(std::make_unique<Impl>()) {
  impl_->st = std::make_shared<ServerState>(loop, std::move(token), dispatcher);
}

Server::~Server() { Stop(); }

Status Server::ListenUnix(const std::string &path) {
  auto &st = *impl_->st;
  {
    std::lock_guard<std::mutex> lock(st.mu);
    if (st.stopped) return Status::Internal("server is stopped");
  }
  if (path.size() >= sizeof(sockaddr_un::sun_path))
    return Status::InvalidArgument("unix socket path too long: " + path);
  struct stat sb;
  if (::lstat(path.c_str(), &sb) == 0) {
    if (!S_ISSOCK(sb.st_mode)) return Status::AlreadyExists(path + " exists and is not a socket");
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      return Status::IoError("cannot remove stale socket " + path + ": " + std::strerror(errno));
  }
  auto acc = std::make_unique<unix_socket::acceptor>(st.loop.io());
  boost::system::error_code ec;
  unix_socket::endpoint ep(path);
  acc->open(ep.protocol(), ec);
  if (!ec) acc->bind(ep, ec);
  if (ec) return Status::IoError("cannot bind unix socket " + path + ": " + ec.message());
  if (::chmod(path.c_str(), 0600) != 0) {
    int err = errno;
    acc->close(ec);
    ::unlink(path.c_str());
    return Status::IoError("cannot chmod " + path + ": " + std::strerror(err));
  }
  acc->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    acc->close(ec);
    ::unlink(path.c_str());
    return Status::IoError("cannot listen on " + path + ": " + ec.message());
  }
  std::lock_guard<std::mutex> lock(st.mu);
  if (st.stopped) {
    acc->close(ec);
    ::unlink(path.c_str());
    return Status::Internal("server is stopped");
  }
  st.unix_acceptors.push_back(std::move(acc));
  st.unix_paths.push_back(path);
  st.AcceptUnix(st.unix_acceptors.back().get(), path);
  LUMEN_LOG_DEBUG("rpc: listening on unix:{}", path);
  return Status::OK();
}

StatusOr<int> Server::ListenTcp(const std::string &host, int port) {
  auto &st = *impl_->st;
  if (port < 0 || port > 65535) return Status::InvalidArgument("bad port " + std::to_string(port));
  boost::system::error_code ec;
  tcp::endpoint ep;
  auto addr = asio::ip::make_address(host, ec);
  if (!ec) {
    ep = tcp::endpoint(addr, static_cast<uint16_t>(port));
  } else {
    tcp::resolver resolver(st.loop.io());
    auto results = resolver.resolve(host, std::to_string(port), tcp::resolver::passive, ec);
    if (ec || results.empty()) return Status::IoError("cannot resolve " + host + ": " + ec.message());
    ep = results.begin()->endpoint();
  }
  auto acc = std::make_unique<tcp::acceptor>(st.loop.io());
  acc->open(ep.protocol(), ec);
  if (!ec) acc->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc->bind(ep, ec);
  if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::IoError("cannot listen on tcp:" + host + ":" + std::to_string(port) + ": " + ec.message());
  int bound = acc->local_endpoint(ec).port();
  if (ec) return Status::IoError("cannot read bound port: " + ec.message());
  std::lock_guard<std::mutex> lock(st.mu);
  if (st.stopped) return Status::Internal("server is stopped");
  st.tcp_acceptors.push_back(std::move(acc));
  st.AcceptTcp(st.tcp_acceptors.back().get());
  LUMEN_LOG_DEBUG("rpc: listening on tcp:{}:{}", host, bound);
  return bound;
}

void Server::SetConnectHandler(std::function<void(const ConnectionPtr &)> handler) {
  std::lock_guard<std::mutex> lock(impl_->st->mu);
  impl_->st->connect_handler = std::move(handler);
}

void Server::Stop() {
  auto st = impl_->st;
  {
    std::lock_guard<std::mutex> lock(st->mu);
    if (st->stopped && st->conns.empty()) return;
  }
  EventLoop &loop = st->loop;
  if (loop.InLoopThread() || loop.io().stopped()) {
    st->StopNow();
    return;
  }
  auto done = std::make_shared<std::promise<void>>();
  auto fut = done->get_future();
  asio::post(loop.io(), [st, done] {
    st->StopNow();
    done->set_value();
  });
  while (fut.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
    if (loop.io().stopped()) {
      // The loop died before running our task; it will not touch the sockets again.
      st->StopNow();
      return;
    }
  }
}

size_t Server::NumConnections() const { return impl_->st->num_authenticated.load(); }

// ---------------------------------------------------------------------------
// Connect

namespace {

template <typename Socket, typename Endpoints>
StatusOr<ConnectionPtr> ConnectWith(EventLoop &loop, Socket sock, const Endpoints &endpoints, std::string peer,
                                    const std::string &token, const Dispatcher *dispatcher,
                                    std::chrono::milliseconds timeout) {
  auto conn = MakeConnection(loop, Role::kClient, std::move(peer), dispatcher, std::move(sock));
  auto *impl = static_cast<SocketImpl<Socket> *>(Connection::Impl::Of(conn));
  auto wait = std::make_shared<HandshakeWait>();
  impl->handshake = wait;
  // Queue the hello now; the first flush runs once the socket is connected.
  {
    std::string hello = detail::MakeHelloBody(token);
    std::lock_guard<std::mutex> lock(impl->out_mu);
    impl->out_buf.resize(kFrameHeaderSize);
    detail::EncodeHeader(impl->out_buf.data(), static_cast<uint32_t>(hello.size()),
                         static_cast<uint16_t>(FrameType::kHello), 0, 0);
    impl->out_buf += hello;
    impl->write_in_flight = true;  // held until connected
  }
  asio::post(loop.io(), [conn, endpoints, impl] {
    auto on_connected = [conn, impl](const boost::system::error_code &ec) {
      if (ec) {
        impl->handshake->Finish(Status::IoError("cannot connect to " + impl->peer + ": " + ec.message()));
        impl->DoClose(Status::IoError("connect failed: " + ec.message()));
        return;
      }
      if constexpr (std::is_same_v<Socket, tcp::socket>) {
        boost::system::error_code ignored;
        impl->socket.set_option(tcp::no_delay(true), ignored);
      }
      impl->Flush();
      impl->StartRead();
    };
    if (impl->close_requested.load()) {
      impl->DoClose(Status::Disconnected("connect cancelled"));
      return;
    }
    if constexpr (std::is_same_v<Socket, tcp::socket>) {
      asio::async_connect(impl->socket, endpoints,
                          [on_connected](const boost::system::error_code &ec, const tcp::endpoint &) {
                            on_connected(ec);
                          });
    } else {
      impl->socket.async_connect(endpoints, on_connected);
    }
  });
  Status result;
  {
    std::unique_lock<std::mutex> lock(wait->mu);
    if (!wait->cv.wait_for(lock, timeout, [&] { return wait->done; })) {
      result = Status::TimedOut("handshake with " + impl->peer + " timed out");
    } else {
      result = wait->status;
    }
  }
  if (!result.ok()) {
    conn->Close();
    return result;
  }
  return conn;
}

}  // namespace

StatusOr<ConnectionPtr> Connect(EventLoop &loop, const std::string &address, const std::string &token,
                                const Dispatcher *dispatcher, std::chrono::milliseconds timeout) {
  if (loop.InLoopThread()) return Status::Internal("Connect called on the event loop thread (would deadlock)");
  auto parsed = detail::ParseAddress(address);
  if (!parsed.ok()) return parsed.status();
  if (parsed->is_unix) {
    if (parsed->path.size() >= sizeof(sockaddr_un::sun_path))
      return Status::InvalidArgument("unix socket path too long: " + parsed->path);
    return ConnectWith(loop, unix_socket::socket(loop.io()), unix_socket::endpoint(parsed->path),
                       "unix:" + parsed->path, token, dispatcher, timeout);
  }
  boost::system::error_code ec;
  tcp::resolver resolver(loop.io());
  auto results = resolver.resolve(parsed->host, std::to_string(parsed->port), ec);
  if (ec || results.empty())
    return Status::IoError("cannot resolve " + parsed->host + ": " + ec.message());
  return ConnectWith(loop, tcp::socket(loop.io()), results,
                     "tcp:" + parsed->host + ":" + std::to_string(parsed->port), token, dispatcher, timeout);
}

}  // namespace lumen::rpc
