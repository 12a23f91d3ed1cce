// Proving knowledge of the cluster token without revealing it, checking who is
// at the other end of a Unix socket, and bounding what unauthenticated peers
// can make a process log. Shared by the RPC handshake (src/rpc) and the object
// store's arena hand-out (src/object_store).
//
// The handshake has three messages, and a client never sends anything derived
// from the token before the server has proved that it holds the token too:
//   client -> server: client nonce (kNonceSize random bytes)
//   server -> client: server nonce, HandshakeMac(token, kServer, cn, sn)
//   client -> server: HandshakeMac(token, kClient, cn, sn)
// A fake server learns a random nonce and nothing else; a recorded exchange
// cannot be replayed, because each side's MAC covers the other side's fresh
// nonce; the role in the MAC keeps one side's proof from passing for the
// other's. It does not stop an active relay between a client and a real
// server: on a Unix socket the client's peer check (CheckPeerIsSameUser) rules
// out other users, and TCP is localhost unless the operator chooses otherwise.
//
// Threading: everything here is thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/mutex.h"
#include "base/status.h"

namespace lumen::auth {

inline constexpr size_t kNonceSize = 32;
inline constexpr size_t kMacSize = 32;  // HMAC-SHA256
using Nonce = std::array<uint8_t, kNonceSize>;
using Mac = std::array<uint8_t, kMacSize>;

enum class Prover : uint8_t { kServer = 1, kClient = 2 };

/// kNonceSize bytes from the kernel's random source.
Nonce NewNonce();

/// HMAC-SHA256 keyed with `token` over the prover's role and both nonces.
Mac HandshakeMac(std::string_view token, Prover prover, const Nonce &client, const Nonce &server);

/// True if `got` is exactly `want`; the time taken does not depend on where
/// they differ.
bool MacEquals(std::string_view got, const Mac &want);

/// Reads a nonce from a peer's bytes; false unless exactly kNonceSize long.
bool ToNonce(std::string_view bytes, Nonce *out);

/// A nonce or MAC as bytes, for a protobuf field or a comparison.
template <size_t N>
std::string_view AsBytes(const std::array<uint8_t, N> &bytes) {
  return {reinterpret_cast<const char *>(bytes.data()), N};
}

/// OK if the process at the other end of the connected Unix socket `fd` runs
/// as this process's user (SO_PEERCRED); otherwise Unauthenticated, naming
/// `what` (the socket's path) and the peer's uid and pid.
Status CheckPeerIsSameUser(int fd, const std::string &what);

/// Lets through at most `per_second` lines in each second of `clock`; the
/// first line let through after some were dropped learns how many.
class RateLimiter {
 public:
  explicit RateLimiter(uint32_t per_second, const Clock &clock = Clock::Real())
      : per_second_(per_second), clock_(clock) {}
  /// True if a line may be logged now; then `*dropped` is how many were
  /// refused since the last one allowed.
  bool Allow(uint64_t *dropped);

 private:
  const uint32_t per_second_;
  const Clock &clock_;
  Mutex mu_;
  int64_t window_ GUARDED_BY(mu_) = -1;  // the second the counts are for
  uint32_t in_window_ GUARDED_BY(mu_) = 0;
  uint64_t dropped_ GUARDED_BY(mu_) = 0;
};

/// The process-wide limit on log lines about peers that failed or never
/// finished authenticating: anyone who can connect can cause those.
RateLimiter &RejectedPeerLog();

/// `text` from an unauthenticated peer made safe to log: at most `max` bytes,
/// anything but printable ASCII as '?', and the full length if it was cut.
std::string PeerText(std::string_view text, size_t max = 64);

}  // namespace lumen::auth
