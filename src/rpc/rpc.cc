// Transport basics: EventLoop, Dispatcher, framing helpers. The connection
// lives in connection.cc/connection_impl.h, the server and Connect() in
// server.cc, the blocking peer in blocking.cc. See rpc.h for the wire format.
#include "rpc/rpc.h"

#include <errno.h>
#include <pthread.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <vector>

#include "base/cpu_relax.h"
#include "base/logging.h"
#include "protocol/rpc.pb.h"
#include "rpc/frame.h"

namespace lumen::rpc {

namespace asio = boost::asio;
using asio::ip::tcp;
using unix_socket = asio::local::stream_protocol;

namespace detail {

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
  return Status::InvalidArgument("unknown address scheme '" + address +
                                 "', want unix:/path or tcp:host:port");
}

std::string MakeHelloBody(const auth::Nonce &client_nonce) {
  lumen::rpc::Hello hello;
  hello.set_nonce(std::string(auth::AsBytes(client_nonce)));
  hello.set_client_name(program_invocation_short_name ? program_invocation_short_name : "lumen");
  hello.set_pid(static_cast<int32_t>(getpid()));
  return hello.SerializeAsString();
}

StatusOr<std::string> AnswerChallenge(std::string_view challenge_body, const std::string &token,
                                      const auth::Nonce &client_nonce, const std::string &peer) {
  lumen::rpc::Challenge challenge;
  auth::Nonce server_nonce;
  if (!ParseBody(challenge_body, &challenge) || !auth::ToNonce(challenge.nonce(), &server_nonce))
    return Status::Unauthenticated("malformed handshake answer from " + peer);
  if (!auth::MacEquals(challenge.proof(),
                       auth::HandshakeMac(token, auth::Prover::kServer, client_nonce, server_nonce)))
    return Status::Unauthenticated(peer +
                                   " could not prove it holds this cluster's token: it belongs to "
                                   "another cluster, or is not a Lumen service");
  lumen::rpc::HelloProof proof;
  proof.set_proof(std::string(
      auth::AsBytes(auth::HandshakeMac(token, auth::Prover::kClient, client_nonce, server_nonce))));
  return proof.SerializeAsString();
}

StatusOr<std::string> MakeChallenge(std::string_view hello_body, const std::string &token,
                                    auth::Nonce *client_nonce, auth::Nonce *server_nonce, std::string *who) {
  lumen::rpc::Hello hello;
  if (!ParseBody(hello_body, &hello)) return Status::Unauthenticated("unparsable hello");
  *who = auth::PeerText(hello.client_name()) + " pid " + std::to_string(hello.pid());
  if (!auth::ToNonce(hello.nonce(), client_nonce))
    return Status::Unauthenticated("hello without a valid nonce (a client from an older Lumen?)");
  *server_nonce = auth::NewNonce();
  lumen::rpc::Challenge challenge;
  challenge.set_nonce(std::string(auth::AsBytes(*server_nonce)));
  challenge.set_proof(std::string(
      auth::AsBytes(auth::HandshakeMac(token, auth::Prover::kServer, *client_nonce, *server_nonce))));
  return challenge.SerializeAsString();
}

bool ProofValid(std::string_view proof_body, const std::string &token, const auth::Nonce &client_nonce,
                const auth::Nonce &server_nonce) {
  lumen::rpc::HelloProof proof;
  return ParseBody(proof_body, &proof) &&
         auth::MacEquals(proof.proof(),
                         auth::HandshakeMac(token, auth::Prover::kClient, client_nonce, server_nonce));
}

}  // namespace detail

// ---------------------------------------------------------------------------
// EventLoop

namespace {
// The loop a thread leads (inside EventLoop::Lead), if any.
thread_local const EventLoop *t_leading = nullptr;

// Runs the loop's handlers until `more()` is false or the loop stops; a
// handler that throws is logged and the loop goes on. Returns false once the
// loop has stopped.
template <typename More, typename RunOne>
bool RunHandlers(More more, RunOne run_one) {
  while (more()) {
    try {
      if (run_one() == 0) return false;
    } catch (const std::exception &e) {
      LUMEN_LOG_ERROR("event loop: handler threw: {}", e.what());
    } catch (...) {
      LUMEN_LOG_ERROR("event loop: handler threw a non-std exception");
    }
  }
  return true;
}

}  // namespace

EventLoop::EventLoop(std::string name) : guard_(asio::make_work_guard(io_)) {
  thread_ = std::thread([this, name = std::move(name)] {
    pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
    RunHandlers([] { return true; }, [this] { return io_.run(); });
  });
  thread_id_ = thread_.get_id();
}

