// TpeSearch: what it refuses, what it suggests, determinism, Save/Restore, and
// that it beats random search on Branin and on a mixed discrete problem.
#include "ray/tune/tpe_search.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

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

SearchProperties Props(Space space, const std::string &metric = "loss", const std::string &mode = "min") {
  SearchProperties p;
  p.space = std::move(space);
  p.metric = metric;
  p.mode = mode;
  return p;
}

TpeOptions Seeded(uint64_t seed) {
  TpeOptions o;
  o.seed = seed;
  return o;
}

// Branin-Hoo on x1 in [-5, 10], x2 in [0, 15]; global minimum 0.397887.
double Branin(const Json &c) {
  const double x1 = c.at("x1").get<double>(), x2 = c.at("x2").get<double>();
  const double b = 5.1 / (4 * M_PI * M_PI), cc = 5 / M_PI, t = 1 / (8 * M_PI);
  return std::pow(x2 - b * x1 * x1 + cc * x1 - 6, 2) + 10 * (1 - t) * std::cos(x1) + 10;
}

Space BraninSpace() { return Space{{"x1", Uniform(-5, 10)}, {"x2", Uniform(0, 15)}}; }

// Runs `budget` trials one after another and returns the best loss.
double BestLoss(Searcher &searcher, int budget, const std::function<double(const Json &)> &objective) {
  double best = INFINITY;
  for (int i = 0; i < budget; ++i) {
    const std::string id = "t" + std::to_string(i);
    Suggestion s = searcher.Suggest(id);
    EXPECT_TRUE(s.has_config());
    if (!s.has_config()) return best;
    const double loss = objective(s.config());
    best = std::min(best, loss);
    searcher.OnTrialComplete(id, Json{{"loss", loss}}, false);
  }
  return best;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// Median over 20 fixed seeds of the best loss found by TPE and by random
// search (BasicVariantGenerator) with the same budget.
std::pair<double, double> CompareWithRandom(const Space &space, int budget,
                                            const std::function<double(const Json &)> &objective) {
  std::vector<double> tpe, random;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    TpeSearch searcher(Seeded(seed));
    searcher.SetSearchProperties(Props(space));
    tpe.push_back(BestLoss(searcher, budget, objective));
    BasicVariantOptions options;
    options.seed = seed;
    BasicVariantGenerator generator(options);
    SearchProperties props = Props(space);
    props.num_samples = budget;
    generator.SetSearchProperties(props);
    random.push_back(BestLoss(generator, budget, objective));
  }
  return {Median(tpe), Median(random)};
}

TEST(TpeSearchTest, BeatsRandomSearchOnBraninAtEqualBudget) {
  auto [tpe, random] = CompareWithRandom(BraninSpace(), 60, Branin);
  // Seen: TPE 0.501 against random 1.082 (optimum 0.398). Deterministic:
  // fixed seeds and platform-independent sampling, so this cannot flake; the
  // margins leave room for last-digit differences in libm between platforms.
  std::printf("Branin, 60 trials, median best over 20 seeds: TPE %.4f, random %.4f\n", tpe, random);
  EXPECT_LT(tpe, 0.7 * random);
  EXPECT_LT(tpe, 0.6);
}

// Integer, quantised, log and categorical parameters at once, and a constant.
Space MixedSpace() {
  return Space{{"n", RandInt(0, 100)},
               {"q", QUniform(0, 10, 0.5)},
               {"opt", Space{{"lr", LogUniform(1e-6, 1)}, {"kind", Choice({"a", "b", "c", "d", "e"})}}},
               {"width", QLogRandInt(8, 1024, 8)},
               {"fixed", "constant"}};
}

double Mixed(const Json &c) {
  Config cfg(c);
  const double n = cfg.Get<double>("n"), q = cfg.Get<double>("q");
  return (n - 37) * (n - 37) / 100 + (q - 7.5) * (q - 7.5) +
         std::fabs(std::log10(cfg.Get<double>("opt.lr")) + 3) +
         (cfg.Get<std::string>("opt.kind") == "c" ? 0 : 3) +
         std::fabs(std::log2(cfg.Get<double>("width")) - 7);
}

