// Lumen's transport: asynchronous, multiplexed, authenticated RPC with
// protobuf bodies over Unix-domain sockets (same node) and TCP (across nodes).
//
// Wire format. Every frame is a 16-byte little-endian header followed by the
// body: u32 body_length, u16 frame type, u16 method, u64 call_id. Bodies are
// serialized protobuf messages. A connection opens with the token handshake of
// base/auth.h, which proves both sides hold the cluster token without sending
// it: the client's kHello (lumen.rpc.Hello, its nonce), the server's kHelloAck
// (Challenge: its nonce and proof), the client's second kHello (HelloProof),
// which requests may follow at once. A client checks a Unix socket's peer is
// its own user before it sends anything, and sends nothing that depends on the
// token before the server's proof checked out. A frame with an unknown type, a
// body over kMaxFrameBody (kMaxHelloBody before the handshake), a request
// before the handshake, or a failed handshake closes that connection with a
// logged error (rate-limited while the peer is unauthenticated); the server
// keeps serving the others.
//
// A Connection is symmetric: either end may send requests and one-way
// notifications; incoming ones go to the Dispatcher the connection was made
// with. Responses are matched to calls by call_id.
//
// Threading. All socket I/O runs on one EventLoop (an asio io_context), on its
// own thread or on a thread it is lent to (EventLoop::Lead), one thread at a
// time. Call/Notify/Reply may be called from any thread: frames are appended
// to the connection's outgoing buffer under a mutex and flushed by the loop,
// so many small messages sent back to back leave in one write (batching).
// Handlers and response callbacks run on the loop and must not block.
#pragma once

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including
// <utility>; under C++20 it is compiled in, so include it first.
#include <utility>

#include <boost/asio.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unordered_map>

#include <google/protobuf/message_lite.h>

#include "base/mutex.h"
#include "base/status.h"
#include "base/timeouts.h"

namespace lumen::rpc {

enum class FrameType : uint16_t {
  kHello = 1,     // client -> server, body lumen.rpc.Hello, then lumen.rpc.HelloProof
  kHelloAck = 2,  // server -> client, body lumen.rpc.Challenge
  kRequest = 3,   // expects a kResponse or kError with the same call_id
  kResponse = 4,
  kError = 5,   // body lumen.rpc.ErrorReply (status code + message)
  kOneway = 6,  // no reply
  // Liveness (see Connection::KeepAlive), numbered apart from the handshake
  // and call frames so that either set can grow. Empty bodies.
  kPing = 16,  // answered with kPong by the peer's event loop
  kPong = 17,
};

constexpr size_t kFrameHeaderSize = 16;
constexpr uint32_t kMaxFrameBody = 128u << 20;  // 128 MiB

using Clock = std::chrono::steady_clock;

/// How long a peer may stay silent while this side waits on it (a call is
/// pending, or the connection is kept alive) before the connection is closed
/// as dead and its pending calls fail with kDisconnected. A silent peer is
/// pinged meanwhile, so only one whose event loop does not run (stopped,
/// hung, its machine gone) stays silent: many calls (lease requests, tasks,
/// long polls) have no useful deadline of their own, and Unix sockets have no
/// kernel keepalive. LUMEN_PEER_TIMEOUT_MS replaces the default
/// (kDefaultPeerTimeout) from the next settings snapshot (base/settings.h);
/// processes started by the runtime inherit it.
std::chrono::milliseconds PeerTimeout();

/// Runs one io_context on its own thread until Stop().
///
/// Lending the loop. A thread that would otherwise sleep until the loop
/// delivers something (a worker's executor waiting for its next task) may run
/// the loop's handlers itself with Lead(); the loop thread stands by
/// meanwhile. A message for that thread then wakes one thread instead of two
/// (the loop thread, which would hand it over to a sleeping one), and on
/// machines where a cross-CPU wake-up is the main cost of a call that is most
/// of the latency. Handlers still run one at a time, on whichever thread holds
/// the loop, and InLoopThread() is true there.
///
/// When the leader goes back to its own work, the loop stays unattended: a
/// short task that answers directly (DirectSendScope) needs no other thread.
/// The loop thread takes over when asked (Attend(), Post()) or when
/// kUnattendedLimit has passed, so handlers wait at most that long; a thread
/// about to block on something the loop delivers must call Attend() first.
/// The timer behind that limit is armed lazily: setting or clearing a timerfd
/// costs ~3.7 us on this kind of VM (the host reprograms the CPU's timer), and
/// a call that leads and leaves the loop on both sides did it four times. It
/// is armed when a leader leaves and it is not already armed, is left running
/// when a leader takes the loop, and on firing either takes the loop back, is
/// re-armed for the rest of the limit, or (the loop led again) stays off.
/// So while calls go back and forth it fires about once per limit, waking
/// the loop thread for nothing when the loop is led: at 200 us that was one
/// wake-up per ~18 actor calls and showed in their p99; at 500 us it does not.
class EventLoop {
 public:
  /// How long the loop may go unserved after a leader leaves it.
  static constexpr std::chrono::microseconds kUnattendedLimit{500};

