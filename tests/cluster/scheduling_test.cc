// Scheduling on a real local cluster: short work does not queue behind long
// or stopped work while other workers are free, the worker pool stays sized
// to the machine whatever --num-cpus says, and running out of file
// descriptors is reported once, as the cause. Public API only.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cluster_test_util.h"

namespace {

int Plus(int a, int b) { return a + b; }

// Writes its pid to `started`, then holds its worker until `release` exists
// (a generous cap only ends a test that hangs anyway).
int HoldUntilReleased(std::string started, std::string release) {
  {
    std::ofstream out(started + ".tmp");
    out << getpid();
  }
  std::filesystem::rename(started + ".tmp", started);
  for (int i = 0; i < 12000 && !std::filesystem::exists(release); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return 1;
}

// The soft and hard open-file limits of the process running it.
std::vector<unsigned long long> OpenFileLimits() {
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  return {static_cast<unsigned long long>(lim.rlim_cur), static_cast<unsigned long long>(lim.rlim_max)};
}

// This worker's pid, then the value of each variable ("<unset>" if none).
std::vector<std::string> PidAndEnv(std::vector<std::string> names) {
  std::vector<std::string> out = {std::to_string(getpid())};
  for (auto &n : names) {
    const char *v = getenv(n.c_str());
    out.push_back(v ? v : "<unset>");
  }
  return out;
}

RAY_REMOTE(Plus, HoldUntilReleased, OpenFileLimits, PidAndEnv);

using lumen::testing::ClusterTest;

// Waits (for as long as a hang would take) until `path` exists; its content.
std::string AwaitFile(const std::string &path) {
  for (int i = 0; i < 6000 && !std::filesystem::exists(path); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs `n` short tasks and returns how many finished within a deadline that
// only a real hang reaches.
size_t ShortTasksFinishing(int n) {
  std::vector<ray::ObjectRef<int>> refs;
  for (int i = 0; i < n; ++i) refs.push_back(ray::Task(Plus).Remote(i, 1));
  auto w = ray::Wait(refs, n, 60000);
  for (auto &r : w.ready) EXPECT_GE(*r.Get(), 1);
  return w.ready.size();
}

class SchedulingTest : public ClusterTest {
 protected:
  // Short tasks first, so the submitter has seen that tasks of this shape
  // are short (the case where it pipelines several onto one worker).
  void WarmUp() { EXPECT_EQ(ShortTasksFinishing(200), 200u); }
};

TEST_F(SchedulingTest, ShortTasksDoNotQueueBehindALongTask) {
  StartCluster({"--num-cpus=2"});
  WarmUp();
  auto long_task = ray::Task(HoldUntilReleased).Remote(tmp_ + "/started", tmp_ + "/release");
  AwaitFile(tmp_ + "/started");
  // The long task still holds its worker: all of these must finish on the other.
  EXPECT_EQ(ShortTasksFinishing(20), 20u);
  EXPECT_FALSE(std::filesystem::exists(tmp_ + "/release"));
  std::ofstream(tmp_ + "/release") << "go";
  EXPECT_EQ(*long_task.Get(), 1);
}

TEST_F(SchedulingTest, AStoppedWorkerDelaysOnlyTheWorkOnIt) {
  StartCluster({"--num-cpus=2"});
  WarmUp();
  auto held = ray::Task(HoldUntilReleased).Remote(tmp_ + "/started", tmp_ + "/release");
  int pid = std::stoi(AwaitFile(tmp_ + "/started"));
  ASSERT_EQ(kill(pid, SIGSTOP), 0);
  std::ofstream(tmp_ + "/release") << "go";  // it cannot see this while stopped
  EXPECT_EQ(ShortTasksFinishing(10), 10u);
  ASSERT_EQ(kill(pid, SIGCONT), 0);
  EXPECT_EQ(*held.Get(), 1);
}

// Worker processes: the grandchildren of this driver (children of its fork
// server, or of its node for exec'd workers).
int CountWorkerProcesses() {
  std::map<int, int> parent;
  for (auto &entry : std::filesystem::directory_iterator("/proc")) {
    std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    auto close = line.rfind(')');  // the command name may hold spaces
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state;
    int ppid;
    if (rest >> state >> ppid && state != 'Z') parent[std::stoi(name)] = ppid;
  }
  int n = 0;
  for (auto &[pid, ppid] : parent) {
    auto grandparent = parent.find(ppid);
    if (grandparent != parent.end() && grandparent->second == getpid()) n++;
  }
  return n;
}

TEST_F(SchedulingTest, AThousandCpusDoNotMeanAThousandWorkers) {
  StartCluster({"--num-cpus=1000"});
  EXPECT_EQ(ShortTasksFinishing(100), 100u);
  // Prestarted: at most one per core; started on demand: at most one per
  // lease the submitter asks for at once (16), whatever the CPU count.
  int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  EXPECT_LE(CountWorkerProcesses(), cores + 16 + 4);
}

TEST_F(SchedulingTest, TenMillionCpusStillRunTasks) {
  StartCluster({"--num-cpus=1e7"});
  EXPECT_EQ(ShortTasksFinishing(10), 10u);
}

TEST_F(SchedulingTest, EveryProcessRaisesItsOpenFileLimit) {
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  if (saved.rlim_max != RLIM_INFINITY && saved.rlim_max < 512)
    GTEST_SKIP() << "hard open-file limit too low here";
  rlimit low = saved;
  low.rlim_cur = 256;  // as a shell with `ulimit -Sn 256` would start the driver
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  StartCluster({"--num-cpus=1"});
  rlimit now{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &now), 0);
  EXPECT_EQ(now.rlim_cur, saved.rlim_max);
  auto in_worker = *ray::Task(OpenFileLimits).Remote().Get();
  EXPECT_EQ(in_worker[0], in_worker[1]);
  for (auto &[service, pid] : lumen::testing::ServicePids(session_)) {
    std::ifstream limits("/proc/" + std::to_string(pid) + "/limits");
    std::string line;
    while (std::getline(limits, line)) {
      if (line.rfind("Max open files", 0) != 0) continue;
      std::istringstream fields(line.substr(std::string("Max open files").size()));
      std::string soft, hard;
      fields >> soft >> hard;
      EXPECT_EQ(soft, hard) << service;
    }
  }
}

ray::RuntimeEnv EnvVars(std::map<std::string, std::string> vars) {
  ray::RuntimeEnv env;
  env.Set<std::map<std::string, std::string>>("env_vars", vars);
  return env;
}

// A task's env_vars are not set in a running (threaded) worker: it runs on a
// worker started with them, on top of the job's, which they override.
TEST(SchedulingEnv, EnvVarsComeWithAWorkerStartedWithThem) {
  auto tmp = lumen::testing::FreshTmpDir();
  ray::RayConfig config;
  config.head_args = {"--num-cpus=1"};  // one prestarted worker, which must not be reused
  config.runtime_env = EnvVars({{"LUMEN_SCHED_A", "job"}, {"LUMEN_SCHED_B", "job"}});
  ray::Init(config);
  std::vector<std::string> names = {"LUMEN_SCHED_A", "LUMEN_SCHED_B"};
  auto with = *ray::Task(PidAndEnv).SetRuntimeEnv(EnvVars({{"LUMEN_SCHED_B", "task"}})).Remote(names).Get();
  auto plain = *ray::Task(PidAndEnv).Remote(names).Get();
  EXPECT_EQ(with[1], "job");
  EXPECT_EQ(with[2], "task");
  EXPECT_EQ(plain[1], "job");
  EXPECT_EQ(plain[2], "job");
  EXPECT_NE(with[0], plain[0]);
  // Another set of env_vars: yet another worker, with exactly those.
  auto other = *ray::Task(PidAndEnv).SetRuntimeEnv(EnvVars({{"LUMEN_SCHED_A", "other"}})).Remote(names).Get();
  EXPECT_EQ(other[1], "other");
  EXPECT_EQ(other[2], "job");
  EXPECT_NE(other[0], with[0]);
  ray::Shutdown();
  std::error_code ec;
  std::filesystem::remove_all(tmp, ec);
}

}  // namespace
