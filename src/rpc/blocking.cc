// BlockingConnection: plain POSIX sockets, no threads, no asio. Used by
// single-threaded processes (the fork server).
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "base/auth.h"
#include "protocol/rpc.pb.h"
#include "rpc/frame.h"
#include "rpc/rpc.h"

namespace lumen::rpc {

namespace {

std::string Errno(const std::string &what) { return what + ": " + std::strerror(errno); }

// Writes all of `data`; retries on EINTR and short writes.
Status WriteAll(int fd, const char *data, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EPIPE || errno == ECONNRESET) return Status::Disconnected(Errno("send"));
      return Status::IoError(Errno("send"));
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return Status::OK();
}

// Reads exactly `n` bytes; `*got` says how many arrived (also on failure).
// `timeout_ms` < 0 waits forever. kDisconnected at EOF.
Status ReadAll(int fd, char *data, size_t n, int timeout_ms, size_t *got) {
  *got = 0;
  while (*got < n) {
    if (timeout_ms >= 0) {
      pollfd p{fd, POLLIN, 0};
      int r = ::poll(&p, 1, timeout_ms);
      if (r < 0) {
        if (errno == EINTR) continue;
        return Status::IoError(Errno("poll"));
      }
      if (r == 0) return Status::TimedOut("timed out waiting for the peer");
    }
    ssize_t r = ::recv(fd, data + *got, n - *got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == ECONNRESET) return Status::Disconnected(Errno("recv"));
      return Status::IoError(Errno("recv"));
    }
    if (r == 0) return Status::Disconnected("peer closed the connection");
    *got += static_cast<size_t>(r);
  }
  return Status::OK();
}

Status SendFrame(int fd, FrameType type, uint16_t method, uint64_t call_id, std::string_view body) {
  if (body.size() > kMaxFrameBody) return Status::InvalidArgument("message exceeds the frame limit");
  std::string frame;
  frame.resize(kFrameHeaderSize);
  detail::EncodeHeader(frame.data(), static_cast<uint32_t>(body.size()), static_cast<uint16_t>(type), method,
                       call_id);
  frame.append(body.data(), body.size());
  return WriteAll(fd, frame.data(), frame.size());
}

StatusOr<int> ConnectSocket(const detail::ParsedAddress &a) {
  if (a.is_unix) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (a.path.size() >= sizeof(sa.sun_path))
      return Status::InvalidArgument("unix socket path too long: " + a.path);
    std::memcpy(sa.sun_path, a.path.data(), a.path.size());
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return Status::IoError(Errno("socket"));
    int r;
    do {
      r = ::connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof(sa));
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
      Status st = Status::IoError(Errno("connect to unix:" + a.path));
      ::close(fd);
      return st;
    }
    return fd;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo *res = nullptr;
  int gai = ::getaddrinfo(a.host.c_str(), std::to_string(a.port).c_str(), &hints, &res);
  if (gai != 0) return Status::IoError("cannot resolve " + a.host + ": " + gai_strerror(gai));
  Status last = Status::IoError("no addresses for " + a.host);
  for (addrinfo *ai = res; ai; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last = Status::IoError(Errno("socket"));
      continue;
    }
    int r;
    do {
      r = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
    } while (r < 0 && errno == EINTR);
    if (r == 0) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      ::freeaddrinfo(res);
      return fd;
    }
    last = Status::IoError(Errno("connect to tcp:" + a.host + ":" + std::to_string(a.port)));
    ::close(fd);
  }
  ::freeaddrinfo(res);
  return last;
}

}  // namespace

Status WriteFrame(int fd, FrameType type, uint16_t method, uint64_t call_id,
                  const google::protobuf::MessageLite &body) {
  size_t size = body.ByteSizeLong();
  if (size > kMaxFrameBody) return Status::InvalidArgument("message exceeds the frame limit");
  std::string frame;
  frame.resize(kFrameHeaderSize + size);
  detail::EncodeHeader(frame.data(), static_cast<uint32_t>(size), static_cast<uint16_t>(type), method,
                       call_id);
  body.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t *>(frame.data() + kFrameHeaderSize));
  return WriteAll(fd, frame.data(), frame.size());
}