EventLoop::~EventLoop() {
  Stop();
  if (thread_.joinable()) thread_.detach();  // only when destroyed on its own thread
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (timer_fd_ >= 0) ::close(timer_fd_);
}

bool EventLoop::InLoopThread() const { return t_leading == this || std::this_thread::get_id() == thread_id_; }

void EventLoop::Stop() {
  // Stop the io_context first: a loop thread called back from StandBy then
  // returns at once instead of running handlers beside a leader.
  guard_.reset();
  io_.stop();
  {
    MutexLock lock(lead_mu_);
    stopping_ = true;
  }
  lead_cv_.notify_all();
  WakeStandBy();
  if (thread_.joinable() && !InLoopThread()) thread_.join();
}

bool EventLoop::MakeStandByFdsLocked() {
  if (wake_fd_ >= 0) return true;
  int wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  int timer = ::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (wake < 0 || timer < 0) {
    LUMEN_LOG_WARN("event loop: cannot lend the loop ({}); the loop thread keeps it", std::strerror(errno));
    if (wake >= 0) ::close(wake);
    if (timer >= 0) ::close(timer);
    return false;
  }
  wake_fd_ = wake;
  timer_fd_ = timer;
  return true;
}

void EventLoop::SetTimerLocked(std::chrono::microseconds after) {
  itimerspec spec{};
  spec.it_value.tv_sec = static_cast<time_t>(after.count() / 1000000);
  spec.it_value.tv_nsec = static_cast<long>(after.count() % 1000000) * 1000;
  (void)::timerfd_settime(timer_fd_, 0, &spec, nullptr);
  timer_armed_ = after.count() > 0;
}

void EventLoop::WakeStandBy() {
  // The descriptors never change once made, and are closed only after the
  // loop thread has been joined.
  MutexLock lock(lead_mu_);
  if (wake_fd_ < 0) return;
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
}

void EventLoop::StandBy() {
  MutexLock lock(lead_mu_);
  if (stopping_ || !standby_wanted_) return;  // the Lead() caller gave up
  standby_wanted_ = false;
  mode_.store(Mode::kLed, std::memory_order_release);
  lead_cv_.notify_all();
  for (;;) {
    lock.Unlock();
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {timer_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) {
      LUMEN_LOG_ERROR("event loop: poll failed while standing by: {}", std::strerror(errno));
      lock.Lock();
      break;
    }
    uint64_t count;
    const bool called = ::read(wake_fd_, &count, sizeof count) == sizeof count;
    const bool fired = ::read(timer_fd_, &count, sizeof count) == sizeof count;
    lock.Lock();
    if (fired) timer_armed_ = false;
    if (stopping_) break;
    // Whatever woke us, only an unattended loop is taken back: while a
    // leader runs it we stay out. The timer may have been armed by an
    // earlier leader: the loop is taken back only once the latest has been
    // gone for the whole limit.
    if (mode_.load(std::memory_order_relaxed) != Mode::kUnattended) continue;
    if (called) break;
    auto gone = std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - unattended_since_);
    if (gone >= kUnattendedLimit) break;
    if (!timer_armed_) SetTimerLocked(kUnattendedLimit - gone);
  }
  mode_.store(Mode::kOwn, std::memory_order_release);
}

