// Failure paths on a real local cluster: garbage on every listening socket,
// a full object store, nothing left behind after Shutdown, and the loss of
// each process a driver depends on (node service, control service, fork
// server; killed, or stopped so that only the keepalive can tell) turning
// into a clear exception at pending and later calls.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <random>
#include <thread>

#include "cluster_test_util.h"

namespace {

int Add(int a, int b) { return a + b; }
int MyPid() { return static_cast<int>(getpid()); }
// Runs until its worker is killed.
int Forever() {
  for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
}
// Hangs on its first attempt (after writing its pid to `path`); a retry,
// which finds the file, returns at once.
int FirstAttemptHangs(std::string path) {
  if (std::filesystem::exists(path)) return 42;
  {
    std::ofstream out(path + ".tmp");
    out << getpid();
  }
  std::filesystem::rename(path + ".tmp", path);
  for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
}
class Counter {
 public:
  static Counter *Make() { return new Counter(); }
  int Inc() { return ++n_; }

 private:
  int n_ = 0;
};
RAY_REMOTE(Add, MyPid, Forever, FirstAttemptHangs, Counter::Make, &Counter::Inc);

using lumen::testing::ClusterTest;
namespace fs = std::filesystem;

// Sends `bytes` and the end of the stream, then waits for the server to
// close its side: it has then read (and judged) everything sent.
void SendBytes(int fd, const std::string &bytes) {
  (void)!write(fd, bytes.data(), bytes.size());
  shutdown(fd, SHUT_WR);
  char buf[4096];
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 1000) > 0 && recv(fd, buf, sizeof buf, 0) <= 0) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << "a server kept a connection open after garbage and the end of the stream";
      break;
    }
  }
  close(fd);
}