  explicit EventLoop(std::string name = "lumen-io");
  ~EventLoop();  // Stops and joins.
  EventLoop(const EventLoop &) = delete;
  EventLoop &operator=(const EventLoop &) = delete;

  boost::asio::io_context &io() { return io_; }
  /// Queues `fn` to run on the loop; makes sure a thread will run it.
  template <typename F>
  void Post(F &&fn) {
    posted_.fetch_add(1, std::memory_order_relaxed);
    boost::asio::post(io_, std::forward<F>(fn));
    Attend();
  }
  /// How many Posts so far (to tell whether a stretch of work queued any).
  uint64_t PostCount() const { return posted_.load(std::memory_order_relaxed); }
  /// Returns once everything posted before the call has run: on this thread
  /// if nobody serves the loop, else by the thread that does. A task's reply
  /// then leaves after what the task sent (its submissions reach the node
  /// before its caller hears back). Does nothing on the loop itself.
  void Drain();
  /// True on the loop thread, and on a thread inside Lead().
  bool InLoopThread() const;
  void Stop();

  /// Runs the loop's handlers on the calling thread until `done()` holds
  /// (checked before each handler; it must not block). Returns false at once,
  /// running nothing, if another thread leads, the caller is the loop thread,
  /// or the loop is stopping; also false if the loop stopped meanwhile.
  /// Also returns when `deadline` passes. For the first `spin` it polls
  /// without sleeping.
  bool Lead(const std::function<bool()> &done,
            std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max(),
            std::chrono::microseconds spin = std::chrono::microseconds(0));
  /// Work for the loop is queued: if no thread serves the loop, wake the loop
  /// thread to take it back. Cheap when the loop is served.
  void Attend() {
    if (mode_.load(std::memory_order_seq_cst) == Mode::kUnattended) WakeStandBy();
  }
  /// Held by a thread blocked on something the loop must deliver: the loop is
  /// served until it ends (a leader leaving hands the loop straight back).
  class WaitScope {
   public:
    explicit WaitScope(EventLoop &loop) : loop_(loop) {
      loop_.waiting_.fetch_add(1, std::memory_order_seq_cst);
      loop_.Attend();
    }
    ~WaitScope() { loop_.waiting_.fetch_sub(1, std::memory_order_seq_cst); }
    WaitScope(const WaitScope &) = delete;
    WaitScope &operator=(const WaitScope &) = delete;

   private:
    EventLoop &loop_;
  };

 private:
  enum class Mode : int {
    kOwn,         // the loop thread runs the loop
    kLed,         // a Lead() caller runs it; the loop thread stands by
    kUnattended,  // nobody runs it; the loop thread stands by, timer armed
  };
  using SteadyClock = std::chrono::steady_clock;
  void StandBy();  // loop thread, as a handler: parks until asked back
  void WakeStandBy() EXCLUDES(lead_mu_);
  bool MakeStandByFdsLocked() REQUIRES(lead_mu_);
  void SetTimerLocked(std::chrono::microseconds after) REQUIRES(lead_mu_);  // zero disarms; sets timer_armed_
  void TakeUnattendedLocked() REQUIRES(lead_mu_);  // an unattended loop becomes the caller's
  void LeaveLoop() EXCLUDES(lead_mu_);             // the leader leaves it unattended

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::thread thread_;
  std::thread::id thread_id_;

