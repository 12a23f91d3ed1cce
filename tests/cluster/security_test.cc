// Local security and session hygiene against real processes: session roots
// someone else made first, sockets planted where a client connects, floods of
// unauthenticated connections, idle clients of the store's hand-out socket,
// joining one of two local clusters by address, and what Init/Shutdown cycles
// leave behind. Tests that need a second user create one (useradd) and run
// this binary as it; they skip when not run as root.
//
// The binary doubles as its own helper (see main): `--hold-cluster` starts a
// cluster, prints its control port and keeps it until stdin closes;
// `--victim-init` starts a cluster, runs a task, prints its session folder
// and shuts down.
#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "cluster_test_util.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

int Plus(int a, int b) { return a + b; }
int MyPid() { return static_cast<int>(getpid()); }
RAY_REMOTE(Plus, MyPid);

class Adder {
 public:
  static Adder *Create(int base) { return new Adder{base}; }
  int Add(int x) { return base_ + x; }
  explicit Adder(int base) : base_(base) {}

 private:
  int base_;
};
RAY_REMOTE(Adder::Create, &Adder::Add);

std::string Self() { return fs::read_symlink("/proc/self/exe").string(); }

std::string ReadFirstWord(const fs::path &path) {
  std::ifstream in(path);
  std::string word;
  in >> word;
  return word;
}

// This process's own session under `root` (its pid is in the name).
fs::path OwnSession(const fs::path &root) {
  const std::string tag = "_" + std::to_string(getpid()) + "_";
  std::error_code ec;
  for (auto &entry : fs::directory_iterator(root, ec)) {
    std::string name = entry.path().filename().string();
    if (name.rfind("session_", 0) == 0 && name.find(tag) != std::string::npos) return entry.path();
  }
  return {};
}

size_t FolderBytes(const fs::path &dir) {
  size_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_regular_file(ec)) total += it->file_size(ec);
  }
  return total;
}

// A child process running this binary with `args`; its stdout is readable
// from `out`, and closing `in` tells a holding helper to stop.
struct Helper {
  pid_t pid = -1;
  FILE *out = nullptr;
  int in = -1;

  // `as_user`: run as that uid/gid (setresuid in the child), with no
  // LUMEN_TMPDIR or XDG_RUNTIME_DIR, as a fresh login would have.
  static Helper Start(const std::vector<std::string> &args, uid_t as_user = 0, gid_t as_group = 0) {
    int out_pipe[2], in_pipe[2];
    if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(in_pipe, O_CLOEXEC) != 0) return {};
    std::fflush(nullptr);
    pid_t pid = fork();
    if (pid == 0) {
      dup2(out_pipe[1], STDOUT_FILENO);
      dup2(in_pipe[0], STDIN_FILENO);
      close(out_pipe[0]);
      close(out_pipe[1]);
      close(in_pipe[0]);
      close(in_pipe[1]);
      if (as_user != 0) {
        unsetenv("LUMEN_TMPDIR");
        unsetenv("XDG_RUNTIME_DIR");
        setenv("HOME", "/", 1);
        if (setgroups(0, nullptr) != 0 || setresgid(as_group, as_group, as_group) != 0 ||
            setresuid(as_user, as_user, as_user) != 0)
          _exit(120);
      }
      std::vector<std::string> all = {Self()};
      all.insert(all.end(), args.begin(), args.end());
      std::vector<char *> argv;
      for (auto &a : all) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv("/proc/self/exe", argv.data());
      _exit(127);
    }
    close(out_pipe[1]);
    close(in_pipe[0]);
    Helper h;
    h.pid = pid;
    h.out = fdopen(out_pipe[0], "r");
    h.in = in_pipe[1];
    return h;
  }
  // What the helper prints after "result: " ("" at EOF); the log lines a
  // driver writes to its stdout before its logs have a folder are skipped.
  std::string Line() {
    char buf[4096];
    while (out && std::fgets(buf, sizeof(buf), out)) {
      std::string line = buf;
      if (!line.empty() && line.back() == '\n') line.pop_back();
      if (line.rfind("result: ", 0) == 0) return line.substr(8);
    }
    return "";
  }
  // Tells it to stop; its exit code (-1 if it did not exit normally).
  int Finish() {
    if (in >= 0) close(in);
    in = -1;
    int status = 0;
    waitpid(pid, &status, 0);
    if (out) fclose(out);
    out = nullptr;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
};

