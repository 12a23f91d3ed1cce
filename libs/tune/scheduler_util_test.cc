#include "scheduler_util.h"

#include <gtest/gtest.h>

#include <cmath>

namespace ray::tune::internal {
namespace {

TEST(SchedulerUtilTest, PercentileIsNumpysLinearInterpolation) {
  EXPECT_DOUBLE_EQ(NanPercentile({2, 4}, 50), 3.0);
  EXPECT_DOUBLE_EQ(NanPercentile({2, 4, 1}, 50), 2.0);
  std::vector<double> zero_to_19;
  for (int i = 0; i < 20; ++i) zero_to_19.push_back(i);
  EXPECT_DOUBLE_EQ(NanPercentile(zero_to_19, 50), 9.5);
  // (1 - 1/4) quantile of 0..4: index 3.0.
  EXPECT_DOUBLE_EQ(NanPercentile({4, 0, 3, 1, 2}, 75), 3.0);
  EXPECT_DOUBLE_EQ(NanPercentile({0, 10}, 75), 7.5);
  EXPECT_DOUBLE_EQ(NanPercentile({5}, 75), 5.0);
}

TEST(SchedulerUtilTest, PercentileIgnoresNaN) {
  const double nan = std::nan("");
  EXPECT_DOUBLE_EQ(NanPercentile({2, nan, 4}, 50), 3.0);
  EXPECT_TRUE(std::isnan(NanPercentile({nan}, 50)));
  EXPECT_TRUE(std::isnan(NanPercentile({}, 50)));
}

TEST(SchedulerUtilTest, MedianAndStdAreNumpys) {
  EXPECT_DOUBLE_EQ(Median({3, 1, 2}), 2.0);
  EXPECT_DOUBLE_EQ(Median({4, 1, 2, 3}), 2.5);
  EXPECT_TRUE(std::isnan(Median({1, std::nan(""), 2})));
  EXPECT_DOUBLE_EQ(PopulationStd({1, 3}), 1.0);
  EXPECT_DOUBLE_EQ(PopulationStd({2, 2, 2}), 0.0);
}

TEST(SchedulerUtilTest, ResultNumberReadsFlatAndNestedKeys) {
  const Json result = {{"loss", 0.5}, {"it", 3},     {"info", {{"acc", 0.9}}},
                       {"a/b", 7},    {"name", "x"}, {"n", nullptr}};
  EXPECT_EQ(ResultNumber(result, "loss"), 0.5);
  EXPECT_EQ(ResultNumber(result, "it"), 3.0);
  EXPECT_EQ(ResultNumber(result, "info/acc"), 0.9);
  EXPECT_EQ(ResultNumber(result, "a/b"), 7.0);  // a literal flattened key wins
  EXPECT_EQ(ResultNumber(result, "missing"), std::nullopt);
  EXPECT_EQ(ResultNumber(result, "info/missing"), std::nullopt);
  EXPECT_EQ(ResultNumber(result, "n"), std::nullopt);
  EXPECT_THROW(ResultNumber(result, "name"), TuneError);
}

TEST(SchedulerUtilTest, RandomDrawsAreInRangeAndStateRoundTrips) {
  Rng rng(7);
  for (int i = 0; i < 1000; ++i) {
    const double u = UniformUnit(rng);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    ASSERT_LT(RandomIndex(rng, 3), 3u);
  }
  const std::string state = RngState(rng);
  Rng copy;
  SetRngState(copy, state);
  EXPECT_EQ(copy(), rng());
  EXPECT_THROW(SetRngState(copy, "not a state"), TuneError);
}

TEST(SchedulerUtilTest, NonFiniteDoublesSurviveJson) {
  EXPECT_TRUE(std::isnan(DoubleFromJson(Json::parse(DoubleToJson(std::nan("")).dump()))));
  EXPECT_EQ(DoubleFromJson(DoubleToJson(-INFINITY)), -INFINITY);
  EXPECT_EQ(DoubleFromJson(DoubleToJson(1.5)), 1.5);
}

}  // namespace
}  // namespace ray::tune::internal