  Mutex lead_mu_;
  std::condition_variable lead_cv_;                   // a Lead() caller waiting for StandBy
  std::atomic<Mode> mode_{Mode::kOwn};                // written under lead_mu_
  std::atomic<int> waiting_{0};                       // threads inside a WaitScope
  std::atomic<uint64_t> posted_{0};                   // Post calls
  bool leader_ GUARDED_BY(lead_mu_) = false;          // a thread is in Lead()
  bool standby_wanted_ GUARDED_BY(lead_mu_) = false;  // a Lead() caller waits for StandBy
  bool stopping_ GUARDED_BY(lead_mu_) = false;
  // The descriptors are made once, under lead_mu_, before the loop thread can
  // stand by (it does so only when a Lead() caller asks), and never change.
  int wake_fd_ = -1;                                               // eventfd: call the loop thread back
  int timer_fd_ = -1;                                              // timerfd: kUnattendedLimit passed
  bool timer_armed_ GUARDED_BY(lead_mu_) = false;                  // timer_fd_ set, and not yet seen to fire
  SteadyClock::time_point unattended_since_ GUARDED_BY(lead_mu_);  // when the last leader left
};

class Connection;
using ConnectionPtr = std::shared_ptr<Connection>;

/// Handler for an incoming request or one-way message. `call_id` is 0 for a
/// one-way message. The handler must answer a request exactly once
/// (Reply/ReplyError), now or later, from any thread.
using Handler = std::function<void(const ConnectionPtr &conn, uint64_t call_id, std::string_view body)>;

/// Parses a request's body into `req`. On malformed input it logs which
/// message from which peer failed, answers a request (call_id > 0) with
/// InvalidArgument, and returns false; a one-way message is dropped. Typed
/// handlers (Dispatcher::Register) do this for their requests.
bool ParseRequest(std::string_view body, google::protobuf::MessageLite *req, const ConnectionPtr &conn,
                  uint64_t call_id);

namespace detail {
// The request type of a typed handler: its third parameter, without const
// and reference. No `type` for anything else (a plain Handler, which takes
// the body as std::string_view, or a generic lambda).
template <typename T>
struct ThirdParameter {};
template <typename C, typename R, typename A, typename B, typename Q>
struct ThirdParameter<R (C::*)(A, B, Q) const> {
  using type = std::remove_cv_t<std::remove_reference_t<Q>>;
};
template <typename C, typename R, typename A, typename B, typename Q>
struct ThirdParameter<R (C::*)(A, B, Q)> {
  using type = std::remove_cv_t<std::remove_reference_t<Q>>;
};
template <typename Fn, typename = void>
struct RequestOf {};
template <typename Fn>
struct RequestOf<Fn, std::void_t<decltype(&Fn::operator())>> : ThirdParameter<decltype(&Fn::operator())> {};
}  // namespace detail

/// Maps method numbers to handlers. Register everything before the first
/// connection uses it, each method once (a second registration aborts: see
/// rpc.cc); lookups are then lock-free.
///
/// Requests are parsed in one place: register a typed handler,
///   d.Register(METHOD, [](const ConnectionPtr &conn, uint64_t call_id, proto::Req &req) {...});
/// and the body is parsed as proto::Req first (the type comes from the
/// handler's third parameter). A malformed body never reaches the handler:
/// ParseRequest answers it with InvalidArgument. The handler answers a
/// request itself, now or later, as a plain Handler does. Unary (below) also
/// sends the reply. A plain Handler, which gets the raw body, is for methods
/// whose body is empty or unused.
class Dispatcher {
 public:
  void Register(uint16_t method, Handler handler);
  template <typename Fn, typename Req = typename detail::RequestOf<Fn>::type,
            std::enable_if_t<std::is_base_of_v<google::protobuf::MessageLite, Req>, int> = 0>
  void Register(uint16_t method, Fn fn) {
    Register(method, Handler([fn = std::move(fn)](const ConnectionPtr &conn, uint64_t call_id,
                                                  std::string_view body) {
               Req req;
               if (!ParseRequest(body, &req, conn, call_id)) return;
               fn(conn, call_id, req);
             }));
  }
  const Handler *Find(uint16_t method) const;

 private:
  std::unordered_map<uint16_t, Handler> handlers_;
};

/// Called with the body of a response, or a non-OK status (error reply,
/// deadline passed, connection closed). Runs on the loop thread.
using ResponseCallback = std::function<void(Status status, std::string_view body)>;

/// Where a call's large reply goes (Connection::CallInto): the first `prefix`
/// bytes of the body are handed to the callback as usual, and the `size`
/// bytes after them are read from the socket straight into `dest`, with no
/// buffer in between. The memory must stay valid and untouched by anyone
/// else until the callback has run; the connection writes into it only
/// between the reply's arrival and the callback, never after.
struct ReplySink {
  size_t prefix = 0;
  char *dest = nullptr;
  size_t size = 0;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  ~Connection();

