// NodeLogStore: chunks land under <logs>/nodes/<node hex>/ at their offsets
// (a chunk sent twice writes the same bytes), names other than plain file
// names are refused, the head's own node is told it is not wanted, a node's
// files stop growing at the bound, at the total bound the first nodes to die
// lose their files first, and a write that fails (a link or a folder where
// the file should be) is an error that follows no link.
#include "control/node_log_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "base/encoding.h"

namespace lumen::control {
namespace {
namespace fs = std::filesystem;

std::string Read(const std::string &path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class NodeLogStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lns-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { fs::remove_all(root_); }

  proto::NodeLogBatch Batch(const std::string &file, int64_t offset, const std::string &data) {
    return BatchOf(node_, file, offset, data);
  }
  static proto::NodeLogBatch BatchOf(const std::string &node, const std::string &file, int64_t offset,
                                     const std::string &data) {
    proto::NodeLogBatch b;
    b.set_node_id(node);
    b.set_session_dir("/elsewhere/session_x");
    auto *c = b.add_chunks();
    c->set_filename(file);
    c->set_offset(offset);
    c->set_data(data);
    return b;
  }

  std::string root_;
  const std::string node_ = std::string(16, '\x7f');
};

TEST_F(NodeLogStoreTest, ChunksLandAtTheirOffsetsInTheNodesFolder) {
  NodeLogStore store(root_ + "/logs", root_, 1 << 20, 1 << 30);
  auto added = store.Add(Batch("worker-1.out", 0, "hello\n"));
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_TRUE(*added);
  ASSERT_TRUE(store.Add(Batch("worker-1.out", 6, "world\n")).ok());
  ASSERT_TRUE(store.Add(Batch("worker-1.out", 6, "world\n")).ok());  // a retry
  const std::string dir = root_ + "/logs/nodes/" + ToHex(node_);
  EXPECT_EQ(store.NodeDir(ToHex(node_)), dir);
  EXPECT_EQ(Read(dir + "/worker-1.out"), "hello\nworld\n");
}

TEST_F(NodeLogStoreTest, OnlyPlainNamesOfAKnownSizeOfNodeAreTaken) {
  NodeLogStore store(root_ + "/logs", root_, 1 << 20, 1 << 30);
  for (const char *bad : {"", ".", "..", "../escape", "a/b", "/etc/passwd"})
    EXPECT_EQ(store.Add(Batch(bad, 0, "x")).status().code(), StatusCode::kInvalidArgument) << bad;
  auto negative = Batch("f", -1, "x");
  EXPECT_FALSE(store.Add(negative).ok());
  auto no_node = Batch("f", 0, "x");
  no_node.set_node_id("short");
  EXPECT_FALSE(store.Add(no_node).ok());
  EXPECT_FALSE(fs::exists(root_ + "/escape"));
}

TEST_F(NodeLogStoreTest, TheHeadsOwnNodeAndAStoreWithoutAFolderWantNothing) {
  NodeLogStore store(root_ + "/logs", root_, 1 << 20, 1 << 30);
  auto own = Batch("node.log", 0, "x");
  own.set_session_dir(root_);
  auto added = store.Add(own);
  ASSERT_TRUE(added.ok());
  EXPECT_FALSE(*added);
  EXPECT_FALSE(fs::exists(root_ + "/logs/nodes"));
  NodeLogStore none("", root_, 1 << 20, 1 << 30);
  added = none.Add(Batch("node.log", 0, "x"));
  ASSERT_TRUE(added.ok());
  EXPECT_FALSE(*added);
}

TEST_F(NodeLogStoreTest, ANodesFilesStopGrowingAtTheBound) {
  NodeLogStore store(root_ + "/logs", root_, 10, 1000);
  ASSERT_TRUE(store.Add(Batch("a", 0, "12345")).ok());
  ASSERT_TRUE(store.Add(Batch("b", 0, "1234")).ok());
  ASSERT_TRUE(store.Add(Batch("a", 5, "678")).ok());   // 12 > 10: not written
  ASSERT_TRUE(store.Add(Batch("b", 0, "1234")).ok());  // no growth: written again
  const std::string dir = store.NodeDir(ToHex(node_));
  EXPECT_EQ(Read(dir + "/a"), "12345");
  EXPECT_EQ(Read(dir + "/b"), "1234");
}

TEST_F(NodeLogStoreTest, AtTheTotalBoundTheFirstNodesToDieLoseTheirFilesFirst) {
  NodeLogStore store(root_ + "/logs", root_, /*per node*/ 100, /*total*/ 10);
  const std::string a(16, 'a'), b(16, 'b'), c(16, 'c');
  const auto dir = [&](const std::string &n) { return store.NodeDir(ToHex(n)); };
  ASSERT_TRUE(store.Add(BatchOf(a, "log", 0, "aaaa")).ok());
  ASSERT_TRUE(store.Add(BatchOf(b, "log", 0, "bbbb")).ok());
  // No node has died: no room is made, c's bytes are not written.
  ASSERT_TRUE(store.Add(BatchOf(c, "log", 0, "cccc")).ok());
  EXPECT_FALSE(fs::exists(dir(c) + "/log"));
  EXPECT_EQ(store.total_bytes(), 8);
  store.OnNodeDead(a);
  store.OnNodeDead(b);
  store.OnNodeDead(a);  // told twice: still the first
  ASSERT_TRUE(store.Add(BatchOf(c, "log", 0, "cccc")).ok());
  EXPECT_FALSE(fs::exists(dir(a)));  // the first to die went
  EXPECT_EQ(Read(dir(b) + "/log"), "bbbb");
  EXPECT_EQ(Read(dir(c) + "/log"), "cccc");
  EXPECT_EQ(store.total_bytes(), 8);
  // A late batch of a removed node is not wanted and writes nothing.
  auto late = store.Add(BatchOf(a, "log", 4, "more"));
  ASSERT_TRUE(late.ok());
  EXPECT_FALSE(*late);
  EXPECT_FALSE(fs::exists(dir(a)));
  ASSERT_TRUE(store.Add(BatchOf(c, "log", 4, "cccc")).ok());
  EXPECT_FALSE(fs::exists(dir(b)));
  EXPECT_EQ(Read(dir(c) + "/log"), "cccccccc");
  // Only a live node is left: its next bytes wait for room.
  ASSERT_TRUE(store.Add(BatchOf(c, "log", 8, "cccc")).ok());
  EXPECT_EQ(Read(dir(c) + "/log"), "cccccccc");
  EXPECT_EQ(store.total_bytes(), 8);
}

TEST_F(NodeLogStoreTest, AWriteThatFailsIsAnErrorAndFollowsNoLink) {
  NodeLogStore store(root_ + "/logs", root_, 1 << 20, 1 << 30);
  ASSERT_TRUE(store.Add(Batch("ok", 0, "fine")).ok());
  const std::string dir = store.NodeDir(ToHex(node_));
  std::ofstream(root_ + "/target") << "untouched";
  fs::create_symlink(root_ + "/target", dir + "/linked");
  auto linked = store.Add(Batch("linked", 0, "overwritten?"));
  EXPECT_EQ(linked.status().code(), StatusCode::kIoError);
  EXPECT_NE(linked.status().message().find("linked"), std::string::npos) << linked.status().ToString();
  EXPECT_EQ(Read(root_ + "/target"), "untouched");
  fs::create_directory(dir + "/folder");
  EXPECT_EQ(store.Add(Batch("folder", 0, "x")).status().code(), StatusCode::kIoError);
  // The store goes on with the files it can write.
  ASSERT_TRUE(store.Add(Batch("ok", 4, "!")).ok());
  EXPECT_EQ(Read(dir + "/ok"), "fine!");
}

}  // namespace
}  // namespace lumen::control