bool EventLoop::Lead(const std::function<bool()> &done, std::chrono::steady_clock::time_point deadline,
                     std::chrono::microseconds spin) {
  using SteadyClock = std::chrono::steady_clock;
  if (InLoopThread()) return false;
  auto spin_until = SteadyClock::time_point::min();
  if (spin.count() > 0) spin_until = std::min(deadline, SteadyClock::now() + spin);
  {
    MutexLock lock(lead_mu_);
    if (stopping_ || leader_ || io_.stopped() || !MakeStandByFdsLocked()) return false;
    if (mode_.load(std::memory_order_relaxed) == Mode::kUnattended) {
      TakeUnattendedLocked();  // the loop thread is still standing by
    } else {
      leader_ = true;
      // The loop thread has it: ask it to stand by, and meanwhile keep
      // watching `done`, which the loop thread may bring about first (then
      // there is nothing left to lead for). Polling, not sleeping, within
      // the spin budget, for the reason given below.
      standby_wanted_ = true;
      asio::post(io_, [this] { StandBy(); });
      for (;;) {
        if (stopping_) {
          standby_wanted_ = false;
          leader_ = false;
          return false;
        }
        if (mode_.load(std::memory_order_relaxed) == Mode::kLed) break;
        lock.Unlock();
        bool finished = done() || SteadyClock::now() >= deadline;
        if (!finished && SteadyClock::now() < spin_until) CpuRelax();
        lock.Lock();
        if (finished && mode_.load(std::memory_order_relaxed) != Mode::kLed) {
          standby_wanted_ = false;  // StandBy, when it runs, returns at once
          leader_ = false;
          return true;
        }
        // Past the budget: check back now and then (a busy loop thread may
        // take a while to reach StandBy, and `done` has no signal here).
        if (!finished && SteadyClock::now() >= spin_until &&
            mode_.load(std::memory_order_relaxed) != Mode::kLed)
          lead_cv_.wait_for(lock.native(), std::chrono::microseconds(100));
      }
    }
  }
  t_leading = this;
  // Poll without sleeping until `spin_until`, then block in the reactor.
  // On a VM an idle CPU costs a long wake-up (the host has to schedule it
  // again), so a caller expecting an answer within microseconds polls.
  const bool timed = deadline != SteadyClock::time_point::max();
  bool running = RunHandlers([&] { return !done() && (!timed || SteadyClock::now() < deadline); },
                             [&] {
                               while (SteadyClock::now() < spin_until) {
                                 if (io_.poll_one() > 0) return size_t{1};
                                 if (io_.stopped()) return size_t{0};
                                 CpuRelax();
                                 if (done()) return size_t{1};  // another thread made it so
                               }
                               if (!timed) return io_.run_one();
                               size_t n = io_.run_one_until(deadline);
                               return n > 0 || !io_.stopped() ? size_t{1} : size_t{0};
                             });
  t_leading = nullptr;
  LeaveLoop();
  return running;
}

void EventLoop::TakeUnattendedLocked() {
  leader_ = true;
  mode_.store(Mode::kLed, std::memory_order_release);
  // The timer stays armed: when it fires, StandBy sees the loop led.
}

void EventLoop::LeaveLoop() {
  MutexLock lock(lead_mu_);
  leader_ = false;
  if (stopping_) return;
  mode_.store(Mode::kUnattended, std::memory_order_seq_cst);
  unattended_since_ = SteadyClock::now();
  if (!timer_armed_) SetTimerLocked(kUnattendedLimit);
  // Another thread is blocked on the loop: hand it back at once.
  if (waiting_.load(std::memory_order_seq_cst) > 0) {
    lock.Unlock();
    WakeStandBy();
  }
}

void EventLoop::Drain() {
  if (InLoopThread()) return;
  {
    MutexLock lock(lead_mu_);
    if (stopping_ || io_.stopped()) return;
    if (!leader_ && mode_.load(std::memory_order_relaxed) == Mode::kUnattended) {
      // Nobody serves the loop: run what is queued here, without blocking.
      TakeUnattendedLocked();
      lock.Unlock();
      t_leading = this;
      RunHandlers([first = true]() mutable { return std::exchange(first, false); },
                  [this] { return io_.poll() + 1; });
      t_leading = nullptr;
      LeaveLoop();
      return;
    }
  }
  // Another thread serves it: wait for a marker queued behind everything.
  auto ran = std::make_shared<std::promise<void>>();
  auto fut = ran->get_future();
  Post([ran] { ran->set_value(); });
  WaitScope waiting(*this);
  while (fut.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready)
    if (io_.stopped()) return;  // the marker will never run
}

// ---------------------------------------------------------------------------
// Dispatcher

void Dispatcher::Register(uint16_t method, Handler handler) {
  // Methods of different protocols share a dispatcher (a driver serves node
  // notifications and worker calls on one): a number taken twice would send
  // one protocol's messages to the other's handler, so it is a bug to stop at.
  if (!handlers_.emplace(method, std::move(handler)).second) {
    std::fprintf(stderr, "lumen: rpc method %u registered twice on one dispatcher\n", method);
    std::abort();
  }
}

const Handler *Dispatcher::Find(uint16_t method) const {
  auto it = handlers_.find(method);
  return it == handlers_.end() ? nullptr : &it->second;
}

bool ParseRequest(std::string_view body, google::protobuf::MessageLite *req, const ConnectionPtr &conn,
                  uint64_t call_id) {
  if (ParseBody(body, req)) return true;
  LUMEN_LOG_ERROR("malformed {} from {}", req->GetTypeName(), conn->PeerName());
  if (call_id)
    conn->ReplyError(call_id, Status::InvalidArgument("malformed request: not a " + req->GetTypeName()));
  return false;
}

bool ParseBody(std::string_view body, google::protobuf::MessageLite *msg) {
  if (body.size() > static_cast<size_t>(INT32_MAX)) return false;
  return msg->ParseFromArray(body.data(), static_cast<int>(body.size()));
}

}  // namespace lumen::rpc
