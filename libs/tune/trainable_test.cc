// Trainables without processes: references resolved in this process, the
// auto-filled result fields, checkpoint folders, and the hosts a trial's actor
// runs (driven here directly, as the actor's threads would).
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <sstream>
#include <filesystem>
#include <fstream>
#include <thread>

#include "ray/tune/trainable.h"
#include "trainable_host.h"
#include "trial_state.h"

namespace ray {
namespace tune {
namespace {

namespace fs = std::filesystem;
using internal::ClassHost;
using internal::FunctionHost;
using internal::ResultClock;
using internal::TrialPlace;

std::atomic<int> calls{0};

void CountingTrain(const Json &config) { calls += config.value("add", 1); }

void OtherTrain(const Json &) {}

class Counter : public Trainable {
 public:
  void Setup(const Json &config) override { step_ = config.value("step", 1); }
  Json Step() override {
    value_ += step_;
    return Json{{"value", value_}, {"done", value_ >= 3 * step_ && stop_at_three_}};
  }
  void SaveCheckpoint(const std::string &dir) override { std::ofstream(dir + "/value") << value_; }
  void LoadCheckpoint(const std::string &dir) override { std::ifstream(dir + "/value") >> value_; }
  bool ResetConfig(const Json &config) override {
    step_ = config.value("step", 1);
    return true;
  }
  void Cleanup() override { ++cleanups; }

  static inline int cleanups = 0;
  static inline bool stop_at_three_ = false;

