// GlooGroup with its members as threads of this process, meeting on Gloo's
// in-memory store: every operation against a serial reference for each data
// type, reduce op, size and group size 1..4; a member that goes away and one
// that never comes make the others throw, never hang.
#include "gloo_group.h"

#include <gloo/rendezvous/hash_store.h>
#include <gtest/gtest.h>
#include <ray/api/ray_exception.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <latch>
#include <memory>
#include <thread>
#include <vector>

namespace lumen::collective {
namespace {

using ray::internal::RayException;

constexpr std::chrono::milliseconds kHang{60000};  // only a real hang reaches it

GlooGroup::Options Member(int world, int rank, std::chrono::milliseconds timeout = kHang) {
  GlooGroup::Options o;
  o.world_size = world;
  o.rank = rank;
  o.name = "test";
  o.timeout = timeout;
  o.rendezvous_timeout = kHang;
  return o;
}

// Runs body(group) on `world` threads, one member each; rethrows the first
// failure (as a test failure) after every thread has finished.
void RunGroup(int world, const std::function<void(GlooGroup &)> &body,
              std::chrono::milliseconds timeout = kHang) {
  gloo::rendezvous::HashStore store;
  std::vector<std::thread> threads;
  std::vector<std::string> errors(world);
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      try {
        auto group = GlooGroup::Connect(Member(world, r, timeout), store);
        body(*group);
      } catch (const std::exception &e) {
        errors[r] = e.what();
      }
    });
  }
  for (auto &t : threads) t.join();
  for (int r = 0; r < world; ++r) EXPECT_EQ(errors[r], "") << "rank " << r;
}

// Small integer values (exact in every type, so float sums in any order are
// exact too, and products of four stay inside int8).
template <typename T>
T Value(int rank, size_t i) {
  return static_cast<T>((i * 7 + static_cast<size_t>(rank) * 3) % 3 + 1);
}

template <typename T>
std::vector<T> Input(int rank, size_t count) {
  std::vector<T> v(count);
  for (size_t i = 0; i < count; ++i) v[i] = Value<T>(rank, i);
  return v;
}

template <typename T>
std::vector<T> Reference(int world, size_t count, ReduceOp op) {
  std::vector<T> out = Input<T>(0, count);
  for (int r = 1; r < world; ++r) {
    auto in = Input<T>(r, count);
    for (size_t i = 0; i < count; ++i) {
      switch (op) {
        case ReduceOp::kSum:
        case ReduceOp::kMean:
          out[i] = static_cast<T>(out[i] + in[i]);
          break;
        case ReduceOp::kProduct:
          out[i] = static_cast<T>(out[i] * in[i]);
          break;
        case ReduceOp::kMin:
          out[i] = std::min(out[i], in[i]);
          break;
        case ReduceOp::kMax:
          out[i] = std::max(out[i], in[i]);
          break;
      }
    }
  }
  if (op == ReduceOp::kMean)
    for (auto &x : out) x = static_cast<T>(x / static_cast<T>(world));
  return out;
}

template <typename T>
void CheckAllReduce(int world, size_t count, ReduceOp op) {
  SCOPED_TRACE(std::string(Name(ray::collective::internal::DataTypeOf<T>())) + " " + Name(op) +
               " n=" + std::to_string(world) + " count=" + std::to_string(count));
  const auto want = Reference<T>(world, count, op);
  RunGroup(world, [&](GlooGroup &g) {
    auto data = Input<T>(g.rank(), count);
    g.AllReduce(data.data(), count, ray::collective::internal::DataTypeOf<T>(), op);
    EXPECT_TRUE(data == want) << "rank " << g.rank();
  });
}

template <typename T>
void AllOpsAllSizes() {
  for (int world = 1; world <= 4; ++world)
    for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kProduct, ReduceOp::kMin, ReduceOp::kMax, ReduceOp::kMean})
      // One element, an odd count that splits unevenly over the ranks, and
      // more than Gloo's 1 MiB segment.
      for (size_t count : {size_t{1}, size_t{1001}, (size_t{3} << 20) / sizeof(T) + 3})
        CheckAllReduce<T>(world, count, op);
}