// A throwaway user for the test's lifetime.
class ThrowawayUser {
 public:
  ThrowawayUser() {
    name_ = "lumsec" + std::to_string(getpid() % 100000);
    std::string cmd = "useradd --system --no-create-home --shell /usr/sbin/nologin " + name_ + " 2>/dev/null";
    if (std::system(cmd.c_str()) != 0) return;
    if (passwd *pw = getpwnam(name_.c_str())) {
      uid_ = pw->pw_uid;
      gid_ = pw->pw_gid;
    }
  }
  ~ThrowawayUser() {
    if (uid_ != 0) (void)!std::system(("userdel " + name_ + " 2>/dev/null").c_str());
  }
  bool ok() const { return uid_ != 0; }
  uid_t uid() const { return uid_; }
  gid_t gid() const { return gid_; }

 private:
  std::string name_;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
};

// Listens on a Unix socket as whoever calls it; records what clients send.
struct FakeServer {
  int fd = -1;
  std::string path;
  explicit FakeServer(const std::string &p) : path(p) {
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, path.c_str(), sizeof(sa.sun_path) - 1);
    if (bind(fd, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)) != 0 || listen(fd, 16) != 0) {
      close(fd);
      fd = -1;
    }
  }
  // Every byte one client sends until it hangs up (or 30 s pass: a hang).
  // Its first frame gets an answer shaped like the server's challenge, made
  // without the token: a client would send its proof and calls next.
  std::string ReceiveOne() {
    pollfd l{fd, POLLIN, 0};
    if (poll(&l, 1, 30000) <= 0) return {};  // nobody came (the test fails, not hangs)
    int c = accept(fd, nullptr, nullptr);
    std::string got;
    char buf[4096];
    bool answered = false;
    for (;;) {
      pollfd p{c, POLLIN, 0};
      if (poll(&p, 1, 30000) <= 0) break;
      ssize_t n = recv(c, buf, sizeof(buf), 0);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
      uint32_t body = 0;
      if (got.size() >= 16) std::memcpy(&body, got.data(), 4);
      if (!answered && got.size() >= 16 + body) {
        answered = true;
        // Challenge{nonce = 32 bytes, proof = 32 bytes} in a frame of type 2.
        std::string challenge = "\x0a\x20" + std::string(32, 'n') + "\x12\x20" + std::string(32, 'p');
        std::string frame(16, '\0');
        uint32_t len = static_cast<uint32_t>(challenge.size());
        std::memcpy(frame.data(), &len, 4);
        frame[4] = 2;
        frame += challenge;
        (void)!send(c, frame.data(), frame.size(), MSG_NOSIGNAL);
      }
    }
    close(c);
    return got;
  }
  ~FakeServer() {
    if (fd >= 0) close(fd);
    unlink(path.c_str());
  }
};

}  // namespace

// Someone else made this user's default session roots first (item 7, and
// item 8's shared fallback): Init still works, in a folder of the user's own,
// and puts nothing in theirs.
TEST(SessionRoots, RootsSomeoneElseMadeAreNeverUsed) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to create a second user";
  ThrowawayUser victim;
  if (!victim.ok()) GTEST_SKIP() << "useradd failed";
  const std::string uid = std::to_string(victim.uid());
  // The attacker (root here: any other owner) takes both predictable names.
  std::vector<fs::path> squatted = {"/dev/shm/lumen-" + uid, "/tmp/lumen-" + uid};
  for (auto &dir : squatted) {
    fs::remove_all(dir);
    ASSERT_TRUE(fs::create_directory(dir));
    fs::permissions(dir, fs::perms::all);
  }
  for (int round = 0; round < 2; ++round) {
    Helper h = Helper::Start({"--victim-init"}, victim.uid(), victim.gid());
    const std::string session = h.Line();
    EXPECT_EQ(h.Finish(), 0) << "the victim's Init failed";
    ASSERT_FALSE(session.empty());
    for (auto &dir : squatted) {
      EXPECT_NE(session.rfind(dir.string() + "/", 0), 0u) << session;
      EXPECT_TRUE(fs::is_empty(dir)) << dir << " was used";
    }
    // The root it used is the victim's own and private.
    struct stat st;
    ASSERT_EQ(lstat(fs::path(session).parent_path().c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, victim.uid());
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    EXPECT_FALSE(fs::exists(session)) << "Shutdown left the session behind";
  }
  for (auto &dir : squatted) fs::remove_all(dir);
  std::error_code ec;
  for (auto &entry : fs::directory_iterator("/tmp", ec))
    if (entry.path().filename().string().rfind("lumen-" + uid + "-", 0) == 0)
      fs::remove_all(entry.path(), ec);
}