TEST(TpeSearchTest, BeatsRandomSearchOnAMixedDiscreteProblem) {
  auto [tpe, random] = CompareWithRandom(MixedSpace(), 80, Mixed);
  // Seen: TPE 1.430 against random 4.365 (optimum 0).
  std::printf("Mixed, 80 trials, median best over 20 seeds: TPE %.4f, random %.4f\n", tpe, random);
  EXPECT_LT(tpe, 0.5 * random);
}

TEST(TpeSearchTest, RefusesWhatItCannotModelBeforeAnyTrial) {
  TpeSearch tpe(Seeded(1));
  EXPECT_THAT(ErrorOf([&] {
                tpe.SetSearchProperties(Props(Space{{"x", Randn(0, 1)}}));
              }),
              AllOf(HasSubstr("'x'"), HasSubstr("Randn")));
  EXPECT_THROW(tpe.SetSearchProperties(Props(Space{{"x", QRandn(0, 1, 0.5)}})), TuneError);
  EXPECT_THAT(ErrorOf([&] {
                tpe.SetSearchProperties(Props(Space{{"o", Space{{"g", GridSearch({1, 2})}}}}));
              }),
              AllOf(HasSubstr("'o.g'"), HasSubstr("grid")));
  EXPECT_THAT(ErrorOf([&] {
                tpe.SetSearchProperties(Props(Space{{"f", SampleFrom([](const Json &) { return 1; })}}));
              }),
              HasSubstr("SampleFrom"));
  EXPECT_THAT(ErrorOf([&] { tpe.Suggest("t0"); }), HasSubstr("SetSearchProperties"));
  EXPECT_THAT(ErrorOf([&] { TpeSearch(Seeded(1)).SetSearchProperties(Props(BraninSpace(), "", "min")); }),
              HasSubstr("needs a metric"));
  EXPECT_THAT(ErrorOf([&] { TpeSearch(Seeded(1)).SetSearchProperties(Props(BraninSpace(), "loss", "")); }),
              HasSubstr("needs a mode"));
  EXPECT_THROW(TpeSearch(Seeded(1)).SetSearchProperties(Props(BraninSpace(), "loss", "best")), TuneError);
  TpeOptions bad = Seeded(1);
  bad.n_ei_candidates = 0;
  EXPECT_THROW(TpeSearch{bad}, TuneError);
  bad = Seeded(1);
  bad.gamma_fraction = 0;
  EXPECT_THROW(TpeSearch{bad}, TuneError);
  // Metric and mode may come from the options instead.
  TpeOptions own = Seeded(1);
  own.metric = "loss";
  own.mode = "min";
  EXPECT_TRUE(TpeSearch(own).SetSearchProperties(Props(BraninSpace(), "", "")));
}

TEST(TpeSearchTest, SuggestionsStayInsideEveryDomain) {
  TpeSearch tpe(Seeded(3));
  tpe.SetSearchProperties(Props(MixedSpace()));
  for (int i = 0; i < 150; ++i) {
    const std::string id = "t" + std::to_string(i);
    const Json config = tpe.Suggest(id).config();
    Config cfg(config);
    ASSERT_TRUE(config["n"].is_number_integer()) << config;
    EXPECT_GE(cfg.Get<int>("n"), 0);
    EXPECT_LE(cfg.Get<int>("n"), 99);  // RandInt's upper bound is exclusive
    const double q = cfg.Get<double>("q");
    EXPECT_GE(q, 0);
    EXPECT_LE(q, 10);
    EXPECT_DOUBLE_EQ(q / 0.5, std::round(q / 0.5)) << q;
    EXPECT_GE(cfg.Get<double>("opt.lr"), 1e-6);
    EXPECT_LT(cfg.Get<double>("opt.lr"), 1);
    EXPECT_THAT(cfg.Get<std::string>("opt.kind"), ::testing::AnyOf("a", "b", "c", "d", "e"));
    ASSERT_TRUE(config["width"].is_number_integer()) << config;
    EXPECT_EQ(cfg.Get<int>("width") % 8, 0);
    EXPECT_GE(cfg.Get<int>("width"), 8);
    EXPECT_LE(cfg.Get<int>("width"), 1024);
    EXPECT_EQ(cfg.Get<std::string>("fixed"), "constant");
    tpe.OnTrialComplete(id, Json{{"loss", Mixed(config)}}, false);
  }
  EXPECT_EQ(tpe.NumObservations(), 150u);
}

