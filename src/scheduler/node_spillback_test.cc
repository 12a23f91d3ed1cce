// Lease spillback between two node services in the test process, registered
// with an in-process control service: node A (2 CPUs) and node B (2 CPUs
// and the custom resource "special"). Lease holders are fake clients over
// the nodes' real Unix sockets. No worker ever starts (no fork server): what
// is checked is where each request is answered.
#include <gtest/gtest.h>

#include <memory>

#include "control/control_test_peers.h"
#include "scheduler/node_service.h"

namespace lumen::scheduler {
namespace {

using control::testing::kToken;
using control::testing::Recorded;

constexpr uint32_t kJob = 1;

class NodeSpillbackTest : public control::testing::ControlServiceTest {
 protected:
  void SetUp() override {
    ControlServiceTest::SetUp();
    a_ = StartNode("a", {{"CPU", 2}});
    b_ = StartNode("b", {{"CPU", 2}, {"special", 1}});
  }
  void TearDown() override {
    conns_.clear();
    a_.reset();
    b_.reset();
    ControlServiceTest::TearDown();
  }

  std::unique_ptr<NodeService> StartNode(const std::string &name, std::map<std::string, double> resources) {
    NodeServiceOptions o;
    o.session_dir = dir_ + "/" + name;
    o.token = kToken;
    o.control_address = address_;
    o.resources = std::move(resources);
    o.store_capacity = 1 << 20;
    o.prestart_workers = 0;
    o.clock = &clock_;
    auto node = std::make_unique<NodeService>(o);
    EXPECT_TRUE(node->Start().ok());
    return node;
  }
  static std::string Address(const std::string &name, const std::string &dir) {
    return "unix:" + dir + "/" + name + "/sockets/node";
  }

  /// A client of the node `name`; `driver`: registered as the job's driver
  /// there (so the node can start the job's workers, as far as it knows).
  rpc::ConnectionPtr Connect(const std::string &name, bool driver) {
    auto conn = rpc::Connect(loop_, Address(name, dir_), kToken, nullptr);
    EXPECT_TRUE(conn.ok()) << conn.status().ToString();
    if (!conn.ok()) return nullptr;
    conns_.push_back(conn.value());
    if (driver) {
      proto::RegisterClientRequest req;
      req.set_kind(proto::DRIVER);
      req.set_job_id(kJob);
      proto::RegisterClientReply rep;
      EXPECT_TRUE(conn.value()->CallSync(proto::REGISTER_CLIENT, req, &rep).ok());
    }
    return conn.value();
  }

  struct LeaseResult {
    bool answered = false;
    Status status;
    proto::WorkerLeaseReply reply;
  };
  std::shared_ptr<Recorded<LeaseResult>> RequestLease(rpc::Connection &holder,
                                                      std::map<std::string, double> need, int hops = 0) {
    auto result = std::make_shared<Recorded<LeaseResult>>();
    proto::WorkerLeaseRequest req;
    req.set_job_id(kJob);
    for (auto &[k, v] : need) (*req.mutable_resources()->mutable_amounts())[k] = v;
    req.set_spill_hops(hops);
    holder.Call(
        proto::REQUEST_WORKER_LEASE, req,
        [result](Status st, std::string_view body) {
          result->Update([&](LeaseResult &r) {
            r.answered = true;
            r.status = st;
            if (st.ok()) EXPECT_TRUE(rpc::ParseBody(body, &r.reply));
          });
        },
        kForever);
    return result;
  }
  static LeaseResult Await(Recorded<LeaseResult> &r) {
    r.WaitFor([](const LeaseResult &l) { return l.answered; });
    return r.Get();
  }
  /// NODE_STATS on `conn`: a round trip after which everything sent before
  /// on it has been handled (and answered, if it was going to be at once).
  proto::NodeStatsReply Stats(rpc::Connection &conn) {
    proto::NodeStatsReply rep;
    EXPECT_TRUE(conn.CallSync(proto::NODE_STATS, proto::NodeStatsRequest(), &rep).ok());
    return rep;
  }

