#include "object_store/arena.h"

#include <gtest/gtest.h>
#include <linux/sockios.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "base/auth.h"
#include "base/page_map.h"
#include "base/id.h"

namespace lumen::object_store {
namespace {

std::string TempSocketPath() {
  return "/tmp/lumen-arena-test-" + std::to_string(getpid()) + "-" + RandomHex(4) + ".sock";
}

bool PathExists(const std::string &p) {
  struct stat st;
  return lstat(p.c_str(), &st) == 0;
}

// Connects to a Unix socket and sends raw bytes; returns what came back (or
// "" when the server just closed).
std::string RawExchange(const std::string &path, const std::string &bytes) {
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (connect(s, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) != 0) {
    close(s);
    return "connect failed";
  }
  if (!bytes.empty()) (void)!send(s, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  shutdown(s, SHUT_WR);
  std::string out;
  char buf[64];
  ssize_t n;
  while ((n = recv(s, buf, sizeof(buf), 0)) > 0) out.append(buf, n);
  close(s);
  return out;
}

TEST(ArenaTest, CreateWriteAndAttachSecondMapping) {
  const size_t cap = 8 << 20;
  auto a = Arena::Create(cap, 1 << 20);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  Arena &arena = **a;
  EXPECT_EQ(arena.capacity(), cap);
  ASSERT_NE(arena.base(), nullptr);
  std::memcpy(arena.base() + 12345, "hello arena", 11);
  arena.base()[cap - 1] = 0x5a;

  auto b = Arena::Attach(dup(arena.fd()), cap, /*populate_bytes=*/cap);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_NE((*b)->base(), arena.base());
  EXPECT_EQ(std::memcmp((*b)->base() + 12345, "hello arena", 11), 0);
  EXPECT_EQ((*b)->base()[cap - 1], 0x5a);
  // And the other way round.
  (*b)->base()[100] = 7;
  EXPECT_EQ(arena.base()[100], 7);
}

TEST(ArenaTest, BackgroundPrefaultAllocatesThePrefixAndKeepsWrites) {
  const size_t cap = 64 << 20, prefix = 24 << 20;  // several prefault chunks
  auto a = Arena::Create(cap, prefix);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  // Written while the node's thread may still be allocating, and while the
  // second mapping's thread populates: both must leave the bytes alone.
  for (size_t off = 0; off < prefix; off += 1 << 20) (*a)->base()[off + 7] = static_cast<uint8_t>(off >> 20);
  auto b = Arena::Attach(dup((*a)->fd()), cap, prefix);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  (*b)->base()[prefix - 1] = 0x42;
  (*a)->WaitForPrefault();
  (*b)->WaitForPrefault();
  struct stat st;
  ASSERT_EQ(fstat((*a)->fd(), &st), 0);
  EXPECT_GE(static_cast<size_t>(st.st_blocks) * 512, prefix);
  EXPECT_LT(static_cast<size_t>(st.st_blocks) * 512, cap);  // only the prefix
  for (size_t off = 0; off < prefix; off += 1 << 20) {
    EXPECT_EQ((*b)->base()[off + 7], static_cast<uint8_t>(off >> 20)) << off;
  }
  EXPECT_EQ((*a)->base()[prefix - 1], 0x42);
}

TEST(ArenaTest, PrepareWriteFillsPageTablesAndKeepsContents) {
  const size_t cap = 64 << 20, off = 3 << 20, size = 24 << 20;  // not chunk-aligned
  auto a = Arena::Create(cap, 0);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  auto b = Arena::Attach(dup((*a)->fd()), cap, 0);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  // Bytes already there, written through the other mapping, stay.
  for (size_t i = off; i < off + size; i += 1 << 20) (*a)->base()[i + 11] = static_cast<uint8_t>(i >> 20);
  const size_t pages = size / 4096;
  EXPECT_LT(PresentPages((*b)->base() + off, size), pages / 2) << "mapped before PrepareWrite";
  (*b)->PrepareWrite(off, size);
  EXPECT_EQ(PresentPages((*b)->base() + off, size), pages);
  for (size_t i = off; i < off + size; i += 1 << 20) {
    EXPECT_EQ((*b)->base()[i + 11], static_cast<uint8_t>(i >> 20)) << i;
  }
  // A second call is a no-op on populated chunks, a small write is left
  // alone, and a range running past the end is clipped.
  (*b)->PrepareWrite(off, size);
  (*b)->PrepareWrite(cap - 4096, 100);
  EXPECT_EQ(PresentPages((*b)->base() + cap - 4096, 4096), 0u);
  (*b)->PrepareWrite(cap - (8 << 20), 16 << 20);
  EXPECT_EQ(PresentPages((*b)->base() + cap - (8 << 20), 8 << 20), (8u << 20) / 4096);
  (*b)->PrepareWrite(cap, 16 << 20);
  (*b)->base()[cap - 1] = 9;
  EXPECT_EQ((*a)->base()[cap - 1], 9);
}

TEST(ArenaTest, AttachRejectsBadInput) {
  EXPECT_FALSE(Arena::Attach(-1, 4096).ok());
  auto a = Arena::Create(1 << 16, 0);
  ASSERT_TRUE(a.ok());
  // Asking for more than the fd holds fails (and closes the dup).
  EXPECT_FALSE(Arena::Attach(dup((*a)->fd()), 1 << 20).ok());
  EXPECT_FALSE(Arena::Create(0, 0).ok());
}

TEST(ArenaFdServerTest, ForkedChildAttachesAndSharesMemory) {
  const std::string path = TempSocketPath();
  const std::string token = "secret-" + RandomHex(16);
  const size_t cap = 4 << 20;
  // Fork first, while this process has no other threads; the child only ever
  // reaches the arena through the socket.
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Retries until the parent's server listens; only a hang reaches the deadline.
    // Without populating: that starts a prefault thread, and this child leaves
    // by _exit, which joins nothing (TSan reported the thread as leaked when
    // the child was descheduled long enough for it to finish first).
    std::unique_ptr<Arena> arena;
    for (auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
         !arena && std::chrono::steady_clock::now() < end;) {
      auto r = AttachToNodeArena(path, token, /*populate=*/false);
      if (r.ok())
        arena = std::move(*r);
      else
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!arena) _exit(10);
    if (arena->capacity() != cap) _exit(11);
    if (std::memcmp(arena->base() + 4096, "from parent", 11) != 0) _exit(12);
    std::memcpy(arena->base() + 8192, "from child", 10);
    _exit(0);
  }
  auto a = Arena::Create(cap, cap);
  ASSERT_TRUE(a.ok());
  std::memcpy((*a)->base() + 4096, "from parent", 11);
  ArenaFdServer server;
  ASSERT_TRUE(server.Start(path, token, (*a)->fd(), cap, cap).ok());
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  int wstatus = 0;
  ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFEXITED(wstatus));
  EXPECT_EQ(WEXITSTATUS(wstatus), 0);
  EXPECT_EQ(std::memcmp((*a)->base() + 8192, "from child", 10), 0);
  server.Stop();
  EXPECT_FALSE(PathExists(path));
}

TEST(ArenaFdServerTest, WrongTokenGarbageAndStop) {
  const std::string path = TempSocketPath();
  const std::string token = RandomHex(32);
  auto a = Arena::Create(1 << 20, 0);
  ASSERT_TRUE(a.ok());
  (*a)->base()[77] = 42;
  ArenaFdServer server;
  ASSERT_TRUE(server.Start(path, token, (*a)->fd(), 1 << 20).ok());

  auto bad = AttachToNodeArena(path, token + "x", false);
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kUnauthenticated) << bad.status().ToString();
  auto empty = AttachToNodeArena(path, "", false);
  EXPECT_FALSE(empty.ok());

