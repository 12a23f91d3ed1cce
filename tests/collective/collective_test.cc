// Lumen collectives between real actor processes of a local cluster: groups
// made by every member or declared by the driver, every operation checked
// against what the driver computes, and a member killed while the others
// wait, which makes them throw instead of hanging.
#include <ray/collective.h>
#include <unistd.h>

#include <set>

#include "cluster_test_util.h"

namespace {

namespace coll = ray::collective;
constexpr int kLongMs = 60000;  // only a hang reaches it

class Member {
 public:
  static Member *Create() { return new Member(); }

  bool Join(int world, int rank, std::string group, int timeout_ms) {
    coll::GroupOptions options;
    options.timeout = std::chrono::milliseconds(timeout_ms);
    coll::InitCollectiveGroup(world, rank, options, group);
    return true;
  }
  int Rank(std::string group) { return coll::GetRank(group); }
  int Size(std::string group) { return coll::GetCollectiveGroupSize(group); }
  std::vector<double> AllReduce(std::vector<double> data, std::string group, int op) {
    coll::AllReduce(data, group, static_cast<coll::ReduceOp>(op));
    return data;
  }
  std::vector<int64_t> Broadcast(std::vector<int64_t> data, int src, std::string group) {
    coll::Broadcast(data, src, group);
    return data;
  }
  std::vector<std::vector<float>> AllGather(std::vector<float> data, std::string group) {
    return coll::AllGather(data, group);
  }
  std::vector<int32_t> ReduceScatter(std::vector<int32_t> data, std::string group) {
    std::vector<int32_t> out(data.size() / static_cast<size_t>(coll::GetCollectiveGroupSize(group)));
    coll::ReduceScatter(data.data(), out.size(), out.data(), group);
    return out;
  }
  bool Barrier(std::string group) {
    coll::Barrier(group);
    return true;
  }
  bool SendTo(std::vector<double> data, int dst, std::string group) {
    coll::Send(data, dst, group);
    return true;
  }
  std::vector<double> RecvFrom(int n, int src, std::string group) {
    std::vector<double> data(static_cast<size_t>(n));
    coll::Recv(data, src, group);
    return data;
  }
  // What an AllReduce threw ("" when it returned), and what the next call
  // then threw: a member's death must surface in the others, never hang.
  std::vector<std::string> AllReduceErrors(std::string group) {
    std::vector<std::string> errors;
    std::vector<float> data(1 << 20, 1.0f);
    for (int i = 0; i < 2; ++i) {
      try {
        coll::AllReduce(data, group);
        errors.push_back("");
      } catch (const ray::internal::RayException &e) {
        errors.push_back(e.what());
      }
    }
    return errors;
  }
  bool Leave(std::string group) {
    coll::DestroyCollectiveGroup(group);
    return !coll::IsGroupInitialized(group);
  }
  int Pid() { return static_cast<int>(getpid()); }
};
RAY_REMOTE(Member::Create, &Member::Join, &Member::Rank, &Member::Size, &Member::AllReduce,
           &Member::Broadcast, &Member::AllGather, &Member::ReduceScatter, &Member::Barrier, &Member::SendTo,
           &Member::RecvFrom, &Member::AllReduceErrors, &Member::Leave, &Member::Pid);

class CollectiveTest : public lumen::testing::ClusterTest {
 protected:
  std::vector<ray::ActorHandle<Member>> Members(int n) {
    std::vector<ray::ActorHandle<Member>> members;
    for (int i = 0; i < n; ++i) members.push_back(ray::Actor(Member::Create).Remote());
    return members;
  }
  void JoinAll(std::vector<ray::ActorHandle<Member>> &members, const std::string &group,
               int timeout_ms = kLongMs) {
    std::vector<ray::ObjectRef<bool>> joined;
    for (int r = 0; r < static_cast<int>(members.size()); ++r)
      joined.push_back(
          members[r].Task(&Member::Join).Remote(static_cast<int>(members.size()), r, group, timeout_ms));
    for (auto &j : joined) ASSERT_TRUE(*j.Get(kLongMs));
  }
};

TEST_F(CollectiveTest, MembersInSeparateProcessesRunEveryOperation) {
  StartCluster({"--num-cpus=4"});
  auto members = Members(3);
  JoinAll(members, "g");
  std::set<int> pids;
  for (auto &m : members) pids.insert(*m.Task(&Member::Pid).Remote().Get(kLongMs));
  EXPECT_EQ(pids.size(), 3u);
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(*members[r].Task(&Member::Rank).Remote("g").Get(kLongMs), r);
    EXPECT_EQ(*members[r].Task(&Member::Size).Remote("g").Get(kLongMs), 3);
  }