  /// Sends a request. `cb` runs exactly once.
  void Call(uint16_t method, const google::protobuf::MessageLite &request, ResponseCallback cb,
            std::chrono::milliseconds timeout = kDefaultCallTimeout);
  void CallRaw(uint16_t method, std::string body, ResponseCallback cb,
               std::chrono::milliseconds timeout = kDefaultCallTimeout);
  /// Blocking call for threads other than the loop thread. Returns the body.
  StatusOr<std::string> CallSync(uint16_t method, const google::protobuf::MessageLite &request,
                                 std::chrono::milliseconds timeout = kDefaultCallTimeout);
  /// Typed blocking call: parses the reply into `reply`.
  Status CallSync(uint16_t method, const google::protobuf::MessageLite &request,
                  google::protobuf::MessageLite *reply,
                  std::chrono::milliseconds timeout = kDefaultCallTimeout);

  /// A call whose reply lands in `sink` (see ReplySink): `cb` gets OK and the
  /// prefix only when the reply's body was exactly prefix + size bytes and
  /// the rest is in `sink.dest`; a reply of any other length fails the call
  /// with InvalidArgument, and nothing is written to `dest`. For bulk data
  /// (object chunks): no copy on this side beyond the kernel's.
  void CallInto(uint16_t method, const google::protobuf::MessageLite &request, ReplySink sink,
                ResponseCallback cb, std::chrono::milliseconds timeout = kDefaultCallTimeout);

  void Notify(uint16_t method, const google::protobuf::MessageLite &message);
  void Reply(uint64_t call_id, const google::protobuf::MessageLite &response);
  void ReplyRaw(uint64_t call_id, std::string body);
  /// A reply whose body is `head` and then `payload`, written to the socket
  /// from where `payload` lies (scatter-gather), never copied in user space.
  /// `pin` is held until those bytes have left or the connection is gone, and
  /// must keep them valid and unchanged until then; it is released on
  /// whatever thread finishes with it.
  void ReplyPinned(uint64_t call_id, std::string head, std::string_view payload,
                   std::shared_ptr<const void> pin);
  void ReplyError(uint64_t call_id, const Status &status);

  /// Watches the peer even while no call is pending (see PeerTimeout): for a
  /// connection whose loss matters in itself, such as a driver's connections
  /// to its node and control service, whose close handlers then run.
  void KeepAlive();
  /// Closes the socket; pending calls fail with kDisconnected.
  void Close();
  bool IsOpen() const;
  /// Whether the peer has closed its end, though this side may not have read
  /// up to the end of file yet (data it sent before may still wait): a poll,
  /// no read. Loop thread only.
  bool PeerHasClosed() const;
  /// Runs once when the connection closes for any reason (on the loop thread).
  void SetCloseHandler(std::function<void(const Status &reason)> handler);
  /// "unix:/path" or "tcp:host:port" of the peer, for logs.
  const std::string &PeerName() const;

  /// Keepalive traffic so far (read from any thread): pings this side sent
  /// and the answers to them that came back, and the peer's pings answered.
  /// A test tells from it how many keepalive rounds have passed.
  struct KeepaliveStats {
    uint64_t pings_sent = 0;
    uint64_t pongs_received = 0;
    uint64_t pings_answered = 0;
  };
  KeepaliveStats GetKeepaliveStats() const;

  /// Free slot for the owner of the connection (e.g. which worker this is).
  std::shared_ptr<void> user_data;

