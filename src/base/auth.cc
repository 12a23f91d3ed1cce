#include "base/auth.h"

#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "base/id.h"

namespace lumen::auth {

Nonce NewNonce() {
  Nonce n;
  FillRandom(n.data(), n.size());
  return n;
}

// Nettle rather than OpenSSL: OpenSSL 3's first HMAC in a process loads its
// providers, ~1 ms measured here, and every driver, service and exec'd worker
// would pay it on its way to its first connection. Nettle's costs < 1 us.
Mac HandshakeMac(std::string_view token, Prover prover, const Nonce &client, const Nonce &server) {
  static constexpr char kLabel[] = "lumen-handshake-v1";
  hmac_sha256_ctx ctx;
  hmac_sha256_set_key(&ctx, token.size(), reinterpret_cast<const uint8_t *>(token.data()));
  hmac_sha256_update(&ctx, sizeof(kLabel) - 1, reinterpret_cast<const uint8_t *>(kLabel));
  const uint8_t role = static_cast<uint8_t>(prover);
  hmac_sha256_update(&ctx, 1, &role);
  hmac_sha256_update(&ctx, client.size(), client.data());
  hmac_sha256_update(&ctx, server.size(), server.data());
  Mac mac;
  hmac_sha256_digest(&ctx, mac.size(), mac.data());
  return mac;
}

bool MacEquals(std::string_view got, const Mac &want) {
  if (got.size() != want.size()) return false;  // the length is no secret
  return memeql_sec(got.data(), want.data(), want.size()) != 0;
}

bool ToNonce(std::string_view bytes, Nonce *out) {
  if (bytes.size() != out->size()) return false;
  std::memcpy(out->data(), bytes.data(), out->size());
  return true;
}

Status CheckPeerIsSameUser(int fd, const std::string &what) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
    return Status::IoError("cannot tell who serves " + what + ": " + std::strerror(errno));
  if (cred.uid != geteuid())
    return Status::Unauthenticated(what + " is served by another user (uid " + std::to_string(cred.uid) +
                                   ", pid " + std::to_string(cred.pid) + ", this process runs as uid " +
                                   std::to_string(geteuid()) +
                                   "); refusing to talk to it. Someone may have planted it: check who "
                                   "owns the session folder");
  return Status::OK();
}

bool RateLimiter::Allow(uint64_t *dropped) {
  const int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch()).count();
  MutexLock lock(mu_);
  if (now != window_) {
    window_ = now;
    in_window_ = 0;
  }
  if (in_window_ >= per_second_) {
    ++dropped_;
    return false;
  }
  ++in_window_;
  *dropped = dropped_;
  dropped_ = 0;
  return true;
}

RateLimiter &RejectedPeerLog() {
  static RateLimiter *limiter = new RateLimiter(5);  // never destroyed: used until exit
  return *limiter;
}

std::string PeerText(std::string_view text, size_t max) {
  std::string out;
  const size_t n = text.size() < max ? text.size() : max;
  out.reserve(n + 24);
  for (size_t i = 0; i < n; ++i) {
    const char c = text[i];
    out += c >= 0x20 && c < 0x7f ? c : '?';
  }
  if (n < text.size()) out += "...(" + std::to_string(text.size()) + " bytes)";
  return out;
}

}  // namespace lumen::auth