  // AllReduce (sum and max): every member ends with the element-wise result.
  for (int op : {static_cast<int>(coll::ReduceOp::kSum), static_cast<int>(coll::ReduceOp::kMax)}) {
    std::vector<ray::ObjectRef<std::vector<double>>> out;
    for (int r = 0; r < 3; ++r)
      out.push_back(members[r]
                        .Task(&Member::AllReduce)
                        .Remote(std::vector<double>{1.0 * r, 10.0 + r, -r * 1.0}, "g", op));
    std::vector<double> want = op == 0 ? std::vector<double>{3, 33, -3} : std::vector<double>{2, 12, 0};
    for (auto &o : out) EXPECT_EQ(*o.Get(kLongMs), want);
  }

  // Broadcast from rank 1.
  std::vector<ray::ObjectRef<std::vector<int64_t>>> bc;
  for (int r = 0; r < 3; ++r)
    bc.push_back(
        members[r].Task(&Member::Broadcast).Remote(std::vector<int64_t>(5, r == 1 ? 42 : r), 1, "g"));
  for (auto &o : bc) EXPECT_EQ(*o.Get(kLongMs), std::vector<int64_t>(5, 42));

  // AllGather: one vector per member, in rank order.
  std::vector<ray::ObjectRef<std::vector<std::vector<float>>>> ag;
  for (int r = 0; r < 3; ++r)
    ag.push_back(members[r].Task(&Member::AllGather).Remote(std::vector<float>{r * 1.0f, r * 2.0f}, "g"));
  const std::vector<std::vector<float>> gathered{{0, 0}, {1, 2}, {2, 4}};
  for (auto &o : ag) EXPECT_EQ(*o.Get(kLongMs), gathered);

  // ReduceScatter: member r keeps block r of the sum.
  std::vector<ray::ObjectRef<std::vector<int32_t>>> rs;
  for (int r = 0; r < 3; ++r)
    rs.push_back(members[r].Task(&Member::ReduceScatter).Remote(std::vector<int32_t>{1, 2, 3, 4, 5, 6}, "g"));
  const std::vector<std::vector<int32_t>> blocks{{3, 6}, {9, 12}, {15, 18}};
  for (int r = 0; r < 3; ++r) EXPECT_EQ(*rs[r].Get(kLongMs), blocks[r]);

  // Send/Recv from rank 2 to rank 0, then a barrier of all three.
  auto sent = members[2].Task(&Member::SendTo).Remote(std::vector<double>{3.5, 4.5}, 0, "g");
  auto got = members[0].Task(&Member::RecvFrom).Remote(2, 2, "g");
  EXPECT_TRUE(*sent.Get(kLongMs));
  EXPECT_EQ(*got.Get(kLongMs), (std::vector<double>{3.5, 4.5}));
  std::vector<ray::ObjectRef<bool>> barrier;
  for (auto &m : members) barrier.push_back(m.Task(&Member::Barrier).Remote("g"));
  for (auto &b : barrier) EXPECT_TRUE(*b.Get(kLongMs));

