// The token handshake and peers that do not follow the protocol: a wrong or
// missing token, garbage and oversized frames, a fake server that tries to
// learn the token, replayed proofs, log flooding, another user's socket.
// Each refused peer leaves the server serving good clients.
#include "rpc/rpc_test_util.h"

namespace lumen::rpc {
namespace {

TEST_F(RpcTest, WrongTokenIsUnauthenticatedAndServerKeepsServing) {
  for (const auto &addr : {UnixAddr(), TcpAddr()}) {
    auto bad = Connect(client_loop_, addr, "wrong-token", nullptr, kHang);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.status().code(), StatusCode::kUnauthenticated) << bad.status().ToString();
    auto empty = Connect(client_loop_, addr, "", nullptr, kHang);
    EXPECT_EQ(empty.status().code(), StatusCode::kUnauthenticated);
    auto good = MustConnect(addr);
    ExpectEcho(good);
    good->Close();
  }
}

int RawConnect(bool unix_sock, const std::string &path, int port) {
  int fd;
  if (unix_sock) {
    fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, path.c_str(), sizeof(sa.sun_path) - 1);
    if (::connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)) != 0) return -1;
  } else {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)) != 0) return -1;
  }
  return fd;
}

// True if the server closes the connection within the limit (EOF or reset).
bool ServerCloses(int fd, std::chrono::milliseconds limit = kHang) {
  auto end = Clock::now() + limit;
  char buf[4096];
  while (Clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return true;
  }
  return false;
}

std::string Header(uint32_t len, FrameType type, uint16_t method, uint64_t call_id) {
  std::string h(kFrameHeaderSize, '\0');
  detail::EncodeHeader(h.data(), len, static_cast<uint16_t>(type), method, call_id);
  return h;
}

std::string Frame(FrameType type, const std::string &body) {
  return Header(static_cast<uint32_t>(body.size()), type, 0, 0) + body;
}

std::string HelloFrame(const auth::Nonce &nonce = auth::NewNonce()) {
  return Frame(FrameType::kHello, detail::MakeHelloBody(nonce));
}

// Reads one whole frame off a blocking socket; false at EOF or on a short read.
bool ReadRawFrame(int fd, detail::FrameHeader *h, std::string *body) {
  char hdr[kFrameHeaderSize];
  if (::recv(fd, hdr, sizeof(hdr), MSG_WAITALL) != static_cast<ssize_t>(sizeof(hdr))) return false;
  *h = detail::DecodeHeader(hdr);
  body->assign(h->body_len, '\0');
  return h->body_len == 0 ||
         ::recv(fd, body->data(), h->body_len, MSG_WAITALL) == static_cast<ssize_t>(h->body_len);
}

// The client's side of the handshake, by hand on a raw socket.
void RawHandshake(int fd, const std::string &token) {
  const auth::Nonce nonce = auth::NewNonce();
  std::string hello = HelloFrame(nonce);
  ASSERT_EQ(::send(fd, hello.data(), hello.size(), MSG_NOSIGNAL), static_cast<ssize_t>(hello.size()));
  detail::FrameHeader h;
  std::string body;
  ASSERT_TRUE(ReadRawFrame(fd, &h, &body));
  ASSERT_EQ(h.type, static_cast<uint16_t>(FrameType::kHelloAck));
  auto proof = detail::AnswerChallenge(body, token, nonce, "test server");
  ASSERT_TRUE(proof.ok()) << proof.status().ToString();
  std::string frame = Frame(FrameType::kHello, *proof);
  ASSERT_EQ(::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL), static_cast<ssize_t>(frame.size()));
}

class GarbageTest : public RpcTest, public ::testing::WithParamInterface<bool> {
 protected:
  int Raw() {
    int fd = RawConnect(GetParam(), sock_path_, port_);
    EXPECT_GE(fd, 0);
    return fd;
  }
  void Send(int fd, const std::string &s) {
    ASSERT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size()));
  }
  void ExpectGoodClientWorks() {
    auto c = MustConnect(GetParam() ? UnixAddr() : TcpAddr());
    ExpectEcho(c);
    c->Close();
  }
};

