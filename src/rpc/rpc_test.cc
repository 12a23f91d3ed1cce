#include "rpc/rpc.h"

#include "base/settings.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>
#include <vector>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>

#include <sstream>

#include "base/auth.h"
#include "base/logging.h"
#include "protocol/rpc.pb.h"
#include "rpc/frame.h"

namespace lumen::rpc {
namespace {

using namespace std::chrono_literals;

constexpr uint16_t kEcho = 1;
constexpr uint16_t kFail = 2;
constexpr uint16_t kBlackHole = 3;
constexpr uint16_t kRecord = 4;
constexpr uint16_t kCloseMe = 5;
constexpr uint16_t kThrow = 6;
constexpr uint16_t kClientEcho = 10;

const std::string kToken = "s3cret-token";
// How long a test waits for something that must happen: only a hang reaches it.
constexpr auto kHang = 60s;

Hello MakeMsg(const std::string &name, int pid = 0) {
  Hello h;
  h.set_client_name(name);
  h.set_pid(pid);
  return h;
}

template <typename Pred>
bool WaitFor(Pred pred, std::chrono::milliseconds limit = kHang) {
  auto end = Clock::now() + limit;
  while (Clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return pred();
}

class RpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lumen-rpc-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    sock_path_ = dir_ + "/s.sock";

    dispatcher_.Register(kEcho, [](const ConnectionPtr &c, uint64_t id, std::string_view body) {
      c->ReplyRaw(id, std::string(body));
    });
    dispatcher_.Register(kFail, [](const ConnectionPtr &c, uint64_t id, std::string_view) {
      c->ReplyError(id, Status::NotFound("nope, not here"));
    });
    dispatcher_.Register(kBlackHole,
                         [this](const ConnectionPtr &, uint64_t, std::string_view) { ++black_holed_; });
    dispatcher_.Register(kRecord, [this](const ConnectionPtr &, uint64_t id, std::string_view body) {
      Hello h;
      ASSERT_TRUE(ParseBody(body, &h));
      std::lock_guard<std::mutex> lock(mu_);
      recorded_.push_back(h.pid());
    });
    dispatcher_.Register(
        kThrow, [](const ConnectionPtr &, uint64_t, std::string_view) { throw std::runtime_error("boom"); });
    dispatcher_.Register(kCloseMe, [](const ConnectionPtr &c, uint64_t, std::string_view) { c->Close(); });

    server_ = std::make_unique<Server>(server_loop_, kToken, &dispatcher_);
    ASSERT_TRUE(server_->ListenUnix(sock_path_).ok());
    auto port = server_->ListenTcp("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.status().ToString();
    port_ = *port;
    ASSERT_GT(port_, 0);
  }

  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string UnixAddr() const { return "unix:" + sock_path_; }
  std::string TcpAddr() const { return "tcp:127.0.0.1:" + std::to_string(port_); }

  ConnectionPtr MustConnect(const std::string &addr, const Dispatcher *d = nullptr) {
    auto c = Connect(client_loop_, addr, kToken, d);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? *c : nullptr;
  }

  void ExpectEcho(const ConnectionPtr &c) {
    ASSERT_TRUE(c);
    Hello reply;
    Status st = c->CallSync(kEcho, MakeMsg("ping", 7), &reply, kHang);
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(reply.client_name(), "ping");
    EXPECT_EQ(reply.pid(), 7);
  }

  std::string dir_, sock_path_;
  int port_ = 0;
  EventLoop server_loop_{"srv-loop"};
  EventLoop client_loop_{"cli-loop"};
  Dispatcher dispatcher_;
  std::unique_ptr<Server> server_;
  std::atomic<int> black_holed_{0};
  std::mutex mu_;
  std::vector<int> recorded_;
};

TEST_F(RpcTest, EchoOverUnix) {
  auto c = MustConnect(UnixAddr());
  ExpectEcho(c);
  EXPECT_TRUE(WaitFor([&] { return server_->NumConnections() == 1; }));
  // A bare path also means unix.
  auto c2 = MustConnect(sock_path_);
  ExpectEcho(c2);
  c->Close();
  c2->Close();
}

TEST_F(RpcTest, EchoOverTcp) {
  auto c = MustConnect(TcpAddr());
  ExpectEcho(c);
  EXPECT_EQ(c->PeerName(), TcpAddr());
  c->Close();
}

TEST_F(RpcTest, ErrorReplyCarriesCodeAndMessage) {
  auto c = MustConnect(UnixAddr());
  auto r = c->CallSync(kFail, MakeMsg("x"), kHang);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(), "nope, not here");
  // Unknown method -> NotFound from the transport.
  auto r2 = c->CallSync(999, MakeMsg("x"), kHang);
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.status().code(), StatusCode::kNotFound);
  c->Close();
}