  // Left and made again under the same name: the members meet afresh.
  for (auto &m : members) EXPECT_TRUE(*m.Task(&Member::Leave).Remote("g").Get(kLongMs));
  JoinAll(members, "g");
  std::vector<ray::ObjectRef<std::vector<double>>> again;
  for (int r = 0; r < 3; ++r)
    again.push_back(members[r].Task(&Member::AllReduce).Remote(std::vector<double>{1.0}, "g", 0));
  for (auto &o : again) EXPECT_EQ(*o.Get(kLongMs), std::vector<double>{3.0});
}

TEST_F(CollectiveTest, AGroupDeclaredByTheDriverIsJoinedOnFirstUse) {
  StartCluster({"--num-cpus=4"});
  auto members = Members(3);
  coll::CreateCollectiveGroup(members, 3, {2, 0, 1}, coll::GroupOptions(), "declared");
  EXPECT_EQ(*members[0].Task(&Member::Rank).Remote("declared").Get(kLongMs), -1);  // not joined yet
  std::vector<ray::ObjectRef<std::vector<double>>> out;
  for (int i = 0; i < 3; ++i)
    out.push_back(members[i].Task(&Member::AllReduce).Remote(std::vector<double>{1.0 + i}, "declared", 0));
  for (auto &o : out) EXPECT_EQ(*o.Get(kLongMs), std::vector<double>{6.0});
  EXPECT_EQ(*members[0].Task(&Member::Rank).Remote("declared").Get(kLongMs), 2);
  EXPECT_EQ(*members[1].Task(&Member::Rank).Remote("declared").Get(kLongMs), 0);
  EXPECT_EQ(*members[2].Task(&Member::Rank).Remote("declared").Get(kLongMs), 1);

  EXPECT_THROW(coll::CreateCollectiveGroup(members, 3, {0, 0, 1}, coll::GroupOptions(), "bad"),
               ray::internal::RayException);
  EXPECT_THROW(coll::CreateCollectiveGroup(members, 4, {0, 1, 2}, coll::GroupOptions(), "bad"),
               ray::internal::RayException);
}

// A member killed while the others wait in an AllReduce: they throw (within
// the operation's timeout at most), and the group stays broken after.
TEST_F(CollectiveTest, AKilledMemberMakesTheOthersThrowNotHang) {
  StartCluster({"--num-cpus=4"});
  auto members = Members(3);
  JoinAll(members, "k", /*timeout_ms=*/30000);
  auto e0 = members[0].Task(&Member::AllReduceErrors).Remote("k");
  auto e1 = members[1].Task(&Member::AllReduceErrors).Remote("k");
  members[2].Kill();
  for (auto *e : {&e0, &e1}) {
    auto errors = *e->Get(kLongMs);
    ASSERT_EQ(errors.size(), 2u);
    EXPECT_NE(errors[0].find("collective AllReduce in group 'k'"), std::string::npos) << errors[0];
    EXPECT_NE(errors[1].find("broken"), std::string::npos) << errors[1];
  }
}

TEST_F(CollectiveTest, NotAMemberIsAClearError) {
  StartCluster({"--num-cpus=2"});
  std::vector<double> data{1.0};
  EXPECT_EQ(coll::GetRank("nope"), -1);
  EXPECT_EQ(coll::GetCollectiveGroupSize("nope"), -1);
  try {
    coll::AllReduce(data, "nope");
    FAIL() << "no exception";
  } catch (const ray::internal::RayException &e) {
    EXPECT_NE(std::string(e.what()).find("not a member of collective group 'nope'"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(coll::InitCollectiveGroup(2, 0, coll::Backend::kNccl, "gpu"), ray::internal::RayException);
  // The driver can be a member too; a group of one needs nobody else.
  coll::InitCollectiveGroup(1, 0, coll::Backend::kGloo, "solo");
  coll::AllReduce(data, "solo");
  EXPECT_EQ(data, std::vector<double>{1.0});
  EXPECT_THROW(coll::InitCollectiveGroup(1, 0, coll::Backend::kGloo, "solo"), ray::internal::RayException);
  coll::DestroyCollectiveGroup("solo");
}

}  // namespace
