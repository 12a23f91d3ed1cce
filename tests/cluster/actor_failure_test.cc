// Actor failures on a real local cluster, through the public API only:
// exceptions in methods and constructors, Kill with and without restart,
// ExitActor, crashes and max_restarts, failed results passed on, and actor
// lifetimes (owner death, detached actors across drivers).
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <numeric>
#include <sstream>
#include <thread>

#include "cluster_test_util.h"

extern char **environ;

#ifndef LUMEN_ACTOR_DRIVER
#define LUMEN_ACTOR_DRIVER ""
#endif

namespace {

// Gets that are expected to end (with a value or an actor error) wait this
// long; a hang then shows up as a RayTimeoutException.
constexpr int kLongMs = 60000;

int SleepMs(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
RAY_REMOTE(SleepMs);

class Counter {
 public:
  explicit Counter(int init) : count_(init), restarted_in_constructor_(ray::WasCurrentActorRestarted()) {}

  static Counter *FactoryCreate() { return new Counter(0); }
  static Counter *FactoryCreate(int init) { return new Counter(init); }
  static Counter *FactoryCreateException() { throw std::runtime_error("constructor failed on purpose"); }

  int Plus1() { return ++count_; }
  int Add(int x) {
    count_ += x;
    return count_;
  }
  int GetCount() { return count_; }
  int GetPid() { return static_cast<int>(getpid()); }
  int SlowPlus1(int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return ++count_;
  }
  int ThrowInvalid() { throw std::invalid_argument("bad input 42"); }

  bool WasRestartedInConstructor() { return restarted_in_constructor_; }
  bool WasRestarted() { return ray::WasCurrentActorRestarted(); }

  void Exit() { ray::ExitActor(); }
  int CrashExit() { std::_Exit(1); }
  int CrashSegv() {
    rlimit no_core{0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    raise(SIGSEGV);
    std::_Exit(139);  // only if SIGSEGV was somehow survived
  }
  int CrashAfter(int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    std::_Exit(1);
  }
  // Writes `started`, then waits up to ms for `path` to exist.
  bool WaitForFile(std::string started, std::string path, int ms) {
    std::ofstream(started) << "1";
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < deadline) {
      if (std::filesystem::exists(path)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  // Submits n tasks that each sleep ms, keeps their refs, and returns at once:
  // the actor then holds worker leases for them.
  int StartSleepers(int n, int ms) {
    for (int i = 0; i < n; ++i) sleepers_.push_back(ray::Task(SleepMs).Remote(ms));
    return n;
  }

  ray::ActorHandle<Counter> CreateChildActor(std::string name) {
    return ray::Actor(RAY_FUNC(Counter::FactoryCreate)).SetName(name).Remote();
  }

 private:
  int count_;
  bool restarted_in_constructor_;
  std::vector<ray::ObjectRef<int>> sleepers_;
};

RAY_REMOTE(RAY_FUNC(Counter::FactoryCreate), RAY_FUNC(Counter::FactoryCreate, int),
           Counter::FactoryCreateException);
RAY_REMOTE(&Counter::Plus1, &Counter::Add, &Counter::GetCount, &Counter::GetPid, &Counter::SlowPlus1,
           &Counter::ThrowInvalid, &Counter::WasRestartedInConstructor, &Counter::WasRestarted,
           &Counter::Exit, &Counter::CrashExit, &Counter::CrashSegv, &Counter::CrashAfter,
           &Counter::WaitForFile, &Counter::CreateChildActor, &Counter::StartSleepers);

int Plus(int a, int b) { return a + b; }
RAY_REMOTE(Plus);

// An actor built from a large by-value argument (moved through the object
// store, as Ray does above its inline limit): a restarted instance is built
// from the same argument again.
class Blob {
 public:
  explicit Blob(std::vector<uint8_t> data) : data_(std::move(data)) {}
  static Blob *FactoryCreate(std::vector<uint8_t> data) { return new Blob(std::move(data)); }
  uint64_t Size() { return data_.size(); }
  uint64_t Checksum() { return std::accumulate(data_.begin(), data_.end(), uint64_t{0}); }
  int GetPid() { return static_cast<int>(getpid()); }

 private:
  std::vector<uint8_t> data_;
};
RAY_REMOTE(Blob::FactoryCreate, &Blob::Size, &Blob::Checksum, &Blob::GetPid);

// An actor whose destructor leaves a file, `dir`/<name>.destroyed, saying
// whether a call (Hold) still ran on it then.
class Witness {
 public:
  Witness(std::string dir, std::string name) : dir_(std::move(dir)), name_(std::move(name)) {}
  ~Witness() { std::ofstream(dir_ + "/" + name_ + ".destroyed") << (holding_ == 0 ? "idle" : "busy"); }
  static Witness *Make(std::string dir, std::string name) {
    return new Witness(std::move(dir), std::move(name));
  }
  int GetPid() { return static_cast<int>(getpid()); }
  void Exit() { ray::ExitActor(); }
  // Writes `started`, waits (far longer than the test does) for `release`.
  bool Hold(std::string started, std::string release) {
    ++holding_;
    std::ofstream(started) << "1";
    auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(10);
    while (!std::filesystem::exists(release) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    --holding_;
    return true;
  }

 private:
  std::string dir_;
  std::string name_;
  std::atomic<int> holding_{0};
};
RAY_REMOTE(Witness::Make, &Witness::GetPid, &Witness::Exit, &Witness::Hold);

using Clock = std::chrono::steady_clock;
using ray::internal::RayActorException;

class ActorFailureTest : public lumen::testing::ClusterTest {
 protected:
  using ClusterTest::StartCluster;
  void StartCluster(ray::RayConfig config) {
    tmp_ = lumen::testing::FreshTmpDir();
    ray::Init(config);
    session_ = lumen::testing::SessionDir(tmp_);
  }
};

ray::ActorHandle<Counter> NewCounter(int init = 0) {
  return ray::Actor(RAY_FUNC(Counter::FactoryCreate, int)).Remote(init);
}

template <typename Pred>
bool WaitUntil(Pred pred, int timeout_ms) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!pred()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

bool ProcessGone(int pid) { return kill(pid, 0) != 0 && errno == ESRCH; }

// The actor's pid, or -1 when the call fails because the actor is dead.
int PidOrDead(ray::ActorHandle<Counter> &actor) {
  try {
    return *actor.Task(&Counter::GetPid).Remote().Get(kLongMs);
  } catch (const RayActorException &) {
    return -1;
  }
}

// Waits for a restarted instance (a new process); its pid, or -1.
int WaitForRestart(ray::ActorHandle<Counter> &actor, int old_pid) {
  int pid = -1;
  bool ok = WaitUntil(
      [&] {
        pid = PidOrDead(actor);
        return pid > 0 && pid != old_pid;
      },
      kLongMs);
  return ok ? pid : -1;
}

bool WaitUntilDead(ray::ActorHandle<Counter> &actor) {
  return WaitUntil([&] { return PidOrDead(actor) == -1; }, kLongMs);
}

TEST_F(ActorFailureTest, MethodExceptionIsATaskErrorAndTheActorLivesOn) {
  StartCluster();
  auto counter = NewCounter();
  EXPECT_EQ(*counter.Task(&Counter::Plus1).Remote().Get(kLongMs), 1);
  int pid = *counter.Task(&Counter::GetPid).Remote().Get(kLongMs);
  try {
    counter.Task(&Counter::ThrowInvalid).Remote().Get(kLongMs);
    FAIL() << "expected RayTaskException";
  } catch (const ray::internal::RayTaskException &e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("std::invalid_argument"), std::string::npos) << msg;
    EXPECT_NE(msg.find("bad input 42"), std::string::npos) << msg;
  }
  // A failed result passed on fails the dependent call the same way.
  auto failed = counter.Task(&Counter::ThrowInvalid).Remote();
  EXPECT_THROW(counter.Task(&Counter::Add).Remote(failed).Get(kLongMs), ray::internal::RayTaskException);
  EXPECT_THROW(ray::Task(Plus).Remote(failed, 1).Get(kLongMs), ray::internal::RayTaskException);
  // Same process, same state.
  EXPECT_EQ(*counter.Task(&Counter::Plus1).Remote().Get(kLongMs), 2);
  EXPECT_EQ(*counter.Task(&Counter::GetPid).Remote().Get(kLongMs), pid);
}

TEST_F(ActorFailureTest, ConstructorExceptionMakesCallsRaiseActorException) {
  StartCluster();
  auto broken = ray::Actor(Counter::FactoryCreateException).SetName("broken").Remote();
  EXPECT_THROW(broken.Task(&Counter::Plus1).Remote().Get(kLongMs), RayActorException);
  EXPECT_THROW(broken.Task(&Counter::GetPid).Remote().Get(kLongMs), RayActorException);
  // Its name is released with it.
  EXPECT_TRUE(WaitUntil([] { return !ray::GetActor<Counter>("broken"); }, kLongMs));
  auto fixed = ray::Actor(RAY_FUNC(Counter::FactoryCreate)).SetName("broken").Remote();
  EXPECT_EQ(*fixed.Task(&Counter::Plus1).Remote().Get(kLongMs), 1);
  // Nothing else is affected.
  auto counter = NewCounter(4);
  EXPECT_EQ(*counter.Task(&Counter::Plus1).Remote().Get(kLongMs), 5);
  EXPECT_EQ(*ray::Task(Plus).Remote(1, 1).Get(kLongMs), 2);
}

TEST_F(ActorFailureTest, KillEndsTheActorAndFreesItsName) {
  StartCluster();
  auto victim = ray::Actor(RAY_FUNC(Counter::FactoryCreate)).SetName("victim").Remote();
  EXPECT_EQ(*victim.Task(&Counter::Plus1).Remote().Get(kLongMs), 1);
  int pid = *victim.Task(&Counter::GetPid).Remote().Get(kLongMs);
  victim.Kill();
  EXPECT_THROW(victim.Task(&Counter::Plus1).Remote().Get(kLongMs), RayActorException);
  EXPECT_THROW(victim.Task(&Counter::GetCount).Remote().Get(kLongMs), RayActorException);
  EXPECT_TRUE(WaitUntil([] { return !ray::GetActor<Counter>("victim"); }, kLongMs))
      << "the name of a killed actor is still registered";
  EXPECT_TRUE(WaitUntil([&] { return ProcessGone(pid); }, kLongMs)) << "actor process " << pid << " lives on";
  // The name can be used again, by a fresh actor.
  auto again = ray::Actor(RAY_FUNC(Counter::FactoryCreate)).SetName("victim").Remote();
  EXPECT_EQ(*again.Task(&Counter::Plus1).Remote().Get(kLongMs), 1);
  auto found = ray::GetActor<Counter>("victim");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->ID(), again.ID());
  EXPECT_EQ(*found->Task(&Counter::Plus1).Remote().Get(kLongMs), 2);
}

TEST_F(ActorFailureTest, KillFailsCallsRunningOrQueued) {
  StartCluster();
  auto actor = NewCounter();
  ASSERT_GT(PidOrDead(actor), 0);
  // Each call would wait far longer than the Gets below for a file that never
  // appears: only the Kill ends them.
  const std::string started = tmp_ + "/started", never = tmp_ + "/never";
  std::vector<ray::ObjectRef<bool>> calls;
  for (int i = 0; i < 3; ++i)
    calls.push_back(actor.Task(&Counter::WaitForFile).Remote(started, never, 10 * kLongMs));
  ASSERT_TRUE(WaitUntil([&] { return std::filesystem::exists(started); }, kLongMs));  // one is running
  actor.Kill();
  for (auto &call : calls) EXPECT_THROW(call.Get(kLongMs), RayActorException);
}

TEST_F(ActorFailureTest, KillWithRestartGivesAFreshInstance) {
  StartCluster();
  auto actor = ray::Actor(RAY_FUNC(Counter::FactoryCreate)).SetName("phoenix").SetMaxRestarts(1).Remote();
  EXPECT_EQ(*actor.Task(&Counter::Plus1).Remote().Get(kLongMs), 1);
  EXPECT_EQ(*actor.Task(&Counter::Plus1).Remote().Get(kLongMs), 2);
  EXPECT_FALSE(*actor.Task(&Counter::WasRestarted).Remote().Get(kLongMs));
  EXPECT_FALSE(*actor.Task(&Counter::WasRestartedInConstructor).Remote().Get(kLongMs));
  int pid0 = *actor.Task(&Counter::GetPid).Remote().Get(kLongMs);

  actor.Kill(false);
  int pid1 = WaitForRestart(actor, pid0);
  ASSERT_GT(pid1, 0) << "the actor did not come back after Kill(false)";
  EXPECT_TRUE(WaitUntil([&] { return ProcessGone(pid0); }, kLongMs)) << "old process " << pid0 << " lives on";
  EXPECT_EQ(*actor.Task(&Counter::GetCount).Remote().Get(kLongMs), 0) << "state was not reset";
  EXPECT_TRUE(*actor.Task(&Counter::WasRestarted).Remote().Get(kLongMs));
  EXPECT_TRUE(*actor.Task(&Counter::WasRestartedInConstructor).Remote().Get(kLongMs));
  auto found = ray::GetActor<Counter>("phoenix");
  ASSERT_TRUE(found) << "a restarted actor keeps its name";
  EXPECT_EQ(*found->Task(&Counter::Plus1).Remote().Get(kLongMs), 1);

  // Its one restart is used up: the next Kill(false) is final.
  actor.Kill(false);
  EXPECT_TRUE(WaitUntilDead(actor)) << "the actor restarted more than max_restarts times";
  EXPECT_THROW(actor.Task(&Counter::Plus1).Remote().Get(kLongMs), RayActorException);
  EXPECT_TRUE(WaitUntil([] { return !ray::GetActor<Counter>("phoenix"); }, kLongMs));
  EXPECT_TRUE(WaitUntil([&] { return ProcessGone(pid1); }, kLongMs));
}

TEST_F(ActorFailureTest, ExitActorEndsTheActorForGood) {
  StartCluster();
  auto counter = ray::Actor(RAY_FUNC(Counter::FactoryCreate)).SetName("leaver").Remote();
  int pid = *counter.Task(&Counter::GetPid).Remote().Get(kLongMs);
  EXPECT_THROW(counter.Task(&Counter::Exit).Remote().Get(kLongMs), RayActorException);
  EXPECT_THROW(counter.Task(&Counter::Plus1).Remote().Get(kLongMs), RayActorException);
  EXPECT_TRUE(WaitUntil([&] { return ProcessGone(pid); }, kLongMs)) << "actor process " << pid << " lives on";
  EXPECT_TRUE(WaitUntil([] { return !ray::GetActor<Counter>("leaver"); }, kLongMs));
  // An intentional exit is not a failure: restarts do not apply.
  auto restartable = ray::Actor(RAY_FUNC(Counter::FactoryCreate)).SetMaxRestarts(2).Remote();
  int pid2 = *restartable.Task(&Counter::GetPid).Remote().Get(kLongMs);
  EXPECT_THROW(restartable.Task(&Counter::Exit).Remote().Get(kLongMs), RayActorException);
  EXPECT_THROW(restartable.Task(&Counter::GetPid).Remote().Get(kLongMs), RayActorException);
  EXPECT_TRUE(WaitUntil([&] { return ProcessGone(pid2); }, kLongMs));
  // Exiting one actor harms no one else.
  EXPECT_EQ(*NewCounter(1).Task(&Counter::Plus1).Remote().Get(kLongMs), 2);
}

// As in Ray (whose exit_actor runs the actor's atexit handlers, and lets the
// calls running on a threaded actor finish first), ray::ExitActor() destroys
// the instance once its running calls are done; Kill ends the process at
// once (SIGKILL), and no destructor runs, as with Ray's ray.kill.
TEST_F(ActorFailureTest, ExitActorRunsTheDestructorAfterRunningCallsAndKillDoesNot) {
  StartCluster();
  auto exiting = ray::Actor(Witness::Make).SetMaxConcurrency(2).Remote(tmp_, std::string("exiting"));
  auto killed = ray::Actor(Witness::Make).Remote(tmp_, std::string("killed"));
  int exiting_pid = *exiting.Task(&Witness::GetPid).Remote().Get(kLongMs);
  int killed_pid = *killed.Task(&Witness::GetPid).Remote().Get(kLongMs);

  // Both of its threads hold a call; ExitActor runs on the first one freed,
  // while the other still holds its call.
  const std::string dir = tmp_ + "/";
  auto first = exiting.Task(&Witness::Hold).Remote(dir + "started-1", dir + "release-1");
  auto second = exiting.Task(&Witness::Hold).Remote(dir + "started-2", dir + "release-2");
  ASSERT_TRUE(WaitUntil(
      [&] {
        return std::filesystem::exists(dir + "started-1") && std::filesystem::exists(dir + "started-2");
      },
      kLongMs));
  auto exit = exiting.Task(&Witness::Exit).Remote();
  std::ofstream(dir + "release-1") << "1";
  EXPECT_THROW(exit.Get(kLongMs), RayActorException);
  std::ofstream(dir + "release-2") << "1";  // the call left running may finish now; then the instance goes
  EXPECT_TRUE(WaitUntil([&] { return std::filesystem::exists(dir + "exiting.destroyed"); }, kLongMs))
      << "ray::ExitActor() did not destroy the actor's instance";
  EXPECT_TRUE(WaitUntil([&] { return ProcessGone(exiting_pid); }, kLongMs));
  std::string when;
  std::ifstream(dir + "exiting.destroyed") >> when;
  EXPECT_EQ(when, "idle") << "the instance was destroyed while a call still ran on it";

  killed.Kill();
  EXPECT_TRUE(WaitUntil([&] { return ProcessGone(killed_pid); }, kLongMs));
  EXPECT_FALSE(std::filesystem::exists(dir + "killed.destroyed"));
}

TEST_F(ActorFailureTest, CrashWithoutRestartsIsFinal) {
  StartCluster();
  auto actor = ray::Actor(RAY_FUNC(Counter::FactoryCreate)).SetName("fragile").Remote();  // max_restarts 0
  int pid = *actor.Task(&Counter::GetPid).Remote().Get(kLongMs);
  EXPECT_THROW(actor.Task(&Counter::CrashSegv).Remote().Get(kLongMs), RayActorException);
  EXPECT_THROW(actor.Task(&Counter::Plus1).Remote().Get(kLongMs), RayActorException);
  EXPECT_THROW(actor.Task(&Counter::GetPid).Remote().Get(kLongMs), RayActorException);
  EXPECT_TRUE(WaitUntil([&] { return ProcessGone(pid); }, kLongMs));
  EXPECT_TRUE(WaitUntil([] { return !ray::GetActor<Counter>("fragile"); }, kLongMs));
  EXPECT_EQ(*NewCounter().Task(&Counter::Plus1).Remote().Get(kLongMs), 1);
}

TEST_F(ActorFailureTest, CrashedActorRestartsUpToMaxRestarts) {
  StartCluster();
  auto actor = ray::Actor(RAY_FUNC(Counter::FactoryCreate)).SetMaxRestarts(2).Remote();
  int pid0 = *actor.Task(&Counter::GetPid).Remote().Get(kLongMs);

  // Slow calls queued before the crash finish first, in order; the crashing
  // call fails; calls queued behind it either died with the process or ran on
  // the restarted instance, in order and from fresh state. None hangs.
  std::vector<ray::ObjectRef<int>> before, after;
  for (int i = 0; i < 3; ++i) before.push_back(actor.Task(&Counter::SlowPlus1).Remote(200));
  auto crash = actor.Task(&Counter::CrashAfter).Remote(300);
  for (int i = 0; i < 3; ++i) after.push_back(actor.Task(&Counter::Plus1).Remote());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(*before[i].Get(kLongMs), i + 1);
  EXPECT_THROW(crash.Get(kLongMs), RayActorException);
  int ran_after = 0;
  for (auto &r : after) {
    try {
      int value = *r.Get(kLongMs);
      EXPECT_EQ(value, ++ran_after);
    } catch (const RayActorException &) {
      EXPECT_EQ(ran_after, 0) << "a call failed after a later one had run on the restarted actor";
    }
  }
  int pid1 = WaitForRestart(actor, pid0);
  ASSERT_GT(pid1, 0) << "no restart after the first crash";
  EXPECT_EQ(*actor.Task(&Counter::GetCount).Remote().Get(kLongMs), ran_after);
  EXPECT_TRUE(*actor.Task(&Counter::WasRestarted).Remote().Get(kLongMs));

  // Second crash, by a signal.
  EXPECT_EQ(*actor.Task(&Counter::Add).Remote(10).Get(kLongMs), ran_after + 10);
  EXPECT_THROW(actor.Task(&Counter::CrashSegv).Remote().Get(kLongMs), RayActorException);
  int pid2 = WaitForRestart(actor, pid1);
  ASSERT_GT(pid2, 0) << "no restart after the second crash";
  EXPECT_EQ(*actor.Task(&Counter::GetCount).Remote().Get(kLongMs), 0);

  // Third crash: max_restarts (2) is used up, the actor is dead for good.
  EXPECT_THROW(actor.Task(&Counter::CrashExit).Remote().Get(kLongMs), RayActorException);
  EXPECT_THROW(actor.Task(&Counter::GetPid).Remote().Get(kLongMs), RayActorException);
  EXPECT_THROW(actor.Task(&Counter::Plus1).Remote().Get(kLongMs), RayActorException);
  for (int pid : {pid0, pid1, pid2}) EXPECT_TRUE(WaitUntil([&] { return ProcessGone(pid); }, kLongMs)) << pid;
}

TEST_F(ActorFailureTest, RestartedActorIsBuiltFromItsLargeConstructorArgumentAgain) {
  StartCluster();
  std::vector<uint8_t> data(256 * 1024);  // above the inline limit: it goes through the object store
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7 + 3);
  const uint64_t size = data.size();
  const uint64_t checksum = std::accumulate(data.begin(), data.end(), uint64_t{0});
  auto actor = ray::Actor(Blob::FactoryCreate).SetMaxRestarts(1).Remote(std::move(data));
  // The caller keeps no reference to the stored argument: only the actor's
  // creation does.
  int pid0 = *actor.Task(&Blob::GetPid).Remote().Get(kLongMs);
  EXPECT_EQ(*actor.Task(&Blob::Checksum).Remote().Get(kLongMs), checksum);
  ASSERT_EQ(kill(pid0, SIGKILL), 0) << std::strerror(errno);
  ASSERT_TRUE(WaitUntil([&] { return ProcessGone(pid0); }, kLongMs));
  // The next calls run on the restarted instance (a call sent before the
  // restart is known may fail with the old process).
  int pid1 = -1;
  ASSERT_TRUE(WaitUntil(
      [&] {
        try {
          pid1 = *actor.Task(&Blob::GetPid).Remote().Get(kLongMs);
        } catch (const RayActorException &) {
          pid1 = -1;
        }
        return pid1 > 0 && pid1 != pid0;
      },
      kLongMs))
      << "the actor did not come back after its worker was killed";
  EXPECT_EQ(*actor.Task(&Blob::Size).Remote().Get(kLongMs), size);
  EXPECT_EQ(*actor.Task(&Blob::Checksum).Remote().Get(kLongMs), checksum);
}

TEST_F(ActorFailureTest, UnlimitedRestarts) {
  StartCluster();
  auto actor = ray::Actor(RAY_FUNC(Counter::FactoryCreate, int)).SetMaxRestarts(-1).Remote(100);
  int pid = *actor.Task(&Counter::GetPid).Remote().Get(kLongMs);
  for (int round = 0; round < 4; ++round) {
    EXPECT_EQ(*actor.Task(&Counter::Plus1).Remote().Get(kLongMs), 101) << "round " << round;
    if (round % 2 == 0) {
      EXPECT_THROW(actor.Task(&Counter::CrashExit).Remote().Get(kLongMs), RayActorException);
    } else {
      EXPECT_THROW(actor.Task(&Counter::CrashSegv).Remote().Get(kLongMs), RayActorException);
    }
    int next = WaitForRestart(actor, pid);
    ASSERT_GT(next, 0) << "no restart after crash " << round + 1;
    pid = next;
  }
  EXPECT_EQ(*actor.Task(&Counter::GetCount).Remote().Get(kLongMs), 100);
  EXPECT_TRUE(*actor.Task(&Counter::WasRestarted).Remote().Get(kLongMs));
}

TEST_F(ActorFailureTest, CallRunningWhenTheActorCrashesFails) {
  StartCluster();
  // Two threads: one call blocks, the other kills the process under it.
  auto actor = ray::Actor(RAY_FUNC(Counter::FactoryCreate)).SetMaxConcurrency(2).SetMaxRestarts(1).Remote();
  int pid0 = *actor.Task(&Counter::GetPid).Remote().Get(kLongMs);
  std::string started = tmp_ + "/started", never = tmp_ + "/never";
  // Waits far longer than the Get below: only the crash ends it.
  auto blocked = actor.Task(&Counter::WaitForFile).Remote(started, never, 10 * kLongMs);
  ASSERT_TRUE(WaitUntil([&] { return std::filesystem::exists(started); }, kLongMs));
  auto crash = actor.Task(&Counter::CrashExit).Remote();
  EXPECT_THROW(crash.Get(kLongMs), RayActorException);
  EXPECT_THROW(blocked.Get(kLongMs), RayActorException);
  EXPECT_GT(WaitForRestart(actor, pid0), 0);
  EXPECT_EQ(*actor.Task(&Counter::Plus1).Remote().Get(kLongMs), 1);
}

TEST_F(ActorFailureTest, DeadActorResultsFailTheirDependents) {
  StartCluster();
  auto doomed = NewCounter();
  auto healthy = NewCounter(10);
  // A live chain first: actor -> task -> actor.
  auto r1 = doomed.Task(&Counter::Add).Remote(5);
  auto r2 = ray::Task(Plus).Remote(r1, 1);
  EXPECT_EQ(*healthy.Task(&Counter::Add).Remote(r2).Get(kLongMs), 16);
  doomed.Kill();
  auto dead = doomed.Task(&Counter::Plus1).Remote();
  EXPECT_THROW(ray::Task(Plus).Remote(dead, 1).Get(kLongMs), RayActorException);
  EXPECT_THROW(healthy.Task(&Counter::Add).Remote(dead).Get(kLongMs), RayActorException);
  // An argument chain into the dead actor fails too.
  EXPECT_THROW(doomed.Task(&Counter::Add).Remote(ray::Task(Plus).Remote(1, 2)).Get(kLongMs),
               RayActorException);
  EXPECT_EQ(*healthy.Task(&Counter::Plus1).Remote().Get(kLongMs), 17);
}

TEST_F(ActorFailureTest, NonDetachedChildDiesWithItsParentActor) {
  StartCluster();
  auto parent = NewCounter();
  auto child = *parent.Task(&Counter::CreateChildActor).Remote(std::string("orphan")).Get(kLongMs);
  EXPECT_EQ(*child.Task(&Counter::Plus1).Remote().Get(kLongMs), 1);
  int child_pid = *child.Task(&Counter::GetPid).Remote().Get(kLongMs);
  parent.Kill();
  EXPECT_TRUE(WaitUntilDead(child)) << "the child outlived its owner";
  EXPECT_THROW(child.Task(&Counter::Plus1).Remote().Get(kLongMs), RayActorException);
  EXPECT_TRUE(WaitUntil([&] { return ProcessGone(child_pid); }, kLongMs));
  EXPECT_TRUE(WaitUntil([] { return !ray::GetActor<Counter>("orphan"); }, kLongMs));
}

TEST_F(ActorFailureTest, DetachedChildOutlivesItsParentActor) {
  ray::RayConfig config;
  config.head_args = {"--num-cpus=2"};
  config.default_actor_lifetime = ray::ActorLifetime::DETACHED;
  StartCluster(config);
  auto parent = NewCounter();
  int parent_pid = *parent.Task(&Counter::GetPid).Remote().Get(kLongMs);
  auto child = *parent.Task(&Counter::CreateChildActor).Remote(std::string("survivor")).Get(kLongMs);
  EXPECT_EQ(*child.Task(&Counter::Plus1).Remote().Get(kLongMs), 1);
  parent.Kill();
  EXPECT_THROW(parent.Task(&Counter::GetPid).Remote().Get(kLongMs), RayActorException);
  EXPECT_TRUE(WaitUntil([&] { return ProcessGone(parent_pid); }, kLongMs));
  // A wrong cleanup would happen when the control service handles the parent's
  // connection closing (marking the child dead and freeing its name). That
  // close was pending before any lookup sent from here on, and the control
  // service's single loop reads a request sent after the answer to another
  // only in a later pass than that answer's, once every event of the earlier
  // pass, the close included, has been handled. So the second lookup sees it.
  ASSERT_TRUE(ray::GetActor<Counter>("survivor"));
  auto found = ray::GetActor<Counter>("survivor");
  ASSERT_TRUE(found) << "the detached child's name was freed with its parent";
  EXPECT_EQ(*child.Task(&Counter::Plus1).Remote().Get(kLongMs), 2);
  EXPECT_EQ(*found->Task(&Counter::Plus1).Remote().Get(kLongMs), 3);
}

// ---- lifetimes across drivers: a second driver program (actor_driver) ----

std::string ActorDriverPath() {
  if (const char *path = std::getenv("LUMEN_ACTOR_DRIVER")) return path;
  return LUMEN_ACTOR_DRIVER;
}

// Runs the driver program with `args`, its stdout and stderr in out_path.
// It inherits LUMEN_TMPDIR and so finds this cluster's token.
lumen::testing::ProgramResult RunDriver(std::vector<std::string> args, const std::string &out_path) {
  return lumen::testing::RunProgram(ActorDriverPath(), std::move(args), out_path, /*with_stderr=*/true,
                                    std::chrono::milliseconds(2 * kLongMs));
}

class ActorDriverTest : public lumen::testing::ClusterTest {
 protected:
  void SetUp() override {
    if (ActorDriverPath().empty()) GTEST_SKIP() << "set LUMEN_ACTOR_DRIVER to the actor_driver program";
    StartCluster();
    int port = 0;
    std::ifstream(session_ + "/control.port") >> port;
    ASSERT_GT(port, 0);
    address_ = "127.0.0.1:" + std::to_string(port);
  }
  lumen::testing::ProgramResult Driver(const std::string &mode, const std::string &name,
                                       const std::string &lifetime = "") {
    std::vector<std::string> args = {address_, kNamespace, mode, name};
    if (!lifetime.empty()) args.push_back(lifetime);
    return RunDriver(args, tmp_ + "/" + mode + "-" + name + "-" + std::to_string(runs_++) + ".out");
  }
  static constexpr const char *kNamespace = "drivers_ns";
  std::string address_;
  int runs_ = 0;
};

TEST_F(ActorDriverTest, DetachedActorOutlivesTheDriverThatCreatedIt) {
  auto create = Driver("create", "keeper", "detached");
  ASSERT_EQ(create.exit_code, 0) << create.output;
  EXPECT_EQ(create.Field("VALUE"), 5) << create.output;
  int pid = create.Field("PID");
  ASSERT_GT(pid, 0) << create.output;
  // Its driver has exited; the actor is still there, by name, in that namespace only.
  EXPECT_FALSE(ProcessGone(pid)) << "the detached actor's process died with its driver";
  EXPECT_TRUE(ray::GetActor<Counter>("keeper", kNamespace));
  EXPECT_FALSE(ray::GetActor<Counter>("keeper"));
  auto call = Driver("call", "keeper");
  ASSERT_EQ(call.exit_code, 0) << call.output;
  EXPECT_EQ(call.Field("VALUE"), 6) << "the actor's state did not persist\n" << call.output;
  EXPECT_EQ(call.Field("PID"), pid) << call.output;
  EXPECT_FALSE(ProcessGone(pid));
  auto again = Driver("call", "keeper");
  EXPECT_EQ(again.Field("VALUE"), 7) << again.output;
}

TEST_F(ActorDriverTest, NonDetachedActorEndsWithTheDriverThatCreatedIt) {
  auto create = Driver("create", "ephemeral", "non-detached");
  ASSERT_EQ(create.exit_code, 0) << create.output;
  EXPECT_EQ(create.Field("VALUE"), 5) << create.output;
  int pid = create.Field("PID");
  ASSERT_GT(pid, 0) << create.output;
  EXPECT_TRUE(WaitUntil([] { return !ray::GetActor<Counter>("ephemeral", kNamespace); }, kLongMs))
      << "the actor's name outlived its driver";
  EXPECT_TRUE(WaitUntil([&] { return ProcessGone(pid); }, kLongMs)) << "actor process " << pid << " lives on";
  auto call = Driver("call", "ephemeral");
  EXPECT_EQ(call.exit_code, 2) << call.output;
}

}  // namespace

// An actor that submitted tasks holds worker leases for them; when it dies,
// the node must take those workers back, or the driver's own tasks would wait
// for CPUs that are never freed.
TEST_F(ActorFailureTest, LeasesHeldByAKilledActorAreReclaimed) {
  StartCluster();  // 2 CPUs
  auto client = ray::Actor(RAY_FUNC(Counter::FactoryCreate)).Remote();
  EXPECT_EQ(*client.Task(&Counter::StartSleepers).Remote(2, 60000).Get(kLongMs), 2);
  // Both CPUs are now leased to the actor's sleeping tasks.
  auto blocked = ray::Task(Plus).Remote(1, 2);
  EXPECT_TRUE(ray::Wait(std::vector<ray::ObjectRef<int>>{blocked}, 1, 500).unready.size() == 1);
  client.Kill();
  EXPECT_EQ(*blocked.Get(kLongMs), 3);
  EXPECT_EQ(*ray::Task(Plus).Remote(2, 3).Get(kLongMs), 5);
}