TEST(GlooGroupTest, AllReduceMatchesTheSerialReferenceForEveryTypeOpAndSize) {
  AllOpsAllSizes<int8_t>();
  AllOpsAllSizes<uint8_t>();
  AllOpsAllSizes<int32_t>();
  AllOpsAllSizes<uint32_t>();
  AllOpsAllSizes<int64_t>();
  AllOpsAllSizes<uint64_t>();
  AllOpsAllSizes<float>();
  AllOpsAllSizes<double>();
}

TEST(GlooGroupTest, AllReduceAndBroadcastOf256MiB) {
  const size_t count = (size_t{256} << 20) / sizeof(float);
  for (int world : {2, 4}) {
    SCOPED_TRACE(world);
    RunGroup(world, [&](GlooGroup &g) {
      std::vector<float> data(count, static_cast<float>(g.rank() + 1));
      data[count - 1] = static_cast<float>(g.rank());
      g.AllReduce(data.data(), count, DataType::kFloat32, ReduceOp::kSum);
      const float sum = static_cast<float>(world * (world + 1) / 2);
      EXPECT_EQ(data[0], sum);
      EXPECT_EQ(data[count / 2], sum);
      EXPECT_EQ(data[count - 1], static_cast<float>(world * (world - 1) / 2));
      std::vector<float> b(count, g.rank() == world - 1 ? 7.0f : 0.0f);
      g.Broadcast(b.data(), count, DataType::kFloat32, world - 1);
      EXPECT_EQ(b[0], 7.0f);
      EXPECT_EQ(b[count - 1], 7.0f);
    });
  }
}

TEST(GlooGroupTest, BroadcastFromEveryRoot) {
  for (int world = 1; world <= 4; ++world)
    for (int root = 0; root < world; ++root)
      RunGroup(world, [&](GlooGroup &g) {
        std::vector<int64_t> data(777, g.rank() == root ? 100 + root : -1);
        g.Broadcast(data.data(), data.size(), DataType::kInt64, root);
        EXPECT_EQ(data, std::vector<int64_t>(777, 100 + root)) << "n=" << world << " root=" << root;
      });
}

TEST(GlooGroupTest, AllGatherPutsEveryMembersBlockInRankOrder) {
  for (int world = 1; world <= 4; ++world)
    for (size_t count : {size_t{1}, size_t{4099}}) {
      RunGroup(world, [&](GlooGroup &g) {
        auto in = Input<double>(g.rank(), count);
        std::vector<double> out(count * world, -1);
        g.AllGather(in.data(), count, DataType::kFloat64, out.data());
        for (int r = 0; r < world; ++r)
          EXPECT_TRUE(std::equal(out.begin() + r * count, out.begin() + (r + 1) * count,
                                 Input<double>(r, count).begin()))
              << "n=" << world << " block " << r;
      });
    }
}

TEST(GlooGroupTest, ReduceScatterLeavesEachMemberItsBlockOfTheReduction) {
  for (int world = 1; world <= 4; ++world)
    for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kMax, ReduceOp::kMean}) {
      const size_t count = 513;
      const auto want = Reference<int32_t>(world, count * world, op);
      RunGroup(world, [&](GlooGroup &g) {
        auto in = Input<int32_t>(g.rank(), count * world);
        std::vector<int32_t> out(count, -1);
        g.ReduceScatter(in.data(), count, DataType::kInt32, out.data(), op);
        EXPECT_TRUE(std::equal(out.begin(), out.end(), want.begin() + g.rank() * count)) << "n=" << world;
      });
    }
}

TEST(GlooGroupTest, ReduceGivesTheRootTheResultAndLeavesTheOthersAlone) {
  for (int world = 1; world <= 4; ++world) {
    const size_t count = 2049;
    const auto want = Reference<float>(world, count, ReduceOp::kSum);
    const int root = world - 1;
    RunGroup(world, [&](GlooGroup &g) {
      auto data = Input<float>(g.rank(), count);
      g.Reduce(data.data(), count, DataType::kFloat32, root, ReduceOp::kSum);
      EXPECT_TRUE(data == (g.rank() == root ? want : Input<float>(g.rank(), count))) << "rank " << g.rank();
    });
  }
}

