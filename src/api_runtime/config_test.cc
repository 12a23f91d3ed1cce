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

}  // namespace
}  // namespace lumen::api
