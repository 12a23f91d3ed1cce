#include "ray/tune/types.h"

#include <gtest/gtest.h>

namespace ray::tune {
namespace {

TEST(TuneTypesTest, ModeParsesRaysSpellingsOnly) {
  EXPECT_EQ(ParseMode("min"), Mode::kMin);
  EXPECT_EQ(ParseMode("max"), Mode::kMax);
  EXPECT_THROW(ParseMode("Max"), TuneError);
  EXPECT_THROW(ParseMode(""), TuneError);
}

TEST(TuneTypesTest, ScoreIsHigherIsBetter) {
  EXPECT_GT(Score(Mode::kMin, 1.0), Score(Mode::kMin, 2.0));
  EXPECT_GT(Score(Mode::kMax, 2.0), Score(Mode::kMax, 1.0));
}

TEST(TuneTypesTest, NamesAreRays) {
  EXPECT_STREQ(TrialStatusName(TrialStatus::kTerminated), "TERMINATED");
  EXPECT_STREQ(ActionName(Action::kStop), "STOP");
  EXPECT_STREQ(ModeName(Mode::kMax), "max");
}

}  // namespace
}  // namespace ray::tune