int ConnectUnix(const std::string &path) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  if (connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int ConnectTcp(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

std::vector<std::string> Garbage() {
  std::mt19937 rng(7);
  std::string random(4096, '\0');
  for (auto &c : random) c = static_cast<char>(rng());
  std::string huge_frame(16, '\xff');  // body length 4 GiB
  std::string request_first =
      std::string("\x10\0\0\0\x03\0\x01\0", 8) + std::string(8, '\x01') + std::string(16, 'x');
  return {random, huge_frame, request_first, std::string("\x05\0", 2), ""};
}

TEST_F(ClusterTest, GarbageOnEveryListeningSocketLeavesTheClusterServing) {
  StartCluster();
  EXPECT_EQ(*ray::Task(Add).Remote(1, 1).Get(), 2);  // a worker socket now exists
  std::vector<std::string> sockets;
  for (auto &e : fs::directory_iterator(session_ + "/sockets")) sockets.push_back(e.path().string());
  ASSERT_GE(sockets.size(), 4u);  // control, node, store, driver and worker sockets
  for (auto &path : sockets) {
    for (auto &bytes : Garbage()) {
      int fd = ConnectUnix(path);
      if (fd < 0) continue;  // a worker that exited meanwhile
      SendBytes(fd, bytes);
    }
  }
  int port = 0;
  std::ifstream(session_ + "/control.port") >> port;
  ASSERT_GT(port, 0);
  for (auto &bytes : Garbage()) {
    int fd = ConnectTcp(port);
    ASSERT_GE(fd, 0);
    SendBytes(fd, bytes);
  }
  // Everyone is still serving: tasks run, objects move.
  std::vector<ray::ObjectRef<int>> refs;
  for (int i = 0; i < 20; ++i) refs.push_back(ray::Task(Add).Remote(i, 1));
  int sum = 0;
  for (auto &v : ray::Get(refs)) sum += *v;
  EXPECT_EQ(sum, 210);
  auto big = ray::Put(std::vector<uint8_t>(1 << 20, 1));
  EXPECT_EQ(big.Get()->size(), 1u << 20);
}

TEST_F(ClusterTest, FullStoreWaitsForSpaceThenFailsClearly) {
  StartCluster({"--num-cpus=1", "--object-store-memory=50000000"});  // 50 MB store
  // Larger than the whole store: a clear error at once, and nothing breaks.
  try {
    ray::Put(std::vector<uint8_t>(80 << 20, 1));
    FAIL() << "expected the Put to fail";
  } catch (const ray::internal::RayException &e) {
    EXPECT_NE(std::string(e.what()).find("full"), std::string::npos) << e.what();
  }
  // Fills the store, then frees: the next Put waits for the space and succeeds.
  for (int i = 0; i < 5; ++i) {
    auto r = ray::Put(std::vector<uint8_t>(30 << 20, static_cast<uint8_t>(i)));
    EXPECT_EQ((*r.Get())[0], i);
  }
  EXPECT_EQ(*ray::Task(Add).Remote(2, 2).Get(), 4);
}

bool Alive(int pid) { return kill(pid, 0) == 0 || errno != ESRCH; }

std::vector<int> ProcessesMentioning(const std::string &needle) {
  std::vector<int> pids;
  for (auto &e : fs::directory_iterator("/proc")) {
    int pid = std::atoi(e.path().filename().c_str());
    if (pid <= 0 || pid == getpid()) continue;
    std::ifstream in(e.path() / "cmdline");
    std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (cmd.find(needle) != std::string::npos) pids.push_back(pid);
  }
  return pids;
}

size_t LumenMemfdMappingsOf(int pid) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  std::string line;
  size_t n = 0;
  while (std::getline(maps, line)) n += line.find("memfd:lumen") != std::string::npos;
  return n;
}

TEST(ClusterShutdown, LeavesNoProcessSocketOrSharedMemory) {
  auto tmp = lumen::testing::FreshTmpDir();
  auto shm_before = std::distance(fs::directory_iterator("/dev/shm"), fs::directory_iterator());
  ray::RayConfig config;
  config.head_args = {"--num-cpus=2"};
  ray::Init(config);
  auto session = lumen::testing::SessionDir(tmp);
  std::vector<int> workers;
  for (int i = 0; i < 4; ++i) workers.push_back(*ray::Task(MyPid).Remote().Get());
  auto big = ray::Put(std::vector<uint8_t>(8 << 20, 3));
  std::vector<int> services;
  for (auto &[name, pid] : lumen::testing::ServicePids(session)) services.push_back(pid);
  EXPECT_EQ(services.size(), 2u);  // control and node services
  EXPECT_GE(LumenMemfdMappingsOf(getpid()), 1u);
  ray::Shutdown();

  for (int pid : workers) EXPECT_FALSE(Alive(pid)) << "worker " << pid << " survived Shutdown";
  for (int pid : services) EXPECT_FALSE(Alive(pid)) << "service " << pid << " survived Shutdown";
  EXPECT_TRUE(ProcessesMentioning(session).empty());
  EXPECT_FALSE(fs::exists(session + "/sockets"));
  EXPECT_EQ(LumenMemfdMappingsOf(getpid()), 0u);  // the arena is unmapped here too
  auto shm_after = std::distance(fs::directory_iterator("/dev/shm"), fs::directory_iterator());
  EXPECT_EQ(shm_before, shm_after);
  std::filesystem::remove_all(tmp);
}

// ---- losing a process the driver depends on ----

// Long enough that only a hang reaches it: a Get that times out instead of
// failing with the loss is a test failure, not a stuck suite.
constexpr int kGenerousMs = 60000;

// The state letter of one thread from /proc/.../stat ('T': stopped).
char StateIn(const fs::path &stat) {
  std::ifstream in(stat);
  std::string line;
  std::getline(in, line);
  auto paren = line.rfind(')');
  return paren == std::string::npos || paren + 2 >= line.size() ? '?' : line[paren + 2];
}

// kill() returns before the target's threads have stopped: one still
// running could answer a request sent right after. Waits until all have.
bool StopAndWait(int pid) {
  if (kill(pid, SIGSTOP) != 0) return false;
  const fs::path tasks = "/proc/" + std::to_string(pid) + "/task";
  for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
       std::chrono::steady_clock::now() < until;) {
    bool all = true;
    std::error_code ec;
    for (auto &t : fs::directory_iterator(tasks, ec)) all = all && StateIn(t.path() / "stat") == 'T';
    if (all && !ec) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

int ParentOf(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  // "pid (comm) state ppid ...": comm may hold spaces, so parse after the ')'.
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  char state;
  int ppid = -1;
  rest >> state >> ppid;
  return ppid;
}

// Runs `call`, which must throw Ex whose message contains every one of `needles`.
template <typename Ex, typename F>
void ExpectLoss(F call, const std::vector<std::string> &needles) {
  try {
    call();
    ADD_FAILURE() << "expected an exception";
  } catch (const Ex &e) {
    for (auto &n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
  } catch (const ray::internal::RayException &e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
}

TEST_F(ClusterTest, KillingTheNodeServiceFailsPendingAndLaterCalls) {
  StartCluster();
  ASSERT_EQ(*ray::Task(Add).Remote(1, 1).Get(), 2);
  int node = lumen::testing::ServicePids(session_).at("node");
  auto big = ray::Put(std::vector<uint8_t>(1 << 20, 7));  // in the node's shared memory
  std::vector<ray::ObjectRef<int>> pending;
  for (int i = 0; i < 4; ++i) pending.push_back(ray::Task(Forever).Remote());  // 2 run, 2 wait
  ASSERT_EQ(kill(node, SIGKILL), 0);
  const std::vector<std::string> named = {"node service (pid " + std::to_string(node) + ")", "died"};
  for (auto &r : pending) ExpectLoss<ray::internal::RayWorkerException>([&] { r.Get(kGenerousMs); }, named);
  ExpectLoss<ray::internal::RayWorkerException>([] { ray::Task(Add).Remote(1, 2).Get(kGenerousMs); }, named);
  ExpectLoss<ray::internal::RayWorkerException>([] { ray::Put(std::vector<uint8_t>(1 << 20, 1)); }, named);
  ExpectLoss<ray::internal::RayWorkerException>([&] { big.Get(kGenerousMs); }, named);
}

TEST_F(ClusterTest, KillingTheControlServiceFailsPendingAndLaterCalls) {
  StartCluster();
  ASSERT_EQ(*ray::Task(Add).Remote(1, 1).Get(), 2);
  int control = lumen::testing::ServicePids(session_).at("control");
  std::vector<ray::ObjectRef<int>> pending;
  for (int i = 0; i < 3; ++i) pending.push_back(ray::Task(Forever).Remote());
  ASSERT_EQ(kill(control, SIGKILL), 0);
  // The node shuts down when it loses the control service, which the driver
  // sees a moment later: the first loss, the control service, is reported.
  const std::vector<std::string> named = {"control service (pid " + std::to_string(control) + ")"};
  for (auto &r : pending) ExpectLoss<ray::internal::RayWorkerException>([&] { r.Get(kGenerousMs); }, named);
  ExpectLoss<ray::internal::RayWorkerException>([] { ray::Task(Add).Remote(1, 2).Get(kGenerousMs); }, named);
  ExpectLoss<ray::internal::RayWorkerException>([] { ray::Actor(Counter::Make).Remote(); }, named);
}

TEST_F(ClusterTest, KillingTheForkServerFailsTheJobClearly) {
  StartCluster();
  int worker = *ray::Task(MyPid).Remote().Get();
  int fork_server = ParentOf(worker);
  ASSERT_GT(fork_server, 1);
  ASSERT_NE(fork_server, getpid());
  auto actor = ray::Actor(Counter::Make).Remote();
  std::vector<ray::ObjectRef<int>> pending;
  for (int i = 0; i < 3; ++i) pending.push_back(ray::Task(Forever).Remote());
  ASSERT_EQ(kill(fork_server, SIGKILL), 0);
  // Its workers die with it and none can be made: the job fails (replacing
  // it would need a copy of the driver from before its threads started).
  const std::vector<std::string> named = {"fork server (pid " + std::to_string(fork_server) + ") died"};
  for (auto &r : pending) ExpectLoss<ray::internal::RayWorkerException>([&] { r.Get(kGenerousMs); }, named);
  ExpectLoss<ray::internal::RayWorkerException>([] { ray::Task(Add).Remote(1, 2).Get(kGenerousMs); }, named);
  ExpectLoss<ray::internal::RayWorkerException>([] { ray::Actor(Counter::Make).Remote(); }, named);
  // The actor's worker died with the fork server; its calls fail as well.
  try {
    actor.Task(&Counter::Inc).Remote().Get(kGenerousMs);
    ADD_FAILURE() << "a call to an actor whose worker died returned";
  } catch (const ray::internal::RayActorException &) {
  }
}

// Sets LUMEN_PEER_TIMEOUT_MS for one test: the services and workers the test
// starts inherit it.
class ShortPeerTimeout {
 public:
  explicit ShortPeerTimeout(const char *ms) { setenv("LUMEN_PEER_TIMEOUT_MS", ms, 1); }
  ~ShortPeerTimeout() { unsetenv("LUMEN_PEER_TIMEOUT_MS"); }
};

TEST_F(ClusterTest, AStoppedNodeServiceIsNoticedByTheKeepalive) {
  ShortPeerTimeout timeout("1000");
  StartCluster();
  ASSERT_EQ(*ray::Task(Add).Remote(1, 1).Get(), 2);
  int node = lumen::testing::ServicePids(session_).at("node");
  ASSERT_TRUE(StopAndWait(node));  // its sockets stay open: no end-of-file tells
  // A resource shape not asked for before: this task needs a new lease.
  auto r = ray::Task(Add).SetResource("CPU", 0.5).Remote(1, 2);
  ExpectLoss<ray::internal::RayWorkerException>(
      [&] { r.Get(kGenerousMs); }, {"node service (pid " + std::to_string(node) + ")", "stopped responding"});
  kill(node, SIGCONT);
}

TEST_F(ClusterTest, AStoppedWorkerIsNoticedByTheKeepaliveAndItsTaskRetried) {
  ShortPeerTimeout timeout("1000");
  StartCluster();
  const std::string path = tmp_ + "/first-attempt.pid";
  auto r = ray::Task(FirstAttemptHangs).Remote(path);
  int first = 0;
  for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
       first == 0 && std::chrono::steady_clock::now() < until;) {
    std::ifstream(path) >> first;
    if (first == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GT(first, 0) << "the task never started";
  ASSERT_TRUE(StopAndWait(first));  // alive, socket open, silent
  // The driver stops waiting on it and runs the task again elsewhere.
  EXPECT_EQ(*r.Get(kGenerousMs), 42);
}

}  // namespace