TEST_P(GarbageTest, RandomBytes) {
  std::mt19937 rng(42);
  for (int round = 0; round < 5; ++round) {
    int fd = Raw();
    std::string junk(1000, '\0');
    for (auto &ch : junk) ch = static_cast<char>(rng());
    // Make sure the type field is invalid in at least some rounds, and that
    // others hit the oversized-hello path.
    if (round == 1) junk[4] = 99;
    if (round == 2) std::memcpy(junk.data(), Header(1u << 20, FrameType::kHello, 0, 0).data(), 16);
    Send(fd, junk);
    if (round < 3) {
      EXPECT_TRUE(ServerCloses(fd)) << "round " << round;
    }
    ::close(fd);
  }
  ExpectGoodClientWorks();
}

TEST_P(GarbageTest, OversizedFrame) {
  int fd = Raw();
  Send(fd, Header(kMaxFrameBody + 1, FrameType::kHello, 0, 0));
  EXPECT_TRUE(ServerCloses(fd));
  ::close(fd);
  // Also after a successful handshake.
  fd = Raw();
  RawHandshake(fd, kToken);
  ASSERT_TRUE(WaitFor([&] { return server_->NumConnections() == 1; }));
  Send(fd, Header(kMaxFrameBody + 1, FrameType::kRequest, kEcho, 1));
  EXPECT_TRUE(ServerCloses(fd));
  ::close(fd);
  ExpectGoodClientWorks();
}

TEST_P(GarbageTest, RequestBeforeHello) {
  int fd = Raw();
  std::string body = MakeMsg("sneaky").SerializeAsString();
  Send(fd, Header(static_cast<uint32_t>(body.size()), FrameType::kRequest, kEcho, 1) + body);
  EXPECT_TRUE(ServerCloses(fd));
  ::close(fd);
  EXPECT_EQ(server_->NumConnections(), 0u);
  ExpectGoodClientWorks();
}

TEST_P(GarbageTest, UnparsableHelloAndUnknownType) {
  int fd = Raw();
  std::string body(10, '\xff');
  Send(fd, Header(static_cast<uint32_t>(body.size()), FrameType::kHello, 0, 0) + body);
  EXPECT_TRUE(ServerCloses(fd));
  ::close(fd);
  fd = Raw();
  Send(fd, HelloFrame());
  Send(fd, Header(0, static_cast<FrameType>(77), 0, 0));
  EXPECT_TRUE(ServerCloses(fd));
  ::close(fd);
  ExpectGoodClientWorks();
}

TEST_P(GarbageTest, TruncatedHeaderThenClose) {
  int fd = Raw();
  Send(fd, Header(5, FrameType::kHello, 0, 0).substr(0, 7));
  ::close(fd);
  fd = Raw();
  Send(fd, HelloFrame().substr(0, 20));  // header plus part of the body
  ::close(fd);
  ExpectGoodClientWorks();
}

INSTANTIATE_TEST_SUITE_P(UnixAndTcp, GarbageTest, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool> &i) { return i.param ? "Unix" : "Tcp"; });

// ---- the handshake against hostile peers ----

// A fake server: accepts one connection on `listen_fd`, reads the client's
// first frame, answers it with a Challenge whose proof was made with another
// token, and records every byte the client sends until it hangs up.
std::string RunFakeServer(int listen_fd) {
  int fd = ::accept(listen_fd, nullptr, nullptr);
  if (fd < 0) return "accept failed";
  std::string got;
  char buf[4096];
  bool answered = false;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20000) <= 0) break;  // only a hung client reaches this
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
    if (!answered && got.size() >= kFrameHeaderSize &&
        got.size() >= kFrameHeaderSize + detail::DecodeHeader(got.data()).body_len) {
      answered = true;
      Hello hello;
      auth::Nonce client_nonce{};
      if (ParseBody(std::string_view(got).substr(kFrameHeaderSize), &hello))
        auth::ToNonce(hello.nonce(), &client_nonce);
      Challenge challenge;
      auth::Nonce mine = auth::NewNonce();
      challenge.set_nonce(std::string(auth::AsBytes(mine)));
      challenge.set_proof(std::string(
          auth::AsBytes(auth::HandshakeMac("not-the-token", auth::Prover::kServer, client_nonce, mine))));
      std::string frame = Frame(FrameType::kHelloAck, challenge.SerializeAsString());
      (void)!::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL);
    }
  }
  ::close(fd);
  return got;
}

