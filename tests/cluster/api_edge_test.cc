// The public API's edges on a real local cluster: ending a program without
// ray::Shutdown(), Wait's num_objects, empty ObjectRefs, by-value arguments
// and returns larger than a message can hold, and head_args checked at Init.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "cluster_test_util.h"

extern char **environ;

#ifndef LUMEN_EXIT_DRIVER
#define LUMEN_EXIT_DRIVER ""
#endif

namespace {

using ray::internal::RayException;

constexpr int kLongMs = 60000;
// Far above a message's 128 MiB frame limit once serialized with its task.
constexpr size_t kHugeBytes = 200u << 20;

int Identity(int x) { return x; }
RAY_REMOTE(Identity);

// Checks a huge by-value argument byte by byte and returns its size.
int64_t CheckedSize(const std::string &s) {
  for (size_t i = 0; i < s.size(); ++i)
    if (s[i] != static_cast<char>('a' + i % 26)) return -1;
  return static_cast<int64_t>(s.size());
}
RAY_REMOTE(CheckedSize);

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
}
std::string MakeHuge(int64_t n) { return Pattern(static_cast<size_t>(n)); }
RAY_REMOTE(MakeHuge);

class Holder {
 public:
  static Holder *Create(const std::string &init) { return new Holder(init); }
  explicit Holder(std::string init) : value_(std::move(init)) {}
  int64_t Size() { return CheckedSize(value_); }
  int64_t Replace(const std::string &v) {
    value_ = v;
    return CheckedSize(value_);
  }
  std::string Value() { return value_; }

 private:
  std::string value_;
};
RAY_REMOTE(Holder::Create, &Holder::Size, &Holder::Replace, &Holder::Value);

class ApiEdgeTest : public lumen::testing::ClusterTest {};

// ---- Wait returns at most num_objects ready, the first in input order

TEST_F(ApiEdgeTest, WaitReturnsAtMostNumObjectsReady) {
  StartCluster();
  std::vector<ray::ObjectRef<int>> refs = {ray::Put(1), ray::Put(2), ray::Put(3)};
  auto result = ray::Wait(refs, 1, kLongMs);
  ASSERT_EQ(result.ready.size(), 1u);
  EXPECT_EQ(result.ready.front().ID(), refs[0].ID());
  ASSERT_EQ(result.unready.size(), 2u);
  EXPECT_EQ(result.unready.front().ID(), refs[1].ID());
  EXPECT_EQ(result.unready.back().ID(), refs[2].ID());
  result = ray::Wait(refs, 2, kLongMs);
  ASSERT_EQ(result.ready.size(), 2u);
  EXPECT_EQ(*result.ready.back().Get(), 2);
}

// ---- an empty ObjectRef refers to no object: Get, Wait and tasks say so

TEST_F(ApiEdgeTest, EmptyObjectRefIsAnErrorNotAnUnreachableOwner) {
  StartCluster();
  ray::ObjectRef<int> empty;
  try {
    empty.Get(kLongMs);
    FAIL() << "Get on an empty ObjectRef returned";
  } catch (const RayException &e) {
    EXPECT_NE(std::string(e.what()).find("empty"), std::string::npos) << e.what();
  }
  std::vector<ray::ObjectRef<int>> refs = {empty};
  EXPECT_THROW(ray::Wait(refs, 1, kLongMs), RayException);
  EXPECT_THROW(ray::Get(refs), RayException);
  EXPECT_THROW(ray::Task(Identity).Remote(empty), RayException);
  EXPECT_EQ(*ray::Task(Identity).Remote(7).Get(kLongMs), 7);  // the runtime is unharmed
}

// ---- by-value arguments and returns of any size go through the store

TEST_F(ApiEdgeTest, HugeTaskArgumentAndReturn) {
  StartCluster();
  std::string huge = Pattern(kHugeBytes);
  EXPECT_EQ(*ray::Task(CheckedSize).Remote(huge).Get(kLongMs), static_cast<int64_t>(kHugeBytes));
  auto back = ray::Task(MakeHuge).Remote(static_cast<int64_t>(kHugeBytes)).Get(kLongMs);
  EXPECT_TRUE(*back == huge);
}

TEST_F(ApiEdgeTest, HugeActorArgumentsAndReturn) {
  StartCluster();
  std::string huge = Pattern(kHugeBytes);
  auto holder = ray::Actor(Holder::Create).Remote(huge);
  EXPECT_EQ(*holder.Task(&Holder::Size).Remote().Get(kLongMs), static_cast<int64_t>(kHugeBytes));
  std::string other = Pattern(kHugeBytes - 7);
  EXPECT_EQ(*holder.Task(&Holder::Replace).Remote(other).Get(kLongMs), static_cast<int64_t>(other.size()));
  EXPECT_TRUE(*holder.Task(&Holder::Value).Remote().Get(kLongMs) == other);
  // The actor is alive and reachable after all of that.
  EXPECT_EQ(*holder.Task(&Holder::Replace).Remote(std::string("abc")).Get(kLongMs), 3);
}

// ---- head_args are parsed as Ray parses them, and nonsense fails Init

TEST_F(ApiEdgeTest, ObjectStoreMemoryInScientificNotation) {
  StartCluster({"--num-cpus=2", "--object-store-memory=1e9"});
  std::string value = Pattern(8u << 20);  // in the store, not inline
  EXPECT_TRUE(*ray::Get(ray::Put(value)) == value);
}

TEST_F(ApiEdgeTest, BadHeadArgsFailInit) {
  for (std::string bad : {"--resources={\"GPU\": -3}", "--resources={\"\": 1}", "--resources={\"a\": -1}",
                          "--num-cpus=-2", "--num-cpus=nan", "--object-store-memory=-5"}) {
    std::string tmp = lumen::testing::FreshTmpDir();
    ray::RayConfig config;
    config.head_args = {bad};
    EXPECT_THROW(ray::Init(config), RayException) << bad;
    EXPECT_FALSE(ray::IsInitialized()) << bad;
    std::error_code ec;
    std::filesystem::remove_all(tmp, ec);
  }
}

// ---- a program may end without ray::Shutdown()

std::string ExitDriverPath() {
  if (const char *path = std::getenv("LUMEN_EXIT_DRIVER")) return path;
  return LUMEN_EXIT_DRIVER;
}

lumen::testing::ProgramResult RunExitDriver(std::vector<std::string> args, const std::string &out_path) {
  return lumen::testing::RunProgram(ExitDriverPath(), std::move(args), out_path, /*with_stderr=*/false,
                                    std::chrono::minutes(2));
}

class ExitWithoutShutdownTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (ExitDriverPath().empty()) GTEST_SKIP() << "set LUMEN_EXIT_DRIVER to the exit_driver program";
    tmp_ = lumen::testing::FreshTmpDir();
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(tmp_, ec);
  }
  std::string tmp_;
};

TEST_P(ExitWithoutShutdownTest, ReturnFromMainExitsZeroWithOutputFlushed) {
  auto r = RunExitDriver({"return", GetParam()}, tmp_ + "/out");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "RESULT 43");
}

TEST_P(ExitWithoutShutdownTest, StdExitKeepsItsCodeWithOutputFlushed) {
  auto r = RunExitDriver({"exit3", GetParam()}, tmp_ + "/out");
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_EQ(r.output, "RESULT 43");
}

INSTANTIATE_TEST_SUITE_P(ClusterAndLocal, ExitWithoutShutdownTest, ::testing::Values("cluster", "local"));

}  // namespace