TEST_F(RpcTest, ThrowingHandlerBecomesInternalError) {
  auto c = MustConnect(UnixAddr());
  auto r = c->CallSync(kThrow, MakeMsg("x"), kHang);
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
  EXPECT_NE(r.status().message().find("boom"), std::string::npos);
  ExpectEcho(c);
  c->Close();
}

TEST_F(RpcTest, ConcurrentCallsFromFourThreads) {
  for (const auto &addr : {UnixAddr(), TcpAddr()}) {
    auto c = MustConnect(addr);
    constexpr int kThreads = 4, kPerThread = 2500;
    std::atomic<int> ok{0}, bad{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          std::string body = std::to_string(t) + ":" + std::to_string(i);
          c->CallRaw(kEcho, body, [&, body](Status st, std::string_view reply) {
            if (st.ok() && reply == body) {
              ++ok;
            } else {
              ++bad;
            }
          });
        }
      });
    }
    for (auto &t : threads) t.join();
    EXPECT_TRUE(WaitFor([&] { return ok + bad == kThreads * kPerThread; }, kHang));
    EXPECT_EQ(ok.load(), kThreads * kPerThread);
    EXPECT_EQ(bad.load(), 0);
    c->Close();
  }
}

TEST_F(RpcTest, OnewayOrderingPreserved) {
  auto c = MustConnect(UnixAddr());
  for (int i = 0; i < 1000; ++i) c->Notify(kRecord, MakeMsg("n", i));
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> lock(mu_);
    return recorded_.size() == 1000;
  }));
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(recorded_[i], i);
  c->Close();
}

// Direct sends (written by the sending thread) mixed with loop-flushed ones
// from another thread keep per-thread order and lose nothing.
TEST_F(RpcTest, DirectSendsMixWithBatchedOnes) {
  auto c = MustConnect(UnixAddr());
  std::thread batched([&] {
    for (int i = 0; i < 500; ++i) c->Notify(kRecord, MakeMsg("b", 1000 + i));
  });
  {
    DirectSendScope direct;
    for (int i = 0; i < 500; ++i) c->Notify(kRecord, MakeMsg("d", i));
  }
  batched.join();
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> lock(mu_);
    return recorded_.size() == 1000;
  }));
  std::lock_guard<std::mutex> lock(mu_);
  int last_direct = -1, last_batched = 999;
  for (int v : recorded_) {
    if (v < 1000) {
      EXPECT_EQ(v, last_direct + 1);
      last_direct = v;
    } else {
      EXPECT_EQ(v, last_batched + 1);
      last_batched = v;
    }
  }
  c->Close();
}