// The frames in a byte stream (a trailing partial frame is left out).
std::vector<std::pair<detail::FrameHeader, std::string>> SplitFrames(const std::string &bytes) {
  std::vector<std::pair<detail::FrameHeader, std::string>> frames;
  size_t at = 0;
  while (bytes.size() - at >= kFrameHeaderSize) {
    auto h = detail::DecodeHeader(bytes.data() + at);
    if (bytes.size() - at - kFrameHeaderSize < h.body_len) break;
    frames.emplace_back(h, bytes.substr(at + kFrameHeaderSize, h.body_len));
    at += kFrameHeaderSize + h.body_len;
  }
  return frames;
}

// A client reaching a server that cannot prove the token (a socket planted
// where the real one was expected, or another cluster's) sends it its hello
// and nothing else: not the token, nothing computed from it, no queued call.
TEST_F(RpcTest, AFakeServerReceivesNothingButTheHello) {
  const std::string fake_path = dir_ + "/fake.sock";
  int listen_fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, fake_path.c_str(), sizeof(sa.sun_path) - 1);
  ASSERT_EQ(::bind(listen_fd, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)), 0);
  ASSERT_EQ(::listen(listen_fd, 8), 0);

  for (int client = 0; client < 3; ++client) {
    auto received = std::async(std::launch::async, [&] { return RunFakeServer(listen_fd); });
    Status st;
    if (client == 0) {
      st = Connect(client_loop_, "unix:" + fake_path, kToken, nullptr, 20s).status();
    } else if (client == 1) {
      st = BlockingConnection::Connect("unix:" + fake_path, kToken).status();
    } else {
      auto c = ConnectPipelined(client_loop_, "unix:" + fake_path, kToken, nullptr);
      ASSERT_TRUE(c.ok()) << c.status().ToString();
      (*c)->Notify(kRecord, MakeMsg(kToken, 1));  // queued behind the handshake
      st = (*c)->CallSync(kEcho, MakeMsg("x"), 20s).status();
      EXPECT_TRUE(WaitFor([&] { return !(*c)->IsOpen(); }, 20s));
    }
    EXPECT_EQ(st.code(), client == 2 ? StatusCode::kDisconnected : StatusCode::kUnauthenticated)
        << "client " << client << ": " << st.ToString();
    std::string bytes = received.get();
    EXPECT_EQ(bytes.find(kToken), std::string::npos) << "client " << client << " sent the token";
    auto frames = SplitFrames(bytes);
    ASSERT_EQ(frames.size(), 1u) << "client " << client << " sent more than its hello";
    EXPECT_EQ(frames[0].first.type, static_cast<uint16_t>(FrameType::kHello));
    Hello hello;
    ASSERT_TRUE(ParseBody(frames[0].second, &hello));
    EXPECT_EQ(hello.nonce().size(), auth::kNonceSize);
  }
  ::close(listen_fd);
}

// A proof recorded from one connection does not open another: the server's
// nonce is fresh each time.
TEST_P(GarbageTest, ReplayedProofIsRefused) {
  const auth::Nonce nonce = auth::NewNonce();
  std::string recorded_proof;
  for (int attempt = 0; attempt < 2; ++attempt) {
    int fd = Raw();
    Send(fd, HelloFrame(nonce));
    detail::FrameHeader h;
    std::string body;
    ASSERT_TRUE(ReadRawFrame(fd, &h, &body));
    if (attempt == 0) {
      auto proof = detail::AnswerChallenge(body, kToken, nonce, "test server");
      ASSERT_TRUE(proof.ok()) << proof.status().ToString();
      recorded_proof = *proof;
      ::close(fd);
      continue;
    }
    std::string request = MakeMsg("replayed").SerializeAsString();
    Send(fd, Frame(FrameType::kHello, recorded_proof) +
                 Header(static_cast<uint32_t>(request.size()), FrameType::kOneway, kRecord, 0) + request);
    EXPECT_TRUE(ServerCloses(fd));
    ::close(fd);
  }
  EXPECT_EQ(server_->NumConnections(), 0u);
  {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_TRUE(recorded_.empty());
  }
  ExpectGoodClientWorks();
}

// Captures what the process logs while alive.
class LogCapture {
 public:
  LogCapture() : sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(out_)) {
    TestSinks().add_sink(sink_);
  }
  ~LogCapture() { TestSinks().remove_sink(sink_); }
  std::vector<std::string> Lines() {
    spdlog::default_logger()->flush();
    std::vector<std::string> lines;
    std::istringstream in(out_.str());
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
};

