// Tasks and objects on a real local cluster, through the public API only.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <csignal>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>
#include <thread>
#include <vector>

#include "cluster_test_util.h"

namespace {

int GetPid() { return static_cast<int>(getpid()); }
int Plus(int a, int b) { return a + b; }
double Half(double x) { return x / 2; }
std::string Concat(const std::string &a, std::string b) { return a + b; }

// Each side creates its own file and waits for the other's: they only both
// return true if they run at the same time.
bool Rendezvous(std::string mine, std::string theirs) {
  std::ofstream(mine) << "here";
  for (int i = 0; i < 2000; ++i) {
    if (std::filesystem::exists(theirs)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

int Leaf(int x) { return x * 2; }
int Middle(int x) {
  std::vector<ray::ObjectRef<int>> refs;
  for (int i = 0; i < 3; ++i) refs.push_back(ray::Task(Leaf).Remote(x + i));
  int sum = 0;
  for (auto &v : ray::Get(refs)) sum += *v;
  return sum;
}
int Top(int x) {
  auto a = ray::Task(Middle).Remote(x);
  auto b = ray::Task(Middle).Remote(x + 10);
  return *a.Get() + *b.Get();
}

uint64_t Checksum(const std::vector<uint8_t> &v) {
  uint64_t s = 0;
  for (size_t i = 0; i < v.size(); ++i) s = s * 31 + v[i];
  return s;
}
std::vector<uint8_t> MakeBytes(int n, int seed) {
  std::vector<uint8_t> v(static_cast<size_t>(n));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<uint8_t>(i * seed);
  return v;
}

int ThrowLogic() { throw std::logic_error("boom"); }
int ThrowInt() { throw 42; }
int SleepMs(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
int KillSelf() {
  raise(SIGKILL);
  return 0;
}
// Dies on the first attempt only: the retry finds the marker and succeeds.
int KillOnce(std::string marker) {
  if (!std::filesystem::exists(marker)) {
    std::ofstream(marker) << "1";
    raise(SIGKILL);
  }
  return 7;
}
void SayHello(std::string tag) { std::cout << "hello from a task " << tag << std::endl; }
int NotRegistered() { return 1; }
std::string EnvVar(std::string name) {
  const char *v = getenv(name.c_str());
  return v ? v : "";
}

struct Student {
  std::string name;
  int age;
  MSGPACK_DEFINE(name, age);
};
Student Older(Student s) {
  s.age += 1;
  return s;
}
int InnerValue(std::vector<ray::ObjectRef<int>> refs) {
  int sum = 0;
  for (auto &r : refs) sum += *r.Get();
  return sum;
}

int Overloaded() { return 1; }
int Overloaded(int x) { return x + 10; }
std::string NamespaceInTask() { return ray::GetNamespace(); }
RAY_REMOTE(RAY_FUNC(Overloaded), RAY_FUNC(Overloaded, int), NamespaceInTask);

RAY_REMOTE(GetPid, Plus, Half, Concat, Rendezvous, Leaf, Middle, Top, Checksum, MakeBytes, ThrowLogic,
           ThrowInt, SleepMs, KillSelf, KillOnce, SayHello, EnvVar, Older, InnerValue);

using lumen::testing::ClusterTest;

TEST_F(ClusterTest, TasksRunInSeparateWorkerProcesses) {
  StartCluster();
  EXPECT_TRUE(ray::IsInitialized());
  int pid = *ray::Task(GetPid).Remote().Get();
  EXPECT_NE(pid, getpid());
  EXPECT_EQ(*ray::Task(Plus).Remote(1, 2).Get(), 3);
  EXPECT_DOUBLE_EQ(*ray::Task(Half).Remote(3).Get(), 1.5);  // int argument for a double parameter
  EXPECT_EQ(*ray::Task(Concat).Remote("a", std::string("b")).Get(), "ab");
  Student s{"ann", 20};
  auto older = ray::Task(Older).Remote(s).Get();
  EXPECT_EQ(older->name, "ann");
  EXPECT_EQ(older->age, 21);
}

TEST_F(ClusterTest, OverloadsSelectedWithRayFunc) {
  StartCluster();
  EXPECT_EQ(*ray::Task(RAY_FUNC(Overloaded)).Remote().Get(), 1);
  EXPECT_EQ(*ray::Task(RAY_FUNC(Overloaded, int)).Remote(5).Get(), 15);
}

TEST_F(ClusterTest, NamespaceIsTheSameInDriverAndTasks) {
  StartCluster();
  std::string ns = ray::GetNamespace();
  EXPECT_FALSE(ns.empty());  // a random one per driver by default
  EXPECT_EQ(*ray::Task(NamespaceInTask).Remote().Get(), ns);
}

TEST(ClusterNamespace, ConfiguredNamespaceIsUsed) {
  auto tmp = lumen::testing::FreshTmpDir();
  ray::RayConfig config;
  config.head_args = {"--num-cpus=1"};
  config.ray_namespace = "team_a";
  ray::Init(config);
  EXPECT_EQ(ray::GetNamespace(), "team_a");
  EXPECT_EQ(*ray::Task(NamespaceInTask).Remote().Get(), "team_a");
  ray::Shutdown();
  std::filesystem::remove_all(tmp);
}

TEST_F(ClusterTest, TwoTasksRunInParallelOnTwoCpus) {
  StartCluster();
  auto a = tmp_ + "/a", b = tmp_ + "/b";
  auto r1 = ray::Task(Rendezvous).Remote(a, b);
  auto r2 = ray::Task(Rendezvous).Remote(b, a);
  EXPECT_TRUE(*r1.Get());
  EXPECT_TRUE(*r2.Get());
}

TEST_F(ClusterTest, NestedTasksDoNotDeadlockTwoCpus) {
  StartCluster();
  // Two parents fill both CPUs; each waits on children that wait on
  // grandchildren. Blocked workers lend their CPU back, so this completes.
  auto p1 = ray::Task(Top).Remote(1);
  auto p2 = ray::Task(Top).Remote(100);
  int expect1 = 2 * ((1 + 2 + 3) + (11 + 12 + 13));
  int expect2 = 2 * ((100 + 101 + 102) + (110 + 111 + 112));
  EXPECT_EQ(*p1.Get(60000), expect1);
  EXPECT_EQ(*p2.Get(60000), expect2);
}

TEST_F(ClusterTest, ObjectRefArgumentsAndChains) {
  StartCluster();
  auto r1 = ray::Put(10);
  auto r2 = ray::Task(Plus).Remote(r1, 1);
  auto r3 = ray::Task(Plus).Remote(r2, r1);
  EXPECT_EQ(*r3.Get(), 21);
  EXPECT_EQ(*ray::Get(r3), 21);
  auto results = ray::Get(std::vector<ray::ObjectRef<int>>{r1, r2, r3});
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(*results[0], 10);
  EXPECT_EQ(*results[1], 11);
  EXPECT_EQ(*results[2], 21);
  ray::ObjectRef<void> v = ray::Task(SayHello).Remote(std::string("void"));
  v.Get();
}

TEST_F(ClusterTest, ManyResultsInOneGetAndWait) {
  StartCluster();
  std::vector<ray::ObjectRef<int>> refs;
  for (int i = 0; i < 2000; ++i) refs.push_back(ray::Task(Plus).Remote(i, 1));
  auto half = ray::Wait(refs, 1000, 60000);
  EXPECT_GE(half.ready.size(), 1000u);
  EXPECT_EQ(half.ready.size() + half.unready.size(), refs.size());
  auto values = ray::Get(refs);
  ASSERT_EQ(values.size(), refs.size());
  for (int i = 0; i < 2000; ++i) ASSERT_EQ(*values[i], i + 1) << "result " << i;
}

TEST_F(ClusterTest, LargeObjects) {
  StartCluster();
  const int kSize = 64 << 20;
  auto bytes = MakeBytes(kSize, 3);
  auto ref = ray::Put(bytes);
  EXPECT_EQ(*ray::Task(Checksum).Remote(ref).Get(), Checksum(bytes));
  auto made = ray::Task(MakeBytes).Remote(kSize, 5);
  auto got = made.Get();
  ASSERT_EQ(got->size(), static_cast<size_t>(kSize));
  EXPECT_EQ(Checksum(*got), Checksum(MakeBytes(kSize, 5)));
  // A large task result passed on to another task is read from shared memory.
  EXPECT_EQ(*ray::Task(Checksum).Remote(made).Get(), Checksum(*got));
}

TEST_F(ClusterTest, TaskExceptionsCarryFunctionTypeAndMessage) {
  StartCluster();
  try {
    ray::Task(ThrowLogic).Remote().Get();
    FAIL() << "expected RayTaskException";
  } catch (const ray::internal::RayTaskException &e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("ThrowLogic"), std::string::npos) << msg;
    EXPECT_NE(msg.find("std::logic_error"), std::string::npos) << msg;
    EXPECT_NE(msg.find("boom"), std::string::npos) << msg;
  }
  EXPECT_THROW(ray::Task(ThrowInt).Remote().Get(), ray::internal::RayTaskException);
  // A failed result passed on fails the dependent task the same way.
  auto failed = ray::Task(ThrowLogic).Remote();
  EXPECT_THROW(ray::Task(Plus).Remote(failed, 1).Get(), ray::internal::RayTaskException);
  // The worker survived its user's exceptions.
  EXPECT_EQ(*ray::Task(Plus).Remote(2, 2).Get(), 4);
}

TEST_F(ClusterTest, UnregisteredFunctionIsRejectedAtTask) {
  StartCluster();
  try {
    ray::Task(NotRegistered);
    FAIL() << "expected RayException";
  } catch (const ray::internal::RayException &e) {
    EXPECT_NE(std::string(e.what()).find("RAY_REMOTE"), std::string::npos) << e.what();
  }
}

TEST_F(ClusterTest, GetTimesOutAndWaitReportsUnready) {
  StartCluster();
  auto slow = ray::Task(SleepMs).Remote(1500);
  EXPECT_THROW(slow.Get(50), ray::internal::RayTimeoutException);
  auto fast = ray::Task(Plus).Remote(1, 1);
  EXPECT_EQ(*fast.Get(10000), 2);
  auto w = ray::Wait(std::vector<ray::ObjectRef<int>>{slow, fast}, 2, 100);
  EXPECT_EQ(w.ready.size(), 1u);
  EXPECT_EQ(w.unready.size(), 1u);
  auto all = ray::Wait(std::vector<ray::ObjectRef<int>>{slow, fast}, 2, 20000);
  EXPECT_EQ(all.ready.size(), 2u);
  EXPECT_THROW(ray::Wait(std::vector<ray::ObjectRef<int>>{fast}, 0, 10), ray::internal::RayException);
  EXPECT_THROW(ray::Wait(std::vector<ray::ObjectRef<int>>{fast, fast}, 1, 10), ray::internal::RayException);
}

TEST_F(ClusterTest, InfeasibleTaskStaysPending) {
  StartCluster();
  auto r = ray::Task(Plus).SetResource("CPU", 100).Remote(1, 1);
  auto w = ray::Wait(std::vector<ray::ObjectRef<int>>{r}, 1, 1000);
  EXPECT_EQ(w.ready.size(), 0u);
  EXPECT_EQ(w.unready.size(), 1u);
  EXPECT_EQ(*ray::Task(Plus).Remote(1, 1).Get(), 2);  // others still run
}

TEST_F(ClusterTest, WorkerKilledMidTaskRaisesWorkerExceptionAfterRetry) {
  StartCluster();
  try {
    ray::Task(KillSelf).Remote().Get();
    ADD_FAILURE() << "a task whose worker always dies returned";
  } catch (const ray::internal::RayWorkerException &e) {
    // The message names the task, the node its worker died on, and the retries.
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'KillSelf'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("on node " + ray::GetRuntimeContext().GetNodeId()), std::string::npos) << msg;
    EXPECT_NE(msg.find("retries exhausted (max_retries=1)"), std::string::npos) << msg;
  }
  // One retry (Ray's C++ default): a task killed once then succeeds.
  EXPECT_EQ(*ray::Task(KillOnce).Remote(tmp_ + "/marker").Get(), 7);
  EXPECT_EQ(*ray::Task(Plus).Remote(3, 4).Get(), 7);  // the node replaced the workers
}

TEST_F(ClusterTest, GetOnUnknownOrFreedObjectFails) {
  StartCluster();
  std::string id;
  {
    auto r = ray::Put(5);
    id = r.ID();
  }  // last reference gone: the object is freed
  ray::ObjectRef<int> freed(id);
  EXPECT_THROW(freed.Get(), ray::internal::UnreconstructableException);
  std::string bogus(28, '\x5a');  // an owner that never existed
  ray::ObjectRef<int> unknown(bogus);
  EXPECT_THROW(unknown.Get(5000), ray::internal::UnreconstructableException);
}

TEST_F(ClusterTest, NestedRefsStayAliveInsideObjects) {
  StartCluster();
  ray::ObjectRef<ray::ObjectRef<int>> outer;
  {
    auto inner = ray::Put(33);
    outer = ray::Put(inner);
  }  // only the outer object holds the inner ref now
  auto inner = outer.Get();
  EXPECT_EQ(*inner->Get(), 33);
  std::vector<ray::ObjectRef<int>> refs = {ray::Put(1), ray::Put(2), ray::Task(Plus).Remote(1, 2)};
  EXPECT_EQ(*ray::Task(InnerValue).Remote(refs).Get(), 6);
}

// Sends this process's stdout to a file while it lives, so that a test can
// wait for a line another thread prints (gtest's capture is read only once).
class StdoutToFile {
 public:
  explicit StdoutToFile(std::string path) : path_(std::move(path)) {
    std::cout.flush();
    std::fflush(stdout);
    saved_ = dup(STDOUT_FILENO);
    int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    dup2(fd, STDOUT_FILENO);
    close(fd);
  }
  ~StdoutToFile() {
    std::cout.flush();
    std::fflush(stdout);
    dup2(saved_, STDOUT_FILENO);
    close(saved_);
  }
  std::string Read() const {
    std::ostringstream out;
    out << std::ifstream(path_).rdbuf();
    return out.str();
  }

 private:
  std::string path_;
  int saved_ = -1;
};

TEST_F(ClusterTest, TaskOutputReachesDriverWithPid) {
  StartCluster();
  const std::string text = ") hello from a task xyzzy";  // after "(pid=N"
  std::string out;
  {
    StdoutToFile capture(tmp_ + "/stdout");
    ray::Task(SayHello).Remote(std::string("xyzzy")).Get();
    // The node forwards the line on its own schedule: wait for it.
    for (auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
         out.find(text) == std::string::npos && std::chrono::steady_clock::now() < end;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      out = capture.Read();
    }
  }
  auto at = out.find(text);
  ASSERT_NE(at, std::string::npos) << out;
  auto line_start = out.rfind('\n', at);
  line_start = line_start == std::string::npos ? 0 : line_start + 1;
  EXPECT_EQ(out.compare(line_start, 5, "(pid="), 0) << out;
}

TEST_F(ClusterTest, RuntimeEnvVarsReachOneTaskOnly) {
  StartCluster({"--num-cpus=1"});  // one worker, so both tasks share it
  ray::RuntimeEnv env;
  env.Set<std::map<std::string, std::string>>("env_vars", {{"LUMEN_TEST_KEY", "v1"}});
  EXPECT_EQ(*ray::Task(EnvVar).SetRuntimeEnv(env).Remote(std::string("LUMEN_TEST_KEY")).Get(), "v1");
  EXPECT_EQ(*ray::Task(EnvVar).Remote(std::string("LUMEN_TEST_KEY")).Get(), "");
}

TEST(ClusterLifecycle, InitTwiceAndShutdownTwice) {
  auto tmp = lumen::testing::FreshTmpDir();
  ray::RayConfig config;
  config.head_args = {"--num-cpus=1"};
  ray::Init(config);
  ray::Init(config);  // no-op
  EXPECT_TRUE(ray::IsInitialized());
  EXPECT_EQ(*ray::Task(Plus).Remote(2, 3).Get(), 5);
  ray::Shutdown();
  ray::Shutdown();  // harmless
  EXPECT_FALSE(ray::IsInitialized());
  ray::Init(config);  // a new cluster after a shutdown
  EXPECT_EQ(*ray::Task(Plus).Remote(4, 3).Get(), 7);
  ray::Shutdown();
  std::filesystem::remove_all(tmp);
}

std::string ProcFile(int pid, const char *file) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + file);
  std::string line;
  std::getline(in, line);
  return line;
}

TEST(ClusterLifecycle, EmbeddedServicesAreForkedUnderTheirOwnNames) {
  auto tmp = lumen::testing::FreshTmpDir();
  // A handler in the driver must not follow the services (an exec would
  // have reset it): they still stop on SIGTERM at Shutdown.
  auto previous = std::signal(SIGTERM, [](int) {});
  ray::RayConfig config;
  config.head_args = {"--num-cpus=1"};
  ray::Init(config);
  EXPECT_EQ(*ray::Task(Plus).Remote(2, 3).Get(), 5);
  auto pids = lumen::testing::ServicePids(lumen::testing::SessionDir(tmp));
  ASSERT_EQ(pids.size(), 2u);
  EXPECT_EQ(ProcFile(pids["control"], "comm"), "lumen_control");
  EXPECT_EQ(ProcFile(pids["node"], "comm"), "lumen_node");
  for (auto &[service, pid] : pids) {
    // A fork of this program, not an exec of the service's.
    EXPECT_EQ(std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe"),
              std::filesystem::read_symlink("/proc/self/exe"))
        << service;
  }
  ray::Shutdown();
  for (auto &[service, pid] : pids) EXPECT_NE(kill(pid, 0), 0) << service << " outlived Shutdown";
  std::signal(SIGTERM, previous);
  std::filesystem::remove_all(tmp);
}

TEST(ClusterLifecycle, ServiceProgramsRunWhenAsked) {
  auto tmp = lumen::testing::FreshTmpDir();
  setenv("LUMEN_EXEC_SERVICES", "1", 1);
  ray::RayConfig config;
  config.head_args = {"--num-cpus=1"};
  ray::Init(config);
  unsetenv("LUMEN_EXEC_SERVICES");
  EXPECT_EQ(*ray::Task(Plus).Remote(4, 3).Get(), 7);
  auto pids = lumen::testing::ServicePids(lumen::testing::SessionDir(tmp));
  ASSERT_EQ(pids.size(), 2u);
  EXPECT_EQ(std::filesystem::read_symlink("/proc/" + std::to_string(pids["control"]) + "/exe").filename(),
            "lumen_control");
  EXPECT_EQ(std::filesystem::read_symlink("/proc/" + std::to_string(pids["node"]) + "/exe").filename(),
            "lumen_node");
  ray::Shutdown();
  std::filesystem::remove_all(tmp);
}

// Shutdown tells the control service that the driver's job is over, and
// waits for it to be recorded: the job ends as its driver's doing, not as a
// driver that went away (which the service also notices, and says so).
TEST(ClusterLifecycle, ShutdownEndsTheDriversJob) {
  auto tmp = lumen::testing::FreshTmpDir();
  ray::RayConfig config;
  config.head_args = {"--num-cpus=1"};
  ray::Init(config);
  const std::string session = lumen::testing::SessionDir(tmp);
  // Opened now: Shutdown removes the session folder, and an open file stays
  // readable after its name is gone.
  std::ifstream in;
  for (auto &entry : std::filesystem::directory_iterator(session + "/logs")) {
    std::string name = entry.path().filename().string();
    if (name.rfind("control-", 0) == 0 && entry.path().extension() == ".log") in.open(entry.path());
  }
  ASSERT_TRUE(in.is_open()) << "no control log in " << session << "/logs";
  ray::Shutdown();
  std::string control_log(std::istreambuf_iterator<char>(in), {});
  EXPECT_NE(control_log.find("job 1 finished: its driver shut down"), std::string::npos) << control_log;
  std::filesystem::remove_all(tmp);
}

TEST(ClusterLifecycle, ANodeThatCannotStartFailsInitClearly) {
  auto tmp = lumen::testing::FreshTmpDir();
  ray::RayConfig config;
  // More than any address space: the node cannot map its store and exits.
  config.head_args = {"--num-cpus=1", "--object-store-memory=1000000000000000000"};
  try {
    ray::Init(config);
    ADD_FAILURE() << "Init succeeded with an impossible object store";
  } catch (const ray::internal::RayException &e) {
    EXPECT_NE(std::string(e.what()).find("node service did not start"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("mmap"), std::string::npos)
        << "not the node's own reason: " << e.what();
  }
  EXPECT_FALSE(ray::IsInitialized());
  // Nothing of the failed start is left running: a new cluster starts.
  config.head_args = {"--num-cpus=1"};
  ray::Init(config);
  EXPECT_EQ(*ray::Task(Plus).Remote(1, 1).Get(), 2);
  ray::Shutdown();
  std::filesystem::remove_all(tmp);
}

// Without LUMEN_TMPDIR, an embedded cluster's session lives on a tmpfs
// (/dev/shm/lumen-UID, private), session_latest beside it points at it, and
// sessions of drivers that are gone are pruned there beyond the newest 5.
TEST(ClusterLifecycle, DefaultSessionsLiveOnATmpfsAndOldOnesArePruned) {
  namespace fs = std::filesystem;
  unsetenv("LUMEN_TMPDIR");
  const fs::path shm = "/dev/shm/lumen-" + std::to_string(getuid());
  std::error_code ec;
  fs::create_directory(shm, ec);
  fs::permissions(shm, fs::perms::owner_all, ec);
  if (ec || fs::symlink_status(shm).type() != fs::file_type::directory)
    GTEST_SKIP() << "no tmpfs session folder here";
  // Old sessions: 25 of drivers that are gone (a reaped child's pid), and one
  // older still of a driver that runs (this one).
  pid_t gone = fork();
  if (gone == 0) _exit(0);
  waitpid(gone, nullptr, 0);
  std::vector<fs::path> fakes;
  for (int i = 0; i < 25; ++i) {
    char name[96];
    std::snprintf(name, sizeof(name), "session_2000-01-01_00-00-%02d_%d_%06d", i, gone, i);
    fakes.push_back(shm / name);
    fs::create_directories(fakes.back() / "logs");
  }
  const fs::path live = shm / ("session_1999-01-01_00-00-00_" + std::to_string(getpid()) + "_000000");
  fs::create_directories(live);

  ray::RayConfig config;
  config.head_args = {"--num-cpus=1"};
  ray::Init(config);
  EXPECT_EQ(*ray::Task(Plus).Remote(2, 2).Get(), 4);
  fs::path session = fs::canonical(shm / "session_latest");
  EXPECT_EQ(session.parent_path(), fs::canonical(shm));
  EXPECT_TRUE(fs::exists(session / "token"));
  EXPECT_EQ(fs::status(shm).permissions() & fs::perms::all, fs::perms::owner_all);
  EXPECT_EQ(fs::status(session).permissions() & fs::perms::all, fs::perms::owner_all);
  ray::Shutdown();
  EXPECT_FALSE(fs::exists(session)) << "Shutdown left its session behind";

  // Other drivers of this user's may use the folder meanwhile: count ours.
  size_t dead_left = 0;
  for (auto &f : fakes) dead_left += fs::exists(f);
  EXPECT_LE(dead_left, 5u) << "old sessions were not pruned";
  EXPECT_FALSE(fs::exists(fakes.front())) << "the oldest dead session was kept";
  EXPECT_TRUE(fs::exists(live)) << "a running driver's session was removed";
  for (auto &f : fakes) fs::remove_all(f, ec);
  fs::remove_all(live, ec);
  fs::remove_all(session, ec);
}

TEST(ClusterLifecycle, BadHeadArgumentsAreRejected) {
  auto tmp = lumen::testing::FreshTmpDir();
  ray::RayConfig config;
  config.head_args = {"--num-cpus=lots"};
  EXPECT_THROW(ray::Init(config), ray::internal::RayException);
  EXPECT_FALSE(ray::IsInitialized());
  std::filesystem::remove_all(tmp);
}

}  // namespace