  std::unique_ptr<NodeService> a_, b_;
  std::vector<rpc::ConnectionPtr> conns_;
};

TEST_F(NodeSpillbackTest, ARequestOnlyAnotherNodeCanRunIsAnsweredWithThatNode) {
  auto driver = Connect("a", /*driver=*/true);
  auto lease = RequestLease(*driver, {{"CPU", 1}, {"special", 1}});
  LeaseResult r = Await(*lease);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_FALSE(r.reply.granted());
  EXPECT_EQ(r.reply.spillback_node_id(), b_->node_id().Binary());
  // B is another node: named by its TCP address, never its Unix socket.
  EXPECT_EQ(r.reply.spillback_address().rfind("tcp:127.0.0.1:", 0), 0u) << r.reply.spillback_address();
  auto b = rpc::Connect(loop_, r.reply.spillback_address(), kToken, nullptr);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(Stats(**b).total().amounts().count("special"), 1u) << "the address reaches B";
  EXPECT_EQ(Stats(*driver).pending_size(), 0) << "not held on A as well";
}

// A lease spilled here for a job this node has not seen is not failed as an
// unknown job: the node asks the control service for the job (and would
// start its shipped program); one the control service does not know either
// is refused, saying so.
TEST_F(NodeSpillbackTest, ASpilledLeaseOfAJobTheNodeHasNotSeenIsLearnedFromTheControlService) {
  auto holder = Connect("b", /*driver=*/false);
  LeaseResult r = Await(*RequestLease(*holder, {{"CPU", 1}, {"special", 1}}, /*hops=*/1));
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_FALSE(r.reply.granted());
  EXPECT_NE(r.reply.error().find("the control service does not know job"), std::string::npos)
      << r.reply.error();
}

TEST_F(NodeSpillbackTest, AFullNodeAndThenAHalfUsedOneSpillToAnIdleNodeThatCanStartTheJobsWorkers) {
  auto driver = Connect("a", /*driver=*/true);
  Connect("b", /*driver=*/true);  // B can start the job's workers (as far as it knows)
  auto control = Connect("a", /*driver=*/false);
  auto reserve = [&](const std::string &group, int bundles) {
    proto::ReserveBundlesRequest req;
    req.set_group_id(group);
    for (int i = 0; i < bundles; ++i) (*req.add_bundles()->mutable_amounts())["CPU"] = 1;
    ASSERT_TRUE(control->CallSync(proto::RESERVE_BUNDLES, req, nullptr).ok());
  };

  // A's two CPUs reserved: A is full, B idle.
  reserve("0123abcd", 2);
  LeaseResult r = Await(*RequestLease(*driver, {{"CPU", 1}}));
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_FALSE(r.reply.granted());
  EXPECT_EQ(r.reply.spillback_node_id(), b_->node_id().Binary());

  // One CPU of A's two reserved: A has room but is at 50%, not below it.
  proto::ReturnBundlesRequest ret;
  ret.set_group_id("0123abcd");
  control->Notify(proto::RETURN_BUNDLES, ret);
  reserve("4567cdef", 1);
  // A new view: the one the first request was spilled on has B's CPU booked
  // for it (it would send this one nowhere better than A).
  clock_.Advance(kClusterViewMaxAge + std::chrono::milliseconds(1));
  r = Await(*RequestLease(*driver, {{"CPU", 1}}));
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_FALSE(r.reply.granted());
  EXPECT_EQ(r.reply.spillback_node_id(), b_->node_id().Binary());
}

// No node has room when the request comes, so it is kept on A; B frees up
// later. Once the view A kept it by is stale (here: once the fake clock is
// moved past its age, with no real timer involved), A looks again and sends
// it to B. It used to wait on A until a lease was returned there: a timer
// armed before that view came in fired while it was still fresh, and
// nothing armed it again.
TEST_F(NodeSpillbackTest, ARequestKeptWhileNoNodeHasRoomMovesToANodeThatFreesUpLater) {
  auto driver = Connect("a", /*driver=*/true);
  Connect("b", /*driver=*/true);  // B can start the job's workers (as far as it knows)
  auto control_a = Connect("a", /*driver=*/false);
  auto control_b = Connect("b", /*driver=*/false);
  auto reserve = [](rpc::Connection &node, const std::string &group) {
    proto::ReserveBundlesRequest req;
    req.set_group_id(group);
    for (int i = 0; i < 2; ++i) (*req.add_bundles()->mutable_amounts())["CPU"] = 1;
    ASSERT_TRUE(node.CallSync(proto::RESERVE_BUNDLES, req, nullptr).ok());
  };
  reserve(*control_a, "0123abcd");
  reserve(*control_b, "4567cdef");

  auto lease = RequestLease(*driver, {{"CPU", 1}});
  // Kept on A, decided on a view in which B is full: until that view is in,
  // the request is answered by nothing (the NODE_STATS round trips only
  // order this test after A's handling of it).
  EXPECT_EQ(Stats(*driver).pending_size(), 1);
  proto::ReturnBundlesRequest ret;
  ret.set_group_id("4567cdef");
  control_b->Notify(proto::RETURN_BUNDLES, ret);
  EXPECT_EQ(Stats(*control_b).available().amounts().at("CPU"), 2) << "B is free now";

  // Time moves on (a fake clock never wakes a timer by itself): whichever
  // view A decided on goes stale, and A looks again.
  // Each round trip to A orders the test after A's handling of the move
  // (a refresh of the view takes a few).
  const auto deadline = std::chrono::steady_clock::now() + control::testing::kDeadline;
  while (!lease->Get().answered && std::chrono::steady_clock::now() < deadline) {
    clock_.Advance(kClusterViewMaxAge + std::chrono::milliseconds(2));
    Stats(*driver);
  }
  LeaseResult r = lease->Get();
  ASSERT_TRUE(r.answered) << "still kept on A while B has room";
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_FALSE(r.reply.granted());
  EXPECT_EQ(r.reply.spillback_node_id(), b_->node_id().Binary());
}

}  // namespace
}  // namespace lumen::scheduler