TEST_F(RpcTest, ServerCallsClientOnSameConnection) {
  std::mutex m;
  std::condition_variable cv;
  ConnectionPtr server_side;
  server_->SetConnectHandler([&](const ConnectionPtr &conn) {
    std::lock_guard<std::mutex> lock(m);
    server_side = conn;
    cv.notify_all();
  });
  Dispatcher client_dispatcher;
  client_dispatcher.Register(kClientEcho, [](const ConnectionPtr &c, uint64_t id, std::string_view body) {
    Hello h;
    ParseBody(body, &h);
    h.set_client_name("client says " + h.client_name());
    c->Reply(id, h);
  });
  auto c = MustConnect(TcpAddr(), &client_dispatcher);
  ConnectionPtr s;
  {
    std::unique_lock<std::mutex> lock(m);
    ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return server_side != nullptr; }));
    s = server_side;
  }
  Hello reply;
  Status st = s->CallSync(kClientEcho, MakeMsg("hi"), &reply, kHang);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(reply.client_name(), "client says hi");
  // And the client's own calls still work concurrently.
  ExpectEcho(c);
  c->Close();
}

TEST_F(RpcTest, DeadlineExpiresWithTimedOut) {
  auto c = MustConnect(UnixAddr());
  auto start = Clock::now();
  auto r = c->CallSync(kBlackHole, MakeMsg("x"), 100ms);
  auto took = Clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTimedOut);
  EXPECT_GE(took, 100ms);
  EXPECT_LT(took, kDefaultCallTimeout);  // the call's own deadline ended it
  // Async variant; the connection stays usable.
  std::atomic<int> timed_out{0};
  for (int i = 0; i < 50; ++i)
    c->Call(
        kBlackHole, MakeMsg("x"),
        [&](Status st, std::string_view) {
          if (st.code() == StatusCode::kTimedOut) ++timed_out;
        },
        50ms);
  EXPECT_TRUE(WaitFor([&] { return timed_out == 50; }, kHang));
  ExpectEcho(c);
  c->Close();
}

TEST_F(RpcTest, PeerCloseFailsPendingAndRunsCloseHandlerOnce) {
  auto c = MustConnect(TcpAddr());
  std::atomic<int> closes{0}, disconnected{0}, other{0};
  c->SetCloseHandler([&](const Status &) { ++closes; });
  for (int i = 0; i < 20; ++i)
    c->Call(kBlackHole, MakeMsg("x"), [&](Status st, std::string_view) {
      if (st.code() == StatusCode::kDisconnected) {
        ++disconnected;
      } else {
        ++other;
      }
    });
  ASSERT_TRUE(WaitFor([&] { return black_holed_ == 20; }));
  c->Notify(kCloseMe, MakeMsg("bye"));  // the server closes its end
  EXPECT_TRUE(WaitFor([&] { return disconnected == 20 && closes == 1; }));
  EXPECT_FALSE(c->IsOpen());
  // A call after close fails right away, and the close handler stays at one.
  auto r = c->CallSync(kEcho, MakeMsg("x"), 1s);
  EXPECT_EQ(r.status().code(), StatusCode::kDisconnected);
  c->Close();
  client_loop_.Drain();  // whatever Close queued has run
  EXPECT_EQ(closes.load(), 1);
  EXPECT_EQ(disconnected.load(), 20);
  EXPECT_EQ(other.load(), 0);
  EXPECT_TRUE(WaitFor([&] { return server_->NumConnections() == 0; }));
}

// Sets an environment variable for one test.
class ScopedEnv {
 public:
  ScopedEnv(const char *name, const char *value) : name_(name) {
    setenv(name, value, 1);
    ReloadSettings();
  }
  ~ScopedEnv() {
    unsetenv(name_);
    ReloadSettings();
  }

 private:
  const char *name_;
};

// Stops `loop` from running anything until the returned promise is set: a
// peer process that is stopped (SIGSTOP) or hung, whose socket stays open.
std::shared_ptr<std::promise<void>> FreezeLoop(EventLoop &loop) {
  auto release = std::make_shared<std::promise<void>>();
  auto released = release->get_future().share();
  auto frozen = std::make_shared<std::promise<void>>();
  auto is_frozen = frozen->get_future();
  loop.Post([frozen, released] {
    frozen->set_value();
    released.wait();
  });
  is_frozen.wait();
  return release;
}