 private:
  int step_ = 1;
  int value_ = 0;
};

// A fresh folder per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    static int n = 0;
    path_ = fs::temp_directory_path() / ("tune-unit-" + std::to_string(getpid()) + "-" + std::to_string(n++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string operator/(const std::string &name) const { return (path_ / name).string(); }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

Json Parse(const std::string &event) { return Json::parse(event); }

// ---- references

TEST(TrainableRefTest, FunctionRoundTripsThroughJson) {
  TrainableRef ref(CountingTrain);
  TrainableRef back = TrainableRef::FromJson(Json::parse(ref.ToJson().dump()));
  EXPECT_FALSE(back.is_class());
  TrainFunction fn = back.ResolveFunction();
  EXPECT_EQ(fn, &CountingTrain);
  calls = 0;
  fn(Json{{"add", 5}});
  EXPECT_EQ(calls, 5);
  EXPECT_NE(TrainableRef(OtherTrain).ToJson()["offset"], ref.ToJson()["offset"]);
}

TEST(TrainableRefTest, LambdaWithoutCapturesIsAccepted) {
  TrainableRef ref([](const Json &config) { calls += config.value("add", 1); });
  calls = 0;
  TrainableRef::FromJson(ref.ToJson()).ResolveFunction()(Json{{"add", 2}});
  EXPECT_EQ(calls, 2);
}

TEST(TrainableRefTest, ClassRoundTripsToItsFactory) {
  TrainableRef ref = TrainableRef::Class<Counter>();
  TrainableRef back = TrainableRef::FromJson(ref.ToJson());
  EXPECT_TRUE(back.is_class());
  EXPECT_EQ(back.ResolveFactory(), &NewTrainable<Counter>);
  std::unique_ptr<Trainable> t(back.ResolveFactory()());
  t->Setup(Json{{"step", 2}});
  EXPECT_EQ(t->Step()["value"], 2);
  EXPECT_THROW(back.ResolveFunction(), TuneError);
}

TEST(TrainableRefTest, CodeOutsideAnyModuleIsRejected) {
  EXPECT_THROW(TrainableRef(static_cast<TrainFunction>(nullptr)), TuneError);
  auto heap = std::make_unique<char[]>(64);
  try {
    TrainableRef ref(reinterpret_cast<TrainFunction>(heap.get()));
    FAIL() << "a heap address was accepted";
  } catch (const TuneError &e) {
    EXPECT_NE(std::string(e.what()).find("not code in any loaded module"), std::string::npos) << e.what();
  }
}

TEST(TrainableRefTest, ReferenceToOtherCodeFailsToResolve) {
  Json json = TrainableRef(CountingTrain).ToJson();
  Json shifted = json;
  shifted["offset"] = json["offset"].get<std::uint64_t>() + 1;
  EXPECT_THROW(TrainableRef::FromJson(shifted).ResolveFunction(), TuneError);

  Json elsewhere = json;
  elsewhere["build_id"] = "00112233445566778899aabbccddeeff00112233";
  elsewhere["module"] = "/nonexistent/program";
  try {
    TrainableRef::FromJson(elsewhere).ResolveFunction();
    FAIL() << "a module that is not loaded resolved";
  } catch (const TuneError &e) {
    EXPECT_NE(std::string(e.what()).find("not loaded here"), std::string::npos) << e.what();
  }

  Json renamed = json;
  renamed["symbol"] = "NotTheSymbol";
  EXPECT_THROW(TrainableRef::FromJson(renamed).ResolveFunction(), TuneError);

  EXPECT_THROW(TrainableRef::FromJson(Json{{"kind", "function"}}), TuneError);
  Json bad_kind = json;
  bad_kind["kind"] = "closure";
  EXPECT_THROW(TrainableRef::FromJson(bad_kind), TuneError);
}

// A fresh start of the same program (as issue 15 starts workers on other
// nodes) has its modules at other addresses: the reference must resolve there
// too. The parent runs this binary again with only the child test selected;
// the child finds the references in kChildRefEnv.
constexpr const char *kChildRefEnv = "TUNE_UNIT_TEST_CHILD_REFS";

TEST(TrainableRefTest, ResolvesInAFreshStartOfTheProgram) {
  Json refs{{"function", TrainableRef(CountingTrain).ToJson()},
            {"class", TrainableRef::Class<Counter>().ToJson()},
            {"parent_address", reinterpret_cast<std::uintptr_t>(&CountingTrain)}};
  std::string env = std::string(kChildRefEnv) + "=" + refs.dump();
  std::vector<char *> envp;
  for (char **e = environ; *e; ++e) envp.push_back(*e);
  envp.push_back(env.data());
  envp.push_back(nullptr);
  std::string exe = fs::read_symlink("/proc/self/exe").string();
  std::string filter = "--gtest_filter=TrainableRefTest.DISABLED_ChildResolvesTheParentsReferences";
  std::string disabled = "--gtest_also_run_disabled_tests";
  char *argv[] = {exe.data(), filter.data(), disabled.data(), nullptr};
  pid_t pid = -1;
  ASSERT_EQ(posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv, envp.data()), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the child could not resolve the references (its output is above)";
}

// Disabled: only ResolvesInAFreshStartOfTheProgram runs it, in its child.
TEST(TrainableRefTest, DISABLED_ChildResolvesTheParentsReferences) {
  const char *text = std::getenv(kChildRefEnv);
  ASSERT_NE(text, nullptr) << "run by ResolvesInAFreshStartOfTheProgram only";
  Json refs = Json::parse(text);
  TrainFunction fn = TrainableRef::FromJson(refs["function"]).ResolveFunction();
  EXPECT_EQ(fn, &CountingTrain);
  calls = 0;
  fn(Json{{"add", 7}});
  EXPECT_EQ(calls, 7);
  EXPECT_EQ(TrainableRef::FromJson(refs["class"]).ResolveFactory(), &NewTrainable<Counter>);
  std::ifstream aslr("/proc/sys/kernel/randomize_va_space");
  int randomized = 0;
  aslr >> randomized;
  // With ASLR on, the parent's address means nothing here: the offset did it.
  if (randomized != 0) {
    EXPECT_NE(refs["parent_address"].get<std::uintptr_t>(), reinterpret_cast<std::uintptr_t>(fn));
  }
}

// ---- result fields

TEST(ResultClockTest, FillsRaysFields) {
  ResultClock clock;
  Json r1 = clock.Fill(Json{{"loss", 0.5}}, 2.0, 1000.7, "t1");
  EXPECT_EQ(r1["loss"], 0.5);
  EXPECT_EQ(r1[fields::kTrainingIteration], 1);
  EXPECT_EQ(r1[fields::kTimeThisIterS], 2.0);
  EXPECT_EQ(r1[fields::kTimeTotalS], 2.0);
  EXPECT_EQ(r1[fields::kTimestamp], 1000);
  EXPECT_EQ(r1[fields::kTrialId], "t1");
  EXPECT_EQ(r1[fields::kDone], false);
  EXPECT_EQ(r1[fields::kTimeSinceRestore], 2.0);
  EXPECT_EQ(r1[fields::kIterationsSinceRestore], 1);

  // The user's own time_this_iter_s and done are kept (Ray's setdefault);
  // training_iteration is always the runtime's.
  Json r2 =
      clock.Fill(Json{{fields::kTimeThisIterS, 5.0}, {fields::kDone, true}, {fields::kTrainingIteration, 99}},
                 1.0, 1001, "t1");
  EXPECT_EQ(r2[fields::kTimeThisIterS], 5.0);
  EXPECT_EQ(r2[fields::kTimeTotalS], 7.0);
  EXPECT_EQ(r2[fields::kDone], true);
  EXPECT_EQ(r2[fields::kTrainingIteration], 2);

  EXPECT_THROW(clock.Fill(Json::array({1, 2}), 1.0, 0, "t1"), TuneError);
  EXPECT_EQ(clock.Fill(Json(), 1.0, 0, "t1")[fields::kTrainingIteration], 3);
}

TEST(ResultClockTest, RestoreContinuesIterationsAndRestartsSinceRestore) {
  ResultClock clock;
  clock.Fill(Json::object(), 1.0, 0, "t");
  clock.Fill(Json::object(), 1.0, 0, "t");
  Json saved = clock.Metadata();
  clock.Fill(Json::object(), 1.0, 0, "t");

  ResultClock restored;
  restored.Restore(saved);
  Json r = restored.Fill(Json::object(), 0.5, 0, "t");
  EXPECT_EQ(r[fields::kTrainingIteration], 3);
  EXPECT_EQ(r[fields::kTimeTotalS], 2.5);
  EXPECT_EQ(r[fields::kIterationsSinceRestore], 1);
  EXPECT_EQ(r[fields::kTimeSinceRestore], 0.5);

  restored.Reset();
  EXPECT_EQ(restored.Fill(Json::object(), 1.0, 0, "t")[fields::kTrainingIteration], 1);
  // A folder the user made, with no record: from zero.
  ResultClock blank;
  blank.Restore(Json::object());
  EXPECT_EQ(blank.Fill(Json::object(), 1.0, 0, "t")[fields::kTrainingIteration], 1);
}

// ---- checkpoint folders

TEST(CheckpointDirTest, NumbersContinuePastExistingFolders) {
  TempDir trial;
  EXPECT_EQ(internal::NewCheckpointDir(trial.str()), trial / "checkpoint_000000");
  EXPECT_EQ(internal::NewCheckpointDir(trial.str()), trial / "checkpoint_000001");
  fs::create_directories(trial / "checkpoint_000007");
  fs::create_directories(trial / "checkpoint_x");
  fs::create_directories(trial / "other");
  EXPECT_EQ(internal::NewCheckpointDir(trial.str()), trial / "checkpoint_000008");
  // A trial folder that does not exist yet is made.
  EXPECT_EQ(internal::NewCheckpointDir(trial / "new"), trial / "new/checkpoint_000000");
}

TEST(CheckpointDirTest, PersistCopiesSoTheSourceMayGo) {
  TempDir trial;
  TempDir user;
  fs::create_directories(user / "sub");
  std::ofstream(user / "sub/weights") << "42";
  std::string kept = internal::PersistCheckpoint(user.str(), trial.str());
  EXPECT_EQ(kept, trial / "checkpoint_000000");
  fs::remove_all(user.str());
  std::ifstream in(kept + "/sub/weights");
  std::string text;
  in >> text;
  EXPECT_EQ(text, "42");
  EXPECT_THROW(internal::PersistCheckpoint(trial / "missing", trial.str()), TuneError);

  internal::WriteCheckpointMetadata(kept, Json{{"training_iteration", 4}});
  EXPECT_EQ(internal::ReadCheckpointMetadata(kept)["training_iteration"], 4);
  EXPECT_EQ(internal::ReadCheckpointMetadata(trial.str()), Json::object());
}

// ---- the hosts, driven as the actor's threads would

TEST(HostTest, ReportOutsideATrialIsAnError) {
  EXPECT_THROW(Report(Json{{"x", 1}}), TuneError);
  EXPECT_THROW(GetCheckpoint(), TuneError);
}

// Reports `iterations` results (0 = without end), each with a checkpoint
// holding its count, continuing from GetCheckpoint's count.
void CheckpointingTrain(const Json &config) {
  int count = 0;
  if (auto checkpoint = GetCheckpoint()) std::ifstream(checkpoint->path() + "/count") >> count;
  const int iterations = config.value("iterations", 0);
  for (int i = 0; iterations == 0 || i < iterations; ++i) {
    ++count;
    std::string dir = config.at("scratch").get<std::string>();
    fs::create_directories(dir);
    std::ofstream(dir + "/count") << count;
    Report(Json{{"count", count}, {"lr", config.value("lr", 0.0)}}, Checkpoint::FromDirectory(dir));
  }
}

TEST(HostTest, FunctionReportsOneResultPerNextAndEndsDone) {
  TempDir trial;
  FunctionHost host(CheckpointingTrain, Json{{"iterations", 2}, {"scratch", trial / "scratch"}},
                    TrialPlace{"t1", trial / "t1", {}, {}}, std::nullopt);
  Json e1 = Parse(host.Next());
  EXPECT_EQ(e1["kind"], "result");
  EXPECT_EQ(e1["metrics"]["count"], 1);
  EXPECT_EQ(e1["metrics"][fields::kTrainingIteration], 1);
  EXPECT_EQ(e1["checkpoint"], trial / "t1/checkpoint_000000");
  Json e2 = Parse(host.Next());
  EXPECT_EQ(e2["metrics"][fields::kTrainingIteration], 2);
  Json done = Parse(host.Next());
  EXPECT_EQ(done["kind"], "done");
  EXPECT_EQ(done["metrics"]["count"], 2);
  EXPECT_EQ(done["metrics"][fields::kDone], true);
  EXPECT_EQ(host.Save(), trial / "t1/checkpoint_000001");
}

TEST(HostTest, StopReachesTheFunctionThroughReport) {
  TempDir trial;
  FunctionHost host(CheckpointingTrain, Json{{"scratch", trial / "scratch"}},
                    TrialPlace{"t", trial / "t", {}, {}}, std::nullopt);
  EXPECT_EQ(Parse(host.Next())["kind"], "result");
  // The function is blocked in Report; Stop makes it throw and waits for it.
  host.Stop();
  EXPECT_EQ(Parse(host.Next())["kind"], "stopped");
}

TEST(HostTest, StopOvertakesAWaitingNext) {
  TempDir trial;
  FunctionHost host(CheckpointingTrain, Json{{"scratch", trial / "scratch"}},
                    TrialPlace{"t", trial / "t", {}, {}}, std::nullopt);
  EXPECT_EQ(Parse(host.Next())["kind"], "result");
  std::string overtaken;
  std::thread next([&] { overtaken = host.Next(); });
  host.Stop();
  next.join();
  // Either the next result came first or the stop did; the function is over.
  std::string kind = Parse(overtaken)["kind"];
  EXPECT_TRUE(kind == "result" || kind == "stopped") << overtaken;
  EXPECT_EQ(Parse(host.Next())["kind"], "stopped");
}

void DoneAtTwoTrain(const Json &) {
  Report(Json{{"x", 1}});
  Report(Json{{"x", 2}, {"done", true}});
  Report(Json{{"x", 3}});
}

TEST(HostTest, AFunctionResultSayingDoneEndsTheTrial) {
  TempDir trial;
  FunctionHost host(DoneAtTwoTrain, Json::object(), TrialPlace{"t", trial / "t", {}, {}}, std::nullopt);
  EXPECT_EQ(Parse(host.Next())["kind"], "result");
  Json done = Parse(host.Next());
  EXPECT_EQ(done["kind"], "done");
  EXPECT_EQ(done["metrics"]["x"], 2);
  EXPECT_EQ(done["metrics"][fields::kTrainingIteration], 2);
  host.Stop();
}

void LatestCheckpointTrain(const Json &config) {
  Json seen;
  for (int i = 0; i < 2; ++i) {
    auto checkpoint = GetCheckpoint();
    seen = checkpoint ? Json(checkpoint->path()) : Json();
    Report(Json{{"seen", seen}}, Checkpoint::FromDirectory(config.at("scratch")));
  }
}

TEST(HostTest, GetCheckpointGivesTheLatestReportedOne) {
  TempDir trial;
  fs::create_directories(trial / "scratch");
  FunctionHost host(LatestCheckpointTrain, Json{{"scratch", trial / "scratch"}},
                    TrialPlace{"t", trial / "t", {}, {}}, std::nullopt);
  EXPECT_EQ(Parse(host.Next())["metrics"]["seen"], Json());
  EXPECT_EQ(Parse(host.Next())["metrics"]["seen"], trial / "t/checkpoint_000000");
  host.Stop();
}

void ThrowingTrain(const Json &) {
  Report(Json{{"x", 1}});
  throw std::runtime_error("diverged at step 2");
}

TEST(HostTest, AThrowingFunctionGivesItsMessage) {
  TempDir trial;
  FunctionHost host(ThrowingTrain, Json::object(), TrialPlace{"t", trial / "t", {}, {}}, std::nullopt);
  EXPECT_EQ(Parse(host.Next())["kind"], "result");
  Json error = Parse(host.Next());
  EXPECT_EQ(error["kind"], "error");
  EXPECT_EQ(error["error"], "diverged at step 2");
}

TEST(HostTest, FunctionRestoreContinuesFromTheCheckpoint) {
  TempDir trial;
  std::string checkpoint;
  {
    FunctionHost host(CheckpointingTrain, Json{{"scratch", trial / "scratch"}},
                      TrialPlace{"t", trial / "t", {}, {}}, std::nullopt);
    for (int i = 0; i < 3; ++i) checkpoint = Parse(host.Next())["checkpoint"];
    host.Stop();
  }
  FunctionHost host(CheckpointingTrain, Json{{"scratch", trial / "scratch2"}},
                    TrialPlace{"t", trial / "t", {}, {}}, checkpoint);
  Json r = Parse(host.Next());
  EXPECT_EQ(r["metrics"]["count"], 4);
  EXPECT_EQ(r["metrics"][fields::kTrainingIteration], 4);
  EXPECT_EQ(r["metrics"][fields::kIterationsSinceRestore], 1);
  // Numbering of checkpoint folders goes on in the same trial folder.
  EXPECT_EQ(r["checkpoint"], trial / "t/checkpoint_000003");

  // Restore in place, back to the second checkpoint; then a new config.
  host.Restore(trial / "t/checkpoint_000001");
  r = Parse(host.Next());
  EXPECT_EQ(r["metrics"]["count"], 3);
  EXPECT_EQ(r["metrics"][fields::kTrainingIteration], 3);
  EXPECT_TRUE(host.ResetConfig(Json{{"scratch", trial / "scratch3"}, {"lr", 0.5}}));
  r = Parse(host.Next());
  EXPECT_EQ(r["metrics"]["count"], 1);
  EXPECT_EQ(r["metrics"]["lr"], 0.5);
  EXPECT_EQ(r["metrics"][fields::kTrainingIteration], 1);
  host.Stop();
}

TEST(HostTest, ClassStepsSavesLoadsAndResets) {
  TempDir trial;
  Counter::cleanups = 0;
  ClassHost host(&NewTrainable<Counter>, Json{{"step", 2}}, TrialPlace{"c", trial / "c", {}, {}},
                 std::nullopt);
  EXPECT_EQ(Parse(host.Next())["metrics"]["value"], 2);
  std::string saved = *host.Save();
  EXPECT_EQ(saved, trial / "c/checkpoint_000000");
  EXPECT_EQ(Parse(host.Next())["metrics"]["value"], 4);
  host.Restore(saved);
  Json r = Parse(host.Next());
  EXPECT_EQ(r["metrics"]["value"], 4);
  EXPECT_EQ(r["metrics"][fields::kTrainingIteration], 2);
  EXPECT_TRUE(host.ResetConfig(Json{{"step", 10}}));
  r = Parse(host.Next());
  EXPECT_EQ(r["metrics"]["value"], 14);
  EXPECT_EQ(r["metrics"][fields::kTrainingIteration], 1);
  host.Stop();
  EXPECT_EQ(Counter::cleanups, 1);
  EXPECT_EQ(Parse(host.Next())["kind"], "stopped");
  host.Stop();
  EXPECT_EQ(Counter::cleanups, 1);

  // Restored at construction, from the checkpoint's record.
  ClassHost again(&NewTrainable<Counter>, Json{{"step", 2}}, TrialPlace{"c", trial / "c", {}, {}}, saved);
  r = Parse(again.Next());
  EXPECT_EQ(r["metrics"]["value"], 4);
  EXPECT_EQ(r["metrics"][fields::kTrainingIteration], 2);
}

class Plain : public Trainable {
 public:
  void Setup(const Json &config) override {
    if (config.value("fail_setup", false)) throw std::invalid_argument("bad config: no layers");
  }
  Json Step() override { return Json{{"x", 1}}; }
};

TEST(HostTest, ClassWithoutResetAndFailingSetup) {
  TempDir trial;
  ClassHost plain(&NewTrainable<Plain>, Json::object(), TrialPlace{"p", trial / "p", {}, {}}, std::nullopt);
  EXPECT_FALSE(plain.ResetConfig(Json{{"a", 1}}));
  ClassHost failing(&NewTrainable<Plain>, Json{{"fail_setup", true}}, TrialPlace{"f", trial / "f", {}, {}},
                    std::nullopt);
  Json e = Parse(failing.Next());
  EXPECT_EQ(e["kind"], "error");
  EXPECT_EQ(e["error"], "bad config: no layers");
}

TEST(HostTest, ClassStepReportingDoneEndsTheTrial) {
  TempDir trial;
  Counter::stop_at_three_ = true;
  ClassHost host(&NewTrainable<Counter>, Json{{"step", 1}}, TrialPlace{"c", trial / "c", {}, {}},
                 std::nullopt);
  EXPECT_EQ(Parse(host.Next())["kind"], "result");
  EXPECT_EQ(Parse(host.Next())["kind"], "result");
  Json done = Parse(host.Next());
  Counter::stop_at_three_ = false;
  EXPECT_EQ(done["kind"], "done");
  EXPECT_EQ(done["metrics"][fields::kTrainingIteration], 3);
}

// Reports what GetContext says on the function's thread.
void ContextTrain(const Json &) {
  TrialContext c = GetContext();
  Report(Json{{"id", c.trial_id},
              {"dir", c.trial_dir},
              {"gpu", c.resources.gpu},
              {"group", c.placement_group.GetID()}});
}

// Records what GetContext says in Setup and in Step.
class ContextTrainable : public Trainable {
 public:
  void Setup(const Json &) override { setup_id_ = GetContext().trial_id; }
  Json Step() override { return Json{{"setup_id", setup_id_}, {"step_dir", GetContext().trial_dir}}; }

 private:
  std::string setup_id_;
};

TEST(HostTest, GetContextAnswersInTheTrialsCodeOnly) {
  TempDir trial;
  Resources resources;
  resources.gpu = 0.5;
  TrialPlace place{"t9", trial / "t9", resources,
                   ray::PlacementGroup("0123", {"", {{{"CPU", 1}}}, ray::PlacementStrategy::PACK})};
  FunctionHost host(ContextTrain, Json::object(), place, std::nullopt);
  Json m = Parse(host.Next())["metrics"];
  EXPECT_EQ(m["id"], "t9");
  EXPECT_EQ(m["dir"], trial / "t9");
  EXPECT_EQ(m["gpu"], 0.5);
  EXPECT_EQ(m["group"], "0123");
  host.Stop();

  ClassHost class_host(&NewTrainable<ContextTrainable>, Json::object(), place, std::nullopt);
  Json step = Parse(class_host.Next())["metrics"];
  EXPECT_EQ(step["setup_id"], "t9");
  EXPECT_EQ(step["step_dir"], trial / "t9");

  // Outside a trial's code, and after it, there is no context.
  EXPECT_THROW(GetContext(), TuneError);
}

}  // namespace
}  // namespace tune
}  // namespace ray
