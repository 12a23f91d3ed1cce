#include "ray/tune/pbt.h"

#include <gtest/gtest.h>

#include <set>

#include "fake_trial_view.h"

namespace ray::tune {
namespace {

using testing::FakeTrialView;
using testing::TestUniform;

PopulationBasedTraining::Options BaseOptions() {
  PopulationBasedTraining::Options options;
  options.time_attr = "training_iteration";
  options.metric = "score";
  options.mode = "max";
  options.perturbation_interval = 5;
  options.hyperparam_mutations = {{"lr", Mutation::Of(std::make_shared<TestUniform>(0.001, 0.1))},
                                  {"batch", Mutation::Values({16, 32, 64, 128})}};
  return options;
}

Json Step(double t, double score) { return {{"training_iteration", t}, {"score", score}}; }

// Adds running trials with the given scores, all reporting at iteration
// `t`, in order; returns their decisions.
std::vector<Decision> Population(PopulationBasedTraining &pbt, FakeTrialView &view,
                                 const std::vector<double> &scores, double t) {
  for (size_t i = 0; i < scores.size(); ++i) {
    const std::string id = "t" + std::to_string(i);
    TrialInfo &trial = view.Add(id, Json{{"lr", 0.01 * (i + 1)}, {"batch", 32}});
    trial.status = TrialStatus::kRunning;
    if (auto config = pbt.OnTrialAdd(view, trial)) trial.config = *config;
  }
  std::vector<Decision> decisions;
  for (size_t i = 0; i < scores.size(); ++i) {
    decisions.push_back(pbt.OnTrialResult(view, view.Get("t" + std::to_string(i)), Step(t, scores[i])));
  }
  return decisions;
}

TEST(PbtTest, QuantilesAreCeilOfTheFractionCappedAtHalf) {
  PopulationBasedTraining pbt(BaseOptions());
  FakeTrialView view;
  Population(pbt, view, {1, 8, 3, 6, 2, 7, 5, 4}, 5);
  auto [lower, upper] = pbt.Quantiles(view);
  EXPECT_EQ(lower, (std::vector<std::string>{"t0", "t4"}));  // ceil(8 * 0.25) = 2 worst
  EXPECT_EQ(upper, (std::vector<std::string>{"t5", "t1"}));  // 2 best, ascending

  auto options = BaseOptions();
  options.quantile_fraction = 0.5;
  PopulationBasedTraining half(options);
  FakeTrialView view3;
  Population(half, view3, {1, 3, 2}, 5);
  std::tie(lower, upper) = half.Quantiles(view3);
  EXPECT_EQ(lower, (std::vector<std::string>{"t0"}));  // ceil(1.5) = 2 > 1.5: floor to 1
  EXPECT_EQ(upper, (std::vector<std::string>{"t1"}));

  // Finished trials and a population of one are not ranked.
  view3.Get("t1").status = TrialStatus::kTerminated;
  view3.Get("t2").status = TrialStatus::kError;
  std::tie(lower, upper) = half.Quantiles(view3);
  EXPECT_TRUE(lower.empty());
  EXPECT_TRUE(upper.empty());
}

TEST(PbtTest, QuantileFractionZeroCheckpointsAllAndExploitsNone) {
  auto options = BaseOptions();
  options.quantile_fraction = 0;
  PopulationBasedTraining pbt(options);
  FakeTrialView view;
  const auto decisions = Population(pbt, view, {1, 2, 3}, 5);
  auto [lower, upper] = pbt.Quantiles(view);
  EXPECT_TRUE(lower.empty());
  EXPECT_EQ(upper.size(), 3u);  // Ray's trials[-0:] is the whole list
  for (const Decision &d : decisions) EXPECT_FALSE(d.exploit);
}

TEST(PbtTest, MissingKeysAreSampledOnAdd) {
  auto options = BaseOptions();
  options.hyperparam_mutations.push_back(
      {"opt", Mutation::Of(HyperparamMutations{{"momentum", Mutation::Values({0.8, 0.9})}})});
  PopulationBasedTraining pbt(options);
  FakeTrialView view;
  TrialInfo &trial = view.Add("a", Json{{"batch", 16}, {"other", "kept"}});
  const std::optional<Json> config = pbt.OnTrialAdd(view, trial);
  ASSERT_TRUE(config);
  EXPECT_EQ((*config)["batch"], 16);
  EXPECT_EQ((*config)["other"], "kept");
  EXPECT_GE((*config)["lr"].get<double>(), 0.001);
  EXPECT_LT((*config)["lr"].get<double>(), 0.1);
  const double momentum = (*config)["opt"]["momentum"].get<double>();
  EXPECT_TRUE(momentum == 0.8 || momentum == 0.9);
  TrialInfo &complete = view.Add("b", *config);
  EXPECT_EQ(pbt.OnTrialAdd(view, complete), std::nullopt);
}

TEST(PbtTest, ListValuesMoveToANeighbour) {
  auto options = BaseOptions();
  options.resample_probability = 0;
  options.hyperparam_mutations = {{"batch", Mutation::Values({16, 32, 64, 128})}};
  PopulationBasedTraining pbt(options);
  std::set<int> seen;
  for (int i = 0; i < 200; ++i) seen.insert(pbt.Explore(Json{{"batch", 32}})["batch"].get<int>());
  EXPECT_EQ(seen, (std::set<int>{16, 64}));
  seen.clear();
  for (int i = 0; i < 200; ++i) seen.insert(pbt.Explore(Json{{"batch", 128}})["batch"].get<int>());
  EXPECT_EQ(seen, (std::set<int>{64, 128}));  // clamped at the end
  // A value not in the list is resampled from it.
  seen.clear();
  for (int i = 0; i < 200; ++i) seen.insert(pbt.Explore(Json{{"batch", 48}})["batch"].get<int>());
  EXPECT_EQ(seen, (std::set<int>{16, 32, 64, 128}));
}

TEST(PbtTest, ResampleDrawsFromTheMutation) {
  auto options = BaseOptions();
  options.resample_probability = 1;
  PopulationBasedTraining pbt(options);
  std::set<int> batches;
  for (int i = 0; i < 200; ++i) {
    const Json config = pbt.Explore(Json{{"lr", 5.0}, {"batch", 32}});
    EXPECT_GE(config["lr"].get<double>(), 0.001);
    EXPECT_LT(config["lr"].get<double>(), 0.1);
    batches.insert(config["batch"].get<int>());
  }
  EXPECT_EQ(batches.size(), 4u);
}

TEST(PbtTest, NumbersArePerturbedByAFactorAndIntegersStayIntegers) {
  auto options = BaseOptions();
  options.resample_probability = 0;
  options.hyperparam_mutations = {{"lr", Mutation::Of(std::make_shared<TestUniform>(0, 1))},
                                  {"layers", Mutation::Of([] { return Json(4); })}};
  PopulationBasedTraining pbt(options);
  std::set<double> lrs;
  std::set<int64_t> layers;
  for (int i = 0; i < 200; ++i) {
    const Json config = pbt.Explore(Json{{"lr", 0.5}, {"layers", 7}});
    lrs.insert(config["lr"].get<double>());
    ASSERT_TRUE(config["layers"].is_number_integer());
    layers.insert(config["layers"].get<int64_t>());
  }
  EXPECT_EQ(lrs, (std::set<double>{0.5 * 1.2, 0.5 * 0.8}));
  EXPECT_EQ(layers, (std::set<int64_t>{8, 5}));  // int(8.4), int(5.6)
  EXPECT_THROW(pbt.Explore(Json{{"lr", "fast"}, {"layers", 7}}), TuneError);
  EXPECT_THROW(pbt.Explore(Json{{"layers", 7}}), TuneError);  // lr missing
}

TEST(PbtTest, CustomExploreRunsLastAndNestedKeysRecurse) {
  auto options = BaseOptions();
  options.resample_probability = 0;
  options.perturbation_factors = {2.0};
  options.hyperparam_mutations = {
      {"opt", Mutation::Of(HyperparamMutations{{"lr", Mutation::Of(std::make_shared<TestUniform>(0, 1))}})}};
  options.custom_explore_fn = [](Json config) {
    config["opt"]["lr"] = std::min(config["opt"]["lr"].get<double>(), 1.0);
    return config;
  };
  PopulationBasedTraining pbt(options);
  EXPECT_EQ(pbt.Explore(Json{{"opt", {{"lr", 0.25}}}, {"x", 1}}), (Json{{"opt", {{"lr", 0.5}}}, {"x", 1}}));
  EXPECT_EQ(pbt.Explore(Json{{"opt", {{"lr", 0.75}}}}), (Json{{"opt", {{"lr", 1.0}}}}));
}

TEST(PbtTest, ConstructionChecksRaysRules) {
  auto options = BaseOptions();
  options.hyperparam_mutations.clear();
  EXPECT_THROW(PopulationBasedTraining{options}, TuneError);
  options.custom_explore_fn = [](Json c) { return c; };
  EXPECT_NO_THROW(PopulationBasedTraining{options});
  options = BaseOptions();
  options.quantile_fraction = 0.6;
  EXPECT_THROW(PopulationBasedTraining{options}, TuneError);
  options = BaseOptions();
  options.perturbation_interval = 0;
  EXPECT_THROW(PopulationBasedTraining{options}, TuneError);
  options = BaseOptions();
  options.hyperparam_mutations = {{"batch", Mutation::Values({})}};
  EXPECT_THROW(PopulationBasedTraining{options}, TuneError);
  options = BaseOptions();
  options.metric.reset();
  options.mode.reset();
  PopulationBasedTraining no_metric(options);
  FakeTrialView view;
  EXPECT_THROW(no_metric.OnTrialAdd(view, view.Add("a")), TuneError);
}

TEST(PbtTest, RequireAttrs) {
  PopulationBasedTraining strict(BaseOptions());
  FakeTrialView view;
  strict.OnTrialAdd(view, view.Add("a", Json{{"lr", 0.1}, {"batch", 16}}));
  EXPECT_THROW(strict.OnTrialResult(view, view.Get("a"), Json{{"training_iteration", 5}}), TuneError);
  auto options = BaseOptions();
  options.require_attrs = false;
  PopulationBasedTraining lenient(options);
  lenient.OnTrialAdd(view, view.Get("a"));
  EXPECT_EQ(lenient.OnTrialResult(view, view.Get("a"), Json{{"training_iteration", 5}}).action,
            Action::kContinue);
}

// Async mode, four trials perturbed at iterations 5 and 10 (interval 5).
TEST(PbtTest, AsyncExploitCopiesACheckpointedTopTrial) {
  auto options = BaseOptions();
  options.quantile_fraction = 0.25;
  PopulationBasedTraining pbt(options);
  FakeTrialView view;
  // Round 1: nobody has a checkpoint when the ranking starts, so the lower
  // trials cannot exploit yet; the best at its turn saves one.
  auto round1 = Population(pbt, view, {4, 3, 2, 1}, 5);
  EXPECT_FALSE(round1[0].save_checkpoint);  // alone: nothing to rank
  EXPECT_TRUE(round1[1].save_checkpoint == false && !round1[1].exploit);
  for (const Decision &d : round1) EXPECT_EQ(d.action, Action::kContinue);
  // Between perturbation points nothing happens.
  EXPECT_EQ(pbt.OnTrialResult(view, view.Get("t3"), Step(7, 0)).action, Action::kContinue);
  // Round 2: t0 is best and saves; t3 is worst and copies t0.
  const Decision top = pbt.OnTrialResult(view, view.Get("t0"), Step(10, 5));
  EXPECT_TRUE(top.save_checkpoint);
  EXPECT_FALSE(top.exploit);
  const Decision bottom = pbt.OnTrialResult(view, view.Get("t3"), Step(10, 0.5));
  ASSERT_TRUE(bottom.exploit);
  EXPECT_EQ(bottom.exploit->donor_id, "t0");
  EXPECT_EQ(bottom.action, Action::kContinue);
  const Json &new_config = bottom.exploit->new_config;
  EXPECT_NE(new_config["lr"], view.Get("t0").config["lr"]);
  EXPECT_EQ(pbt.num_perturbations(), 1);

  ASSERT_EQ(pbt.policy_log().size(), 1u);
  const PbtPolicyEntry &entry = pbt.policy_log()[0];
  // Iterations as Ray logs them: each trial's result before this one.
  EXPECT_EQ(entry.ToJson(), Json::array({"t3", "t0", 7, 10, view.Get("t0").config, new_config}));
  ASSERT_EQ(pbt.TrialPolicy("t3").size(), 1u);
  EXPECT_TRUE(pbt.TrialPolicy("t0").empty());
}

TEST(PbtTest, AsyncPausesWhenOthersWaitAndRunsTheLeastTrainedNext) {
  PopulationBasedTraining pbt(BaseOptions());
  FakeTrialView view;
  Population(pbt, view, {1, 2}, 5);
  view.Add("late", Json{{"lr", 0.1}, {"batch", 16}});
  pbt.OnTrialAdd(view, view.Get("late"));  // PENDING
  EXPECT_EQ(pbt.OnTrialResult(view, view.Get("t0"), Step(10, 1)).action, Action::kPause);
  view.Get("t0").status = TrialStatus::kPaused;
  // late has trained least (0) and goes first; then t0.
  EXPECT_EQ(pbt.ChooseTrialToRun(view), "late");
  view.Get("late").status = TrialStatus::kRunning;
  EXPECT_EQ(pbt.ChooseTrialToRun(view), "t0");
}

// Synch mode: every trial pauses at the boundary; the last to arrive ranks
// all. Here the best trial arrives last: it saves, and the paused worst
// trial gets an exploit order using that checkpoint.
TEST(PbtTest, SynchModeRanksEveryoneAtOnce) {
  auto options = BaseOptions();
  options.synch = true;
  PopulationBasedTraining pbt(options);
  FakeTrialView view;
  for (const char *id : {"worst", "mid", "best"}) {
    TrialInfo &trial = view.Add(id, Json{{"lr", 0.01}, {"batch", 32}});
    trial.status = TrialStatus::kRunning;
    pbt.OnTrialAdd(view, trial);
  }
  const std::map<std::string, double> score = {{"worst", 1}, {"mid", 2}, {"best", 3}};
  for (const char *id : {"worst", "mid"}) {
    const Decision d = pbt.OnTrialResult(view, view.Get(id), Step(5, score.at(id)));
    EXPECT_EQ(d.action, Action::kPause);
    EXPECT_FALSE(d.save_checkpoint);
    EXPECT_FALSE(d.exploit);
    view.Get(id).status = TrialStatus::kPaused;
    view.Get(id).has_checkpoint = true;  // a pause saves the trial
  }
  EXPECT_TRUE(pbt.TakeOrders().empty());
  EXPECT_EQ(pbt.ChooseTrialToRun(view), std::nullopt);  // both already at the sync point

  const Decision last = pbt.OnTrialResult(view, view.Get("best"), Step(5, 3));
  EXPECT_EQ(last.action, Action::kPause);
  EXPECT_TRUE(last.save_checkpoint);
  EXPECT_FALSE(last.exploit);
  const std::vector<TrialOrder> orders = pbt.TakeOrders();
  ASSERT_EQ(orders.size(), 1u);
  EXPECT_EQ(orders[0].trial_id, "worst");
  EXPECT_EQ(orders[0].decision.action, Action::kPause);
  ASSERT_TRUE(orders[0].decision.exploit);
  EXPECT_EQ(orders[0].decision.exploit->donor_id, "best");
  view.Get("best").status = TrialStatus::kPaused;
  // Next sync point is 10: everyone may run again, least trained first.
  EXPECT_EQ(pbt.ChooseTrialToRun(view), "worst");
}

TEST(PbtTest, PolicyOfAnExploiterOfAnExploiterChains) {
  auto options = BaseOptions();
  options.quantile_fraction = 0.5;
  PopulationBasedTraining pbt(options);
  FakeTrialView view;
  Population(pbt, view, {2, 1}, 5);
  Decision d = pbt.OnTrialResult(view, view.Get("t0"), Step(10, 2));
  EXPECT_TRUE(d.save_checkpoint);  // t0 top: saves
  d = pbt.OnTrialResult(view, view.Get("t1"), Step(10, 0));
  ASSERT_TRUE(d.exploit);  // t1 copies t0
  view.Get("t1").config = d.exploit->new_config;
  d = pbt.OnTrialResult(view, view.Get("t1"), Step(15, 9));  // t1 now top: saves
  EXPECT_TRUE(d.save_checkpoint);
  d = pbt.OnTrialResult(view, view.Get("t0"), Step(15, 0));
  ASSERT_TRUE(d.exploit);
  EXPECT_EQ(d.exploit->donor_id, "t1");
  ASSERT_EQ(pbt.policy_log().size(), 2u);
  const auto policy = pbt.TrialPolicy("t0");
  ASSERT_EQ(policy.size(), 2u);  // t1's history, then t0's own exploit
  EXPECT_EQ(policy[0].target, "t1");
  EXPECT_EQ(policy[1].target, "t0");
}

TEST(PbtTest, SaveRestoreContinuesTheSameDecisions) {
  auto options = BaseOptions();
  options.seed = 17;
  PopulationBasedTraining original(options);
  FakeTrialView view;
  Population(original, view, {4, 3, 2, 1, 6, 5, 8, 7}, 5);
  PopulationBasedTraining restored(options);
  restored.Restore(Json::parse(original.Save().dump()));
  for (int round = 2; round <= 5; ++round) {
    for (int i = 0; i < 8; ++i) {
      TrialInfo &trial = view.Get("t" + std::to_string(i));
      const Json result = Step(5 * round, (i * 7 + round * 3) % 11);
      const Decision a = original.OnTrialResult(view, trial, result);
      const Decision b = restored.OnTrialResult(view, trial, result);
      ASSERT_EQ(a.action, b.action);
      ASSERT_EQ(a.save_checkpoint, b.save_checkpoint);
      ASSERT_EQ(a.exploit.has_value(), b.exploit.has_value());
      if (a.exploit) {
        ASSERT_EQ(a.exploit->donor_id, b.exploit->donor_id);
        ASSERT_EQ(a.exploit->new_config, b.exploit->new_config);
        trial.config = a.exploit->new_config;
      }
    }
  }
  EXPECT_GT(original.num_perturbations(), 0);
  EXPECT_EQ(restored.Save(), original.Save());
}

}  // namespace
}  // namespace ray::tune
