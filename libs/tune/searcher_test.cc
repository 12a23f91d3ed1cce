// BasicVariantGenerator, ConcurrencyLimiter and Repeater.
#include "ray/tune/searcher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <set>

namespace ray::tune {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::string ErrorOf(const std::function<void()> &fn) {
  try {
    fn();
  } catch (const TuneError &e) {
    return e.what();
  }
  return "(no TuneError)";
}

// Suggests until "not now" or "finished"; trial ids t0, t1, ... from *next_id.
std::vector<Json> Drain(Searcher &searcher, int *next_id, int limit = 1000) {
  std::vector<Json> configs;
  for (int i = 0; i < limit; ++i) {
    Suggestion s = searcher.Suggest("t" + std::to_string(*next_id));
    if (!s.has_config()) break;
    ++*next_id;
    configs.push_back(s.config());
  }
  return configs;
}

SearchProperties Props(Space space, int64_t num_samples = 1) {
  SearchProperties p;
  p.space = std::move(space);
  p.num_samples = num_samples;
  return p;
}

BasicVariantOptions Seeded(uint64_t seed) {
  BasicVariantOptions o;
  o.seed = seed;
  return o;
}

TEST(BasicVariantGeneratorTest, RepeatsTheGridNumSamplesTimesThenFinishes) {
  BasicVariantGenerator gen(Seeded(1));
  gen.SetSearchProperties(Props(Space{{"a", GridSearch({1, 2, 3})}, {"b", Uniform(0, 1)}, {"c", "k"}}, 2));
  EXPECT_EQ(gen.TotalSamples(), 6);
  int id = 0;
  std::vector<Json> configs = Drain(gen, &id);
  ASSERT_EQ(configs.size(), 6u);
  std::set<double> b;
  for (size_t i = 0; i < configs.size(); ++i) {
    EXPECT_EQ(configs[i]["a"], static_cast<int>(i % 3) + 1);
    EXPECT_EQ(configs[i]["c"], "k");
    b.insert(configs[i]["b"].get<double>());
  }
  EXPECT_EQ(b.size(), 6u);
  EXPECT_TRUE(gen.Suggest("t99").is_finished());
  EXPECT_TRUE(gen.ManagesNumSamples());
}

TEST(BasicVariantGeneratorTest, PointsToEvaluateReplaceSamplesAsInRaysDocstring) {
  // Ray's BasicVariantGenerator docstring: four samples give six trials.
  BasicVariantOptions options = Seeded(3);
  options.points_to_evaluate = {Json{{"a", 2}, {"b", 2}}, Json{{"a", 1}}, Json{{"b", 2}}};
  BasicVariantGenerator gen(options);
  gen.SetSearchProperties(Props(Space{{"a", GridSearch({1, 2})}, {"b", RandInt(0, 3)}}, 4));
  EXPECT_EQ(gen.TotalSamples(), 6);
  int id = 0;
  std::vector<Json> c = Drain(gen, &id);
  ASSERT_EQ(c.size(), 6u);
  EXPECT_EQ(c[0], (Json{{"a", 2}, {"b", 2}}));
  EXPECT_EQ(c[1]["a"], 1);
  EXPECT_EQ(c[2], (Json{{"a", 1}, {"b", 2}}));
  EXPECT_EQ(c[3], (Json{{"a", 2}, {"b", 2}}));
  EXPECT_EQ(c[4]["a"], 1);
  EXPECT_EQ(c[5]["a"], 2);
  for (const Json &config : c) {
    EXPECT_GE(config["b"].get<int>(), 0);
    EXPECT_LT(config["b"].get<int>(), 3);
  }
}

TEST(BasicVariantGeneratorTest, PointsBeyondNumSamplesStillRun) {
  BasicVariantOptions options = Seeded(3);
  options.points_to_evaluate = {Json{{"x", 0.5}}, Json{{"x", 0.25}}};
  BasicVariantGenerator gen(options);
  gen.SetSearchProperties(Props(Space{{"x", Uniform(0, 1)}}, 1));
  int id = 0;
  EXPECT_EQ(Drain(gen, &id), (std::vector<Json>{Json{{"x", 0.5}}, Json{{"x", 0.25}}}));
}

TEST(BasicVariantGeneratorTest, UnlimitedNeverFinishes) {
  BasicVariantGenerator gen(Seeded(2));
  gen.SetSearchProperties(Props(Space{{"a", GridSearch({1, 2})}, {"x", Uniform(0, 1)}}, -1));
  EXPECT_EQ(gen.TotalSamples(), -1);
  int id = 0;
  std::vector<Json> configs = Drain(gen, &id, 5000);
  ASSERT_EQ(configs.size(), 5000u);
  EXPECT_EQ(configs[4999]["a"], 2);
}

TEST(BasicVariantGeneratorTest, ZeroSamplesFinishAtOnce) {
  BasicVariantGenerator gen(Seeded(2));
  gen.SetSearchProperties(Props(Space{{"x", Uniform(0, 1)}}, 0));
  EXPECT_TRUE(gen.Suggest("t0").is_finished());
}

TEST(BasicVariantGeneratorTest, MaxConcurrentHoldsBackUntilATrialEnds) {
  BasicVariantOptions options = Seeded(4);
  options.max_concurrent = 2;
  BasicVariantGenerator gen(options);
  gen.SetSearchProperties(Props(Space{{"x", Uniform(0, 1)}}, 3));
  EXPECT_TRUE(gen.Suggest("t0").has_config());
  EXPECT_TRUE(gen.Suggest("t1").has_config());
  EXPECT_TRUE(gen.Suggest("t2").is_not_now());
  gen.OnTrialComplete("t0", Json{{"loss", 1}}, false);
  EXPECT_TRUE(gen.Suggest("t2").has_config());
  EXPECT_TRUE(gen.Suggest("t3").is_not_now());
  gen.OnTrialComplete("t1", Json(), true);
  EXPECT_TRUE(gen.Suggest("t3").is_finished());
}

TEST(BasicVariantGeneratorTest, BadSpecsFailBeforeAnyTrial) {
  BasicVariantOptions options = Seeded(1);
  options.points_to_evaluate = {Json{{"nope", 1}}};
  BasicVariantGenerator gen(options);
  EXPECT_THAT(ErrorOf([&] {
                gen.SetSearchProperties(Props(Space{{"x", Uniform(0, 1)}}));
              }),
              AllOf(HasSubstr("points_to_evaluate[0]"), HasSubstr("'nope'")));
  BasicVariantGenerator plain(Seeded(1));
  EXPECT_THROW(plain.SetSearchProperties(Props(Space{}, -2)), TuneError);
  SearchProperties bad_mode = Props(Space{});
  bad_mode.mode = "maximize";
  EXPECT_THAT(ErrorOf([&] { plain.SetSearchProperties(bad_mode); }), HasSubstr("\"min\" or \"max\""));
  EXPECT_THROW(BasicVariantGenerator(BasicVariantOptions{{}, -1, 1}), TuneError);
}

TEST(BasicVariantGeneratorTest, SameSeedSameSequenceOtherSeedDiffers) {
  Space space{{"g", GridSearch({"a", "b"})}, {"x", LogUniform(1e-3, 1)}, {"n", RandInt(0, 1000)}};
  auto run = [&](uint64_t seed) {
    BasicVariantGenerator gen(Seeded(seed));
    gen.SetSearchProperties(Props(space, 10));
    int id = 0;
    return Drain(gen, &id);
  };
  EXPECT_EQ(run(5).size(), 20u);
  EXPECT_EQ(run(5), run(5));
  EXPECT_NE(run(5), run(6));
}

TEST(BasicVariantGeneratorTest, RestoreContinuesTheSameSequence) {
  Space space{{"g", GridSearch({1, 2, 3})}, {"x", Uniform(0, 1)}};
  BasicVariantOptions options = Seeded(8);
  options.points_to_evaluate = {Json{{"x", 0.5}}};
  options.max_concurrent = 100;
  BasicVariantGenerator original(options);
  original.SetSearchProperties(Props(space, 4));
  int id = 0;
  Drain(original, &id, 5);                                 // mid-way through the second sample's grid
  const Json state = Json::parse(original.Save().dump());  // through text, as on disk
  std::vector<Json> rest = Drain(original, &id);
  ASSERT_EQ(rest.size(), 7u);

  BasicVariantOptions fresh_options = options;
  fresh_options.seed = 999;  // the saved generator state wins over the seed
  BasicVariantGenerator restored(fresh_options);
  restored.SetSearchProperties(Props(space, 4));
  restored.Restore(state);
  int id2 = 5;
  EXPECT_EQ(Drain(restored, &id2), rest);
  EXPECT_TRUE(restored.Suggest("t99").is_finished());
  EXPECT_THROW(restored.Restore(Json{{"rng", "garbage"}}), TuneError);
}

TEST(BasicVariantGeneratorTest, ConstantGridSearchKeepsSampledValuesOverTheGrid) {
  BasicVariantOptions options = Seeded(6);
  options.constant_grid_search = true;
  BasicVariantGenerator gen(options);
  Space space{{"g", GridSearch({1, 2, 3})},
              {"x", Uniform(0, 1)},
              {"fx", SampleFrom([](const Json &c) { return c.at("x").get<double>() * 10; })},
              {"fg", SampleFrom([](const Json &c) { return c.at("g").get<int>() * 100; })}};
  gen.SetSearchProperties(Props(space, 3));
  int id = 0;
  std::vector<Json> c = Drain(gen, &id, 4);
  const Json state = Json::parse(gen.Save().dump());  // mid-way through the second sample
  std::vector<Json> rest = Drain(gen, &id);
  c.insert(c.end(), rest.begin(), rest.end());
  ASSERT_EQ(c.size(), 9u);
  for (size_t i = 0; i < 9; ++i) {
    EXPECT_EQ(c[i]["x"], c[i - i % 3]["x"]) << i;  // constant within a sample
    EXPECT_EQ(c[i]["fx"], c[i]["x"].get<double>() * 10);
    EXPECT_EQ(c[i]["fg"], (static_cast<int>(i % 3) + 1) * 100);  // computed per grid point
  }
  EXPECT_NE(c[0]["x"], c[3]["x"]);
  EXPECT_NE(c[3]["x"], c[6]["x"]);

  BasicVariantGenerator restored(options);
  restored.SetSearchProperties(Props(space, 3));
  restored.Restore(state);
  int id2 = 4;
  EXPECT_EQ(Drain(restored, &id2), rest);
}

// ---------------------------------------------------------------------------

// A searcher that suggests {"n": 0}, {"n": 1}, ... and records what it is told.
class CountingSearcher : public Searcher {
 public:
  bool SetSearchProperties(const SearchProperties &p) override {
    TakeMetricAndMode(p);
    return true;
  }
  Suggestion Suggest(const std::string &trial_id) override {
    if (finished) return Suggestion::Finished();
    suggested.push_back(trial_id);
    return Suggestion::Of(Json{{"n", next++}});
  }
  void OnTrialResult(const std::string &trial_id, const Json &) override { results.push_back(trial_id); }
  void OnTrialComplete(const std::string &trial_id, const Json &result, bool error) override {
    completed.push_back({trial_id, result, error});
  }
  Json Save() const override { return Json{{"next", next}}; }
  void Restore(const Json &state) override { next = state.at("next").get<int>(); }

