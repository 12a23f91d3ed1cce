// Lumen Tune's trials as real actors on a local cluster: trials in parallel,
// STOP through Report, a trainable's exception, a worker killed mid-trial and
// restarted from its checkpoint, the class API over the wire, and resource
// requests no node can satisfy.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "cluster_test_util.h"
#include "trial_executor.h"

namespace {

namespace fs = std::filesystem;
using ray::tune::Checkpoint;
using ray::tune::Json;
using ray::tune::TrainableRef;
using ray::tune::TuneError;
using ray::tune::internal::ExecutorOptions;
using ray::tune::internal::TrialEvent;
using ray::tune::internal::TrialExecutor;
using ray::tune::internal::TrialStart;
namespace fields = ray::tune::fields;

// Waits that only a hang reaches (a loaded two-core machine is slow, not this slow).
constexpr std::chrono::milliseconds kLong{60000};

std::string Slurp(const std::string &path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// ---- trainables (run in the trials' workers)

// Writes its pid into config["rendezvous"], waits until config["trials"] pids
// are there -- which only happens if the trials run at the same time -- and
// then reports config["iterations"] results.
void RendezvousTrain(const Json &config) {
  const std::string dir = config.at("rendezvous");
  std::ofstream(dir + "/" + std::to_string(getpid())) << "here";
  const std::size_t trials = config.at("trials");
  bool met = lumen::testing::PollUntil([&] {
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator())) >=
           trials;
  });
  for (int i = 0; i < config.at("iterations").get<int>(); ++i)
    ray::tune::Report(Json{{"met", met}, {"pid", getpid()}, {"step", i}});
}

// Reports for ever; a guard's destructor notes that the stop unwound the
// function's own frames.
void ForeverTrain(const Json &config) {
  struct Guard {
    std::string path;
    ~Guard() { std::ofstream(path) << "unwound"; }
  } guard{config.at("marker")};
  for (int i = 0;; ++i) ray::tune::Report(Json{{"i", i}, {"pid", getpid()}});
}

