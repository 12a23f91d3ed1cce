// The cluster views made from the control service's node table: which nodes
// count, which numbers they count with, and how ids are spelled.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "api_runtime/runtime_nodes.h"
#include "base/id.h"

namespace lumen::api {
namespace {

void SetAmounts(proto::ResourceSet *set, const std::map<std::string, double> &amounts) {
  for (auto &[k, v] : amounts) (*set->mutable_amounts())[k] = v;
}

proto::NodeInfo *AddNode(proto::GetAllNodesReply *reply, bool alive,
                         const std::map<std::string, double> &total) {
  proto::NodeInfo *n = reply->add_nodes();
  n->set_node_id(NodeID::FromRandom().Binary());
  n->set_node_ip("10.0.0.7");
  n->set_alive(alive);
  SetAmounts(n->mutable_total(), total);
  return n;
}

void SetUsage(proto::NodeInfo *n, const std::map<std::string, double> &total,
              const std::map<std::string, double> &available) {
  SetAmounts(n->mutable_usage()->mutable_total(), total);
  SetAmounts(n->mutable_usage()->mutable_available(), available);
}

TEST(JobIdHexTest, FourBytesLeastSignificantFirstAsRaySpellsThem) {
  EXPECT_EQ(JobIdHex(1), "01000000");
  EXPECT_EQ(JobIdHex(0x0a0b0c0d), "0d0c0b0a");
}

TEST(ToPublicNodesTest, EveryNodeWithHexIdAddressAndItsTotalsBundlesIncluded) {
  proto::GetAllNodesReply reply;
  proto::NodeInfo *alive = AddNode(&reply, true, {{"CPU", 4}, {"slot", 1}});
  // What it reports now: its placement-group bundles' resources included.
  SetUsage(alive, {{"CPU", 4}, {"slot", 1}, {"CPU_group_0_g", 1}, {"CPU_group_g", 1}}, {{"CPU", 1}});
  AddNode(&reply, true, {{"CPU", 2}, {"GPU", 1}});  // did not report: its registered totals
  proto::NodeInfo *dead = AddNode(&reply, false, {{"CPU", 2}});
  auto nodes = ToPublicNodes(reply);
  ASSERT_EQ(nodes.size(), 3u);
  EXPECT_EQ(nodes[0].node_id, ToHex(alive->node_id()));
  EXPECT_EQ(nodes[0].node_id.size(), 32u);
  EXPECT_TRUE(nodes[0].alive);
  EXPECT_EQ(nodes[0].address, "10.0.0.7");
  EXPECT_EQ(nodes[0].resources,
            (ResourceMap{{"CPU", 4}, {"slot", 1}, {"CPU_group_0_g", 1}, {"CPU_group_g", 1}}));
  EXPECT_EQ(nodes[1].resources, (ResourceMap{{"CPU", 2}, {"GPU", 1}}));
  EXPECT_EQ(nodes[2].node_id, ToHex(dead->node_id()));
  EXPECT_FALSE(nodes[2].alive);
  EXPECT_EQ(nodes[2].resources, (ResourceMap{{"CPU", 2}}));
}

TEST(SumTotalsTest, AliveNodesOnlyWithReportedTotalsWhenThereAreSome) {
  proto::GetAllNodesReply reply;
  SetUsage(AddNode(&reply, true, {{"CPU", 4}}), {{"CPU", 4}, {"CPU_group_g", 1}}, {});
  AddNode(&reply, true, {{"CPU", 2}, {"GPU", 1}});  // did not report: its registered totals
  SetUsage(AddNode(&reply, false, {{"CPU", 16}}), {{"CPU", 16}}, {{"CPU", 16}});  // dead: never counted
  EXPECT_EQ(SumTotals(reply), (ResourceMap{{"CPU", 6}, {"GPU", 1}, {"CPU_group_g", 1}}));
}

TEST(SumAvailableTest, ReportedFreeAmountsOfAliveNodesWithoutTheExhaustedOnes) {
  proto::GetAllNodesReply reply;
  SetUsage(AddNode(&reply, true, {{"CPU", 4}}), {{"CPU", 4}, {"slot", 1}}, {{"CPU", 1.5}, {"slot", 0}});
  SetUsage(AddNode(&reply, true, {{"CPU", 2}}), {{"CPU", 2}, {"GPU", 1}}, {{"CPU", 2}, {"GPU", -0.5}});
  AddNode(&reply, true, {{"CPU", 8}});  // did not report: nothing known free there
  SetUsage(AddNode(&reply, false, {{"CPU", 16}}), {{"CPU", 16}}, {{"CPU", 16}});
  EXPECT_EQ(SumAvailable(reply), (ResourceMap{{"CPU", 3.5}}));
}

}  // namespace
}  // namespace lumen::api
