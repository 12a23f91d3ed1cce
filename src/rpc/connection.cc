// Connection: the public methods over Connection::Impl.
#include "rpc/connection_impl.h"

#include <poll.h>

#include "base/settings.h"

namespace lumen::rpc {

using namespace detail;

std::chrono::milliseconds PeerTimeout() {
  int64_t ms = CurrentSettings().peer_timeout_ms;
  return ms > 0 ? std::chrono::milliseconds(ms) : kDefaultPeerTimeout;
}

Connection::Connection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Connection::~Connection() {
  // Normally the connection is closed long before this (open connections keep
  // themselves alive through their pending reads). When the loop was stopped
  // under it, fail what is left so every callback still runs once.
  impl_->closed = true;
  impl_->FailAllPending(Status::Disconnected("connection destroyed"));
  std::function<void(const Status &)> handler;
  {
    MutexLock lock(impl_->close_mu);
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

void Connection::CallRaw(uint16_t method, std::string body, ResponseCallback cb,
                         std::chrono::milliseconds timeout) {
  impl_->StartCall(std::move(cb), timeout, [&](uint64_t id, Status *error) {
    return impl_->AppendRaw(FrameType::kRequest, method, id, body, error);
  });
}

void Connection::CallInto(uint16_t method, const google::protobuf::MessageLite &request, ReplySink sink,
                          ResponseCallback cb, std::chrono::milliseconds timeout) {
  if (!sink.dest && sink.size) {
    impl_->FailCallback(
        std::move(cb),
        Status::InvalidArgument("a reply sink of " + std::to_string(sink.size) + " bytes with no memory"));
    return;
  }
  impl_->StartCall(
      std::move(cb), timeout,
      [&](uint64_t id, Status *error) {
        return impl_->AppendMessage(FrameType::kRequest, method, id, request, error);
      },
      sink);
}

DirectSendScope::DirectSendScope() : previous_(t_direct_send) { t_direct_send = true; }
DirectSendScope::~DirectSendScope() { t_direct_send = previous_; }

namespace {
struct SyncWait {
  Mutex mu;
  std::condition_variable cv;
  bool done GUARDED_BY(mu) = false;
  Status status GUARDED_BY(mu);
  std::string body GUARDED_BY(mu);
};
}  // namespace

StatusOr<std::string> Connection::CallSync(uint16_t method, const google::protobuf::MessageLite &request,
                                           std::chrono::milliseconds timeout) {
  if (impl_->loop.InLoopThread())
    return Status::Internal("CallSync called on the event loop thread (would deadlock)");
  auto wait = std::make_shared<SyncWait>();
  {
    DirectSendScope direct;  // the caller blocks next: nothing to batch with
    Call(
        method, request,
        [wait](Status st, std::string_view body) {
          {
            MutexLock lock(wait->mu);
            wait->status = std::move(st);
            if (wait->status.ok()) wait->body.assign(body.data(), body.size());
            wait->done = true;
          }
          wait->cv.notify_one();  // outside the lock: the waiter need not block on mu
        },
        timeout);
  }
  EventLoop::WaitScope waiting(impl_->loop);  // the answer comes through the loop
  MutexLock lock(wait->mu);
  // The sweeper enforces the deadline; the grace period only guards against a
  // loop that stopped running.
  if (!wait->cv.wait_for(lock.native(), timeout + kCallSyncGrace,
                         [&]() REQUIRES(wait->mu) { return wait->done; }))
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

void Connection::ReplyPinned(uint64_t call_id, std::string head, std::string_view payload,
                             std::shared_ptr<const void> pin) {
  if (head.size() + payload.size() > kMaxFrameBody) {
    pin.reset();
    ReplyError(call_id, Status::InvalidArgument("message of " + std::to_string(head.size() + payload.size()) +
                                                " bytes exceeds the frame limit"));
    return;
  }
  if (!impl_->AppendPinned(call_id, head, payload, pin))
    LUMEN_LOG_DEBUG("rpc: dropping reply to {}: the connection is closed", impl_->peer);
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
    MutexLock lock(impl_->out_mu);
    impl_->out_closed = true;
  }
  ConnectionPtr self = shared_from_this();
  impl_->RunOnLoop([self] { Impl::Of(self)->DoClose(Status::Disconnected("connection closed locally")); });
}

void Connection::KeepAlive() {
  impl_->keep_alive = true;
  if (ConnectionPtr self = impl_->Self()) impl_->RunOnLoop([self] { Impl::Of(self)->ArmKeepalive(); });
}

Connection::KeepaliveStats Connection::GetKeepaliveStats() const {
  KeepaliveStats s;
  s.pings_sent = impl_->pings_sent.load(std::memory_order_relaxed);
  s.pongs_received = impl_->pongs_received.load(std::memory_order_relaxed);
  s.pings_answered = impl_->pings_answered.load(std::memory_order_relaxed);
  return s;
}

bool Connection::IsOpen() const { return !impl_->close_requested.load() && !impl_->closed.load(); }

bool Connection::PeerHasClosed() const {
  const int fd = impl_->NativeFd();
  if (fd < 0) return true;  // closed on this side
  // POLLRDHUP: the peer's shutdown shows even behind unread data, where a
  // peeking read would only see the data.
  pollfd p{fd, POLLRDHUP, 0};
  return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

void Connection::SetCloseHandler(std::function<void(const Status &reason)> handler) {
  bool run_now = false;
  Status reason;
  {
    MutexLock lock(impl_->close_mu);
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

}  // namespace lumen::rpc