StatusOr<BlockingConnection::Frame> ReadFrame(int fd, int timeout_ms, uint32_t max_body) {
  char hdr[kFrameHeaderSize];
  size_t got = 0;
  Status st = ReadAll(fd, hdr, sizeof(hdr), timeout_ms, &got);
  if (!st.ok()) {
    if (st.code() == StatusCode::kDisconnected && got > 0)
      return Status::IoError("protocol error: the peer closed the connection inside a frame header (" +
                             std::to_string(got) + " of " + std::to_string(kFrameHeaderSize) + " bytes)");
    return st;
  }
  detail::FrameHeader h = detail::DecodeHeader(hdr);
  if (!detail::ValidFrameType(h.type))
    return Status::IoError("protocol error: unknown frame type " + std::to_string(h.type));
  if (h.body_len > max_body)
    return Status::IoError("protocol error: frame body of " + std::to_string(h.body_len) +
                           " bytes too large");
  BlockingConnection::Frame f;
  f.type = static_cast<FrameType>(h.type);
  f.method = h.method;
  f.call_id = h.call_id;
  f.body.resize(h.body_len);
  if (h.body_len == 0) return f;
  st = ReadAll(fd, f.body.data(), h.body_len, timeout_ms, &got);
  if (st.code() == StatusCode::kDisconnected)
    return Status::IoError("protocol error: the peer closed the connection inside a frame body (" +
                           std::to_string(got) + " of " + std::to_string(h.body_len) + " bytes)");
  LUMEN_RETURN_IF_ERROR(st);
  return f;
}

StatusOr<std::unique_ptr<BlockingConnection>> BlockingConnection::Connect(const std::string &address,
                                                                          const std::string &token) {
  auto parsed = detail::ParseAddress(address);
  if (!parsed.ok()) return parsed.status();
  auto fd = ConnectSocket(*parsed);
  if (!fd.ok()) return fd.status();
  std::unique_ptr<BlockingConnection> conn(new BlockingConnection(*fd));
  if (parsed->is_unix) LUMEN_RETURN_IF_ERROR(auth::CheckPeerIsSameUser(conn->fd_, "unix:" + parsed->path));
  // The handshake of base/auth.h, as Connection does it.
  const auth::Nonce nonce = auth::NewNonce();
  LUMEN_RETURN_IF_ERROR(SendFrame(conn->fd_, FrameType::kHello, 0, 0, detail::MakeHelloBody(nonce)));
  auto challenge =
      ReadFrame(conn->fd_, static_cast<int>(std::chrono::milliseconds(kHandshakeTimeout).count()),
                detail::kMaxHelloBody);
  if (!challenge.ok()) {
    if (challenge.status().code() == StatusCode::kDisconnected)
      return Status::Unauthenticated("server " + address + " closed the connection during the handshake");
    return challenge.status();
  }
  if (challenge->type == FrameType::kError) {
    lumen::rpc::ErrorReply err;
    return Status::Unauthenticated(ParseBody(challenge->body, &err) ? auth::PeerText(err.message(), 256)
                                                                    : "handshake refused");
  }
  if (challenge->type != FrameType::kHelloAck)
    return Status::IoError("protocol error: expected the handshake's challenge, got frame type " +
                           std::to_string(static_cast<int>(challenge->type)));
  auto proof = detail::AnswerChallenge(challenge->body, token, nonce, address);
  if (!proof.ok()) return proof.status();
  LUMEN_RETURN_IF_ERROR(SendFrame(conn->fd_, FrameType::kHello, 0, 0, *proof));
  return conn;
}

BlockingConnection::~BlockingConnection() {
  if (fd_ >= 0) ::close(fd_);
}

Status BlockingConnection::Send(FrameType type, uint16_t method, uint64_t call_id,
                                const google::protobuf::MessageLite &body) {
  if (fd_ < 0) return Status::Disconnected("connection closed");
  return WriteFrame(fd_, type, method, call_id, body);
}

StatusOr<BlockingConnection::Frame> BlockingConnection::Receive() {
  if (fd_ < 0) return Status::Disconnected("connection closed");
  return ReadFrame(fd_, -1, kMaxFrameBody);
}

}  // namespace lumen::rpc