// Reports once, then never again: a trainable that ignores STOP.
void StubbornTrain(const Json &) {
  ray::tune::Report(Json{{"pid", getpid()}});
  for (;;) std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

void ThrowingTrain(const Json &) {
  ray::tune::Report(Json{{"loss", 1.0}});
  throw std::runtime_error("loss diverged to NaN");
}

// One checkpoint per iteration holding the count; kills its own worker at
// count config["die_at"] unless it was restored.
void CrashingTrain(const Json &config) {
  int count = 0;
  std::optional<Checkpoint> restored = ray::tune::GetCheckpoint();
  if (restored) std::ifstream(restored->path() + "/count") >> count;
  const std::string scratch = config.at("scratch").get<std::string>() + "/" + std::to_string(getpid());
  for (;;) {
    ++count;
    if (count == config.at("die_at").get<int>() && !restored) raise(SIGKILL);
    fs::create_directories(scratch);
    std::ofstream(scratch + "/count") << count;
    ray::tune::Report(Json{{"count", count}}, Checkpoint::FromDirectory(scratch));
  }
}

class Accumulator : public ray::tune::Trainable {
 public:
  void Setup(const Json &config) override {
    step_ = config.at("step");
    cleanup_marker_ = config.at("cleanup_marker");
    done_at_ = config.value("done_at", 0);
  }
  Json Step() override {
    total_ += step_;
    Json result{{"total", total_}, {"pid", getpid()}};
    if (done_at_ > 0 && total_ >= done_at_) result[fields::kDone] = true;
    return result;
  }
  void SaveCheckpoint(const std::string &dir) override { std::ofstream(dir + "/total") << total_; }
  void LoadCheckpoint(const std::string &dir) override { std::ifstream(dir + "/total") >> total_; }
  bool ResetConfig(const Json &config) override {
    step_ = config.at("step");
    return true;
  }
  void Cleanup() override { std::ofstream(cleanup_marker_) << "cleaned"; }

 private:
  int step_ = 0;
  int total_ = 0;
  int done_at_ = 0;  // a result with this total or more says done
  std::string cleanup_marker_;
};
int OwnPid() { return static_cast<int>(getpid()); }

// Sleeps in bundle 1 of its trial's group until the group's removal ends it.
class Helper {
 public:
  static Helper *Create() { return new Helper(); }
  int Pid() { return static_cast<int>(getpid()); }
};

// A trial in a placement group of its own: reports its context, runs a task
// and starts a helper actor in bundle 1, and waits there to be stopped.
void GroupTrain(const Json &) {
  ray::tune::TrialContext context = ray::tune::GetContext();
  const ray::PlacementGroup &group = context.placement_group;
  int task_pid = *ray::Task(OwnPid).SetPlacementGroup(group, 1).Remote().Get();
  auto helper = ray::Actor(Helper::Create).SetPlacementGroup(group, 1).SetResource("CPU", 1).Remote();
  int helper_pid = *helper.Task(&Helper::Pid).Remote().Get();
  for (int i = 0;; ++i)
    ray::tune::Report(Json{{"trial_id", context.trial_id},
                           {"trial_dir", context.trial_dir},
                           {"group", group.GetID()},
                           {"bundles", group.GetBundles().size()},
                           {"strategy", static_cast<int>(context.resources.strategy)},
                           {"pid", getpid()},
                           {"task_pid", task_pid},
                           {"helper_pid", helper_pid}});
}

class TuneTrialsTest : public lumen::testing::ClusterTest {
 protected:
  void SetUp() override {
    StartCluster({"--num-cpus=2"});
    trials_dir_ = tmp_ + "/trials";
  }
  TrialStart Trial(const std::string &id, TrainableRef trainable, Json config) {
    TrialStart start{id, trainable, std::move(config), {}, trials_dir_ + "/" + id, std::nullopt};
    return start;
  }
  TrialEvent Next(TrialExecutor &executor) {
    std::optional<TrialEvent> event = executor.WaitAny(kLong);
    if (!event) {
      ADD_FAILURE() << "no trial event within the deadline";
      return TrialEvent{TrialEvent::Kind::kError, "", Json(), std::nullopt, "timeout"};
    }
    return *event;
  }
  std::string trials_dir_;
};

TEST_F(TuneTrialsTest, TwoTrialsRunInParallelAndReport) {
  TrialExecutor executor;
  const std::string rendezvous = tmp_ + "/rendezvous";
  fs::create_directories(rendezvous);
  Json config{{"rendezvous", rendezvous}, {"trials", 2}, {"iterations", 3}};
  executor.Start(Trial("a", RendezvousTrain, config));
  executor.Start(Trial("b", RendezvousTrain, config));
  EXPECT_EQ(executor.NumRunning(), 2u);

  std::map<std::string, std::vector<Json>> results;
  std::map<std::string, Json> finals;
  while (finals.size() < 2) {
    TrialEvent event = Next(executor);
    ASSERT_NE(event.kind, TrialEvent::Kind::kError) << event.error;
    if (event.kind == TrialEvent::Kind::kDone) {
      finals[event.trial_id] = event.metrics;
      continue;
    }
    results[event.trial_id].push_back(event.metrics);
    executor.Continue(event.trial_id);
  }
  EXPECT_EQ(executor.NumRunning(), 0u);
  for (const std::string id : {"a", "b"}) {
    ASSERT_EQ(results[id].size(), 3u) << id;
    for (int i = 0; i < 3; ++i) {
      const Json &r = results[id][static_cast<std::size_t>(i)];
      EXPECT_EQ(r["met"], true) << "trial " << id << " never saw the other one running";
      EXPECT_EQ(r["step"], i);
      EXPECT_EQ(r[fields::kTrainingIteration], i + 1);
      EXPECT_EQ(r[fields::kTrialId], id);
      EXPECT_EQ(r[fields::kDone], false);
      EXPECT_GE(r[fields::kTimeTotalS].get<double>(), r[fields::kTimeThisIterS].get<double>());
    }
    EXPECT_EQ(finals[id][fields::kDone], true);
    EXPECT_EQ(finals[id][fields::kTrainingIteration], 3);
  }
  EXPECT_NE(results["a"][0]["pid"], results["b"][0]["pid"]);
}

TEST_F(TuneTrialsTest, StopReachesAFunctionThroughReport) {
  TrialExecutor executor;
  const std::string marker = tmp_ + "/unwound";
  executor.Start(Trial("s", ForeverTrain, Json{{"marker", marker}}));
  TrialEvent first = Next(executor);
  ASSERT_EQ(first.kind, TrialEvent::Kind::kResult) << first.error;
  executor.Continue("s");
  TrialEvent second = Next(executor);
  ASSERT_EQ(second.kind, TrialEvent::Kind::kResult) << second.error;
  EXPECT_EQ(second.metrics["i"], 1);
  // Stop while the function waits in Report: Report throws, the function's
  // frames unwind (the guard writes its marker) before the actor is killed.
  executor.Stop("s");
  EXPECT_FALSE(executor.IsRunning("s"));
  executor.Drain();  // the actor ends in the background
  EXPECT_EQ(Slurp(marker), "unwound");
  EXPECT_FALSE(executor.WaitAny(std::chrono::milliseconds(0)).has_value());
}

TEST_F(TuneTrialsTest, StopKillsATrainableThatIgnoresIt) {
  ExecutorOptions options;
  options.stop_grace = std::chrono::milliseconds(200);
  TrialExecutor executor(options);
  executor.Start(Trial("x", StubbornTrain, Json::object()));
  TrialEvent first = Next(executor);
  ASSERT_EQ(first.kind, TrialEvent::Kind::kResult) << first.error;
  const int pid = first.metrics["pid"];
  executor.Continue("x");  // the function now never reports again
  executor.Stop("x");
  EXPECT_FALSE(executor.IsRunning("x"));
  EXPECT_TRUE(lumen::testing::PollUntil([&] { return kill(pid, 0) != 0 && errno == ESRCH; }))
      << "worker " << pid << " lives on";
}

TEST_F(TuneTrialsTest, AThrowingTrainableErrsWithItsMessage) {
  TrialExecutor executor;
  executor.Start(Trial("t", ThrowingTrain, Json::object()));
  ASSERT_EQ(Next(executor).kind, TrialEvent::Kind::kResult);
  executor.Continue("t");
  TrialEvent event = Next(executor);
  EXPECT_EQ(event.kind, TrialEvent::Kind::kError);
  EXPECT_EQ(event.trial_id, "t");
  EXPECT_EQ(event.error, "loss diverged to NaN");
  EXPECT_FALSE(executor.IsRunning("t"));
}

TEST_F(TuneTrialsTest, AKilledWorkerErrsAndTheTrialRestartsFromItsCheckpoint) {
  TrialExecutor executor;
  Json config{{"scratch", tmp_ + "/scratch"}, {"die_at", 4}};
  executor.Start(Trial("k", CrashingTrain, config));
  std::optional<std::string> last_checkpoint;
  for (int i = 1; i <= 3; ++i) {
    TrialEvent event = Next(executor);
    ASSERT_EQ(event.kind, TrialEvent::Kind::kResult) << event.error;
    EXPECT_EQ(event.metrics["count"], i);
    ASSERT_TRUE(event.checkpoint);
    EXPECT_EQ(fs::path(*event.checkpoint).parent_path(), fs::path(trials_dir_ + "/k"));
    last_checkpoint = event.checkpoint;
    executor.Continue("k");
  }
  TrialEvent crash = Next(executor);
  ASSERT_EQ(crash.kind, TrialEvent::Kind::kError);
  EXPECT_NE(crash.error.find("actor died"), std::string::npos) << crash.error;
  EXPECT_FALSE(executor.IsRunning("k"));

  TrialStart restart = Trial("k", CrashingTrain, config);
  restart.restore_from = last_checkpoint;
  executor.Start(restart);
  TrialEvent resumed = Next(executor);
  ASSERT_EQ(resumed.kind, TrialEvent::Kind::kResult) << resumed.error;
  EXPECT_EQ(resumed.metrics["count"], 4);
  EXPECT_EQ(resumed.metrics[fields::kTrainingIteration], 4);
  EXPECT_EQ(resumed.metrics[fields::kIterationsSinceRestore], 1);
  // Checkpoint folders go on numbering where the crashed run left off.
  EXPECT_EQ(*resumed.checkpoint, trials_dir_ + "/k/checkpoint_000003");
  executor.Stop("k");
}

TEST_F(TuneTrialsTest, ClassTrainableStepsSavesRestoresResetsAndPauses) {
  TrialExecutor executor;
  const std::string cleanup = tmp_ + "/cleanup";
  executor.Start(
      Trial("c", TrainableRef::Class<Accumulator>(), Json{{"step", 2}, {"cleanup_marker", cleanup}}));
  TrialEvent r1 = Next(executor);
  ASSERT_EQ(r1.kind, TrialEvent::Kind::kResult) << r1.error;
  EXPECT_EQ(r1.metrics["total"], 2);
  EXPECT_FALSE(r1.checkpoint);

  std::optional<std::string> saved = executor.SaveCheckpoint("c");
  ASSERT_TRUE(saved);
  EXPECT_EQ(*saved, trials_dir_ + "/c/checkpoint_000000");
  EXPECT_EQ(Slurp(*saved + "/total"), "2");

  executor.Continue("c");
  TrialEvent r2 = Next(executor);
  EXPECT_EQ(r2.metrics["total"], 4);
  EXPECT_THROW(executor.Continue("nope"), TuneError);

  executor.Restore("c", *saved);
  executor.Continue("c");
  TrialEvent r3 = Next(executor);
  EXPECT_EQ(r3.metrics["total"], 4);
  EXPECT_EQ(r3.metrics[fields::kTrainingIteration], 2);
  EXPECT_EQ(r3.metrics[fields::kIterationsSinceRestore], 1);

  EXPECT_TRUE(executor.ResetConfig("c", Json{{"step", 10}, {"cleanup_marker", cleanup}}));
  executor.Continue("c");
  TrialEvent r4 = Next(executor);
  EXPECT_EQ(r4.metrics["total"], 14);
  EXPECT_EQ(r4.metrics[fields::kTrainingIteration], 1);
  // Between results only: with a Next outstanding, a save is refused.
  executor.Continue("c");
  EXPECT_THROW(executor.SaveCheckpoint("c"), TuneError);

  // PAUSE: saved (after the Step in progress), then stopped with Cleanup.
  std::optional<std::string> paused = executor.Pause("c");
  ASSERT_TRUE(paused);
  EXPECT_EQ(*paused, trials_dir_ + "/c/checkpoint_000001");
  EXPECT_FALSE(executor.IsRunning("c"));
  executor.Drain();  // the actor ends in the background
  EXPECT_EQ(Slurp(cleanup), "cleaned");
  const std::string total = Slurp(*paused + "/total");
  EXPECT_TRUE(total == "14" || total == "24") << total;
}

TEST_F(TuneTrialsTest, AClassTrainableThatSaysDoneIsCleanedUpWithoutAStop) {
  TrialExecutor executor;
  const std::string cleanup = tmp_ + "/cleanup";
  executor.Start(Trial("d", TrainableRef::Class<Accumulator>(),
                       Json{{"step", 1}, {"done_at", 2}, {"cleanup_marker", cleanup}}));
  ASSERT_EQ(Next(executor).kind, TrialEvent::Kind::kResult);
  executor.Continue("d");
  TrialEvent done = Next(executor);
  ASSERT_EQ(done.kind, TrialEvent::Kind::kDone) << done.error;
  EXPECT_EQ(done.metrics["total"], 2);
  EXPECT_FALSE(executor.IsRunning("d"));
  // Cleanup ran in the step that said done, before the result came back.
  EXPECT_EQ(Slurp(cleanup), "cleaned");
  executor.Drain();
}

TEST_F(TuneTrialsTest, AReferenceToOtherCodeErrsInTheWorkerWithoutRunningIt) {
  TrialExecutor executor;
  Json ref = TrainableRef(ThrowingTrain).ToJson();
  ref["code_hash"] = ref["code_hash"].get<std::uint64_t>() ^ 1;  // as if the worker ran another build
  executor.Start(Trial("w", TrainableRef::FromJson(ref), Json::object()));
  TrialEvent event = Next(executor);
  EXPECT_EQ(event.kind, TrialEvent::Kind::kError);
  EXPECT_NE(event.error.find("resolved to different code"), std::string::npos) << event.error;
  EXPECT_FALSE(executor.IsRunning("w"));
}

TEST_F(TuneTrialsTest, AResourceRequestNoNodeHasIsAClearError) {
  TrialExecutor executor;
  TrialStart big = Trial("big", ThrowingTrain, Json::object());
  big.resources.cpu = 64;
  try {
    executor.Start(big);
    FAIL() << "a trial needing 64 CPUs started on a 2-CPU cluster";
  } catch (const TuneError &e) {
    EXPECT_NE(std::string(e.what()).find("no node of the cluster can run a trial that needs {CPU: 64}"),
              std::string::npos)
        << e.what();
  }
  TrialStart custom = Trial("tpu", ThrowingTrain, Json::object());
  custom.resources.custom["TPU"] = 1;
  EXPECT_THROW(executor.Start(custom), TuneError);
  TrialStart negative = Trial("neg", ThrowingTrain, Json::object());
  negative.resources.gpu = -1;
  EXPECT_THROW(executor.Start(negative), TuneError);
  EXPECT_EQ(executor.NumRunning(), 0u);
  // What fits one node starts.
  TrialStart two = Trial("two", ThrowingTrain, Json::object());
  two.resources.cpu = 2;
  executor.Start(two);
  EXPECT_EQ(Next(executor).kind, TrialEvent::Kind::kResult);
  executor.Stop("two");
}

TEST_F(TuneTrialsTest, ATrialInAPlacementGroupPlacesItsOwnWorkInTheOtherBundles) {
  TrialExecutor executor;
  TrialStart start = Trial("g", GroupTrain, Json::object());
  start.resources =
      ray::tune::Resources::PlacementGroup({{{"CPU", 1}}, {{"CPU", 1}}}, ray::PlacementStrategy::STRICT_PACK);
  executor.Start(start);
  TrialEvent event = Next(executor);
  ASSERT_EQ(event.kind, TrialEvent::Kind::kResult) << event.error;
  const Json &m = event.metrics;
  EXPECT_EQ(m["trial_id"], "g");
  EXPECT_EQ(m["trial_dir"], trials_dir_ + "/g");
  EXPECT_EQ(m["bundles"], 2);
  EXPECT_EQ(m["strategy"], static_cast<int>(ray::PlacementStrategy::STRICT_PACK));
  const std::string group = m["group"];
  ASSERT_FALSE(group.empty());
  EXPECT_NE(m["task_pid"], m["pid"]);
  // Everything is reserved now: the group holds both CPUs.
  EXPECT_EQ(ray::AvailableResources().count("CPU"), 0u);

  // The trial ends: its actor, its group and what ran in the group go.
  executor.Stop("g");
  executor.Drain();
  const int helper = m["helper_pid"];
  EXPECT_TRUE(lumen::testing::PollUntil([&] { return kill(helper, 0) != 0 && errno == ESRCH; }))
      << "the helper actor " << helper << " outlived its trial's group";
  EXPECT_EQ(ray::GetPlacementGroupById(group).GetState(), ray::PlacementGroupState::REMOVED);
  EXPECT_TRUE(lumen::testing::PollUntil([&] {
    auto free = ray::AvailableResources();
    return free.count("CPU") && free.at("CPU") == 2;
  }));
}

TEST_F(TuneTrialsTest, PlacementGroupsTheClusterCannotHoldAreClearErrors) {
  TrialExecutor executor;
  auto bundles = [](std::vector<ray::tune::Resources::Bundle> b, ray::PlacementStrategy s) {
    return ray::tune::Resources::PlacementGroup(std::move(b), s);
  };
  TrialStart spread = Trial("s", ThrowingTrain, Json::object());
  spread.resources = bundles({{{"CPU", 1}}, {{"CPU", 1}}}, ray::PlacementStrategy::STRICT_SPREAD);
  try {
    executor.Start(spread);
    ADD_FAILURE() << "two bundles on two nodes of a one-node cluster started";
  } catch (const TuneError &e) {
    EXPECT_NE(std::string(e.what()).find("STRICT_SPREAD"), std::string::npos) << e.what();
  }
  TrialStart too_much = Trial("m", ThrowingTrain, Json::object());
  too_much.resources = bundles({{{"CPU", 2}}, {{"CPU", 1}}}, ray::PlacementStrategy::PACK);
  EXPECT_THROW(executor.Start(too_much), TuneError);
  TrialStart empty = Trial("e", ThrowingTrain, Json::object());
  empty.resources = bundles({{{"CPU", 1}}, {}}, ray::PlacementStrategy::PACK);
  EXPECT_THROW(executor.Start(empty), TuneError);
  EXPECT_EQ(executor.NumRunning(), 0u);
  // Nothing was reserved for them.
  EXPECT_TRUE(ray::GetAllPlacementGroups().empty());
}

}  // namespace

RAY_REMOTE(OwnPid, Helper::Create, &Helper::Pid);
