// Property tests of every sampler (many draws, several seeds), Space
// resolution and Config access.
#include "ray/tune/search_space.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

namespace ray::tune {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr int kDraws = 4000;
const uint64_t kSeeds[] = {1, 2, 3, 42, 20261206};

std::vector<Json> Draw(const DomainPtr &domain, uint64_t seed, int n = kDraws) {
  Rng rng(seed);
  std::vector<Json> out;
  for (int i = 0; i < n; ++i) out.push_back(domain->Sample(Json::object(), rng));
  return out;
}

bool IsMultiple(double v, double q) { return std::fabs(v / q - std::round(v / q)) < 1e-9; }

std::string ErrorOf(const std::function<void()> &fn) {
  try {
    fn();
  } catch (const TuneError &e) {
    return e.what();
  }
  return "(no TuneError)";
}

TEST(SamplerTest, UniformStaysInItsHalfOpenRange) {
  for (uint64_t seed : kSeeds) {
    double sum = 0, lo = 1e9, hi = -1e9;
    for (const Json &v : Draw(Uniform(-2, 3), seed)) {
      ASSERT_TRUE(v.is_number_float());
      const double x = v.get<double>();
      ASSERT_GE(x, -2);
      ASSERT_LT(x, 3);
      sum += x;
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
    EXPECT_NEAR(sum / kDraws, 0.5, 0.15);
    EXPECT_LT(lo, -1.9);  // spreads over the whole range
    EXPECT_GT(hi, 2.9);
  }
}

TEST(SamplerTest, QUniformRoundsToMultiplesAndReachesTheUpperBound) {
  for (uint64_t seed : kSeeds) {
    std::map<double, int> counts;
    for (const Json &v : Draw(QUniform(0, 1, 0.25), seed)) {
      ASSERT_TRUE(v.is_number_float());
      const double x = v.get<double>();
      ASSERT_TRUE(IsMultiple(x, 0.25)) << x;
      ASSERT_GE(x, 0);
      ASSERT_LE(x, 1);
      ++counts[x];
    }
    ASSERT_EQ(counts.size(), 5u);  // 0, .25, .5, .75 and the upper bound 1
    // Ray rounds a draw from [0, 1): the end values own half a step each.
    EXPECT_NEAR(counts[0.0] / double(kDraws), 0.125, 0.03);
    EXPECT_NEAR(counts[1.0] / double(kDraws), 0.125, 0.03);
    EXPECT_NEAR(counts[0.5] / double(kDraws), 0.25, 0.03);
  }
}

TEST(SamplerTest, QUniformWithQOneDoesNotQuantiseAsInRay) {
  int non_integral = 0;
  for (const Json &v : Draw(QUniform(0, 10, 1), 7))
    non_integral += v.get<double>() != std::floor(v.get<double>());
  EXPECT_GT(non_integral, kDraws / 2);
}

TEST(SamplerTest, LogUniformSpreadsEvenlyOverDecades) {
  for (uint64_t seed : kSeeds) {
    int decade[3] = {0, 0, 0};
    for (const Json &v : Draw(LogUniform(1e-4, 1e-1), seed)) {
      const double x = v.get<double>();
      ASSERT_GE(x, 1e-4);
      ASSERT_LT(x, 1e-1);
      ++decade[std::min(2, static_cast<int>(std::floor(std::log10(x) + 4)))];
    }
    for (int d : decade) EXPECT_NEAR(d / double(kDraws), 1.0 / 3, 0.04);
  }
}

TEST(SamplerTest, QLogUniformIsQuantisedAndLogSpread) {
  for (uint64_t seed : kSeeds) {
    int below_one = 0;
    for (const Json &v : Draw(QLogUniform(0.1, 10, 0.1), seed)) {
      const double x = v.get<double>();
      ASSERT_TRUE(IsMultiple(x, 0.1)) << x;
      ASSERT_GE(x, 0.1 - 1e-12);
      ASSERT_LE(x, 10 + 1e-12);
      below_one += x < 0.95;
    }
    // Log-uniform over [0.1, 10): half the mass lies below 1 (a uniform draw
    // would put 9% there).
    EXPECT_NEAR(below_one / double(kDraws), 0.49, 0.04);
  }
}

TEST(SamplerTest, RandnHasItsMeanAndSd) {
  for (uint64_t seed : kSeeds) {
    double sum = 0, sq = 0;
    for (const Json &v : Draw(Randn(5, 2), seed)) {
      sum += v.get<double>();
      sq += v.get<double>() * v.get<double>();
    }
    const double mean = sum / kDraws;
    EXPECT_NEAR(mean, 5, 0.15);
    EXPECT_NEAR(std::sqrt(sq / kDraws - mean * mean), 2, 0.15);
  }
  EXPECT_NEAR(Draw(Randn(), 3)[0].get<double>(), 0, 5);  // defaults: mean 0, sd 1
}

TEST(SamplerTest, QRandnRoundsToMultiples) {
  for (uint64_t seed : kSeeds) {
    std::set<double> seen;
    for (const Json &v : Draw(QRandn(0, 3, 0.5), seed)) {
      ASSERT_TRUE(IsMultiple(v.get<double>(), 0.5)) << v;
      seen.insert(v.get<double>());
    }
    EXPECT_GT(seen.size(), 10u);
  }
}

TEST(SamplerTest, RandIntExcludesItsUpperBound) {
  for (uint64_t seed : kSeeds) {
    std::map<int64_t, int> counts;
    for (const Json &v : Draw(RandInt(-3, 4), seed)) {
      ASSERT_TRUE(v.is_number_integer()) << v;
      ++counts[v.get<int64_t>()];
    }
    ASSERT_EQ(counts.size(), 7u);
    EXPECT_EQ(counts.begin()->first, -3);
    EXPECT_EQ(counts.rbegin()->first, 3);
    for (const auto &[value, n] : counts) EXPECT_NEAR(n / double(kDraws), 1.0 / 7, 0.03) << value;
  }
}

TEST(SamplerTest, QRandIntIncludesItsUpperBoundAndRoundsHalfToEven) {
  for (uint64_t seed : kSeeds) {
    std::map<int64_t, int> counts;
    for (const Json &v : Draw(QRandInt(0, 8, 2), seed)) {
      ASSERT_TRUE(v.is_number_integer()) << v;
      ++counts[v.get<int64_t>()];
    }
    // Ray: raw draws 0..7, v/2 rounded half to even (numpy): 0,0,1,2,2,2,3,4.
    ASSERT_EQ(counts.size(), 5u);
    EXPECT_NEAR(counts[0] / double(kDraws), 2.0 / 8, 0.03);
    EXPECT_NEAR(counts[2] / double(kDraws), 1.0 / 8, 0.03);
    EXPECT_NEAR(counts[4] / double(kDraws), 3.0 / 8, 0.03);
    EXPECT_NEAR(counts[8] / double(kDraws), 1.0 / 8, 0.03);  // the upper bound
  }
  // Bounds that are not multiples move inward: [1, 10] by 3 -> 3, 6, 9.
  std::set<int64_t> seen;
  for (const Json &v : Draw(QRandInt(1, 10, 3), 5)) seen.insert(v.get<int64_t>());
  EXPECT_EQ(seen, (std::set<int64_t>{3, 6, 9}));
}

TEST(SamplerTest, QRandIntWithQOneIsRandIntAsInRay) {
  std::set<int64_t> seen;
  for (const Json &v : Draw(QRandInt(1, 4), 9)) seen.insert(v.get<int64_t>());
  EXPECT_EQ(seen, (std::set<int64_t>{1, 2, 3}));
}

TEST(SamplerTest, LogRandIntIsLogSpreadAndExcludesItsUpperBound) {
  for (uint64_t seed : kSeeds) {
    int below_ten = 0;
    std::set<int64_t> seen;
    for (const Json &v : Draw(LogRandInt(1, 1000), seed)) {
      ASSERT_TRUE(v.is_number_integer());
      const int64_t x = v.get<int64_t>();
      ASSERT_GE(x, 1);
      ASSERT_LE(x, 999);
      below_ten += x < 10;
      seen.insert(x);
    }
    EXPECT_NEAR(below_ten / double(kDraws), 1.0 / 3, 0.04);
    EXPECT_TRUE(seen.count(1));
  }
}

TEST(SamplerTest, QLogRandIntIsQuantisedAndIncludesItsUpperBound) {
  bool saw_top = false;
  for (uint64_t seed : kSeeds) {
    for (const Json &v : Draw(QLogRandInt(2, 20, 2), seed)) {
      ASSERT_TRUE(v.is_number_integer());
      const int64_t x = v.get<int64_t>();
      ASSERT_EQ(x % 2, 0);
      ASSERT_GE(x, 2);
      ASSERT_LE(x, 20);
      saw_top |= x == 20;
    }
  }
  EXPECT_TRUE(saw_top);
}

TEST(SamplerTest, ChoicePicksEveryCategoryUniformlyAndKeepsTypes) {
  for (uint64_t seed : kSeeds) {
    std::map<std::string, int> counts;
    for (const Json &v : Draw(Choice({"adam", 2, 3.5, Json{{"k", 1}}}), seed)) ++counts[v.dump()];
    ASSERT_EQ(counts.size(), 4u);
    EXPECT_TRUE(counts.count("\"adam\"") && counts.count("2") && counts.count("3.5") &&
                counts.count("{\"k\":1}"));
    for (const auto &[value, n] : counts) EXPECT_NEAR(n / double(kDraws), 0.25, 0.03) << value;
  }
}

TEST(SamplerTest, SameSeedSameSequenceOtherSeedsDiffer) {
  const std::vector<DomainPtr> domains = {Uniform(0, 1),
                                          QUniform(0, 10, 0.5),
                                          LogUniform(1e-3, 1),
                                          Randn(0, 1),
                                          QRandn(0, 1, 0.1),
                                          RandInt(0, 1000),
                                          QRandInt(0, 1000, 5),
                                          LogRandInt(1, 10000),
                                          QLogRandInt(10, 10000, 10),
                                          Choice({1, 2, 3, 4, 5, 6, 7, 8})};
  for (const DomainPtr &domain : domains) {
    EXPECT_EQ(Draw(domain, 11, 200), Draw(domain, 11, 200)) << domain->ToString();
    EXPECT_NE(Draw(domain, 11, 200), Draw(domain, 12, 200)) << domain->ToString();
  }
}

TEST(SamplerTest, BadArgumentsThrowAtConstruction) {
  EXPECT_THAT(ErrorOf([] { Uniform(1, 1); }), HasSubstr("lower < upper"));
  EXPECT_THROW(Uniform(2, 1), TuneError);
  EXPECT_THAT(ErrorOf([] { QUniform(0, 1, 0); }), HasSubstr("q must be positive"));
  EXPECT_THROW(QUniform(0, 1, -0.5), TuneError);
  EXPECT_THAT(ErrorOf([] { QUniform(0.05, 1, 0.1); }), HasSubstr("multiples of q"));
  EXPECT_THAT(ErrorOf([] { LogUniform(0, 1); }), HasSubstr("lower > 0"));
  EXPECT_THROW(LogUniform(-1, 1), TuneError);
  EXPECT_THROW(LogUniform(1, 10, 1), TuneError);  // base 1
  EXPECT_THROW(QLogUniform(0, 1, 0.1), TuneError);
  EXPECT_THAT(ErrorOf([] { Randn(0, 0); }), HasSubstr("sd must be positive"));
  EXPECT_THROW(QRandn(0, 1, 0), TuneError);
  EXPECT_THAT(ErrorOf([] { RandInt(3, 3); }), HasSubstr("RandInt(3, 3)"));
  EXPECT_THROW(QRandInt(0, 10, 0), TuneError);
  EXPECT_THAT(ErrorOf([] { QRandInt(3, 7, 5); }), HasSubstr("two multiples of q"));
  EXPECT_THROW(LogRandInt(0, 10), TuneError);
  EXPECT_THROW(QLogRandInt(0, 100, 10), TuneError);
  EXPECT_THAT(ErrorOf([] { Choice({}); }), HasSubstr("Choice"));
  EXPECT_THAT(ErrorOf([] { GridSearch({}); }), HasSubstr("empty grid"));
  EXPECT_THROW(SampleFrom(std::function<Json(const Json &)>()), TuneError);
}

TEST(SamplerTest, DomainsDescribeThemselves) {
  EXPECT_EQ(Uniform(0, 0.5)->ToString(), "Uniform(0.0, 0.5)");
  EXPECT_EQ(QRandInt(0, 10, 2)->ToString(), "QRandInt(0, 10, 2)");
  EXPECT_EQ(LogRandInt(1, 10)->ToString(), "LogRandInt(1, 10)");
  EXPECT_EQ(Choice({1, "a"})->ToString(), "Choice([1,\"a\"])");
  EXPECT_TRUE(RandInt(0, 2)->IsInteger());
  EXPECT_TRUE(Uniform(0, 2)->IsNumeric());
  EXPECT_FALSE(Uniform(0, 2)->IsInteger());
  EXPECT_TRUE(GridSearch({1})->IsGrid());
}

// ---------------------------------------------------------------------------

TEST(SpaceTest, ResolvesNestedSpacesDomainsAndConstants) {
  Space space{{"lr", LogUniform(1e-4, 1e-1)},
              {"layers", Choice({1, 2, 3})},
              {"opt", Space{{"momentum", Uniform(0.1, 0.9)}, {"name", "sgd"}, {"extra", Space{}}}},
              {"batch", 64},
              {"tags", Json::array({"a", "b"})}};
  Rng rng(5);
  for (int i = 0; i < 200; ++i) {
    Config cfg = space.Sample(rng);
    EXPECT_GE(cfg.Get<double>("lr"), 1e-4);
    EXPECT_LT(cfg.Get<double>("lr"), 1e-1);
    EXPECT_GE(cfg.Get<int>("layers"), 1);
    EXPECT_LE(cfg.Get<int>("layers"), 3);
    EXPECT_GE(cfg.Get<double>("opt.momentum"), 0.1);
    EXPECT_EQ(cfg.Get<std::string>("opt.name"), "sgd");
    EXPECT_EQ(cfg.At("opt.extra"), Json::object());
    EXPECT_EQ(cfg.Get<int>("batch"), 64);
    EXPECT_EQ(cfg.Get<std::string>("tags.1"), "b");
  }
  EXPECT_EQ(space.GridSize(), 1u);
  EXPECT_EQ(space.ToJson()["opt"]["momentum"], "Uniform(0.1, 0.9)");
}

TEST(SpaceTest, SetReplacesInPlaceAndFromJsonNests) {
  Space space{{"a", 1}, {"b", 2}, {"none", nullptr}};
  space.Set("a", Uniform(0, 1)).Set("c", 3);
  ASSERT_EQ(space.entries().size(), 4u);
  EXPECT_TRUE(space.entries()[2].second.is_constant());  // nullptr is JSON null
  EXPECT_THROW(Space({{"x", DomainPtr()}}), TuneError);
  EXPECT_EQ(space.entries()[0].first, "a");
  EXPECT_TRUE(space.entries()[0].second.is_domain());
  Space from = Space::FromJson(Json{{"x", 1}, {"sub", {{"y", "z"}}}});
  EXPECT_TRUE(from.entries()[0].second.is_space());
  Rng rng(1);
  EXPECT_EQ(from.Sample(rng), (Json{{"x", 1}, {"sub", {{"y", "z"}}}}));
  EXPECT_THROW(Space::FromJson(Json::array()), TuneError);
}

TEST(SpaceTest, GridsFormACrossProductOrderedByPathFirstFastest) {
  Space space{{"b", GridSearch({"x", "y", "z"})}, {"a", GridSearch({1, 2})}, {"r", Uniform(0, 1)}};
  ASSERT_EQ(space.GridSize(), 6u);
  Rng rng(3);
  std::vector<std::pair<int, std::string>> points;
  std::set<double> r_values;
  for (uint64_t g = 0; g < 6; ++g) {
    Config cfg = space.Sample(rng, g);
    points.emplace_back(cfg.Get<int>("a"), cfg.Get<std::string>("b"));
    r_values.insert(cfg.Get<double>("r"));
  }
  // Ray sorts grid paths ("a" < "b") and the first varies fastest.
  const std::vector<std::pair<int, std::string>> expected = {{1, "x"}, {2, "x"}, {1, "y"},
                                                             {2, "y"}, {1, "z"}, {2, "z"}};
  EXPECT_EQ(points, expected);
  EXPECT_EQ(r_values.size(), 6u);  // other domains are sampled per grid point
  EXPECT_THROW(space.Sample(rng, 6), TuneError);
}

TEST(SpaceTest, NestedGridPathsSortAsTuples) {
  Space space{{"z", GridSearch({0, 1})}, {"opt", Space{{"lr", GridSearch({10, 20})}}}};
  Rng rng(1);
  // ("opt", "lr") < ("z",): opt.lr varies fastest.
  EXPECT_EQ(Config(space.Sample(rng, 1)).Get<int>("opt.lr"), 20);
  EXPECT_EQ(Config(space.Sample(rng, 1)).Get<int>("z"), 0);
  EXPECT_EQ(Config(space.Sample(rng, 2)).Get<int>("z"), 1);
}

TEST(SpaceTest, SampleFromSeesTheRestOfTheConfig) {
  Space space{
      {"f", SampleFrom([](const Json &c) { return Config(c).Get<int>("g") + 1; })},
      {"a", RandInt(5, 10)},
      {"g", SampleFrom([](const Json &c) { return Config(c).Get<int>("a") * 2; })},
      {"grid", GridSearch({100, 200})},
      {"sum", SampleFrom([](const Json &c) { return c.at("a").get<int>() + c.at("grid").get<int>(); })}};
  Rng rng(8);
  for (uint64_t g = 0; g < 2; ++g) {
    Config cfg = space.Sample(rng, g);
    const int a = cfg.Get<int>("a");
    EXPECT_EQ(cfg.Get<int>("g"), 2 * a);
    EXPECT_EQ(cfg.Get<int>("f"), 2 * a + 1);  // read a function declared after it
    EXPECT_EQ(cfg.Get<int>("sum"), a + (g == 0 ? 100 : 200));
  }
}

TEST(SpaceTest, SampleFromCyclesAndMissingKeysAreErrors) {
  Space cycle{{"x", SampleFrom([](const Json &c) { return Config(c).Get<int>("y"); })},
              {"y", SampleFrom([](const Json &c) { return Config(c).Get<int>("x"); })}};
  Rng rng(1);
  EXPECT_THAT(ErrorOf([&] { cycle.Sample(rng); }), HasSubstr("cannot be resolved"));
  Space throws{{"x", SampleFrom([](const Json &) -> Json { throw std::runtime_error("boom"); })}};
  EXPECT_THAT(ErrorOf([&] { throws.Sample(rng); }), HasSubstr("boom"));
}

TEST(SpaceTest, SampleFromWithRngFollowsTheSeed) {
  Space space{
      {"n", SampleFrom([](const Json &, Rng &rng) { return static_cast<int64_t>(rng() % 1000000); })}};
  Rng a(4), b(4), c(5);
  std::vector<Json> xa, xb, xc;
  for (int i = 0; i < 20; ++i) {
    xa.push_back(space.Sample(a));
    xb.push_back(space.Sample(b));
    xc.push_back(space.Sample(c));
  }
  EXPECT_EQ(xa, xb);
  EXPECT_NE(xa, xc);
}

TEST(SpaceTest, SameSeedSameConfigs) {
  Space space{{"lr", LogUniform(1e-4, 1e-1)},
              {"opt", Space{{"m", Uniform(0, 1)}, {"k", RandInt(0, 100)}}},
              {"c", Choice({"a", "b", "c"})},
              {"g", GridSearch({1, 2, 3})}};
  auto run = [&](uint64_t seed) {
    Rng rng(seed);
    std::vector<Json> out;
    for (int i = 0; i < 30; ++i) out.push_back(space.Sample(rng, i % 3));
    return out;
  };
  EXPECT_EQ(run(9), run(9));
  EXPECT_NE(run(9), run(10));
}

TEST(SpaceTest, PresetsReplaceEntriesAndUnknownKeysAreErrors) {
  Space space{{"a", GridSearch({1, 2})},
              {"b", RandInt(0, 3)},
              {"opt", Space{{"m", Uniform(0, 1)}}},
              {"obj", Json{{"x", 1}, {"y", 2}}}};
  Space preset = space.WithPreset(Json{{"a", 7}, {"opt", {{"m", 0.5}}}, {"obj", {{"y", 5}}}});
  EXPECT_EQ(preset.GridSize(), 1u);
  Rng rng(2);
  Config cfg = preset.Sample(rng);
  EXPECT_EQ(cfg.Get<int>("a"), 7);
  EXPECT_EQ(cfg.Get<double>("opt.m"), 0.5);
  EXPECT_EQ(cfg.At("obj"), (Json{{"x", 1}, {"y", 5}}));
  EXPECT_THAT(ErrorOf([&] {
                space.WithPreset(Json{{"nope", 1}});
              }),
              HasSubstr("'nope' is not in the search space"));
  EXPECT_THAT(ErrorOf([&] { space.WithPreset(Json{{"opt", {{"q", 1}}}}); }), HasSubstr("under 'opt'"));
}

// ---------------------------------------------------------------------------

TEST(ConfigTest, ReadsTypedValuesByDottedPath) {
  Config cfg(Json{{"opt", {{"momentum", 0.9}, {"nesterov", true}, {"name", "sgd"}}},
                  {"batch", 64},
                  {"width", 64.0},
                  {"layers", {16, 32}}});
  EXPECT_EQ(cfg.Get<double>("opt.momentum"), 0.9);
  EXPECT_TRUE(cfg.Get<bool>("opt.nesterov"));
  EXPECT_EQ(cfg.Get<std::string>("opt.name"), "sgd");
  EXPECT_EQ(cfg.Get<int>("batch"), 64);
  EXPECT_EQ(cfg.Get<double>("batch"), 64.0);  // integers read as floats
  EXPECT_EQ(cfg.Get<int64_t>("width"), 64);   // an integral float reads as an integer
  EXPECT_EQ(cfg.Get<int>("layers.1"), 32);
  EXPECT_EQ(cfg.Get<std::vector<int>>("layers"), (std::vector<int>{16, 32}));
  EXPECT_EQ(cfg.Get<int>("missing", 7), 7);
  EXPECT_TRUE(cfg.Has("opt.name"));
  EXPECT_FALSE(cfg.Has("opt.lr"));
}

TEST(ConfigTest, ErrorsNameTheKeyAndTheTypeFound) {
  Config cfg(Json{{"opt", {{"momentum", 0.9}, {"name", "sgd"}}}, {"batch", 64}, {"ratio", 2.5}, {"l", {1}}});
  EXPECT_THAT(ErrorOf([&] { cfg.Get<double>("opt.lr"); }), HasSubstr("no key 'opt.lr'"));
  EXPECT_THAT(ErrorOf([&] { cfg.Get<double>("opt.name"); }),
              AllOf(HasSubstr("'opt.name'"), HasSubstr("is string \"sgd\""), HasSubstr("not a number")));
  EXPECT_THAT(ErrorOf([&] { cfg.Get<int>("ratio"); }),
              AllOf(HasSubstr("'ratio' is float 2.5"), HasSubstr("integer")));
  EXPECT_THAT(ErrorOf([&] { cfg.Get<std::string>("batch"); }),
              HasSubstr("'batch' is integer 64, not a string"));
  EXPECT_THAT(ErrorOf([&] { cfg.Get<bool>("batch"); }), HasSubstr("not a boolean"));
  EXPECT_THAT(ErrorOf([&] { cfg.Get<int>("batch.size"); }),
              HasSubstr("'batch' is integer 64, not an object"));
  EXPECT_THAT(ErrorOf([&] { cfg.Get<int>("l.3"); }), HasSubstr("index out of range"));
  EXPECT_THAT(ErrorOf([&] { Config(Json{{"big", 1e12}}).Get<int>("big"); }), HasSubstr("in range"));
  EXPECT_THAT(ErrorOf([&] { Config(Json{{"neg", -1}}).Get<uint32_t>("neg"); }), HasSubstr("in range"));
  EXPECT_THROW(cfg.Get<std::string>("batch", "x"), TuneError);  // a fallback does not excuse a wrong type
}

}  // namespace
}  // namespace ray::tune