// LUMEN_TMPDIR names the root itself: one others can write to, or a link,
// is refused with the reason, never used or changed.
TEST(SessionRoots, AnUnsafeLumenTmpdirIsRefusedWithTheReason) {
  auto tmp = lumen::testing::FreshTmpDir();
  const fs::path shared = fs::path(tmp) / "shared";
  fs::create_directory(shared);
  fs::permissions(shared, fs::perms::all);
  const fs::path link = fs::path(tmp) / "link";
  fs::create_directory_symlink(tmp, link);
  for (const auto &[root, reason] :
       {std::pair{shared, "can be written by other users"}, std::pair{link, "symbolic link"}}) {
    setenv("LUMEN_TMPDIR", root.c_str(), 1);
    ray::RayConfig config;
    config.head_args = {"--num-cpus=1"};
    try {
      ray::Init(config);
      ADD_FAILURE() << "Init used " << root;
      ray::Shutdown();
    } catch (const ray::internal::RayException &e) {
      EXPECT_NE(std::string(e.what()).find(reason), std::string::npos) << e.what();
    }
  }
  EXPECT_TRUE(fs::is_empty(shared));
  EXPECT_EQ(fs::status(shared).permissions(), fs::perms::all);
  fs::remove_all(tmp);
}

// A socket planted where a driver holding the token connects (item 8): served
// by another user, the driver refuses it before sending a byte; served by
// someone without the token, it receives the hello and nothing more, never
// the token.
TEST(PlantedSockets, ADriverGivesAPlantedSocketNothing) {
  auto tmp = lumen::testing::FreshTmpDir();
  const std::string token = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  setenv("LUMEN_CLUSTER_TOKEN", token.c_str(), 1);

  // Same user, no token.
  {
    FakeServer fake(tmp + "/planted.sock");
    ASSERT_GE(fake.fd, 0);
    std::string got;
    std::thread server([&] { got = fake.ReceiveOne(); });
    ray::RayConfig config;
    config.address = "unix:" + fake.path;
    EXPECT_THROW(ray::Init(config), ray::internal::RayException);
    server.join();
    ASSERT_GE(got.size(), 16u) << "the hello never came";
    EXPECT_EQ(got.find(token), std::string::npos) << "the planted socket received the token";
    EXPECT_EQ(got.find(token.substr(0, 16)), std::string::npos);
    // The hello and nothing after it: no proof, no call.
    uint32_t hello_body = 0;
    std::memcpy(&hello_body, got.data(), 4);
    EXPECT_EQ(got.size(), 16u + hello_body);
  }
  // Another user.
  if (geteuid() == 0) {
    ThrowawayUser attacker;
    ASSERT_TRUE(attacker.ok());
    const std::string open_dir = tmp + "/open";
    fs::create_directory(open_dir);
    fs::permissions(open_dir, fs::perms::all);
    fs::permissions(tmp, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
    int report[2], ready[2];
    ASSERT_EQ(pipe(report), 0);
    ASSERT_EQ(pipe(ready), 0);
    const std::string path = open_dir + "/sockets-node";
    pid_t child = fork();
    if (child == 0) {
      if (setgroups(0, nullptr) != 0 || setresgid(attacker.gid(), attacker.gid(), attacker.gid()) != 0 ||
          setresuid(attacker.uid(), attacker.uid(), attacker.uid()) != 0)
        _exit(2);
      FakeServer fake(path);
      if (fake.fd < 0) _exit(3);
      // Listening now: the socket file exists from bind, a moment earlier,
      // when a connect would be refused.
      (void)!write(ready[1], "r", 1);
      std::string got = fake.ReceiveOne();
      uint64_t n = got.size();
      (void)!write(report[1], &n, sizeof(n));
      _exit(0);
    }
    close(report[1]);
    close(ready[1]);
    char listening = 0;
    ASSERT_EQ(read(ready[0], &listening, 1), 1) << "the other user's fake server did not start";
    close(ready[0]);
    ray::RayConfig config;
    config.address = "unix:" + path;
    try {
      ray::Init(config);
      ADD_FAILURE() << "Init joined another user's socket";
      ray::Shutdown();
    } catch (const ray::internal::RayException &e) {
      EXPECT_NE(std::string(e.what()).find("another user"), std::string::npos) << e.what();
    }
    uint64_t received = ~0ull;
    ASSERT_EQ(read(report[0], &received, sizeof(received)), static_cast<ssize_t>(sizeof(received)));
    EXPECT_EQ(received, 0u) << "the driver sent bytes to another user's socket";
    close(report[0]);
    waitpid(child, nullptr, 0);
  }
  unsetenv("LUMEN_CLUSTER_TOKEN");
  fs::remove_all(tmp);
}

// Connections without the token, each with a 60 KiB "name" (item 9): the
// services' logs grow by a few short lines a second, not by what was sent.
TEST(Flood, UnauthenticatedConnectionsLeaveABoundedLog) {
  auto tmp = lumen::testing::FreshTmpDir();
  ray::RayConfig config;
  config.head_args = {"--num-cpus=1"};
  ray::Init(config);
  const fs::path session = lumen::testing::SessionDir(tmp);
  const int port = std::stoi(ReadFirstWord(session / "control.port"));
  const size_t before = FolderBytes(session / "logs");
  // A hello frame: 16-byte header (length, type 1, method 0, call id 0), then
  // a protobuf Hello whose field 2 (the client's name) is 60 KiB.
  std::string body = "\x12";
  size_t len = 60 * 1024;
  for (size_t v = len; v >= 0x80; v >>= 7) body += static_cast<char>((v & 0x7f) | 0x80);
  body += static_cast<char>(len >> 14);
  body += std::string(len, 'N');
  std::string frame(16, '\0');
  uint32_t body_len = static_cast<uint32_t>(body.size());
  std::memcpy(frame.data(), &body_len, 4);
  frame[4] = 1;
  frame += body;
  constexpr int kConnections = 2000;
  auto start = Clock::now();
  for (int i = 0; i < kConnections; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)), 0) << i;
    (void)!send(fd, frame.data(), frame.size(), MSG_NOSIGNAL);
    char buf[256];
    pollfd p{fd, POLLIN, 0};
    while (poll(&p, 1, 30000) > 0 && recv(fd, buf, sizeof(buf), 0) > 0) {
    }
    close(fd);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  // The cluster still works, and the logs hold at most 5 lines of a few
  // hundred bytes per second of flood.
  EXPECT_EQ(*ray::Task(Plus).Remote(1, 2).Get(), 3);
  const size_t grown = FolderBytes(session / "logs") - std::min(before, FolderBytes(session / "logs"));
  EXPECT_LE(grown, (static_cast<size_t>(seconds) + 2) * 5 * 512)
      << "logs grew by " << grown << " bytes in " << seconds << " s of flood";
  ray::Shutdown();
  EXPECT_FALSE(fs::exists(session)) << "the flood's logs outlived the driver";
  fs::remove_all(tmp);
}

