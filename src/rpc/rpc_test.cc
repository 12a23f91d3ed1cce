// The rpc layer: calls, replies, one-way messages and errors over Unix and
// TCP sockets, deadlines, closing, the blocking client, the server's
// sockets and accept loop. The handshake and hostile peers are in
// rpc_auth_test.cc, liveness (keepalive) in rpc_keepalive_test.cc.
#include "rpc/rpc_test_util.h"

namespace lumen::rpc {
namespace {

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

// A pinned reply reaches the caller whole, and its pin goes once the bytes
// have left, over both socket types; large ones (9 MiB) leave in several
// writes from where they lie.
TEST_F(RpcTest, APinnedReplyArrivesWholeAndItsPinGoesOnceSent) {
  for (const std::string &addr : {UnixAddr(), TcpAddr()}) {
    auto c = MustConnect(addr);
    for (const std::string &body : {std::string(), std::string("abc"), std::string(9 << 20, 'z')}) {
      std::promise<std::pair<Status, std::string>> got;
      c->CallRaw(kEchoPinned, body, [&](Status st, std::string_view reply) {
        got.set_value({st, std::string(reply)});
      });
      auto [st, reply] = got.get_future().get();
      ASSERT_TRUE(st.ok()) << st.ToString();
      EXPECT_EQ(reply, "<" + body + ">");
      EXPECT_TRUE(WaitFor([&] { return LivePins() == 0; }));
    }
    c->Close();
  }
}

// A reply for CallInto: the caller gets the prefix, the rest is in its sink.
// Sizes cover a reply buffered whole (copied once), one read into the sink as
// it arrives, and one whose prefix spans several reads; several calls in
// flight at once each land in their own sink, between ordinary calls.
TEST_F(RpcTest, ACallIntoASinkGetsTheRestOfItsReplyInPlace) {
  for (const std::string &addr : {UnixAddr(), TcpAddr()}) {
    auto c = MustConnect(addr);
    struct Case {
      size_t name_len;
      size_t prefix;
    };
    const std::vector<Case> cases = {{3, 1}, {9 << 20, 1}, {300 << 10, 100 << 10}, {5 << 20, 4096}};
    std::vector<std::string> expect(cases.size());
    std::vector<std::string> sinks(cases.size());
    std::vector<std::promise<std::pair<Status, std::string>>> got(cases.size());
    for (size_t i = 0; i < cases.size(); i++) {
      Hello req = MakeMsg(std::string(cases[i].name_len, static_cast<char>('a' + i)), static_cast<int>(i));
      expect[i] = "<" + req.SerializeAsString() + ">";
      sinks[i].assign(expect[i].size() - cases[i].prefix, '\0');
      ReplySink sink{cases[i].prefix, sinks[i].data(), sinks[i].size()};
      c->CallInto(kEchoPinned, req, sink, [&got, i](Status st, std::string_view prefix) {
        got[i].set_value({st, std::string(prefix)});
      });
      ExpectEcho(c);
    }
    for (size_t i = 0; i < cases.size(); i++) {
      auto [st, prefix] = got[i].get_future().get();
      ASSERT_TRUE(st.ok()) << st.ToString();
      EXPECT_EQ(prefix, expect[i].substr(0, cases[i].prefix));
      EXPECT_TRUE(sinks[i] == expect[i].substr(cases[i].prefix)) << "case " << i;
    }
    ExpectEcho(c);
    c->Close();
  }
}

// A reply of another length than the sink expects fails the call, small or
// large; an error reply is the error; the connection stays usable.
TEST_F(RpcTest, ACallIntoASinkFailsOnAReplyOfAnotherLengthOrAnError) {
  auto c = MustConnect(UnixAddr());
  for (size_t name_len : {size_t{3}, size_t{1} << 20}) {
    Hello req = MakeMsg(std::string(name_len, 'q'));
    std::string sink(req.ByteSizeLong() + 5, '\0');
    std::promise<Status> got;
    c->CallInto(kEchoPinned, req, ReplySink{1, sink.data(), sink.size()},
                [&](Status st, std::string_view) { got.set_value(st); });
    Status st = got.get_future().get();
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
    ExpectEcho(c);
  }
  // A sink with no memory to read into is refused before anything is sent.
  std::promise<Status> refused;
  c->CallInto(kEchoPinned, MakeMsg("x"), ReplySink{1, nullptr, 10},
              [&](Status st, std::string_view) { refused.set_value(st); });
  EXPECT_EQ(refused.get_future().get().code(), StatusCode::kInvalidArgument);
  std::string sink(100, '\0');
  std::promise<Status> failed;
  c->CallInto(kFail, MakeMsg("x"), ReplySink{0, sink.data(), sink.size()},
              [&](Status st, std::string_view) { failed.set_value(st); });
  Status st = failed.get_future().get();
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_EQ(st.message(), "nope, not here");
  ExpectEcho(c);
  c->Close();
}

// A pinned reply over the frame limit is not sent: the caller gets
// InvalidArgument, and the pin goes at once.
TEST_F(RpcTest, APinnedReplyOverTheFrameLimitIsAnErrorReply) {
  auto c = MustConnect(UnixAddr());
  auto r = c->CallSync(kPinnedTooLarge, MakeMsg("big"), kHang);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
  EXPECT_NE(r.status().message().find("exceeds the frame limit"), std::string::npos) << r.status().message();
  EXPECT_TRUE(WaitFor([&] { return LivePins() == 0; }));
  ExpectEcho(c);
  c->Close();
}

// The peer closes while its reply is still being read into the sink: the
// call fails once, with Disconnected, and the server's pin is released
// with the bytes it never sent.
TEST_F(RpcTest, ACallIntoASinkFailsWhenThePeerClosesMidReply) {
  auto c = MustConnect(UnixAddr());
  Hello req = MakeMsg("cut");
  std::string sink(req.ByteSizeLong() + (64 << 20) + 1, '\0');
  std::promise<Status> got;
  c->CallInto(kEchoPinnedThenClose, req, ReplySink{1, sink.data(), sink.size()},
              [&](Status st, std::string_view) { got.set_value(st); });
  Status st = got.get_future().get();
  EXPECT_EQ(st.code(), StatusCode::kDisconnected) << st.ToString();
  EXPECT_TRUE(WaitFor([&] { return LivePins() == 0; }));
  EXPECT_TRUE(WaitFor([&] { return !c->IsOpen(); }));
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

TEST_F(RpcTest, ConnectFailures) {
  auto r = Connect(client_loop_, "unix:" + dir_ + "/missing.sock", kToken, nullptr, 2s);
  EXPECT_FALSE(r.ok());
  auto r2 = Connect(client_loop_, "bogus:thing", kToken, nullptr, 2s);
  EXPECT_EQ(r2.status().code(), StatusCode::kInvalidArgument);
  auto r3 = Connect(client_loop_, "tcp:127.0.0.1:notaport", kToken, nullptr, 2s);
  EXPECT_EQ(r3.status().code(), StatusCode::kInvalidArgument);
}

// ---- garbage ----

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

// A peer's close shows at once, behind data not read yet too: before the
// loop has read up to the end of file, which is when the close handler runs.
TEST_F(RpcTest, PeerHasClosedShowsBeforeTheEndOfFileIsRead) {
  for (const auto &addr : {UnixAddr(), TcpAddr()}) {
    ConnectionPtr server_side;
    std::mutex m;
    server_->SetConnectHandler([&](const ConnectionPtr &c) {
      std::lock_guard<std::mutex> lock(m);
      server_side = c;
    });
    auto bc = BlockingConnection::Connect(addr, kToken);
    ASSERT_TRUE(bc.ok());
    ASSERT_TRUE(WaitFor([&] {
      std::lock_guard<std::mutex> lock(m);
      return server_side != nullptr;
    }));
    std::atomic<int> closes{0};
    server_side->SetCloseHandler([&](const Status &) { ++closes; });
    std::promise<bool> while_open;
    server_loop_.Post([&] { while_open.set_value(server_side->PeerHasClosed()); });
    EXPECT_FALSE(while_open.get_future().get()) << addr;

    // The loop is held while the peer sends its last message and leaves.
    std::promise<void> left;
    std::promise<std::pair<bool, int>> seen;
    server_loop_.Post([&] {
      left.get_future().wait();
      bool closed = WaitFor([&] { return server_side->PeerHasClosed(); });
      seen.set_value({closed, closes.load()});
    });
    ASSERT_TRUE((*bc)->Send(FrameType::kOneway, kRecord, 0, MakeMsg("last", 42)).ok());
    bc->reset();
    left.set_value();
    auto [closed, closes_then] = seen.get_future().get();
    EXPECT_TRUE(closed) << addr;
    EXPECT_EQ(closes_then, 0) << addr;  // the end of file was not read yet
    // Then the loop reads the message and the end of file.
    EXPECT_TRUE(WaitFor([&] { return closes == 1; })) << addr;
    std::lock_guard<std::mutex> lock(mu_);
    ASSERT_FALSE(recorded_.empty());
    EXPECT_EQ(recorded_.back(), 42);
    recorded_.clear();
  }
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

// Across nodes: the same over TCP (a numeric address), also from the loop
// thread; a TCP peer that is not there closes the connection and fails what
// was queued on it.
TEST_F(RpcTest, PipelinedTcpConnect) {
  auto c = ConnectPipelined(client_loop_, TcpAddr(), kToken, nullptr);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ((*c)->PeerName(), TcpAddr());
  for (int i = 0; i < 3; ++i) (*c)->Notify(kRecord, MakeMsg("r", i));
  ExpectEcho(*c);
  {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_EQ(recorded_, (std::vector<int>{0, 1, 2}));
  }
  (*c)->Close();
  std::promise<StatusOr<ConnectionPtr>> made;
  client_loop_.Post([&] { made.set_value(ConnectPipelined(client_loop_, TcpAddr(), kToken, nullptr)); });
  auto from_loop = made.get_future().get();
  ASSERT_TRUE(from_loop.ok()) << from_loop.status().ToString();
  ExpectEcho(*from_loop);
  (*from_loop)->Close();

  // A port nobody listens on (bound, never listening, so no one else takes it).
  boost::asio::ip::tcp::socket unused(client_loop_.io());
  unused.open(boost::asio::ip::tcp::v4());
  unused.bind({boost::asio::ip::make_address("127.0.0.1"), 0});
  const std::string nobody = "tcp:127.0.0.1:" + std::to_string(unused.local_endpoint().port());
  auto gone = ConnectPipelined(client_loop_, nobody, kToken, nullptr);
  ASSERT_TRUE(gone.ok()) << gone.status().ToString();
  EXPECT_FALSE((*gone)->CallSync(kEcho, MakeMsg("x"), kHang).ok());
  EXPECT_TRUE(WaitFor([&] { return !(*gone)->IsOpen(); }));
}

TEST_F(RpcTest, PipelinedConnectFailures) {
  // A peer that is not there fails the connect itself, at once.
  auto missing = ConnectPipelined(client_loop_, "unix:" + dir_ + "/missing.sock", kToken, nullptr);
  EXPECT_EQ(missing.status().code(), StatusCode::kIoError) << missing.status().ToString();
  // TCP only by a numeric address: a name would need a blocking resolver.
  EXPECT_EQ(ConnectPipelined(client_loop_, "tcp:localhost:1", kToken, nullptr).status().code(),
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