TEST(TpeSearchTest, FailedTrialsAndMissingMetricsAreNotObservations) {
  TpeSearch tpe(Seeded(3));
  tpe.SetSearchProperties(Props(BraninSpace()));
  for (int i = 0; i < 4; ++i) tpe.Suggest("t" + std::to_string(i));
  tpe.OnTrialComplete("t0", Json{{"loss", 1.0}}, false);
  tpe.OnTrialComplete("t1", Json{{"loss", 1.0}}, true);
  tpe.OnTrialComplete("t2", Json{{"acc", 1.0}}, false);
  tpe.OnTrialComplete("t3", Json(), false);
  tpe.OnTrialComplete("never-suggested", Json{{"loss", 1.0}}, false);
  EXPECT_EQ(tpe.NumObservations(), 1u);
}

std::vector<Json> RunTrials(TpeSearch &tpe, int from, int to,
                            const std::function<double(const Json &)> &objective,
                            const std::string &metric = "loss") {
  std::vector<Json> configs;
  for (int i = from; i < to; ++i) {
    const std::string id = "t" + std::to_string(i);
    configs.push_back(tpe.Suggest(id).config());
    tpe.OnTrialComplete(id, Json{{metric, objective(configs.back())}}, false);
  }
  return configs;
}

TEST(TpeSearchTest, SameSeedSameSearchAndMaxMirrorsMin) {
  auto run = [](uint64_t seed, const std::string &mode, double sign) {
    TpeSearch tpe(Seeded(seed));
    tpe.SetSearchProperties(Props(BraninSpace(), "loss", mode));
    return RunTrials(tpe, 0, 40, [sign](const Json &c) { return sign * Branin(c); });
  };
  EXPECT_EQ(run(7, "min", 1), run(7, "min", 1));
  EXPECT_NE(run(7, "min", 1), run(8, "min", 1));
  // Maximising -f is minimising f: the same suggestions.
  EXPECT_EQ(run(7, "min", 1), run(7, "max", -1));
}

TEST(TpeSearchTest, RestoreContinuesTheSameSearch) {
  TpeSearch original(Seeded(11));
  original.SetSearchProperties(Props(MixedSpace()));
  RunTrials(original, 0, 20, Mixed);  // past the 10 random startup trials
  const Json pending = original.Suggest("p").config();
  const Json state = Json::parse(original.Save().dump());  // through text, as on disk
  original.OnTrialComplete("p", Json{{"loss", Mixed(pending)}}, false);
  const std::vector<Json> rest = RunTrials(original, 20, 40, Mixed);

  TpeSearch restored(Seeded(12345));  // the saved state wins over the seed
  restored.SetSearchProperties(Props(MixedSpace()));
  restored.Restore(state);
  restored.OnTrialComplete("p", Json{{"loss", Mixed(pending)}}, false);
  EXPECT_EQ(RunTrials(restored, 20, 40, Mixed), rest);

  TpeSearch other_space(Seeded(1));
  other_space.SetSearchProperties(Props(BraninSpace()));
  EXPECT_THAT(ErrorOf([&] { other_space.Restore(state); }), HasSubstr("another search space"));
}

}  // namespace
}  // namespace ray::tune
