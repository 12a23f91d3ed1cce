// RunStorage (a run's folder: results and checkpoints) and AssignRanks, with
// no runtime.
#include "run_storage.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace ray {
namespace train {
namespace internal {
namespace {

namespace fs = std::filesystem;

class RunStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("lumen-train-test-" + std::to_string(getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "src");
    std::ofstream(root_ / "src" / "weights") << "w";
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
};

TEST_F(RunStorageTest, CheckpointsAreCopiedWholeAndTheNewestIsWhereARunResumes) {
  RunStorage s((root_ / "run").string());
  s.Create();
  EXPECT_FALSE(s.LatestCheckpoint().has_value());
  s.PersistCheckpoint((root_ / "src").string(), 0);
  s.PersistCheckpoint((root_ / "src").string(), 2);
  fs::remove_all(root_ / "src");  // the user's folder may go once reported
  ASSERT_TRUE(s.LatestCheckpoint().has_value());
  EXPECT_EQ(fs::path(*s.LatestCheckpoint()).filename(), "checkpoint_000002");
  EXPECT_TRUE(fs::exists(fs::path(*s.LatestCheckpoint()) / "weights"));
  // A copy cut short by a crash is never taken for a checkpoint.
  fs::create_directories(root_ / "run" / "checkpoint_000009.partial");
  EXPECT_EQ(fs::path(*s.LatestCheckpoint()).filename(), "checkpoint_000002");
  EXPECT_THROW(s.PersistCheckpoint((root_ / "missing").string(), 3), ray::internal::RayException);
}

TEST_F(RunStorageTest, PruneKeepsTheNewest) {
  RunStorage s((root_ / "run").string());
  s.Create();
  for (int i = 0; i < 5; ++i) s.PersistCheckpoint((root_ / "src").string(), i);
  s.Prune(0);
  EXPECT_TRUE(fs::exists(s.CheckpointPath(0)));
  s.Prune(2);
  EXPECT_FALSE(fs::exists(s.CheckpointPath(2)));
  EXPECT_TRUE(fs::exists(s.CheckpointPath(3)));
  EXPECT_TRUE(fs::exists(s.CheckpointPath(4)));
}

TEST_F(RunStorageTest, ResultsAreLinesAndATornLastLineIsSkipped) {
  RunStorage s((root_ / "run").string());
  s.Create();
  s.AppendResult(Json{{"loss", 1.5}});
  s.AppendResult(Json{{"loss", 0.5}});
  std::ofstream(root_ / "run" / "result.json", std::ios::app) << "{\"loss\": 0.2";  // crash mid-write
  auto results = s.ReadResults();
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[1]["loss"], 0.5);
}

TEST(AssignRanksTest, WorkersOnOneNodeGetConsecutiveRanks) {
  auto r = AssignRanks({"b", "a", "b", "c", "a", "b"});
  // Nodes in order of their first worker: b (3 workers), a (2), c (1).
  std::vector<int> world, local, size, node;
  for (auto &x : r) {
    world.push_back(x.world_rank);
    local.push_back(x.local_rank);
    size.push_back(x.local_world_size);
    node.push_back(x.node_rank);
  }
  EXPECT_EQ(world, (std::vector<int>{0, 3, 1, 5, 4, 2}));
  EXPECT_EQ(local, (std::vector<int>{0, 0, 1, 0, 1, 2}));
  EXPECT_EQ(size, (std::vector<int>{3, 2, 3, 1, 2, 3}));
  EXPECT_EQ(node, (std::vector<int>{0, 1, 0, 2, 1, 0}));
  EXPECT_TRUE(AssignRanks({}).empty());
}

}  // namespace
}  // namespace internal
}  // namespace train
}  // namespace ray
