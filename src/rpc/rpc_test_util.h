// Shared by the rpc tests (rpc_test.cc, rpc_auth_test.cc,
// rpc_keepalive_test.cc): RpcTest, a server on a Unix and a TCP socket with
// a few test methods (echo, fail, a black hole that never answers, ...) and a
// client loop, plus waiting and logging helpers. Tests wait for conditions
// with a limit only a hang reaches (kHang), never for a length of time.
//
// Threading: the server's handlers run on server_loop_, client callbacks on
// client_loop_; the state they record is atomic or guarded by mu_.
#pragma once

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

using namespace std::chrono_literals;

constexpr uint16_t kEcho = 1;
constexpr uint16_t kFail = 2;
constexpr uint16_t kBlackHole = 3;
constexpr uint16_t kRecord = 4;
constexpr uint16_t kCloseMe = 5;
constexpr uint16_t kThrow = 6;
constexpr uint16_t kClientEcho = 10;
// Replies "<" + body + ">": "<" is the head of a ReplyPinned, body + ">" its
// payload, held by a pin the fixture watches (pins_).
constexpr uint16_t kEchoPinned = 11;
constexpr uint16_t kEchoPinnedThenClose = 12;  // the same, 64 MiB of '#' after the body, then closes
constexpr uint16_t kPinnedTooLarge = 13;       // a pinned reply one byte over the frame limit

const std::string kToken = "s3cret-token";
// How long a test waits for something that must happen: only a hang reaches it.
constexpr auto kHang = 60s;

inline Hello MakeMsg(const std::string &name, int pid = 0) {
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
    dispatcher_.Register(kEchoPinned, [this](const ConnectionPtr &c, uint64_t id, std::string_view body) {
      auto payload = std::make_shared<const std::string>(std::string(body) + ">");
      WatchPin(payload);
      c->ReplyPinned(id, "<", *payload, payload);
    });
    dispatcher_.Register(
        kEchoPinnedThenClose, [this](const ConnectionPtr &c, uint64_t id, std::string_view body) {
          auto payload =
              std::make_shared<const std::string>(std::string(body) + std::string(64 << 20, '#') + ">");
          WatchPin(payload);
          c->ReplyPinned(id, "<", *payload, payload);
          c->Close();
        });
    dispatcher_.Register(kPinnedTooLarge, [this](const ConnectionPtr &c, uint64_t id, std::string_view) {
      auto payload = std::make_shared<const std::string>(kMaxFrameBody, 'x');
      WatchPin(payload);
      c->ReplyPinned(id, "<", *payload, payload);
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

  void WatchPin(const std::shared_ptr<const void> &pin) {
    std::lock_guard<std::mutex> lock(mu_);
    pins_.push_back(pin);
  }
  // Pins ReplyPinned still holds.
  size_t LivePins() {
    std::lock_guard<std::mutex> lock(mu_);
    size_t n = 0;
    for (auto &p : pins_) n += !p.expired();
    return n;
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
  std::vector<std::weak_ptr<const void>> pins_;
};

// Every log line of this binary also goes through one distributing sink, to
// which a test adds a sink of its own while other threads log: spdlog's
// logger has no lock around its list of sinks, dist_sink_mt has one. It is
// put in place before main, so before any test's thread exists.
inline spdlog::sinks::dist_sink_mt &TestSinks() {
  static auto *dist = [] {
    auto d = std::make_shared<spdlog::sinks::dist_sink_mt>();
    spdlog::default_logger()->sinks().push_back(d);
    return d.get();
  }();
  return *dist;
}
[[maybe_unused]] inline const bool kTestSinksInstalled = (TestSinks(), true);

}  // namespace lumen::rpc