TEST_F(RpcTest, AHungPeerFailsCallsWithNoDeadlineAfterThePeerTimeout) {
  ScopedEnv timeout("LUMEN_PEER_TIMEOUT_MS", "300");
  auto c = MustConnect(UnixAddr());
  ExpectEcho(c);
  auto release = FreezeLoop(server_loop_);
  auto result = std::make_shared<std::promise<Status>>();
  // The call's own deadline is an hour away, as for a lease or a pushed task.
  c->Call(
      kEcho, MakeMsg("x"), [result](Status st, std::string_view) { result->set_value(st); },
      std::chrono::hours(1));
  auto got = result->get_future();
  bool answered = got.wait_for(60s) == std::future_status::ready;
  release->set_value();
  ASSERT_TRUE(answered) << "a call to a hung peer never failed";
  Status st = got.get();
  EXPECT_EQ(st.code(), StatusCode::kDisconnected) << st.ToString();
  EXPECT_NE(st.message().find("stopped responding"), std::string::npos) << st.ToString();
  EXPECT_FALSE(c->IsOpen());
}

TEST_F(RpcTest, AKeptAliveConnectionNoticesAHungPeerWithNothingPending) {
  ScopedEnv timeout("LUMEN_PEER_TIMEOUT_MS", "300");
  auto c = MustConnect(TcpAddr());
  auto closed = std::make_shared<std::promise<Status>>();
  c->SetCloseHandler([closed](const Status &why) { closed->set_value(why); });
  c->KeepAlive();
  auto release = FreezeLoop(server_loop_);
  auto got = closed->get_future();
  bool noticed = got.wait_for(60s) == std::future_status::ready;
  release->set_value();
  ASSERT_TRUE(noticed) << "a kept-alive connection never noticed its hung peer";
  EXPECT_NE(got.get().message().find("stopped responding"), std::string::npos);
}

TEST_F(RpcTest, ASlowButLivePeerKeepsCallsWithNoDeadlineOpen) {
  ScopedEnv timeout("LUMEN_PEER_TIMEOUT_MS", "1000");
  auto c = MustConnect(UnixAddr());
  c->KeepAlive();
  std::atomic<bool> failed{false};
  c->Call(
      kBlackHole, MakeMsg("x"), [&failed](Status, std::string_view) { failed = true; },
      std::chrono::hours(1));
  ASSERT_TRUE(WaitFor([&] { return black_holed_ == 1; }));
  // The peer never answers the call but answers pings: three peer timeouts
  // later the call is still waiting and the connection open.
  std::this_thread::sleep_for(3s);
  EXPECT_FALSE(failed.load());
  EXPECT_TRUE(c->IsOpen());
  ExpectEcho(c);
  c->Close();
  EXPECT_TRUE(WaitFor([&] { return failed.load(); }));
}

TEST_F(RpcTest, LocalCloseFailsPending) {
  auto c = MustConnect(UnixAddr());
  std::atomic<int> disconnected{0}, closes{0};
  c->SetCloseHandler([&](const Status &) { ++closes; });
  for (int i = 0; i < 10; ++i)
    c->Call(kBlackHole, MakeMsg("x"), [&](Status st, std::string_view) {
      if (st.code() == StatusCode::kDisconnected) ++disconnected;
    });
  c->Close();
  c->Close();
  EXPECT_TRUE(WaitFor([&] { return disconnected == 10 && closes == 1; }));
  // Setting a handler after close runs it (once).
  std::atomic<int> late{0};
  c->SetCloseHandler([&](const Status &) { ++late; });
  EXPECT_TRUE(WaitFor([&] { return late == 1; }));
}

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

TEST_F(RpcTest, ConnectFailures) {
  auto r = Connect(client_loop_, "unix:" + dir_ + "/missing.sock", kToken, nullptr, 2s);
  EXPECT_FALSE(r.ok());
  auto r2 = Connect(client_loop_, "bogus:thing", kToken, nullptr, 2s);
  EXPECT_EQ(r2.status().code(), StatusCode::kInvalidArgument);
  auto r3 = Connect(client_loop_, "tcp:127.0.0.1:notaport", kToken, nullptr, 2s);
  EXPECT_EQ(r3.status().code(), StatusCode::kInvalidArgument);
}

