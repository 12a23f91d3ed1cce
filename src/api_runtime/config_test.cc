// Unit tests for turning RayConfig::head_args into head-node options.
#include <gtest/gtest.h>

#include "api_runtime/runtime_config.h"

namespace lumen::api {
namespace {

TEST(HeadArgsTest, SeparateEntriesWithJsonResourcesKeepTheirSpaces) {
  auto h = ParseHeadArgs({"--num-cpus=2", "--num-gpus=2", "--resources={\"accel\": 1, \"disk\": 2}"});
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->num_cpus, 2);
  EXPECT_EQ(h->num_gpus, 2);
  EXPECT_EQ(h->resources.at("accel"), 1);
  EXPECT_EQ(h->resources.at("disk"), 2);
}

TEST(HeadArgsTest, OneStringHoldingSeveralArguments) {
  auto h = ParseHeadArgs({"--num-cpus 4 --resources='{\"a\": 3}' --num-gpus=1"});
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->num_cpus, 4);
  EXPECT_EQ(h->num_gpus, 1);
  EXPECT_EQ(h->resources.at("a"), 3);
}

TEST(HeadArgsTest, GpusDefaultToDetection) {
  auto h = ParseHeadArgs({});
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->num_gpus, -1);
}

TEST(HeadArgsTest, BadValuesAreRejected) {
  EXPECT_FALSE(ParseHeadArgs({"--num-gpus=1.5"}).ok());
  EXPECT_FALSE(ParseHeadArgs({"--num-cpus=-3"}).ok());
  EXPECT_FALSE(ParseHeadArgs({"--resources={\"a\": "}).ok());
  EXPECT_FALSE(ParseHeadArgs({"num-cpus=2"}).ok());
}

TEST(HeadArgsTest, ObjectStoreMemoryIsANumberOfBytesAsRayTakesIt) {
  for (const char *arg :
       {"--object-store-memory=1e9", "--object-store-memory=1000000000", "--object-store-memory 1.0e9"}) {
    auto h = ParseHeadArgs({arg});
    ASSERT_TRUE(h.ok()) << arg << ": " << h.status().ToString();
    EXPECT_EQ(h->object_store_memory, 1000000000LL) << arg;
  }
  for (const char *arg : {"--object-store-memory=-5", "--object-store-memory=0", "--object-store-memory=nan",
                          "--object-store-memory=1GB", "--object-store-memory=inf"})
    EXPECT_FALSE(ParseHeadArgs({arg}).ok()) << arg;
}

TEST(HeadArgsTest, NonsenseResourcesAreRejected) {
  for (const char *arg :
       {"--resources={\"GPU\": -3}", "--resources={\"\": 1}", "--resources={\"a\": -1}",
        "--resources={\"CPU\": 2}", "--resources={\"a\": \"many\"}", "--resources=[1]", "--num-cpus=nan",
        "--num-cpus=-0.5", "--num-cpus=2x", "--num-gpus=inf", "--port=70000", "--unknown=1"}) {
    auto h = ParseHeadArgs({arg});
    EXPECT_FALSE(h.ok()) << arg;
  }
  auto zero = ParseHeadArgs({"--resources={\"a\": 0}", "--num-cpus=0"});
  ASSERT_TRUE(zero.ok()) << zero.status().ToString();
  EXPECT_EQ(zero->num_cpus, 0);
}

TEST(HeadArgsTest, RepeatedOptionsTakeTheLastAndQuotedValuesAreUnquoted) {
  auto h = ParseHeadArgs({"--num-cpus=2 --num-cpus=3 --node-ip-address='0.0.0.0'", "--block",
                          "--include-dashboard=false --dashboard-port 8265"});
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->num_cpus, 3);
  EXPECT_EQ(h->host, "0.0.0.0");
}

TEST(ResolveConfigTest, RayHeadArgsFlagIsOneCommandLine) {
  std::string flag = "--ray_head_args=--num-cpus=3 --resources='{\"x\": 1, \"y\": 2}'";
  std::vector<char *> argv = {const_cast<char *>("prog"), flag.data()};
  auto r = ResolveConfig(ray::RayConfig(), static_cast<int>(argv.size()), argv.data());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto h = ParseHeadArgs(r->head_args);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->num_cpus, 3);
  EXPECT_EQ(h->resources.at("y"), 2);
}

TEST(ResolveConfigTest, AddressIsHostPortUnixOrAuto) {
  unsetenv("RAY_ADDRESS");
  for (const char *ok : {"127.0.0.1:6379", "auto", "unix:/tmp/x/sockets/control"}) {
    ray::RayConfig config;
    config.address = ok;
    auto r = ResolveConfig(config, 0, nullptr);
    ASSERT_TRUE(r.ok()) << ok << ": " << r.status().ToString();
    EXPECT_EQ(r->address, ok);
  }
  ray::RayConfig config;
  config.address = "nowhere";
  EXPECT_FALSE(ResolveConfig(config, 0, nullptr).ok());
  setenv("RAY_ADDRESS", "auto", 1);
  auto from_env = ResolveConfig(ray::RayConfig(), 0, nullptr);
  unsetenv("RAY_ADDRESS");
  ASSERT_TRUE(from_env.ok());
  EXPECT_EQ(from_env->address, "auto");
}

}  // namespace
}  // namespace lumen::api
