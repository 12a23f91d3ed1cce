// EventLoop::Lead: a waiting thread runs the loop's handlers itself, and the
// loop thread takes the loop back whenever nobody serves it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <string>
#include <thread>

#include "protocol/rpc.pb.h"
#include "rpc/rpc.h"

namespace lumen::rpc {
namespace {

using namespace std::chrono_literals;

constexpr uint16_t kWhere = 1;     // records which thread ran the handler
constexpr uint16_t kEcho = 2;      // replies with its body
constexpr uint16_t kThrows = 3;    // throws
constexpr uint16_t kCount = 4;     // counts, and checks no other handler runs meanwhile
constexpr uint16_t kHeldEcho = 5;  // (peer side) replies when the test says so
const std::string kToken = "lend-token";

class EventLoopLendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lumen-lend-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    dispatcher_.Register(kWhere, [this](const ConnectionPtr &, uint64_t, std::string_view) {
      std::lock_guard<std::mutex> lock(mu_);
      ran_on_.push_back(std::this_thread::get_id());
      in_loop_thread_.push_back(loop_.InLoopThread());
    });
    dispatcher_.Register(kEcho, [](const ConnectionPtr &c, uint64_t id, std::string_view body) {
      c->ReplyRaw(id, std::string(body));
    });
    dispatcher_.Register(kThrows, [](const ConnectionPtr &, uint64_t, std::string_view) {
      throw std::runtime_error("thrown by a handler on the leader");
    });
    dispatcher_.Register(kCount, [this](const ConnectionPtr &, uint64_t, std::string_view) {
      if (inside_.fetch_add(1) != 0) overlaps_++;
      std::this_thread::yield();
      inside_.fetch_sub(1);
      handled_++;
    });
    peer_dispatcher_.Register(kHeldEcho, [this](const ConnectionPtr &c, uint64_t id, std::string_view) {
      held_.set_value({c, id});
    });
    peer_server_ = std::make_unique<Server>(peer_loop_, kToken, &peer_dispatcher_);
    ASSERT_TRUE(peer_server_->ListenUnix(dir_ + "/peer.sock").ok());
    server_ = std::make_unique<Server>(loop_, kToken, &dispatcher_);
    ASSERT_TRUE(server_->ListenUnix(dir_ + "/s.sock").ok());
    auto c = Connect(peer_loop_, "unix:" + dir_ + "/s.sock", kToken, nullptr);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    peer_ = *c;
    // Connect returns once the server has proved the token; the tests start
    // from an idle loop, so wait for it to have checked the client's proof.
    ASSERT_TRUE(Eventually([&] { return server_->NumConnections() == 1; }));
  }
  void TearDown() override {
    peer_->Close();
    server_.reset();
    peer_server_.reset();
    std::filesystem::remove_all(dir_);
  }

  size_t Ran() {
    std::lock_guard<std::mutex> lock(mu_);
    return ran_on_.size();
  }
  std::thread::id RanOn(size_t i) {
    std::lock_guard<std::mutex> lock(mu_);
    return ran_on_.at(i);
  }
  // The loop thread's id, learnt by running something on it.
  std::thread::id LoopThreadId() {
    std::promise<std::thread::id> id;
    loop_.Post([&] { id.set_value(std::this_thread::get_id()); });
    return id.get_future().get();
  }
  // A Lead() predicate that first runs `start` once the calling thread holds
  // the loop. Messages sent from `start` can then only be handled by the
  // leader: sent any earlier, the loop thread may handle them before it
  // stands by, which is correct behaviour but not what these tests check.
  std::function<bool()> OnceLeading(std::function<void()> start, std::function<bool()> done) {
    return [this, started = false, start = std::move(start), done = std::move(done)]() mutable {
      if (!started && loop_.InLoopThread()) {
        started = true;
        start();
      }
      return done();
    };
  }
  static bool Eventually(const std::function<bool()> &pred) {
    for (auto end = std::chrono::steady_clock::now() + 60s; std::chrono::steady_clock::now() < end;) {
      if (pred()) return true;
      std::this_thread::sleep_for(100us);
    }
    return pred();
  }

  std::string dir_;
  EventLoop loop_{"lend-loop"};
  EventLoop peer_loop_{"peer-loop"};
  Dispatcher dispatcher_;
  Dispatcher peer_dispatcher_;
  std::unique_ptr<Server> server_, peer_server_;
  ConnectionPtr peer_;
  std::atomic<int> inside_{0}, overlaps_{0}, handled_{0};
  std::mutex mu_;
  std::vector<std::thread::id> ran_on_;
  std::vector<bool> in_loop_thread_;
  std::promise<std::pair<ConnectionPtr, uint64_t>> held_;  // a kHeldEcho call, unanswered
};