// ---- garbage ----

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

// ---- blocking ----

TEST_F(RpcTest, BlockingConnectionTalksToServer) {
  for (const auto &addr : {UnixAddr(), TcpAddr()}) {
    auto bc = BlockingConnection::Connect(addr, kToken);
    ASSERT_TRUE(bc.ok()) << bc.status().ToString();
    auto &conn = *bc;
    ASSERT_TRUE(conn->Send(FrameType::kRequest, kEcho, 42, MakeMsg("blocking", 3)).ok());
    auto f = conn->Receive();
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    EXPECT_EQ(f->type, FrameType::kResponse);
    EXPECT_EQ(f->call_id, 42u);
    Hello h;
    ASSERT_TRUE(ParseBody(f->body, &h));
    EXPECT_EQ(h.client_name(), "blocking");
    ASSERT_TRUE(conn->Send(FrameType::kRequest, kFail, 43, MakeMsg("x")).ok());
    auto e = conn->Receive();
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e->type, FrameType::kError);
    ErrorReply err;
    ASSERT_TRUE(ParseBody(e->body, &err));
    EXPECT_EQ(err.code(), static_cast<int>(StatusCode::kNotFound));
    // Oneway is delivered.
    ASSERT_TRUE(conn->Send(FrameType::kOneway, kRecord, 0, MakeMsg("o", 5)).ok());
    ASSERT_TRUE(WaitFor([&] {
      std::lock_guard<std::mutex> lock(mu_);
      return !recorded_.empty() && recorded_.back() == 5;
    }));
    ASSERT_TRUE(conn->Send(FrameType::kOneway, kCloseMe, 0, MakeMsg("bye")).ok());
    auto eof = conn->Receive();
    EXPECT_EQ(eof.status().code(), StatusCode::kDisconnected);
  }
  auto bad = BlockingConnection::Connect(UnixAddr(), "nope");
  EXPECT_EQ(bad.status().code(), StatusCode::kUnauthenticated);
}

TEST_F(RpcTest, BlockingConnectionServesServerRequests) {
  ConnectionPtr server_side;
  std::mutex m;
  server_->SetConnectHandler([&](const ConnectionPtr &c) {
    std::lock_guard<std::mutex> lock(m);
    server_side = c;
  });
  auto bc = BlockingConnection::Connect(UnixAddr(), kToken);
  ASSERT_TRUE(bc.ok());
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> lock(m);
    return server_side != nullptr;
  }));
  std::atomic<bool> got{false};
  std::string got_name;
  server_side->Call(kClientEcho, MakeMsg("from server"), [&](Status st, std::string_view body) {
    Hello h;
    if (st.ok() && ParseBody(body, &h)) got_name = h.client_name();
    got = true;
  });
  auto f = (*bc)->Receive();
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->type, FrameType::kRequest);
  EXPECT_EQ(f->method, kClientEcho);
  Hello h;
  ASSERT_TRUE(ParseBody(f->body, &h));
  ASSERT_TRUE((*bc)->Send(FrameType::kResponse, 0, f->call_id, h).ok());
  ASSERT_TRUE(WaitFor([&] { return got.load(); }));
  EXPECT_EQ(got_name, "from server");
}

// ---- server lifecycle ----