TEST(GlooGroupTest, SendAndRecvPairUpInOrder) {
  RunGroup(3, [&](GlooGroup &g) {
    if (g.rank() == 0) {
      for (int m = 0; m < 3; ++m) {
        std::vector<uint64_t> msg(1000 + m, static_cast<uint64_t>(m));
        g.Send(msg.data(), msg.size(), DataType::kUint64, 2);
      }
    } else if (g.rank() == 2) {
      for (int m = 0; m < 3; ++m) {
        std::vector<uint64_t> msg(1000 + m, 99);
        g.Recv(msg.data(), msg.size(), DataType::kUint64, 0);
        EXPECT_EQ(msg, std::vector<uint64_t>(1000 + m, static_cast<uint64_t>(m)));
      }
    }
    g.Barrier();
  });
}

TEST(GlooGroupTest, BadArgumentsAreRefusedClearly) {
  gloo::rendezvous::HashStore store;
  EXPECT_THROW(GlooGroup::Connect(Member(0, 0), store), RayException);
  EXPECT_THROW(GlooGroup::Connect(Member(2, 2), store), RayException);
  EXPECT_THROW(GlooGroup::Connect(Member(2, -1), store), RayException);
  auto solo = GlooGroup::Connect(Member(1, 0), store);
  std::vector<float> data(4);
  EXPECT_THROW(solo->Broadcast(data.data(), 4, DataType::kFloat32, 1), RayException);
  EXPECT_THROW(solo->Send(data.data(), 4, DataType::kFloat32, 0), RayException);
  EXPECT_THROW(solo->Reduce(data.data(), 4, DataType::kFloat32, -1, ReduceOp::kSum), RayException);
}

// A member that leaves (its connections close) while the other is in an
// operation: it throws, naming the group and the operation, and the group is
// broken from then on. Two members: with three, Gloo's own failure path
// races (TSan): the failed operation's receive buffer is destroyed while the
// pair with the member still there may be completing a receive into it.
TEST(GlooGroupTest, AMemberThatGoesAwayMakesTheOtherThrowAndBreaksTheGroup) {
  gloo::rendezvous::HashStore store;
  std::string first, second;
  // Both have finished connecting before one leaves: a member whose own
  // connect is done may still be the peer the other is handshaking with, and
  // leaving then fails that other's Connect, not its operation.
  std::latch connected(2);
  std::thread leaver([&] {
    auto group = GlooGroup::Connect(Member(2, 1), store);
    connected.arrive_and_wait();
  });  // gone: its group (and sockets) destroyed here
  auto group = GlooGroup::Connect(Member(2, 0), store);
  connected.arrive_and_wait();
  std::vector<float> data(1 << 16, 1.0f);
  try {
    group->AllReduce(data.data(), data.size(), DataType::kFloat32, ReduceOp::kSum);
  } catch (const RayException &e) {
    first = e.what();
  }
  try {
    group->Barrier();
  } catch (const RayException &e) {
    second = e.what();
  }
  leaver.join();
  EXPECT_NE(first.find("collective AllReduce in group 'test'"), std::string::npos) << first;
  EXPECT_NE(second.find("broken"), std::string::npos) << second;
}

// A member that never calls: the others give up at the operation's timeout.
TEST(GlooGroupTest, AMemberThatNeverCallsMakesTheOthersTimeOut) {
  gloo::rendezvous::HashStore store;
  std::string error;
  std::atomic<bool> given_up{false};
  std::thread silent([&] {
    auto group = GlooGroup::Connect(Member(2, 1, std::chrono::milliseconds(200)), store);
    // Stays a member (connections open) until the other has given up.
    while (!given_up) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  });
  {
    auto group = GlooGroup::Connect(Member(2, 0, std::chrono::milliseconds(200)), store);
    int x = 1;
    try {
      group->AllReduce(&x, 1, DataType::kInt32, ReduceOp::kSum);
      error = "returned";
    } catch (const RayException &e) {
      error = e.what();
    }
    given_up = true;
  }
  silent.join();
  EXPECT_NE(error.find("failed"), std::string::npos) << error;
}

}  // namespace
}  // namespace lumen::collective
