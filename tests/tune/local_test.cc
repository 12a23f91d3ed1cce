// Lumen Tune's trials in local mode (RayConfig::local_mode): every trial's
// actor runs on threads of this process, so several trials share it. Checks
// that trials keep apart (Report finds its own trial) and that STOP, errors
// and the class API work there too. In-process, so the TSan build runs it.
#include <gtest/gtest.h>
#include <ray/api.h>

#include <chrono>
#include <map>

#include "trial_executor.h"

namespace {

using ray::tune::Json;
using ray::tune::TrainableRef;
using ray::tune::internal::TrialEvent;
using ray::tune::internal::TrialExecutor;
using ray::tune::internal::TrialStart;
namespace fields = ray::tune::fields;

constexpr std::chrono::milliseconds kLong{60000};

void CountTrain(const Json &config) {
  for (int i = 0; i < config.at("iterations").get<int>(); ++i)
    ray::tune::Report(Json{{"tag", config.at("tag")}, {"i", i}});
}

void ForeverTrain(const Json &) {
  for (int i = 0;; ++i) ray::tune::Report(Json{{"i", i}});
}

void ThrowingTrain(const Json &) { throw std::logic_error("bad layer size"); }

class Doubler : public ray::tune::Trainable {
 public:
  void Setup(const Json &config) override { value_ = config.at("start"); }
  Json Step() override {
    value_ *= 2;
    return Json{{"value", value_}};
  }

 private:
  int value_ = 0;
};

class TuneLocalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ray::RayConfig config;
    config.local_mode = true;
    ray::Init(config);
    dir_ = ::testing::TempDir() + "tune-local-" + std::to_string(getpid());
  }
  void TearDown() override { ray::Shutdown(); }
  TrialStart Trial(const std::string &id, TrainableRef trainable, Json config) {
    return TrialStart{id, trainable, std::move(config), {}, dir_ + "/" + id, std::nullopt};
  }
  std::string dir_;
};

TEST_F(TuneLocalTest, TrialsInOneProcessKeepTheirOwnResults) {
  TrialExecutor executor;
  for (const char *id : {"a", "b", "c"})
    executor.Start(Trial(id, CountTrain, Json{{"tag", id}, {"iterations", 4}}));
  std::map<std::string, int> seen;
  int done = 0;
  while (done < 3) {
    std::optional<TrialEvent> event = executor.WaitAny(kLong);
    ASSERT_TRUE(event);
    ASSERT_NE(event->kind, TrialEvent::Kind::kError) << event->error;
    if (event->kind == TrialEvent::Kind::kDone) {
      EXPECT_EQ(event->metrics[fields::kTrainingIteration], 4);
      ++done;
      continue;
    }
    EXPECT_EQ(event->metrics["tag"], event->trial_id);
    EXPECT_EQ(event->metrics["i"], seen[event->trial_id]++);
    executor.Continue(event->trial_id);
  }
  EXPECT_EQ(executor.NumRunning(), 0u);
}

TEST_F(TuneLocalTest, StopErrorsAndTheClassApi) {
  TrialExecutor executor;
  executor.Start(Trial("forever", ForeverTrain, Json::object()));
  executor.Start(Trial("throws", ThrowingTrain, Json::object()));
  executor.Start(Trial("class", TrainableRef::Class<Doubler>(), Json{{"start", 3}}));
  std::map<std::string, TrialEvent> first;
  while (first.size() < 3) {
    std::optional<TrialEvent> event = executor.WaitAny(kLong);
    ASSERT_TRUE(event);
    first.emplace(event->trial_id, *event);
  }
  EXPECT_EQ(first["forever"].kind, TrialEvent::Kind::kResult);
  EXPECT_EQ(first["throws"].kind, TrialEvent::Kind::kError);
  EXPECT_EQ(first["throws"].error, "bad layer size");
  EXPECT_EQ(first["class"].metrics["value"], 6);
  executor.Stop("forever");
  EXPECT_FALSE(executor.IsRunning("forever"));
  executor.Continue("class");
  std::optional<TrialEvent> second = executor.WaitAny(kLong);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->metrics["value"], 12);
  EXPECT_FALSE(executor.ResetConfig("class", Json{{"start", 1}}));
  executor.Stop("class");
  EXPECT_EQ(executor.NumRunning(), 0u);
}

}  // namespace