TEST_F(EventLoopLendTest, LeaderRunsTheHandlersOfIncomingMessages) {
  const auto loop_thread = LoopThreadId();
  EXPECT_TRUE(loop_.Lead(OnceLeading(
      [&] {
        for (int i = 0; i < 3; ++i) peer_->Notify(kWhere, Hello());
      },
      [&] { return Ran() == 3; })));
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(RanOn(i), std::this_thread::get_id()) << i;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (bool in_loop : in_loop_thread_) EXPECT_TRUE(in_loop);  // handlers see themselves on the loop
  }
  EXPECT_FALSE(loop_.InLoopThread());  // but not once Lead has returned
  // Left alone, the loop is taken back by its own thread.
  peer_->Notify(kWhere, Hello());
  ASSERT_TRUE(Eventually([&] { return Ran() == 4; }));
  EXPECT_EQ(RanOn(3), loop_thread);
}

TEST_F(EventLoopLendTest, PostAfterLeadingWakesTheLoopThread) {
  ASSERT_TRUE(loop_.Lead([] { return true; }));  // takes the loop and leaves it unattended
  const auto loop_thread = LoopThreadId();       // a Post: the loop thread runs it
  EXPECT_NE(loop_thread, std::this_thread::get_id());
  // And it keeps serving the sockets afterwards.
  auto echoed = peer_->CallSync(kEcho, Hello(), 5s);
  EXPECT_TRUE(echoed.ok()) << echoed.status().ToString();
}

TEST_F(EventLoopLendTest, AnUnattendedLoopIsTakenBackWhateverTheTimerSawBefore) {
  // The limit's timer is armed lazily: it may have been armed by an earlier
  // leader, fired while the loop was led or served, or be left over from
  // before the loop thread was called back. Each time, a loop left alone is
  // still taken back.
  const auto loop_thread = LoopThreadId();
  const auto limit = EventLoop::kUnattendedLimit;
  // Leaders come and go for several limits: the timer fires while the loop
  // is led, and while it is unattended for less than the limit.
  for (auto end = std::chrono::steady_clock::now() + 5 * limit; std::chrono::steady_clock::now() < end;)
    ASSERT_TRUE(loop_.Lead([] { return true; }));
  peer_->Notify(kWhere, Hello());
  ASSERT_TRUE(Eventually([&] { return Ran() == 1; }));
  EXPECT_EQ(RanOn(0), loop_thread);
  // Left, then called back before the limit: the timer fires later, unseen.
  ASSERT_TRUE(loop_.Lead([] { return true; }));
  EXPECT_EQ(LoopThreadId(), loop_thread);
  std::this_thread::sleep_for(3 * limit);
  ASSERT_TRUE(loop_.Lead([] { return true; }));
  peer_->Notify(kWhere, Hello());
  ASSERT_TRUE(Eventually([&] { return Ran() == 2; }));
  EXPECT_EQ(RanOn(1), loop_thread);
}

TEST_F(EventLoopLendTest, SpinningLeaderGetsTheMessage) {
  // Sent from another thread while the leader polls.
  std::promise<void> leading;
  std::thread sender([&] {
    leading.get_future().wait();
    peer_->Notify(kWhere, Hello());
  });
  EXPECT_TRUE(loop_.Lead(OnceLeading([&] { leading.set_value(); }, [&] { return Ran() == 1; }),
                         std::chrono::steady_clock::time_point::max(), 200ms));
  sender.join();
  EXPECT_EQ(RanOn(0), std::this_thread::get_id());
}

TEST_F(EventLoopLendTest, DeadlineEndsLeading) {
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(loop_.Lead([] { return false; }, start + 30ms));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 30ms);
  // A spin longer than the deadline stops at the deadline too: only a spin
  // that ignored it reaches the bound.
  constexpr auto kSpin = 120s;
  start = std::chrono::steady_clock::now();
  EXPECT_TRUE(loop_.Lead([] { return false; }, start + 30ms, kSpin));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 30ms);
  EXPECT_LT(std::chrono::steady_clock::now() - start, kSpin);
}