// Idle connections to the store's hand-out socket (item 10) do not keep a new
// worker from attaching: an actor, which needs a worker of its own, starts.
TEST(StoreHandOut, IdleClientsDoNotBlockAWorkerStart) {
  auto tmp = lumen::testing::FreshTmpDir();
  ray::RayConfig config;
  config.head_args = {"--num-cpus=2"};
  ray::Init(config);
  const fs::path session = lumen::testing::SessionDir(tmp);
  const std::string store = (session / "sockets" / "store").string();
  std::vector<int> idle;
  for (int i = 0; i < 200; ++i) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, store.c_str(), sizeof(sa.sun_path) - 1);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)), 0) << i;
    idle.push_back(fd);
  }
  // The actor's own worker must attach to the store. Generous: only a hang
  // takes a minute (the old hand-out gave each idle client 2 s in turn).
  auto sum = std::async(std::launch::async, []() -> int {
    try {
      auto adder = ray::Actor(Adder::Create).Remote(40);
      return *adder.Task(&Adder::Add).Remote(2).Get();
    } catch (const std::exception &e) {
      ADD_FAILURE() << e.what();
      return -1;
    }
  });
  const bool started = sum.wait_for(60s) == std::future_status::ready;
  EXPECT_TRUE(started) << "the actor's worker did not start while idle clients held the store socket";
  for (int fd : idle) close(fd);  // lets a stuck start through, so the test can end
  EXPECT_EQ(sum.get(), 42);
  idle.clear();
  for (int fd : idle) close(fd);
  ray::Shutdown();
  fs::remove_all(tmp);
}

