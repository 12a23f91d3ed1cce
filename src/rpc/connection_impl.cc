// Connection::Impl's bodies that the socket types share: deadlines and
// liveness, closing, and everything incoming (reads, reads into a call's
// ReplySink, the handshake, frames). The state and the outgoing side are in
// connection_impl.h.
#include "rpc/connection_impl.h"

namespace lumen::rpc {

using namespace detail;

void Connection::Impl::Sweep() {
  if (closed.load()) return;
  auto now = Clock::now();
  if (role == Role::kServer && !authenticated && now >= handshake_deadline) {
    RefusePeer("did not complete the handshake in time");
    return;
  }
  std::vector<ResponseCallback> expired;
  bool rearm;
  {
    MutexLock lock(pending_mu);
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

void Connection::Impl::CheckKeepalive() {
  if (closed.load()) return;
  bool waiting = direct_active;
  {
    MutexLock lock(pending_mu);
    waiting = waiting || !pending.empty();
  }
  if (!waiting && !keep_alive.load()) {
    keepalive_armed = false;
    return;
  }
  if (reads != reads_at_check) {
    reads_at_check = reads;
    silent_checks = 0;
  } else if (++silent_checks >= kKeepaliveChecks) {
    LUMEN_LOG_WARN("rpc: {} sent nothing for {} ms, not even a keepalive answer; closing", peer,
                   peer_timeout.count());
    DoClose(Status::Disconnected("peer " + peer + " stopped responding (nothing received for " +
                                 std::to_string(peer_timeout.count()) +
                                 " ms, not even a keepalive answer: it is hung or stopped)"));
    return;
  }
  // Before the handshake completes the peer would take a ping as a
  // protocol error; its silence still counts.
  if (silent_checks > 0 && authenticated) {
    Status ignored;
    AppendRaw(FrameType::kPing, 0, 0, {}, &ignored);
    pings_sent.fetch_add(1, std::memory_order_relaxed);
  }
  ScheduleKeepaliveCheck();
}

void Connection::Impl::DoClose(Status reason) {
  if (closed.exchange(true)) return;
  close_requested = true;
  std::vector<OutPiece> unsent;  // their pins go once out_mu is released
  {
    MutexLock lock(out_mu);
    out_closed = true;
    out_buf.clear();
    unsent.swap(out_pieces);
  }
  unsent.clear();
  CloseSocket();
  boost::system::error_code ec;
  sweep_timer.cancel(ec);
  keepalive_timer.cancel(ec);
  if (handshake)
    handshake->Finish(
        role == Role::kClient && reason.code() == StatusCode::kDisconnected
            ? Status::Unauthenticated("server " + peer +
                                      " closed the connection during the handshake: " + reason.message())
            : reason);
  FailAllPending(reason);
  std::function<void(const Status &)> handler;
  {
    MutexLock lock(close_mu);
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

void Connection::Impl::FailAllPending(const Status &reason) {
  std::unordered_map<uint64_t, Pending> failed;
  {
    MutexLock lock(pending_mu);
    pending_closed = true;
    failed.swap(pending);
  }
  ResponseCallback reading;
  if (direct_active) {
    direct_active = false;
    reading = std::move(direct.cb);
    direct = DirectRead();
  }
  if (failed.empty() && !reading) return;
  Status st = Status::Disconnected("connection to " + peer + " closed" +
                                   (reason.message().empty() ? std::string() : ": " + reason.message()));
  if (reading) reading(st, {});
  for (auto &[id, p] : failed) p.cb(st, {});
}

void Connection::Impl::OnReadError(const boost::system::error_code &ec) {
  if (ec == asio::error::eof || ec == asio::error::connection_reset)
    DoClose(Status::Disconnected("peer " + peer + " closed the connection"));
  else if (ec != asio::error::operation_aborted)
    DoClose(Status::Disconnected("read from " + peer + " failed: " + ec.message()));
}

void Connection::Impl::OnRead(const boost::system::error_code &ec, size_t n) {
  if (closed.load()) return;
  if (ec) return OnReadError(ec);
  rbuf.end += n;
  reads++;
  ConnectionPtr self = Self();
  if (!self) return;
  in_dispatch = true;
  size_t need = ParseFrames(self);
  in_dispatch = false;
  FlushAfterDispatch();
  if (closed.load()) return;
  if (direct_active) return StartDirectRead();
  rbuf.MaybeShrink();
  rbuf.Reserve(std::max(kReadChunk, need));
  StartRead();
}

void Connection::Impl::OnDirectRead(const boost::system::error_code &ec, size_t n) {
  if (closed.load()) return;
  if (ec) return OnReadError(ec);
  reads++;
  direct.dest += n;
  direct.left -= n;
  if (direct.left > 0) return StartDirectRead();
  FinishDirectRead();
  if (closed.load()) return;
  rbuf.Reserve(kReadChunk);
  StartRead();
}

void Connection::Impl::FinishDirectRead() {
  direct_active = false;
  ResponseCallback cb = std::move(direct.cb);
  std::string prefix = std::move(direct.prefix);
  direct = DirectRead();
  in_dispatch = true;  // what the callback sends leaves in one write
  RunResponseCallback(cb, Status::OK(), prefix);
  in_dispatch = false;
  FlushAfterDispatch();
}

void Connection::Impl::RunResponseCallback(const ResponseCallback &cb, Status st, std::string_view body) {
  try {
    cb(std::move(st), body);
  } catch (const std::exception &e) {
    LUMEN_LOG_ERROR("rpc: response callback for a call to {} threw: {}", peer, e.what());
  } catch (...) {
    LUMEN_LOG_ERROR("rpc: response callback for a call to {} threw", peer);
  }
}

size_t Connection::Impl::MaybeReadIntoSink(const detail::FrameHeader &h, size_t avail) {
  Pending call;
  {
    MutexLock lock(pending_mu);
    auto it = pending.find(h.call_id);
    if (it == pending.end() || !it->second.sink) return SIZE_MAX;
    const ReplySink &sink = *it->second.sink;
    if (h.body_len != sink.prefix + sink.size) return SIZE_MAX;  // fails in HandleFrame
    if (avail < kFrameHeaderSize + sink.prefix) return kFrameHeaderSize + sink.prefix - avail;
    call = std::move(it->second);
    pending.erase(it);
  }
  const char *body = rbuf.data() + rbuf.begin + kFrameHeaderSize;
  const ReplySink &sink = *call.sink;
  const size_t have = avail - kFrameHeaderSize - sink.prefix;  // < sink.size: the frame is incomplete
  direct.prefix.assign(body, sink.prefix);
  if (have) std::memcpy(sink.dest, body + sink.prefix, have);
  direct.dest = sink.dest + have;
  direct.left = sink.size - have;
  direct.cb = std::move(call.cb);
  direct_active = true;
  rbuf.begin = rbuf.end = 0;  // everything buffered belonged to this frame
  return 0;
}

void Connection::Impl::ProtocolError(const std::string &what) {
  if (!authenticated) {
    RefusePeer("protocol error: " + what);
    return;
  }
  LUMEN_LOG_ERROR("rpc: protocol error from {}: {}; closing the connection", peer, what);
  DoClose(Status::IoError("protocol error: " + what));
}

void Connection::Impl::RefusePeer(const std::string &why) {
  uint64_t dropped = 0;
  if (auth::RejectedPeerLog().Allow(&dropped)) {
    LUMEN_LOG_ERROR("rpc: refused {}{}: {}; closing{}", peer, peer_who.empty() ? "" : " (" + peer_who + ")",
                    why, dropped ? " (" + std::to_string(dropped) + " similar lines dropped)" : "");
  }
  DoClose(Status::Unauthenticated(why));
}

Status Connection::Impl::SendHello() {
  std::string body = detail::MakeHelloBody(client_nonce);
  std::string frame(kFrameHeaderSize, '\0');
  detail::EncodeHeader(frame.data(), static_cast<uint32_t>(body.size()),
                       static_cast<uint16_t>(FrameType::kHello), 0, 0);
  frame += body;
  const int fd = NativeFd();
  for (size_t off = 0; off < frame.size();) {
    ssize_t n = ::send(fd, frame.data() + off, frame.size() - off, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::IoError("cannot send the hello to " + peer + ": " + std::strerror(errno));
    off += static_cast<size_t>(n);
  }
  return Status::OK();
}

void Connection::Impl::SendProof(const std::string &proof) {
  {
    MutexLock lock(out_mu);
    if (out_closed) return;
    std::string frame(kFrameHeaderSize, '\0');
    detail::EncodeHeader(frame.data(), static_cast<uint32_t>(proof.size()),
                         static_cast<uint16_t>(FrameType::kHello), 0, 0);
    frame += proof;
    out_buf.insert(0, frame);
  }
  Flush();  // write_in_flight has been held since the connect
}

size_t Connection::Impl::ParseFrames(const ConnectionPtr &self) {
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
    if (avail < kFrameHeaderSize + h.body_len) {
      if (h.type == static_cast<uint16_t>(FrameType::kResponse) && authenticated &&
          h.body_len >= kDirectReadMin) {
        size_t need = MaybeReadIntoSink(h, avail);
        if (need != SIZE_MAX) return need;
      }
      return kFrameHeaderSize + h.body_len - avail;
    }
    std::string_view body(p + kFrameHeaderSize, h.body_len);
    rbuf.begin += kFrameHeaderSize + h.body_len;
    HandleFrame(self, h, body);
    // `body` stays valid until the next read: the buffer only moves in Reserve.
  }
  return 0;
}

void Connection::Impl::HandleServerHandshake(const ConnectionPtr &self, FrameType type,
                                             std::string_view body) {
  if (type != FrameType::kHello) {
    ProtocolError("frame type " + std::to_string(static_cast<int>(type)) + " before the handshake");
    return;
  }
  if (!hello_seen) {
    auto challenge = detail::MakeChallenge(body, token, &client_nonce, &server_nonce, &peer_who);
    if (!challenge.ok()) {
      RefusePeer(challenge.status().message());
      return;
    }
    hello_seen = true;
    Status ignored;
    AppendRaw(FrameType::kHelloAck, 0, 0, *challenge, &ignored);
    return;
  }
  if (!detail::ProofValid(body, token, client_nonce, server_nonce)) {
    RefusePeer("wrong cluster token");
    return;
  }
  authenticated = true;
  LUMEN_LOG_DEBUG("rpc: {} ({}) authenticated", peer, peer_who);
  if (on_authenticated) on_authenticated(self);
}

void Connection::Impl::HandleFrame(const ConnectionPtr &self, const detail::FrameHeader &h,
                                   std::string_view body) {
  auto type = static_cast<FrameType>(h.type);
  if (!authenticated) {
    if (role == Role::kServer) {
      HandleServerHandshake(self, type, body);
      return;
    }
    if (type == FrameType::kHelloAck) {
      auto proof = detail::AnswerChallenge(body, token, client_nonce, peer);
      if (!proof.ok()) {
        LUMEN_LOG_ERROR("rpc: {}; closing", proof.status().message());
        if (handshake) handshake->Finish(proof.status());
        DoClose(proof.status());
        return;
      }
      authenticated = true;
      SendProof(*proof);
      if (handshake) handshake->Finish(Status::OK());
      return;
    }
    if (type == FrameType::kError) {
      lumen::rpc::ErrorReply err;
      std::string msg = ParseBody(body, &err) ? auth::PeerText(err.message(), 256) : "handshake refused";
      LUMEN_LOG_ERROR("rpc: server {} refused the handshake: {}", peer, msg);
      if (handshake) handshake->Finish(Status::Unauthenticated(msg));
      DoClose(Status::Unauthenticated(msg));
      return;
    }
    ProtocolError("frame type " + std::to_string(h.type) + " before the handshake");
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
      std::optional<ReplySink> sink;
      {
        MutexLock lock(pending_mu);
        auto it = pending.find(h.call_id);
        if (it != pending.end()) {
          cb = std::move(it->second.cb);
          sink = it->second.sink;
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
          if (code <= 0 || code > static_cast<int>(StatusCode::kInternal))
            code = static_cast<int>(StatusCode::kInternal);
          st = Status(static_cast<StatusCode>(code), err.message());
        }
        body = {};
      } else if (sink) {
        // A reply small enough to have been buffered whole: one copy here.
        if (body.size() != sink->prefix + sink->size) {
          st = Status::InvalidArgument("reply from " + peer + " has " + std::to_string(body.size()) +
                                       " bytes, not the " + std::to_string(sink->prefix + sink->size) +
                                       " its call expects");
          body = {};
        } else {
          if (sink->size) std::memcpy(sink->dest, body.data() + sink->prefix, sink->size);
          body = body.substr(0, sink->prefix);
        }
      }
      RunResponseCallback(cb, std::move(st), body);
      return;
    }
    case FrameType::kPing: {
      Status ignored;
      AppendRaw(FrameType::kPong, 0, 0, {}, &ignored);
      pings_answered.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    case FrameType::kPong:
      pongs_received.fetch_add(1, std::memory_order_relaxed);
      return;  // arriving was its purpose (CheckKeepalive)
    case FrameType::kHello:
    case FrameType::kHelloAck:
      ProtocolError("repeated handshake frame");
      return;
  }
}

}  // namespace lumen::rpc
