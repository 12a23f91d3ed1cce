#include "control/worker_directory.h"

#include <gtest/gtest.h>

#include "base/id.h"

namespace lumen::control {
namespace {

proto::Address Addr(const WorkerID &w, const NodeID &n, const std::string &tcp) {
  proto::Address a;
  a.set_worker_id(w.Binary());
  a.set_node_id(n.Binary());
  a.set_unix_path("/tmp/s/sockets/w-" + w.Hex().substr(0, 24));
  a.set_tcp(tcp);
  return a;
}

TEST(WorkerDirectoryTest, PublishedAddressesAreFoundUntilRemoved) {
  WorkerDirectory dir;
  WorkerID w1 = WorkerID::FromRandom(), w2 = WorkerID::FromRandom();
  NodeID n = NodeID::FromRandom();
  EXPECT_EQ(dir.Find(w1.Binary()), nullptr);
  ASSERT_TRUE(dir.Publish(Addr(w1, n, "10.0.0.1:4000")).ok());
  ASSERT_TRUE(dir.Publish(Addr(w2, n, "10.0.0.1:4001")).ok());
  ASSERT_NE(dir.Find(w1.Binary()), nullptr);
  EXPECT_EQ(dir.Find(w1.Binary())->tcp(), "10.0.0.1:4000");
  // A worker that registers again (the same id) replaces its entry.
  ASSERT_TRUE(dir.Publish(Addr(w1, n, "10.0.0.1:5000")).ok());
  EXPECT_EQ(dir.Find(w1.Binary())->tcp(), "10.0.0.1:5000");
  dir.Remove(w1.Binary());
  EXPECT_EQ(dir.Find(w1.Binary()), nullptr);
  EXPECT_NE(dir.Find(w2.Binary()), nullptr);
}

TEST(WorkerDirectoryTest, ANodeThatGoesTakesItsWorkersWithIt) {
  WorkerDirectory dir;
  NodeID a = NodeID::FromRandom(), b = NodeID::FromRandom();
  WorkerID on_a = WorkerID::FromRandom(), on_b = WorkerID::FromRandom();
  ASSERT_TRUE(dir.Publish(Addr(on_a, a, "10.0.0.1:4000")).ok());
  ASSERT_TRUE(dir.Publish(Addr(on_b, b, "10.0.0.2:4000")).ok());
  dir.RemoveNode(a.Binary());
  EXPECT_EQ(dir.Find(on_a.Binary()), nullptr);
  EXPECT_NE(dir.Find(on_b.Binary()), nullptr);
  EXPECT_EQ(dir.size(), 1u);
}

TEST(WorkerDirectoryTest, MalformedAddressesAreRefused) {
  WorkerDirectory dir;
  proto::Address no_worker = Addr(WorkerID::FromRandom(), NodeID::FromRandom(), "h:1");
  no_worker.set_worker_id("short");
  EXPECT_FALSE(dir.Publish(no_worker).ok());
  proto::Address no_node = Addr(WorkerID::FromRandom(), NodeID::FromRandom(), "h:1");
  no_node.clear_node_id();
  EXPECT_FALSE(dir.Publish(no_node).ok());
  proto::Address nowhere = Addr(WorkerID::FromRandom(), NodeID::FromRandom(), "");
  nowhere.clear_unix_path();
  EXPECT_FALSE(dir.Publish(nowhere).ok());
  EXPECT_EQ(dir.size(), 0u);
}

}  // namespace
}  // namespace lumen::control