TEST_F(RpcTest, StopUnlinksSocketAndClosesConnections) {
  auto c = MustConnect(UnixAddr());
  ExpectEcho(c);
  std::atomic<int> closes{0};
  c->SetCloseHandler([&](const Status &) { ++closes; });
  ASSERT_TRUE(std::filesystem::exists(sock_path_));
  struct stat sb;
  ASSERT_EQ(::stat(sock_path_.c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0600u);
  std::thread stopper([&] { server_->Stop(); });
  stopper.join();
  server_->Stop();  // twice is fine
  EXPECT_FALSE(std::filesystem::exists(sock_path_));
  EXPECT_TRUE(WaitFor([&] { return closes == 1; }));
  EXPECT_FALSE(Connect(client_loop_, UnixAddr(), kToken, nullptr, 1s).ok());
  EXPECT_FALSE(Connect(client_loop_, TcpAddr(), kToken, nullptr, 1s).ok());
}

TEST_F(RpcTest, ListenUnixReplacesStaleSocket) {
  Server other(server_loop_, kToken, &dispatcher_);
  // sock_path_ is live (bound by server_); a restarted server takes it over.
  ASSERT_TRUE(other.ListenUnix(sock_path_).ok());
  auto c = MustConnect(UnixAddr());
  ExpectEcho(c);
  c->Close();
  // A regular file is not clobbered.
  std::string file = dir_ + "/plain";
  {
    FILE *f = fopen(file.c_str(), "w");
    fclose(f);
  }
  EXPECT_FALSE(other.ListenUnix(file).ok());
}

TEST_F(RpcTest, AUnixSocketPathAppearsOnlyOnceItAccepts) {
  // Services wait for each other's socket files: a client that connects the
  // moment the path exists must not be refused. A watcher keeps connecting
  // while servers start, many times over, to land in any gap between the
  // path appearing and the server listening.
  for (int round = 0; round < 200; ++round) {
    std::string path = dir_ + "/r" + std::to_string(round) + ".sock";
    std::atomic<bool> go{false}, give_up{false};
    int connect_errno = -1;
    std::thread watcher([&] {
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
      go = true;
      // ENOENT until the path exists; from then on it must accept.
      do {
        int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        connect_errno = ::connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) == 0 ? 0 : errno;
        ::close(fd);
      } while (connect_errno == ENOENT && !give_up);
    });
    while (!go) {
    }
    Server s(server_loop_, kToken, &dispatcher_);
    Status listening = s.ListenUnix(path);
    give_up = !listening.ok();
    watcher.join();
    ASSERT_TRUE(listening.ok()) << listening.ToString();
    ASSERT_EQ(connect_errno, 0) << "round " << round << ": " << std::strerror(connect_errno);
    struct stat sb;
    ASSERT_EQ(::stat(path.c_str(), &sb), 0);
    EXPECT_EQ(sb.st_mode & 0777, 0600u);
    EXPECT_FALSE(std::filesystem::exists(path + ".new"));
  }
}

TEST_F(RpcTest, PipelinedConnectSendsCallsBehindTheHello) {
  // Calls and one-way messages made before the hello is answered reach the
  // server after it, in order.
  auto c = ConnectPipelined(client_loop_, UnixAddr(), kToken, nullptr);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  for (int i = 0; i < 3; ++i) (*c)->Notify(kRecord, MakeMsg("r", i));
  ExpectEcho(*c);
  {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_EQ(recorded_, (std::vector<int>{0, 1, 2}));
  }
  (*c)->Close();

  // From the loop thread, where Connect would refuse (it blocks).
  std::promise<StatusOr<ConnectionPtr>> made;
  client_loop_.Post([&] { made.set_value(ConnectPipelined(client_loop_, sock_path_, kToken, nullptr)); });
  auto from_loop = made.get_future().get();
  ASSERT_TRUE(from_loop.ok()) << from_loop.status().ToString();
  ExpectEcho(*from_loop);
  (*from_loop)->Close();
}

