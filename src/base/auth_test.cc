#include "base/auth.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <set>

namespace lumen::auth {
namespace {

TEST(HandshakeMac, DependsOnTokenRoleAndBothNonces) {
  const Nonce a = NewNonce(), b = NewNonce();
  EXPECT_NE(a, b);
  const Mac base = HandshakeMac("token", Prover::kServer, a, b);
  EXPECT_EQ(base, HandshakeMac("token", Prover::kServer, a, b));
  std::set<Mac> all = {
      base, HandshakeMac("tokem", Prover::kServer, a, b), HandshakeMac("token", Prover::kClient, a, b),
      HandshakeMac("token", Prover::kServer, b, a), HandshakeMac("token", Prover::kServer, a, a)};
  EXPECT_EQ(all.size(), 5u);
}

TEST(HandshakeMac, IsHmacSha256OverLabelRoleAndNonces) {
  // Computed independently: python3 -c "import hmac, hashlib; print(hmac.new(b'Jefe',
  //   b'lumen-handshake-v1' + bytes([1]) + bytes(32) + bytes([255]) * 32, hashlib.sha256).hexdigest())"
  Nonce zeros{}, ones{};
  ones.fill(0xff);
  const Mac mac = HandshakeMac("Jefe", Prover::kServer, zeros, ones);
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  for (uint8_t byte : mac) {
    hex += kHex[byte >> 4];
    hex += kHex[byte & 15];
  }
  EXPECT_EQ(hex, "27f29720c0d914d84b66052dd301fd549262ffaddfea2ae66d412e4a06822256");
}

TEST(MacEquals, ComparesWholeValuesOfTheRightLength) {
  const Mac mac = HandshakeMac("t", Prover::kClient, NewNonce(), NewNonce());
  EXPECT_TRUE(MacEquals(AsBytes(mac), mac));
  std::string other(AsBytes(mac));
  other.back() ^= 1;
  EXPECT_FALSE(MacEquals(other, mac));
  EXPECT_FALSE(MacEquals(std::string(AsBytes(mac)).substr(0, 31), mac));
  EXPECT_FALSE(MacEquals("", mac));
  EXPECT_FALSE(MacEquals(std::string(AsBytes(mac)) + "x", mac));
}

TEST(PeerText, BoundsAndCleansWhatAPeerSent) {
  EXPECT_EQ(PeerText("driver"), "driver");
  EXPECT_EQ(PeerText(std::string("a\nb\x01\xff", 5)), "a?b??");
  std::string long_name(10000, 'x');
  std::string shown = PeerText(long_name, 64);
  EXPECT_EQ(shown, std::string(64, 'x') + "...(10000 bytes)");
}

TEST(RateLimiter, LetsAFewThroughThenCountsWhatItDropped) {
  FakeClock clock;
  RateLimiter limiter(3, clock);
  uint64_t dropped = 99;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(limiter.Allow(&dropped)) << "line " << i;
    EXPECT_EQ(dropped, 0u);
  }
  for (int i = 0; i < 100; ++i)
    EXPECT_FALSE(limiter.Allow(&dropped)) << "line " << 3 + i << " in the same second";
  clock.Advance(std::chrono::milliseconds(999));  // still the same second
  EXPECT_FALSE(limiter.Allow(&dropped));
  clock.Advance(std::chrono::milliseconds(1));
  ASSERT_TRUE(limiter.Allow(&dropped));
  EXPECT_EQ(dropped, 101u) << "the first line of the next second says how many were dropped";
  ASSERT_TRUE(limiter.Allow(&dropped));
  EXPECT_EQ(dropped, 0u);
}

// Binds an abstract Unix socket (no file permissions involved) and returns
// the listening descriptor.
int ListenAbstract(const std::string &name, sockaddr_un *sa) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  *sa = {};
  sa->sun_family = AF_UNIX;
  std::memcpy(sa->sun_path + 1, name.data(), name.size());
  if (bind(fd, reinterpret_cast<sockaddr *>(sa), sizeof(sa_family_t) + 1 + name.size()) != 0) return -1;
  if (listen(fd, 4) != 0) return -1;
  return fd;
}

TEST(CheckPeerIsSameUser, AcceptsOwnUser) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  EXPECT_TRUE(CheckPeerIsSameUser(fds[0], "pair").ok());
  close(fds[0]);
  close(fds[1]);
}

TEST(CheckPeerIsSameUser, RefusesAnotherUser) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to connect as another user (uid 65534)";
  const std::string name = "lumen-auth-test-" + std::to_string(getpid());
  sockaddr_un sa;
  int l = ListenAbstract(name, &sa);
  ASSERT_GE(l, 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (setresuid(65534, 65534, 65534) != 0) _exit(2);
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(c, reinterpret_cast<sockaddr *>(&sa), sizeof(sa_family_t) + 1 + name.size()) != 0) _exit(3);
    char byte;
    (void)!read(c, &byte, 1);  // until the parent hangs up
    _exit(0);
  }
  int fd = accept(l, nullptr, nullptr);
  ASSERT_GE(fd, 0);
  Status st = CheckPeerIsSameUser(fd, "the test socket");
  EXPECT_EQ(st.code(), StatusCode::kUnauthenticated) << st.ToString();
  EXPECT_NE(st.message().find("uid 65534"), std::string::npos) << st.ToString();
  close(fd);
  close(l);
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

}  // namespace
}  // namespace lumen::auth