// Peers without the token can make the server log, but only through the rate
// limit, in short lines, never what they sent verbatim.
TEST_P(GarbageTest, RefusedPeersCannotFloodTheLog) {
  LogCapture log;
  const std::string name(4000, 'A');
  auto refuse_one = [&] {
    int fd = Raw();
    Hello hello;
    hello.set_client_name(name);
    hello.set_nonce(std::string(auth::AsBytes(auth::NewNonce())));
    Send(fd, Frame(FrameType::kHello, hello.SerializeAsString()));
    detail::FrameHeader h;
    std::string body;
    ASSERT_TRUE(ReadRawFrame(fd, &h, &body));
    HelloProof wrong;
    wrong.set_proof(std::string(auth::kMacSize, 'x'));
    Send(fd, Frame(FrameType::kHello, wrong.SerializeAsString()));
    EXPECT_TRUE(ServerCloses(fd));
    ::close(fd);
  };
  auto refused_lines = [&] {
    std::vector<std::string> refused;
    for (auto &line : log.Lines())
      if (line.find("rpc: refused") != std::string::npos) refused.push_back(line);
    return refused;
  };
  // The refusals go through the rate limit (RateLimiter.* tests its
  // arithmetic on a FakeClock): flooded, it drops lines, and once it lets
  // lines through again the next one says how many were dropped.
  auto deadline = Clock::now() + 20s;
  bool counted = false;
  while (!counted && Clock::now() < deadline) {
    refuse_one();
    for (auto &line : refused_lines()) counted |= line.find("similar lines dropped") != std::string::npos;
  }
  EXPECT_TRUE(counted) << "no line reported the dropped ones";
  for (auto &line : refused_lines()) {
    EXPECT_EQ(line.find(std::string(100, 'A')), std::string::npos) << "a peer's name was logged whole";
    EXPECT_LT(line.size(), 400u) << line;
  }
  ExpectGoodClientWorks();
}

// A Unix socket served by another user is refused before a byte is sent.
// Needs root, to run the fake server as another user.
TEST_F(RpcTest, AnotherUsersSocketIsRefusedUnspoken) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to run a server as another user (uid 65534)";
  const std::string open_dir = dir_ + "/open";
  ASSERT_EQ(::mkdir(open_dir.c_str(), 0777), 0);
  ASSERT_EQ(::chmod(open_dir.c_str(), 0777), 0);
  ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);
  const std::string path = open_dir + "/planted.sock";
  int report[2];
  ASSERT_EQ(::pipe(report), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Only async-signal-safe calls from here: the parent has threads.
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) _exit(2);
    int l = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, path.c_str(), path.size());
    if (::bind(l, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)) != 0 || ::listen(l, 8) != 0) _exit(3);
    for (int i = 0; i < 3; ++i) {
      int fd = ::accept(l, nullptr, nullptr);
      uint64_t total = 0;
      char buf[256];
      for (ssize_t n; (n = ::read(fd, buf, sizeof(buf))) > 0;) total += static_cast<uint64_t>(n);
      (void)!::write(report[1], &total, sizeof(total));
      ::close(fd);
    }
    _exit(0);
  }
  ::close(report[1]);
  ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(path); }, 20s));
  auto c1 = Connect(client_loop_, "unix:" + path, kToken, nullptr, 20s);
  EXPECT_EQ(c1.status().code(), StatusCode::kUnauthenticated) << c1.status().ToString();
  EXPECT_NE(c1.status().message().find("another user"), std::string::npos) << c1.status().ToString();
  auto c2 = ConnectPipelined(client_loop_, "unix:" + path, kToken, nullptr);
  EXPECT_EQ(c2.status().code(), StatusCode::kUnauthenticated) << c2.status().ToString();
  auto c3 = BlockingConnection::Connect("unix:" + path, kToken);
  EXPECT_EQ(c3.status().code(), StatusCode::kUnauthenticated) << c3.status().ToString();
  for (int i = 0; i < 3; ++i) {
    uint64_t total = ~0ull;
    ASSERT_EQ(::read(report[0], &total, sizeof(total)), static_cast<ssize_t>(sizeof(total)));
    EXPECT_EQ(total, 0u) << "client " << i << " sent bytes to another user's socket";
  }
  ::close(report[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

// ---- micro benchmark (LUMEN_RPC_BENCH=1) ----

}  // namespace
}  // namespace lumen::rpc