TEST_F(RpcTest, PipelinedConnectFailures) {
  // A peer that is not there fails the connect itself, at once.
  auto missing = ConnectPipelined(client_loop_, "unix:" + dir_ + "/missing.sock", kToken, nullptr);
  EXPECT_EQ(missing.status().code(), StatusCode::kIoError) << missing.status().ToString();
  EXPECT_EQ(ConnectPipelined(client_loop_, TcpAddr(), kToken, nullptr).status().code(),
            StatusCode::kInvalidArgument);
  // A wrong token: the server closes, so the call queued behind the hello
  // fails and never runs.
  auto bad = ConnectPipelined(client_loop_, UnixAddr(), "wrong-token", nullptr);
  ASSERT_TRUE(bad.ok()) << bad.status().ToString();
  (*bad)->Notify(kRecord, MakeMsg("r", 99));
  auto echoed = (*bad)->CallSync(kEcho, MakeMsg("x"), kHang);
  EXPECT_FALSE(echoed.ok());
  EXPECT_TRUE(WaitFor([&] { return !(*bad)->IsOpen(); }));
  {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_TRUE(recorded_.empty());
  }
  // And the server keeps serving others.
  ExpectEcho(MustConnect(UnixAddr()));
}

// Every log line of this binary also goes through one distributing sink, to
// which a test adds a sink of its own while other threads log: spdlog's
// logger has no lock around its list of sinks, dist_sink_mt has one. It is
// put in place before main, so before any test's thread exists.
spdlog::sinks::dist_sink_mt &TestSinks() {
  static auto *dist = [] {
    auto d = std::make_shared<spdlog::sinks::dist_sink_mt>();
    spdlog::default_logger()->sinks().push_back(d);
    return d.get();
  }();
  return *dist;
}
[[maybe_unused]] const bool kTestSinksInstalled = (TestSinks(), true);

// Counts log messages that contain a string, from any thread.
class CountingSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit CountingSink(std::string needle) : needle_(std::move(needle)) {}
  int count() const { return count_.load(); }

 protected:
  void sink_it_(const spdlog::details::log_msg &msg) override {
    if (std::string_view(msg.payload.data(), msg.payload.size()).find(needle_) != std::string_view::npos)
      count_++;
  }
  void flush_() override {}

 private:
  const std::string needle_;
  std::atomic<int> count_{0};
};

// Out of descriptors, a server reports it once, naming the limit, and backs
// off instead of retrying the accept in a tight loop; the connection that
// waited is accepted once descriptors are free again.
TEST_F(RpcTest, AcceptOutOfDescriptorsIsReportedOnceThenRecovers) {
  auto sink = std::make_shared<CountingSink>("Too many open files");
  TestSinks().add_sink(sink);
  // The client's socket is made first: connecting it needs no descriptor.
  int client = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(client, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, sock_path_.c_str(), sizeof(addr.sun_path) - 1);
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  // A low soft limit, filled up with copies of one descriptor.
  int highest = 0;
  for (auto &e : std::filesystem::directory_iterator("/proc/self/fd"))
    highest = std::max(highest, std::atoi(e.path().filename().c_str()));
  rlimit low = saved;
  low.rlim_cur = static_cast<rlim_t>(highest + 32);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> filler;
  for (int fd; (fd = dup(STDERR_FILENO)) >= 0;) filler.push_back(fd);
  const int dup_errno = errno;
  const int connected = connect(client, reinterpret_cast<sockaddr *>(&addr), sizeof(addr));
  bool reported = connected == 0 && WaitFor([&] { return sink->count() > 0; }, 30s);
  for (int fd : filler) close(fd);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_EQ(dup_errno, EMFILE);
  ASSERT_EQ(connected, 0) << std::strerror(errno);
  ASSERT_TRUE(reported);
  // Descriptors free again: the listener accepts (the waiting connection, then this one).
  ExpectEcho(MustConnect(UnixAddr()));
  close(client);
  TestSinks().remove_sink(sink);
  EXPECT_EQ(sink->count(), 1);
}

TEST_F(RpcTest, CallSyncOnLoopThreadIsRefused) {
  auto c = MustConnect(UnixAddr());
  std::promise<StatusCode> code;
  client_loop_.Post([&] { code.set_value(c->CallSync(kEcho, MakeMsg("x"), 1s).status().code()); });
  EXPECT_EQ(code.get_future().get(), StatusCode::kInternal);
  c->Close();
}