// Two local clusters; a driver joins the older one by its address (item 17).
TEST(JoinByAddress, TheOlderOfTwoClustersIsJoinedWithItsOwnToken) {
  auto tmp = lumen::testing::FreshTmpDir();
  Helper older = Helper::Start({"--hold-cluster"});
  const std::string older_port = older.Line();
  Helper newer = Helper::Start({"--hold-cluster"});
  const std::string newer_port = newer.Line();
  ASSERT_FALSE(older_port.empty());
  ASSERT_FALSE(newer_port.empty());
  ASSERT_NE(older_port, newer_port);
  for (const std::string &port : {older_port, newer_port}) {
    ray::RayConfig config;
    config.address = "127.0.0.1:" + port;
    ray::Init(config);
    EXPECT_EQ(*ray::Task(Plus).Remote(20, 22).Get(), 42) << "port " << port;
    ray::Shutdown();
  }
  EXPECT_EQ(older.Finish(), 0);
  EXPECT_EQ(newer.Finish(), 0);
  fs::remove_all(tmp);
}

// Init/Shutdown cycles in one driver leave no session folder behind (item 18),
// on the default tmpfs root as under LUMEN_TMPDIR.
TEST(SessionCleanup, InitShutdownCyclesLeaveNoSessionFolders) {
  auto tmp = lumen::testing::FreshTmpDir();
  for (bool default_root : {false, true}) {
    if (default_root) unsetenv("LUMEN_TMPDIR");
    for (int i = 0; i < 15; ++i) {
      ray::RayConfig config;
      config.head_args = {"--num-cpus=1"};
      ray::Init(config);
      EXPECT_EQ(*ray::Task(Plus).Remote(i, 1).Get(), i + 1);
      ray::Shutdown();
    }
    if (!default_root) {
      EXPECT_TRUE(OwnSession(tmp).empty()) << "left behind: " << OwnSession(tmp);
      EXPECT_FALSE(fs::exists(fs::path(tmp) / "session_latest"));
    } else {
      // Other drivers of this user may share the default root: look for ours.
      for (const char *root : {"/dev/shm/lumen-", "/tmp/lumen-"})
        EXPECT_TRUE(OwnSession(root + std::to_string(geteuid())).empty()) << root;
    }
  }
  fs::remove_all(tmp);
}

// Helper modes (see the top of the file), then the tests.
int main(int argc, char **argv) {
  if (argc > 1 && std::string(argv[1]) == "--hold-cluster") {
    ray::RayConfig config;
    config.head_args = {"--num-cpus=1"};
    ray::Init(config);
    const char *tmp = std::getenv("LUMEN_TMPDIR");
    std::string port = ReadFirstWord(OwnSession(tmp ? tmp : "/tmp") / "control.port");
    std::printf("result: %s\n", port.c_str());
    std::fflush(stdout);
    char c;
    while (read(STDIN_FILENO, &c, 1) > 0) {
    }
    ray::Shutdown();
    return 0;
  }
  if (argc > 1 && std::string(argv[1]) == "--victim-init") {
    int rc = 0;
    try {
      ray::RayConfig config;
      config.head_args = {"--num-cpus=1"};
      ray::Init(config);
      if (*ray::Task(Plus).Remote(1, 1).Get() != 2) rc = 1;
      // The session this driver made: its own pid names it, next to session_latest.
      std::string session;
      for (const fs::path &root : {fs::path("/dev/shm/lumen-" + std::to_string(geteuid())),
                                   fs::path("/tmp/lumen-" + std::to_string(geteuid()))}) {
        if (session.empty()) session = OwnSession(root).string();
      }
      std::error_code ec;
      for (auto &entry : fs::directory_iterator("/tmp", ec)) {
        std::string name = entry.path().filename().string();
        if (session.empty() && name.rfind("lumen-" + std::to_string(geteuid()) + "-", 0) == 0)
          session = OwnSession(entry.path()).string();
      }
      std::printf("result: %s\n", session.c_str());
      std::fflush(stdout);
      ray::Shutdown();
    } catch (const std::exception &e) {
      std::fprintf(stderr, "victim: %s\n", e.what());
      std::printf("result: \n");
      rc = 2;
    }
    return rc;
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