  // Implementation detail, public for make_shared.
  struct Impl;
  explicit Connection(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

/// Listens on Unix and/or TCP sockets; authenticates each new connection with
/// the token handshake before dispatching anything.
class Server {
 public:
  Server(EventLoop &loop, std::string token, const Dispatcher *dispatcher);
  ~Server();  // Stop()s.

  /// Removes a stale socket file first. Mode 0600.
  Status ListenUnix(const std::string &path);
  /// Binds host:port (port 0 picks one); returns the bound port. Use
  /// "127.0.0.1" unless the operator asked for another address.
  StatusOr<int> ListenTcp(const std::string &host, int port);
  /// Runs on the loop thread after a connection passes the handshake.
  void SetConnectHandler(std::function<void(const ConnectionPtr &)> handler);
  /// Stops listening, closes every connection, unlinks the Unix socket files.
  void Stop();
  size_t NumConnections() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

/// Whether binding `host` keeps a listener to this machine (127.x, ::1,
/// localhost): anything else is reachable from other machines.
bool IsLoopbackHost(const std::string &host);

/// Connects to "unix:/path" or "tcp:host:port" (a bare "/path" means unix),
/// performs the token handshake, and starts reading. Unauthenticated if a
/// Unix socket's peer is another user or the server cannot prove the token. Blocking; do not call on
/// the loop thread. `dispatcher` (may be null) serves requests the peer sends.
StatusOr<ConnectionPtr> Connect(EventLoop &loop, const std::string &address, const std::string &token,
                                const Dispatcher *dispatcher,
                                std::chrono::milliseconds timeout = kConnectTimeout);

/// Connects to a Unix socket without waiting for the handshake: the socket
/// connect and the peer's user check are done at once (a peer that is gone,
/// or another user's, fails it), and messages sent on the connection are
/// queued and leave right behind the client's proof, with no further wait. A
/// failed handshake closes the connection; calls made on it then fail.
/// Also takes "tcp:IP:port" with a numeric IP: the TCP connect then
/// completes on the loop, and a peer that is not there closes the connection
/// (failing what was queued) instead of failing this call.
/// Unlike Connect, may be called on the loop thread.
StatusOr<ConnectionPtr> ConnectPipelined(EventLoop &loop, const std::string &unix_path,
                                         const std::string &token, const Dispatcher *dispatcher);

/// While alive, a message this thread sends on a connection with nothing
/// queued is written by this thread at once instead of by the event loop: one
/// thread hop less for a sender about to wait for the answer, at the price of
/// not batching with later messages. Nests.
class DirectSendScope {
 public:
  DirectSendScope();
  ~DirectSendScope();
  DirectSendScope(const DirectSendScope &) = delete;
  DirectSendScope &operator=(const DirectSendScope &) = delete;

 private:
  bool previous_;
};

/// Parses a protobuf body; false on malformed input.
bool ParseBody(std::string_view body, google::protobuf::MessageLite *msg);

/// Unary: a typed handler (Dispatcher::Register) whose `fn(const
/// ConnectionPtr &conn, const Req &req, Rep *reply)` returns a Status; the
/// request is answered with `reply` if it is OK, with the status otherwise
/// (nothing is sent for a one-way message).
template <typename Req, typename Rep, typename Fn>
void Unary(Dispatcher &d, uint16_t method, Fn fn) {
  d.Register(method, [fn = std::move(fn)](const ConnectionPtr &conn, uint64_t call_id, const Req &req) {
    Rep rep;
    Status st = fn(conn, req, &rep);
    if (!call_id) return;
    if (st.ok()) {
      conn->Reply(call_id, rep);
    } else {
      conn->ReplyError(call_id, st);
    }
  });
}

/// A minimal blocking peer for single-threaded processes that must not start
/// threads (the fork server). Same wire format and handshake.
class BlockingConnection {
 public:
  static StatusOr<std::unique_ptr<BlockingConnection>> Connect(const std::string &address,
                                                               const std::string &token);
  ~BlockingConnection();
  int fd() const { return fd_; }
  /// Sends a one-way message or a request (call_id > 0) or a response.
  Status Send(FrameType type, uint16_t method, uint64_t call_id, const google::protobuf::MessageLite &body);
  struct Frame {
    FrameType type;
    uint16_t method;
    uint64_t call_id;
    std::string body;
  };
  /// Blocks for the next frame; kDisconnected at EOF.
  StatusOr<Frame> Receive();

 private:
  explicit BlockingConnection(int fd) : fd_(fd) {}
  int fd_;
};

/// One frame on a blocking stream socket whose ends trust each other already
/// (a socketpair made before a fork): the wire format above without the
/// handshake. The driver sends its fork server's settings this way.
Status WriteFrame(int fd, FrameType type, uint16_t method, uint64_t call_id,
                  const google::protobuf::MessageLite &body);
/// Reads one frame. kDisconnected if the peer closed before the frame's first
/// byte; IoError saying what is wrong for a frame cut short, an unknown frame
/// type or a body over `max_body`; TimedOut if the peer stays silent for
/// `timeout_ms` (< 0: no limit) while a byte is awaited.
StatusOr<BlockingConnection::Frame> ReadFrame(int fd, int timeout_ms = -1, uint32_t max_body = kMaxFrameBody);

}  // namespace lumen::rpc