TEST_F(RpcTest, LargeMessage) {
  auto c = MustConnect(UnixAddr());
  std::string big(20 << 20, 'z');
  for (size_t i = 0; i < big.size(); i += 4097) big[i] = static_cast<char>(i);
  std::promise<std::string> p;
  c->CallRaw(kEcho, big,
             [&](Status st, std::string_view body) { p.set_value(st.ok() ? std::string(body) : ""); });
  EXPECT_TRUE(p.get_future().get() == big);
  ExpectEcho(c);
  c->Close();
}

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

// Peers without the token can make the server log, but only a few short
// lines a second, never what they sent verbatim.
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
  constexpr int kPeers = 200;
  auto start = Clock::now();
  for (int i = 0; i < kPeers; ++i) refuse_one();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  auto refused_lines = [&] {
    std::vector<std::string> refused;
    for (auto &line : log.Lines())
      if (line.find("rpc: refused") != std::string::npos) refused.push_back(line);
    return refused;
  };
  const size_t during_flood = refused_lines().size();
  // At most 5 a second, in whichever seconds the flood touched.
  EXPECT_LE(during_flood, 5 * (static_cast<size_t>(seconds) + 2))
      << during_flood << " lines in " << seconds << " s";
  // Once the limit lets lines through again, the next one says how many were
  // dropped.
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

TEST_F(RpcTest, Benchmark) {
  if (!std::getenv("LUMEN_RPC_BENCH")) GTEST_SKIP() << "set LUMEN_RPC_BENCH=1";
  for (const auto &addr : {UnixAddr(), TcpAddr()}) {
    auto c = MustConnect(addr);
    Hello msg = MakeMsg("bench", 1);
    for (int i = 0; i < 1000; ++i) ASSERT_TRUE(c->CallSync(kEcho, msg).ok());
    // Round trips in blocks; report the median and best block (the machine
    // may be shared, so a single average is noisy).
    constexpr int kBlocks = 10, kPerBlock = 2000;
    std::vector<double> block_us;
    for (int b = 0; b < kBlocks; ++b) {
      auto t0 = Clock::now();
      for (int i = 0; i < kPerBlock; ++i) ASSERT_TRUE(c->CallSync(kEcho, msg).ok());
      block_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / kPerBlock);
    }
    std::sort(block_us.begin(), block_us.end());
    double us = block_us[kBlocks / 2], best_us = block_us.front();
    auto t0 = Clock::now();

    constexpr int kAsync = 100000;
    std::atomic<int> done{0}, failed{0};
    std::mutex m;
    std::condition_variable cv;
    t0 = Clock::now();
    for (int i = 0; i < kAsync; ++i)
      c->Call(kEcho, msg, [&](Status st, std::string_view) {
        if (!st.ok()) ++failed;
        if (++done == kAsync) {
          std::lock_guard<std::mutex> lock(m);
          cv.notify_all();
        }
      });
    {
      std::unique_lock<std::mutex> lock(m);
      ASSERT_TRUE(cv.wait_for(lock, 60s, [&] { return done == kAsync; }));
    }
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    EXPECT_EQ(failed.load(), 0);

    constexpr int kNotify = 200000;
    {
      std::lock_guard<std::mutex> lock(mu_);
      recorded_.clear();
      recorded_.reserve(kNotify);
    }
    t0 = Clock::now();
    for (int i = 0; i < kNotify; ++i) c->Notify(kRecord, msg);
    ASSERT_TRUE(WaitFor(
        [&] {
          std::lock_guard<std::mutex> lock(mu_);
          return recorded_.size() == static_cast<size_t>(kNotify);
        },
        60s));
    double nsecs = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf(
        "[bench %s] sync round trip median %.1f us (best block %.1f us); pipelined %.0f calls/s; "
        "notify %.0f msgs/s\n",
        addr.substr(0, 4).c_str(), us, best_us, kAsync / secs, kNotify / nsecs);
    c->Close();
  }
}

}  // namespace
}  // namespace lumen::rpc