  struct Completion {
    std::string id;
    Json result;
    bool error;
  };
  int next = 0;
  bool finished = false;
  std::vector<std::string> suggested, results;
  std::vector<Completion> completed;
};

TEST(ConcurrencyLimiterTest, LimitsLiveTrials) {
  auto inner = std::make_unique<CountingSearcher>();
  CountingSearcher *raw = inner.get();
  ConcurrencyLimiter limiter(std::move(inner), 2);
  EXPECT_TRUE(limiter.SetSearchProperties(Props(Space{})));
  EXPECT_TRUE(limiter.Suggest("t0").has_config());
  EXPECT_TRUE(limiter.Suggest("t1").has_config());
  EXPECT_TRUE(limiter.Suggest("t2").is_not_now());
  EXPECT_EQ(raw->suggested.size(), 2u);  // the wrapped searcher was not asked
  limiter.OnTrialResult("t0", Json{{"loss", 3}});
  EXPECT_EQ(raw->results, std::vector<std::string>{"t0"});
  limiter.OnTrialComplete("t0", Json{{"loss", 3}}, false);
  ASSERT_EQ(raw->completed.size(), 1u);
  EXPECT_EQ(raw->completed[0].id, "t0");
  EXPECT_EQ(limiter.Suggest("t2").config(), (Json{{"n", 2}}));
  limiter.OnTrialComplete("stranger", Json(), false);  // not handed out: dropped, as Ray does
  EXPECT_EQ(raw->completed.size(), 1u);
  EXPECT_THROW(limiter.Suggest("t1"), TuneError);  // already live
}

TEST(ConcurrencyLimiterTest, BatchHoldsCompletionsUntilTheBatchEnds) {
  auto inner = std::make_unique<CountingSearcher>();
  CountingSearcher *raw = inner.get();
  ConcurrencyLimiter limiter(std::move(inner), 2, /*batch=*/true);
  limiter.SetSearchProperties(Props(Space{}));
  limiter.Suggest("t0");
  limiter.Suggest("t1");
  limiter.OnTrialComplete("t0", Json{{"loss", 1}}, false);
  EXPECT_TRUE(raw->completed.empty());
  EXPECT_TRUE(limiter.Suggest("t2").is_not_now());  // t0 still counts until the batch ends
  limiter.OnTrialComplete("t1", Json{{"loss", 2}}, true);
  ASSERT_EQ(raw->completed.size(), 2u);
  EXPECT_EQ(raw->completed[0].result, (Json{{"loss", 1}}));
  EXPECT_TRUE(raw->completed[1].error);
  EXPECT_TRUE(limiter.Suggest("t2").has_config());
  EXPECT_TRUE(limiter.Suggest("t3").has_config());
}

TEST(ConcurrencyLimiterTest, LeavesTheLimitToASearcherThatHasOne) {
  BasicVariantOptions options = Seeded(1);
  options.max_concurrent = 5;
  ConcurrencyLimiter limiter(std::make_unique<BasicVariantGenerator>(options), 1);
  limiter.SetSearchProperties(Props(Space{{"x", Uniform(0, 1)}}, 10));
  // The generator took max_concurrent = 1 from the limiter and enforces it.
  EXPECT_TRUE(limiter.Suggest("t0").has_config());
  EXPECT_TRUE(limiter.Suggest("t1").is_not_now());
  limiter.OnTrialComplete("t0", Json(), false);
  EXPECT_TRUE(limiter.Suggest("t1").has_config());
  EXPECT_TRUE(limiter.ManagesNumSamples());
}

TEST(ConcurrencyLimiterTest, RejectsANonPositiveLimitAndPassesFinishedOn) {
  EXPECT_THROW(ConcurrencyLimiter(std::make_unique<CountingSearcher>(), 0), TuneError);
  EXPECT_THROW(ConcurrencyLimiter(nullptr, 1), TuneError);
  auto inner = std::make_unique<CountingSearcher>();
  inner->finished = true;
  ConcurrencyLimiter limiter(std::move(inner), 1);
  EXPECT_TRUE(limiter.Suggest("t0").is_finished());
  EXPECT_TRUE(limiter.Suggest("t1").is_finished());  // finished trials take no slot
}

TEST(ConcurrencyLimiterTest, SaveRestoreKeepsLiveTrialsAndTheWrappedState) {
  ConcurrencyLimiter limiter(std::make_unique<CountingSearcher>(), 2, true);
  limiter.Suggest("t0");
  limiter.Suggest("t1");
  limiter.OnTrialComplete("t0", Json{{"loss", 1}}, false);
  const Json state = Json::parse(limiter.Save().dump());

  auto inner = std::make_unique<CountingSearcher>();
  CountingSearcher *raw = inner.get();
  ConcurrencyLimiter restored(std::move(inner), 2, true);
  restored.Restore(state);
  EXPECT_TRUE(restored.Suggest("t2").is_not_now());
  restored.OnTrialComplete("t1", Json{{"loss", 2}}, false);
  ASSERT_EQ(raw->completed.size(), 2u);  // the cached t0 and t1, together
  EXPECT_EQ(restored.Suggest("t2").config(), (Json{{"n", 2}}));
}

// ---------------------------------------------------------------------------

TEST(RepeaterTest, RepeatsEachConfigAndReportsTheMean) {
  auto inner = std::make_unique<CountingSearcher>();
  CountingSearcher *raw = inner.get();
  Repeater repeater(std::move(inner), 3);
  SearchProperties props = Props(Space{});
  props.metric = "loss";
  props.mode = "min";
  repeater.SetSearchProperties(props);
  EXPECT_EQ(repeater.metric(), "loss");
  for (int i = 0; i < 3; ++i) {
    Json config = repeater.Suggest("t" + std::to_string(i)).config();
    EXPECT_EQ(config, (Json{{"n", 0}, {Repeater::kTrialIndex, i}}));
  }
  EXPECT_EQ(repeater.Suggest("t3").config(), (Json{{"n", 1}, {Repeater::kTrialIndex, 0}}));
  EXPECT_EQ(raw->suggested, (std::vector<std::string>{"t0", "t3"}));

  repeater.OnTrialComplete("t1", Json{{"loss", 1.0}}, false);
  repeater.OnTrialComplete("t0", Json{{"other", 5}}, false);  // no metric: skipped in the mean
  EXPECT_TRUE(raw->completed.empty());
  repeater.OnTrialComplete("t2", Json{{"loss", 2.0}}, false);
  ASSERT_EQ(raw->completed.size(), 1u);
  EXPECT_EQ(raw->completed[0].id, "t0");  // the primary trial, the one the searcher knows
  EXPECT_EQ(raw->completed[0].result, (Json{{"loss", 1.5}}));
  repeater.OnTrialComplete("t2", Json{{"loss", 9.0}}, false);  // repeated: ignored
  EXPECT_EQ(raw->completed.size(), 1u);
}

TEST(RepeaterTest, WithoutIndexAndWhenTheSearcherStops) {
  auto inner = std::make_unique<CountingSearcher>();
  CountingSearcher *raw = inner.get();
  Repeater repeater(std::move(inner), 2, /*set_index=*/false);
  EXPECT_EQ(repeater.Suggest("a").config(), (Json{{"n", 0}}));
  EXPECT_EQ(repeater.Suggest("b").config(), (Json{{"n", 0}}));
  raw->finished = true;
  EXPECT_TRUE(repeater.Suggest("c").is_finished());
  EXPECT_THROW(Repeater(std::make_unique<CountingSearcher>(), 0), TuneError);
  EXPECT_THROW(repeater.Suggest("a"), TuneError);
}

TEST(RepeaterTest, SaveRestoreMidGroup) {
  Repeater repeater(std::make_unique<CountingSearcher>(), 2);
  SearchProperties props = Props(Space{});
  props.metric = "acc";
  props.mode = "max";
  repeater.SetSearchProperties(props);
  repeater.Suggest("t0");
  repeater.Suggest("t1");
  repeater.Suggest("t2");
  repeater.OnTrialComplete("t0", Json{{"acc", 0.5}}, false);
  repeater.OnTrialComplete("t2", Json(), false);  // NaN score survives the round trip
  const Json state = Json::parse(repeater.Save().dump());

  auto inner = std::make_unique<CountingSearcher>();
  CountingSearcher *raw = inner.get();
  Repeater restored(std::move(inner), 2);
  restored.SetSearchProperties(props);
  restored.Restore(state);
  EXPECT_EQ(restored.Suggest("t3").config(), (Json{{"n", 1}, {Repeater::kTrialIndex, 1}}));
  restored.OnTrialComplete("t1", Json{{"acc", 0.7}}, false);
  ASSERT_EQ(raw->completed.size(), 1u);
  EXPECT_NEAR(raw->completed[0].result["acc"].get<double>(), 0.6, 1e-12);
  restored.OnTrialComplete("t3", Json{{"acc", 0.9}}, false);
  ASSERT_EQ(raw->completed.size(), 2u);
  EXPECT_EQ(raw->completed[1].id, "t2");
  EXPECT_NEAR(raw->completed[1].result["acc"].get<double>(), 0.9, 1e-12);
  EXPECT_EQ(restored.Suggest("t4").config(), (Json{{"n", 2}, {Repeater::kTrialIndex, 0}}));
}

}  // namespace
}  // namespace ray::tune
