// Liveness: a peer that stops answering (hung or stopped) fails the calls
// waiting on it after rpc::PeerTimeout(), and closes a kept-alive connection
// with nothing pending; a slow peer that still answers keepalive pings does not.
#include "rpc/rpc_test_util.h"

namespace lumen::rpc {
namespace {

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
  // The peer never answers the call but answers pings. The connection pings
  // only after a check that heard nothing, and checks kKeepaliveChecks (5)
  // times per peer timeout: 8 answered pings take at least 15 checks, three
  // peer timeouts, after which the call is still waiting and the connection
  // open.
  constexpr uint64_t kPongs = 8;
  ASSERT_TRUE(WaitFor([&] { return failed.load() || c->GetKeepaliveStats().pongs_received >= kPongs; }));
  EXPECT_FALSE(failed.load()) << "the keepalive failed a call to a live peer after "
                              << c->GetKeepaliveStats().pongs_received << " answered pings";
  EXPECT_TRUE(c->IsOpen());
  ExpectEcho(c);
  c->Close();
  EXPECT_TRUE(WaitFor([&] { return failed.load(); }));
}

}  // namespace
}  // namespace lumen::rpc