TEST_F(EventLoopLendTest, OnlyOneLeaderAndNeverTheLoopThread) {
  std::atomic<bool> release{false};
  std::promise<void> leading;
  std::thread first(
      [&] { loop_.Lead(OnceLeading([&] { leading.set_value(); }, [&] { return release.load(); })); });
  leading.get_future().wait();
  // While `first` leads, a second thread is refused rather than queued.
  EXPECT_FALSE(loop_.Lead([] { return true; }));
  // On the loop (the loop thread or the leader) Lead is refused: it would nest.
  std::promise<bool> nested;
  loop_.Post([&] { nested.set_value(loop_.Lead([] { return true; })); });
  EXPECT_FALSE(nested.get_future().get());
  release = true;
  loop_.Post([] {});  // wake the leader to check `release`
  first.join();
}

TEST_F(EventLoopLendTest, ThrowingHandlerDoesNotEndLeading) {
  EXPECT_TRUE(loop_.Lead(OnceLeading(
      [&] {
        peer_->Notify(kThrows, Hello());
        peer_->Notify(kWhere, Hello());
      },
      [&] { return Ran() == 1; })));
  EXPECT_EQ(RanOn(0), std::this_thread::get_id());
}

TEST_F(EventLoopLendTest, BlockedCallCompletesAfterTheLeaderLeaves) {
  // A thread blocked on the loop while another leads: its answer arrives
  // after the leader has left, and the loop thread, called back, reads it.
  std::atomic<bool> release{false};
  std::promise<void> leading;
  std::thread leader(
      [&] { loop_.Lead(OnceLeading([&] { leading.set_value(); }, [&] { return release.load(); })); });
  leading.get_future().wait();
  auto conn = Connect(loop_, "unix:" + dir_ + "/peer.sock", kToken, nullptr);  // served by the leader
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  std::promise<StatusOr<std::string>> answer;
  std::thread caller([&] { answer.set_value((*conn)->CallSync(kHeldEcho, Hello(), 60s)); });
  auto [held_conn, held_id] = held_.get_future().get();  // the call is out; its answer held back
  release = true;
  loop_.Post([] {});
  leader.join();
  held_conn->ReplyRaw(held_id, "late");
  auto got = answer.get_future().get();
  EXPECT_TRUE(got.ok()) << got.status().ToString();
  caller.join();
  (*conn)->Close();
}

TEST_F(EventLoopLendTest, StopWhileLeadingEndsLeadAndJoins) {
  auto loop = std::make_unique<EventLoop>("stop-loop");
  std::promise<bool> result;
  std::promise<void> leading;
  std::thread leader([&] {
    result.set_value(loop->Lead([&, started = false]() mutable {
      if (!started && loop->InLoopThread()) {
        started = true;
        leading.set_value();
      }
      return false;
    }));
  });
  leading.get_future().wait();
  loop->Stop();
  EXPECT_FALSE(result.get_future().get());
  leader.join();
  EXPECT_FALSE(loop->Lead([] { return true; }));  // a stopped loop is not lent
  loop.reset();
}

TEST_F(EventLoopLendTest, StopWhileUnattendedJoins) {
  auto loop = std::make_unique<EventLoop>("stop-loop");
  ASSERT_TRUE(loop->Lead([] { return true; }));
  loop.reset();  // the loop thread stands by: Stop must call it back to join it
}

TEST_F(EventLoopLendTest, ManyHandOversKeepHandlersOneAtATime) {
  // Leaders come and go while messages arrive; no two handlers ever overlap
  // and none is lost.
  constexpr int kMessages = 3000;
  std::thread sender([&] {
    for (int i = 0; i < kMessages; ++i) {
      peer_->Notify(kCount, Hello());
      if (i % 64 == 0) std::this_thread::sleep_for(50us);
    }
  });
  std::vector<std::thread> leaders;
  for (int t = 0; t < 2; ++t) {
    leaders.emplace_back([&, t] {
      while (handled_.load() < kMessages) {
        int target = handled_.load() + 5;
        loop_.Lead([&] { return handled_.load() >= target; }, std::chrono::steady_clock::now() + 2ms,
                   t == 0 ? 20us : 0us);
        std::this_thread::sleep_for(t == 0 ? 30us : 300us);
      }
    });
  }
  sender.join();
  for (auto &l : leaders) l.join();
  EXPECT_EQ(handled_.load(), kMessages);
  EXPECT_EQ(overlaps_.load(), 0);
}

}  // namespace
}  // namespace lumen::rpc
