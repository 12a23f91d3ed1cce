#include "ray/tune/stoppers.h"

#include <gtest/gtest.h>

namespace ray::tune {
namespace {

TEST(MetricThresholdStopperTest, AnyKeyReachingItsValueStops) {
  MetricThresholdStopper stop(Json{{"training_iteration", 10}, {"mean_accuracy", 0.98}});
  EXPECT_FALSE(stop.ShouldStop("a", Json{{"training_iteration", 9}, {"mean_accuracy", 0.5}}));
  EXPECT_TRUE(stop.ShouldStop("a", Json{{"training_iteration", 10}, {"mean_accuracy", 0.5}}));
  EXPECT_TRUE(stop.ShouldStop("a", Json{{"training_iteration", 3}, {"mean_accuracy", 0.98}}));
  EXPECT_TRUE(stop.ShouldStop("a", Json{{"training_iteration", 30}, {"mean_accuracy", 0.99}}));
  EXPECT_FALSE(stop.StopAll());
}

TEST(MetricThresholdStopperTest, MissingKeyIsAnErrorAndNestedKeysUseSlashes) {
  MetricThresholdStopper stop(Json{{"info/episodes", 100}});
  EXPECT_THROW(stop.ShouldStop("a", Json{{"training_iteration", 1}}), TuneError);
  EXPECT_FALSE(stop.ShouldStop("a", Json{{"info", {{"episodes", 99}}}}));
  EXPECT_TRUE(stop.ShouldStop("a", Json{{"info", {{"episodes", 100}}}}));
  EXPECT_TRUE(stop.ShouldStop("a", Json{{"info/episodes", 101}}));
  EXPECT_THROW(MetricThresholdStopper(Json{{"info", {{"episodes", 100}}}}), TuneError);
  EXPECT_THROW(MetricThresholdStopper(Json::array({1})), TuneError);
}

TEST(FunctionStopperTest, CallsTheFunction) {
  FunctionStopper stop(
      [](const std::string &id, const Json &result) { return id == "b" && result["x"] > 1; });
  EXPECT_FALSE(stop.ShouldStop("a", Json{{"x", 5}}));
  EXPECT_FALSE(stop.ShouldStop("b", Json{{"x", 1}}));
  EXPECT_TRUE(stop.ShouldStop("b", Json{{"x", 2}}));
  EXPECT_FALSE(stop.StopAll());
  EXPECT_THROW(FunctionStopper(nullptr), TuneError);
}

TEST(MaximumIterationStopperTest, CountsResultsPerTrial) {
  MaximumIterationStopper stop(3);
  EXPECT_FALSE(stop.ShouldStop("a", {}));
  EXPECT_FALSE(stop.ShouldStop("a", {}));
  EXPECT_FALSE(stop.ShouldStop("b", {}));
  EXPECT_TRUE(stop.ShouldStop("a", {}));
  MaximumIterationStopper restored(3);
  restored.Restore(Json::parse(stop.Save().dump()));
  EXPECT_FALSE(restored.ShouldStop("b", {}));
  EXPECT_TRUE(restored.ShouldStop("b", {}));
}

TrialPlateauStopper::Options Plateau(const std::string &metric, int num_results, int grace_period,
                                     std::optional<double> threshold = std::nullopt,
                                     std::optional<std::string> mode = std::nullopt) {
  TrialPlateauStopper::Options options;
  options.metric = metric;
  options.num_results = num_results;
  options.grace_period = grace_period;
  options.metric_threshold = threshold;
  options.mode = std::move(mode);
  return options;
}

TEST(TrialPlateauStopperTest, StopsWhenTheLastResultsAreFlat) {
  TrialPlateauStopper stop(Plateau("loss", 3, 4));  // std 0.01
  EXPECT_FALSE(stop.ShouldStop("a", Json{{"loss", 1.0}}));
  EXPECT_FALSE(stop.ShouldStop("a", Json{{"loss", 0.5}}));
  EXPECT_FALSE(stop.ShouldStop("a", Json{{"loss", 0.5}}));
  // The 4th result ends the grace period; the window [0.5, 0.5, 0.5] is flat.
  EXPECT_TRUE(stop.ShouldStop("a", Json{{"loss", 0.5}}));
  // Another trial has its own window.
  EXPECT_FALSE(stop.ShouldStop("b", Json{{"loss", 0.5}}));
  // A moving window is no plateau; a missing value is none either.
  TrialPlateauStopper moving(Plateau("loss", 2, 1));
  EXPECT_FALSE(moving.ShouldStop("a", Json{{"loss", 1.0}}));
  EXPECT_FALSE(moving.ShouldStop("a", Json{{"loss", 0.9}}));
  EXPECT_FALSE(moving.ShouldStop("a", Json{{"other", 0.9}}));
  EXPECT_FALSE(moving.ShouldStop("a", Json{{"loss", 0.9}}));
  EXPECT_TRUE(moving.ShouldStop("a", Json{{"loss", 0.9}}));
}

TEST(TrialPlateauStopperTest, ThresholdMustBeReachedFirst) {
  TrialPlateauStopper stop(Plateau("acc", 2, 2, 0.9, "max"));
  EXPECT_FALSE(stop.ShouldStop("a", Json{{"acc", 0.5}}));
  EXPECT_FALSE(stop.ShouldStop("a", Json{{"acc", 0.5}}));  // flat but below the threshold
  EXPECT_FALSE(stop.ShouldStop("a", Json{{"acc", 0.95}}));
  EXPECT_TRUE(stop.ShouldStop("a", Json{{"acc", 0.95}}));
  TrialPlateauStopper min_stop(Plateau("loss", 2, 2, 0.1, "min"));
  EXPECT_FALSE(min_stop.ShouldStop("a", Json{{"loss", 0.5}}));
  EXPECT_FALSE(min_stop.ShouldStop("a", Json{{"loss", 0.5}}));
  EXPECT_THROW(TrialPlateauStopper(Plateau("acc", 4, 4, 0.9)), TuneError);

  TrialPlateauStopper restored(Plateau("acc", 2, 2, 0.9, "max"));
  TrialPlateauStopper saved(Plateau("acc", 2, 2, 0.9, "max"));
  saved.ShouldStop("a", Json{{"acc", 0.95}});
  restored.Restore(Json::parse(saved.Save().dump()));
  EXPECT_TRUE(restored.ShouldStop("a", Json{{"acc", 0.95}}));
}

TEST(ExperimentPlateauStopperTest, StopsWhenTheTopValuesAgreeForPatienceResults) {
  ExperimentPlateauStopper stop({.metric = "loss", .std = 0.001, .top = 3, .mode = "min", .patience = 2});
  EXPECT_FALSE(stop.ShouldStop("a", Json{{"loss", 1.0}}));
  EXPECT_FALSE(stop.ShouldStop("b", Json{{"loss", 1.0}}));
  EXPECT_FALSE(stop.ShouldStop("c", Json{{"loss", 5.0}}));  // top 3 = {1, 1, 5}: spread
  EXPECT_FALSE(stop.ShouldStop("c", Json{{"loss", 1.0}}));  // {1, 1, 1}: plateau, once
  EXPECT_FALSE(stop.StopAll());
  EXPECT_TRUE(stop.ShouldStop("d", Json{{"loss", 9.0}}));  // still {1, 1, 1}, second in a row
  EXPECT_TRUE(stop.StopAll());

  ExperimentPlateauStopper max_stop({.metric = "acc", .top = 2, .mode = "max"});
  EXPECT_FALSE(max_stop.ShouldStop("a", Json{{"acc", 0.9}}));
  EXPECT_FALSE(max_stop.ShouldStop("a", Json{{"acc", 0.1}}));  // top 2 = {0.1, 0.9}
  EXPECT_TRUE(max_stop.ShouldStop("a", Json{{"acc", 0.9}}));   // top 2 = {0.9, 0.9}
  EXPECT_THROW(max_stop.ShouldStop("a", Json{{"loss", 1}}), TuneError);

  ExperimentPlateauStopper restored({.metric = "acc", .top = 2, .mode = "max"});
  restored.Restore(Json::parse(max_stop.Save().dump()));
  EXPECT_TRUE(restored.StopAll());
}

TEST(ExperimentPlateauStopperTest, RejectsRaysBadParameters) {
  EXPECT_THROW(ExperimentPlateauStopper({.metric = "m", .mode = "best"}), TuneError);
  EXPECT_THROW(ExperimentPlateauStopper({.metric = "m", .top = 1}), TuneError);
  EXPECT_THROW(ExperimentPlateauStopper({.metric = "m", .patience = -1}), TuneError);
  EXPECT_THROW(ExperimentPlateauStopper({.metric = "m", .std = 0}), TuneError);
}

TEST(TimeoutStopperTest, BudgetCountsFromTheFirstCheck) {
  double now = 1000;
  TimeoutStopper stop(10, [&now] { return now; });
  EXPECT_FALSE(stop.ShouldStop("a", {}));
  now = 5000;  // setup before the first check is not charged
  EXPECT_FALSE(stop.StopAll());
  now += 6;
  EXPECT_FALSE(stop.StopAll());
  now += 4;
  EXPECT_TRUE(stop.StopAll());

  // A resume carries the remaining budget only.
  TimeoutStopper first(10, [&now] { return now; });
  EXPECT_FALSE(first.StopAll());
  now += 7;
  EXPECT_FALSE(first.StopAll());
  TimeoutStopper resumed(10, [&now] { return now; });
  resumed.Restore(Json::parse(first.Save().dump()));
  now += 1000;  // the time the driver was down
  EXPECT_FALSE(resumed.StopAll());
  now += 2;
  EXPECT_FALSE(resumed.StopAll());
  now += 1;
  EXPECT_TRUE(resumed.StopAll());
}

TEST(CombinedStopperTest, IsAnOrThatStopsAskingAtTheFirstYes) {
  auto first = std::make_shared<MaximumIterationStopper>(2);
  auto second = std::make_shared<MaximumIterationStopper>(3);
  double now = 0;
  auto timeout = std::make_shared<TimeoutStopper>(5, [&now] { return now; });
  CombinedStopper stop({first, second, timeout});
  EXPECT_FALSE(stop.ShouldStop("a", {}));
  EXPECT_TRUE(stop.ShouldStop("a", {}));  // first says yes; second is not asked
  // second saw one result of "a": two more before it says yes.
  EXPECT_FALSE(second->ShouldStop("a", {}));
  EXPECT_TRUE(second->ShouldStop("a", {}));
  EXPECT_FALSE(stop.StopAll());
  now = 5;
  EXPECT_TRUE(stop.StopAll());

  CombinedStopper restored({std::make_shared<MaximumIterationStopper>(2),
                            std::make_shared<MaximumIterationStopper>(3),
                            std::make_shared<TimeoutStopper>(5, [&now] { return now; })});
  restored.Restore(Json::parse(stop.Save().dump()));
  EXPECT_TRUE(restored.ShouldStop("a", {}));
  EXPECT_THROW(CombinedStopper({nullptr}), TuneError);
  NoopStopper noop;
  EXPECT_FALSE(noop.ShouldStop("a", {}));
  EXPECT_FALSE(noop.StopAll());
}

}  // namespace
}  // namespace ray::tune