  // Garbage: nothing at all, a few bytes, a nonce and a wrong proof (the
  // token itself, say), random junk. None gets more than the server's
  // challenge (64 bytes), never the arena.
  EXPECT_EQ(RawExchange(path, ""), "");
  EXPECT_EQ(RawExchange(path, std::string("\x01\x00", 2)), "");
  EXPECT_EQ(RawExchange(path, std::string(32, 'n') + token.substr(0, 32)).size(), 64u);
  EXPECT_EQ(RawExchange(path, std::string(32, 'n') + std::string(5000, 'a')).size(), 64u);
  std::string junk(300, '\0');
  FillRandom(junk.data(), junk.size());
  EXPECT_EQ(RawExchange(path, junk).size(), 64u);

  // The server still serves a correct client.
  auto good = AttachToNodeArena(path, token, true);
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_EQ((*good)->base()[77], 42);
  EXPECT_EQ((*good)->capacity(), 1u << 20);

  server.Stop();
  EXPECT_FALSE(PathExists(path));
  EXPECT_FALSE(AttachToNodeArena(path, token, false).ok());
  server.Stop();  // idempotent
}

TEST(ArenaFdServerTest, StopWhileClientIsSilent) {
  const std::string path = TempSocketPath();
  auto a = Arena::Create(1 << 16, 0);
  ASSERT_TRUE(a.ok());
  // The server would wait for the rest of the request for an hour: only
  // Stop interrupting its read lets the test end.
  auto server = std::make_unique<ArenaFdServer>(std::chrono::hours(1));
  ASSERT_TRUE(server->Start(path, "t", (*a)->fd(), 1 << 16).ok());
  // A client sends the start of its nonce and then nothing: the server
  // waits on it (with the others) until Stop.
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(connect(s, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)), 0);
  uint32_t len = 1;
  ASSERT_EQ(send(s, &len, sizeof len, MSG_NOSIGNAL), static_cast<ssize_t>(sizeof len));
  // The server has read those bytes once none of them is queued any more
  // (a Unix socket counts sent bytes until the peer reads them).
  for (int queued = 1; queued > 0;) {
    ASSERT_EQ(ioctl(s, SIOCOUTQ, &queued), 0);
    if (queued > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  server.reset();  // destructor stops
  EXPECT_FALSE(PathExists(path));
  close(s);
}

int ConnectTo(const std::string &path) {
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (connect(s, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) != 0) {
    close(s);
    return -1;
  }
  return s;
}

// Clients that connect and go quiet, before or halfway through the
// handshake, more of them than the server keeps waiting: a real client is
// still served (one at a time with a read timeout each, 64 of them kept a
// node's new workers from attaching).
TEST(ArenaFdServerTest, IdleClientsDoNotHoldUpOthers) {
  const std::string path = TempSocketPath();
  const std::string token = RandomHex(32);
  auto a = Arena::Create(1 << 16, 0);
  ASSERT_TRUE(a.ok());
  ArenaFdServer server(ArenaFdServer::kDefaultHandshakeTimeout, /*max_waiting=*/128);
  ASSERT_TRUE(server.Start(path, token, (*a)->fd(), 1 << 16).ok());
  std::vector<int> idle;
  for (int i = 0; i < 200; ++i) {
    int s = ConnectTo(path);
    ASSERT_GE(s, 0) << i;
    if (i % 2) (void)!send(s, std::string(32, 'n').data(), 32, MSG_NOSIGNAL);  // a nonce, then silence
    idle.push_back(s);
  }
  for (int round = 0; round < 3; ++round) {
    auto attached = AttachToNodeArena(path, token, false);
    EXPECT_TRUE(attached.ok()) << attached.status().ToString();
  }
  for (int s : idle) close(s);
}

// A real client halfway through the handshake (its nonce answered, its proof
// not yet sent: a worker descheduled on a busy machine) while a flood of idle
// clients fills the server's slots: the idle ones make room, not it. (Judged
// by quiet time alone, it was dropped first: the idle clients accepted after
// its nonce looked fresher.)
TEST(ArenaFdServerTest, AClientMidHandshakeOutlastsAFloodOfIdleOnes) {
  const std::string path = TempSocketPath();
  const std::string token = RandomHex(32);
  auto a = Arena::Create(1 << 16, 0);
  ASSERT_TRUE(a.ok());
  ArenaFdServer server(ArenaFdServer::kDefaultHandshakeTimeout, /*max_waiting=*/128);
  ASSERT_TRUE(server.Start(path, token, (*a)->fd(), 1 << 16).ok());
  int real = ConnectTo(path);
  ASSERT_GE(real, 0);
  const auth::Nonce nonce = auth::NewNonce();
  ASSERT_EQ(send(real, nonce.data(), nonce.size(), MSG_NOSIGNAL), static_cast<ssize_t>(nonce.size()));
  uint8_t challenge[auth::kNonceSize + auth::kMacSize];
  ASSERT_EQ(recv(real, challenge, sizeof(challenge), MSG_WAITALL), static_cast<ssize_t>(sizeof(challenge)));
  // 200 idle clients: the server keeps 128 waiting, so it drops 73 of the
  // 201. Wait until it has (their sockets see the hang-up), so that it has
  // accepted every one of them before the real client goes on.
  std::vector<int> idle;
  for (int i = 0; i < 200; ++i) {
    int s = ConnectTo(path);
    ASSERT_GE(s, 0) << i;
    idle.push_back(s);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  size_t dropped = 0;
  while (dropped < 72 && std::chrono::steady_clock::now() < deadline) {
    std::vector<pollfd> fds;
    for (int s : idle) fds.push_back({s, POLLIN, 0});
    pollfd me{real, POLLIN, 0};
    fds.push_back(me);
    ASSERT_GE(poll(fds.data(), fds.size(), 1000), 0);
    ASSERT_FALSE(fds.back().revents & (POLLIN | POLLHUP)) << "the real client was dropped";
    dropped = 0;
    for (size_t i = 0; i + 1 < fds.size(); ++i) dropped += (fds[i].revents & (POLLIN | POLLHUP)) ? 1 : 0;
  }
  ASSERT_GE(dropped, 72u) << "the server did not take in the idle clients";
  auth::Nonce server_nonce;
  std::memcpy(server_nonce.data(), challenge, auth::kNonceSize);
  const auth::Mac proof = auth::HandshakeMac(token, auth::Prover::kClient, nonce, server_nonce);
  ASSERT_EQ(send(real, proof.data(), proof.size(), MSG_NOSIGNAL), static_cast<ssize_t>(proof.size()));
  uint64_t sizes[2] = {0, 0};
  EXPECT_EQ(recv(real, sizes, sizeof(sizes), MSG_WAITALL), static_cast<ssize_t>(sizeof(sizes)));
  EXPECT_EQ(sizes[0], 1u << 16);
  close(real);
  for (int s : idle) close(s);
}

// A socket planted where the node's was expected, answering with anything:
// the client sends its nonce and nothing else, certainly not the token.
TEST(ArenaFdServerTest, AFakeServerGetsOnlyTheNonce) {
  const std::string path = TempSocketPath();
  const std::string token = RandomHex(32);
  int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(bind(l, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(l, 4), 0);
  std::string received;
  std::thread fake([&] {
    int c = accept(l, nullptr, nullptr);
    char buf[256];
    ssize_t n = recv(c, buf, 32, MSG_WAITALL);
    if (n > 0) received.append(buf, static_cast<size_t>(n));
    std::string answer(64, '\0');
    FillRandom(answer.data(), answer.size());
    (void)!send(c, answer.data(), answer.size(), MSG_NOSIGNAL);
    while ((n = recv(c, buf, sizeof(buf), 0)) > 0) received.append(buf, static_cast<size_t>(n));
    close(c);
  });
  auto attached = AttachToNodeArena(path, token, false);
  fake.join();
  EXPECT_EQ(attached.status().code(), StatusCode::kUnauthenticated) << attached.status().ToString();
  EXPECT_EQ(received.size(), 32u);  // the nonce
  EXPECT_EQ(received.find(token.substr(0, 8)), std::string::npos);
  close(l);
  unlink(path.c_str());
}

TEST(ArenaFdServerTest, StartRejectsNonSocketPath) {
  const std::string path = "/tmp/lumen-arena-test-file-" + RandomHex(4);
  FILE *f = fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fclose(f);
  ArenaFdServer server;
  EXPECT_FALSE(server.Start(path, "t", 0, 1).ok());
  EXPECT_TRUE(PathExists(path));
  unlink(path.c_str());
}

}  // namespace
}  // namespace lumen::object_store
