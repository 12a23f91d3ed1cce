// The `lumen` command as a user runs it: real processes only. Clusters are
// started with the built `lumen start` (each node its own --temp-dir under a
// private folder per test, whose LUMEN_TMPDIR also keeps the record of what
// was started apart from other tests), drivers (cli_driver) join them by
// address, by `auto`, by --ray_address and by RAY_ADDRESS, `lumen status` is
// read, `lumen stop` must leave no process, socket or shared-memory file,
// and every bad input gives one line on stderr, its exit code, and nothing
// left running.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "lumen_cli_test_util.h"

namespace {
namespace fs = std::filesystem;

// Only a real hang reaches it.
constexpr auto kDeadline = std::chrono::seconds(60);

std::string ReadFile(const fs::path &path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

struct Result {
  int rc = -1;
  std::string out, err;
};

size_t Lines(const std::string &text) {
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

// The pids of the daemons a session's record names.
std::vector<int> RecordedPids(const fs::path &session) {
  std::vector<int> pids;
  const std::string record = ReadFile(session / "lumen.json");
  static const std::regex pid("\"pid\":\\s*(\\d+)");
  for (auto it = std::sregex_iterator(record.begin(), record.end(), pid); it != std::sregex_iterator(); ++it)
    pids.push_back(std::stoi((*it)[1]));
  return pids;
}

// Alive and not a zombie.
bool Running(int pid) {
  const std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  const size_t close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}

// Processes (other than this one) whose command line names `dir`: the
// services started for a session there carry it in --session-dir.
std::vector<int> ProcessesNaming(const std::string &dir) {
  std::vector<int> pids;
  for (auto &entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos || std::stoi(name) == getpid()) continue;
    std::string cmdline = ReadFile(entry.path() / "cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find(dir) != std::string::npos && Running(std::stoi(name))) pids.push_back(std::stoi(name));
  }
  return pids;
}

// /dev/shm's entries, but for this user's root of embedded sessions, which
// drivers of other tests on this machine come and go in.
std::set<std::string> ShmEntries() {
  std::set<std::string> names;
  std::error_code ec;
  const std::string shared = "lumen-" + std::to_string(geteuid());
  for (auto it = fs::directory_iterator("/dev/shm", ec); !ec && it != fs::directory_iterator();
       it.increment(ec))
    if (it->path().filename() != shared) names.insert(it->path().filename().string());
  return names;
}

// A TCP listener on a free loopback port; its port.
int Listen(int *fd_out) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)), 0);
  EXPECT_EQ(listen(fd, 16), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len);
  *fd_out = fd;
  return ntohs(addr.sin_port);
}

// An IPv4 address of this machine's other than loopback; empty if none.
std::string NonLoopbackAddress() {
  ifaddrs *list = nullptr;
  std::string found;
  if (getifaddrs(&list) != 0) return found;
  for (ifaddrs *a = list; a && found.empty(); a = a->ifa_next) {
    if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET) continue;
    auto *in = reinterpret_cast<sockaddr_in *>(a->ifa_addr);
    if ((ntohl(in->sin_addr.s_addr) >> 24) == 127) continue;
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    found = text;
  }
  freeifaddrs(list);
  return found;
}

// True if a TCP connect to host:port is accepted.
bool Accepts(const std::string &host, int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  bool ok = connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

// Everything the session's services logged.
std::string SessionLogs(const fs::path &session) {
  std::string all;
  for (auto &entry : fs::directory_iterator(session / "logs")) all += ReadFile(entry.path());
  return all;
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lcli-XXXXXX";  // short: Unix socket paths hold 107 bytes
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    // The record of started sessions lives here, apart from other tests'.
    setenv("LUMEN_TMPDIR", (root_ + "/reg").c_str(), 1);
    shm_before_ = ShmEntries();
  }

  void TearDown() override {
    Run({"stop", "--force"});
    std::error_code ec;
    fs::remove_all(root_, ec);
    unsetenv("LUMEN_TMPDIR");
  }

  // Runs `program args...` to the end with `env` added; stdout and stderr
  // go to files (daemons it starts must not hold a pipe of ours open).
  Result RunProgram(const std::string &program, const std::vector<std::string> &args,
                    const std::vector<std::string> &env = {}) {
    const std::string out = root_ + "/out." + std::to_string(runs_),
                      err = root_ + "/err." + std::to_string(runs_);
    ++runs_;
    pid_t pid = Spawn(program, args, env, out, err);
    int status = 0;
    waitpid(pid, &status, 0);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), ReadFile(out), ReadFile(err)};
  }

  Result Run(const std::vector<std::string> &args, const std::vector<std::string> &env = {}) {
    return RunProgram(LUMEN_CLI, args, env);
  }

  pid_t Spawn(const std::string &program, const std::vector<std::string> &args,
              const std::vector<std::string> &env, const std::string &out, const std::string &err) {
    pid_t pid = fork();
    if (pid == 0) {
      int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      dup2(o, 1);
      dup2(e, 2);
      for (const std::string &kv : env) putenv(const_cast<char *>(kv.c_str()));
      std::vector<char *> argv{const_cast<char *>(program.c_str())};
      for (const std::string &a : args) argv.push_back(const_cast<char *>(a.c_str()));
      argv.push_back(nullptr);
      execv(program.c_str(), argv.data());
      _exit(127);
    }
    return pid;
  }

  // `lumen start --head` in root_/<name>; its cluster address.
  std::string StartHead(const std::string &name = "head", std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"start",
                                     "--head",
                                     "--port=0",
                                     "--num-cpus=2",
                                     "--object-store-memory=100000000",
                                     "--temp-dir=" + root_ + "/" + name};
    args.insert(args.end(), extra.begin(), extra.end());
    Result r = Run(args);
    EXPECT_EQ(r.rc, 0) << r.err;
    std::smatch m;
    static const std::regex address("Cluster address: (\\S+)");
    EXPECT_TRUE(std::regex_search(r.out, m, address)) << r.out;
    return m.size() > 1 ? m[1].str() : "";
  }

  fs::path Session(const std::string &name) {
    return fs::canonical(fs::path(root_) / name / "session_latest");
  }

  // After `lumen stop`: no daemon of `session` runs, its sockets are gone,
  // and /dev/shm holds nothing new.
  void ExpectNothingLeft(const fs::path &session, const std::vector<int> &pids) {
    for (int pid : pids) EXPECT_FALSE(Running(pid)) << "pid " << pid;
    EXPECT_TRUE(ProcessesNaming(session.string()).empty());
    EXPECT_FALSE(fs::exists(session / "sockets"));
    EXPECT_FALSE(fs::exists(session / "token"));
    EXPECT_EQ(ShmEntries(), shm_before_);
  }

  // Runs `lumen status` until its output matches `pattern`.
  std::string StatusUntil(const std::string &pattern, const std::vector<std::string> &args = {"status"}) {
    const std::regex re(pattern);
    const auto until = std::chrono::steady_clock::now() + kDeadline;
    Result r;
    do {
      r = Run(args);
      if (r.rc == 0 && std::regex_search(r.out, re)) return r.out;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } while (std::chrono::steady_clock::now() < until);
    ADD_FAILURE() << "status never matched " << pattern << ":\n" << r.out << r.err;
    return r.out;
  }

  // A driver (cli_driver's "actor" mode) holding an actor named `name` until
  // `release` exists; returns once the actor has answered.
  void StartActorDriver(const std::string &address, const std::string &name, const std::string &release,
                        pid_t *driver) {
    const std::string out = root_ + "/" + name + ".out", err = root_ + "/" + name + ".err";
    *driver = Spawn(LUMEN_CLI_DRIVER, {address, "actor", name, release}, {}, out, err);
    // The driver writes the line; there is nothing to block on but its file.
    const auto until = std::chrono::steady_clock::now() + kDeadline;
    while (ReadFile(out).find("ACTOR READY") == std::string::npos && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_NE(ReadFile(out).find("ACTOR READY"), std::string::npos) << ReadFile(err);
  }

  // A failed command: exit code `rc`, exactly one line on stderr containing
  // `text`, and no process left that names this test's folder.
  void ExpectOneLineError(const Result &r, int rc, const std::string &text) {
    EXPECT_EQ(r.rc, rc) << r.err;
    EXPECT_EQ(Lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find(text), std::string::npos) << r.err;
    EXPECT_TRUE(ProcessesNaming(root_).empty());
  }

  std::string root_;
  std::set<std::string> shm_before_;
  int runs_ = 0;
};

TEST_F(CliTest, VersionAndHelpOnEveryVerb) {
  Result v = Run({"--version"});
  EXPECT_EQ(v.rc, 0);
  EXPECT_EQ(v.out.rfind("lumen ", 0), 0u) << v.out;
  for (std::vector<std::string> args :
       {std::vector<std::string>{"--help"}, {"start", "--help"}, {"stop", "--help"}, {"status", "--help"}}) {
    Result h = Run(args);
    EXPECT_EQ(h.rc, 0) << args.front();
    EXPECT_NE(h.out.find("Usage"), std::string::npos) << h.out;
  }
  EXPECT_NE(Run({"start", "--help"}).out.find("--object-store-memory"), std::string::npos);
}

TEST_F(CliTest, HeadServesDriversByAddressAutoFlagAndEnvironment) {
  const std::string address = StartHead();
  ASSERT_FALSE(address.empty());
  const fs::path session = Session("head");
  const std::vector<int> pids = RecordedPids(session);
  ASSERT_EQ(pids.size(), 3u);  // the node, the dashboard, the control service
  for (int pid : pids) EXPECT_TRUE(Running(pid));
  struct stat st;
  ASSERT_EQ(stat((session / "token").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  EXPECT_NE(RunProgram(LUMEN_CLI_DRIVER, {address}).out.find("RESULT 49"), std::string::npos);
  EXPECT_NE(RunProgram(LUMEN_CLI_DRIVER, {"auto"}).out.find("RESULT 49"), std::string::npos);
  EXPECT_NE(RunProgram(LUMEN_CLI_DRIVER, {"--ray_address=" + address}).out.find("RESULT 49"),
            std::string::npos);
  Result env = RunProgram(LUMEN_CLI_DRIVER, {}, {"RAY_ADDRESS=" + address});
  EXPECT_NE(env.out.find("RESULT 49"), std::string::npos) << env.err;
  Result env_auto = RunProgram(LUMEN_CLI_DRIVER, {}, {"RAY_ADDRESS=auto"});
  EXPECT_NE(env_auto.out.find("RESULT 49"), std::string::npos) << env_auto.err;

  Result status = Run({"status"});
  ASSERT_EQ(status.rc, 0) << status.err;
  EXPECT_NE(status.out.find("Node status"), std::string::npos);
  EXPECT_TRUE(std::regex_search(status.out, std::regex("Active:\n 1 node_[0-9a-f]+ ")));
  EXPECT_NE(status.out.find("Dead:\n (no dead nodes)"), std::string::npos) << status.out;
  EXPECT_TRUE(std::regex_search(status.out, std::regex("\n [0-9.]+/2\\.0 CPU\n"))) << status.out;
  EXPECT_NE(status.out.find("/95.37MiB object_store_memory"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("Demands:\n (no resource demands)"), std::string::npos) << status.out;
  EXPECT_EQ(Run({"status", "--address=" + address}).out.find("Active:") != std::string::npos, true);

  Result stop = Run({"stop"});
  EXPECT_EQ(stop.rc, 0) << stop.err;
  EXPECT_NE(stop.out.find("Stopped all 3 Lumen processes"), std::string::npos) << stop.out;
  ExpectNothingLeft(session, pids);
  Result again = Run({"stop"});
  EXPECT_NE(again.out.find("Did not find any active Lumen processes"), std::string::npos);
  Result gone = RunProgram(LUMEN_CLI_DRIVER, {"auto"});
  EXPECT_EQ(gone.rc, 1);
  EXPECT_NE(gone.err.find("no cluster started with `lumen start --head`"), std::string::npos) << gone.err;
}

TEST_F(CliTest, SecondNodeJoinsAppearsInStatusAndStopsAlone) {
  const std::string address = StartHead();
  // No --token: the head is on this machine, its token is found.
  Result join = Run({"start", "--address=" + address, "--num-cpus=1", "--resources={\"side\": 3}",
                     "--object-store-memory=100000000", "--temp-dir=" + root_ + "/node2"});
  ASSERT_EQ(join.rc, 0) << join.err;
  const fs::path node_session = Session("node2");
  const std::vector<int> node_pids = RecordedPids(node_session);
  ASSERT_EQ(node_pids.size(), 1u);

  Result status = Run({"status", "--address=" + address});
  ASSERT_EQ(status.rc, 0) << status.err;
  EXPECT_TRUE(std::regex_search(status.out, std::regex("Active:\n 1 node_[0-9a-f]+ .*\n 1 node_[0-9a-f]+ ")))
      << status.out;
  EXPECT_TRUE(std::regex_search(status.out, std::regex("\n [0-9.]+/3\\.0 CPU\n"))) << status.out;
  EXPECT_NE(status.out.find("0.0/3.0 side"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("/190.73MiB object_store_memory"), std::string::npos) << status.out;

  // Stopping that node's temp dir leaves the head; status shows the node dead.
  Result stop = Run({"stop", "--temp-dir=" + root_ + "/node2"});
  EXPECT_EQ(stop.rc, 0) << stop.err;
  EXPECT_NE(stop.out.find("Stopped all 1 Lumen processes"), std::string::npos) << stop.out;
  ExpectNothingLeft(node_session, node_pids);
  StatusUntil("Dead:\n 1 node_[0-9a-f]+ ");
  for (int pid : RecordedPids(Session("head"))) EXPECT_TRUE(Running(pid));
}

TEST_F(CliTest, StatusShowsPendingDemands) {
  const std::string address = StartHead("head", {"--num-cpus=1"});  // the last --num-cpus wins
  const std::string release = root_ + "/release";
  pid_t driver =
      Spawn(LUMEN_CLI_DRIVER, {address, "hold", release}, {}, root_ + "/hold.out", root_ + "/hold.err");
  // One task holds the only CPU; the other waits for it at the node.
  const std::string busy = StatusUntil("\\{'CPU': 1\\.0\\}: 1\\+ pending tasks");
  EXPECT_NE(busy.find(" 1.0/1.0 CPU"), std::string::npos) << busy;
  std::ofstream(release).put('x');
  int status = 0;
  ASSERT_EQ(waitpid(driver, &status, 0), driver);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << ReadFile(root_ + "/hold.err");
  EXPECT_NE(ReadFile(root_ + "/hold.out").find("HELD 2"), std::string::npos);
  StatusUntil("Demands:\n \\(no resource demands\\)");
}

TEST_F(CliTest, ForceKillsAtOnce) {
  StartHead();
  const fs::path session = Session("head");
  const std::vector<int> pids = RecordedPids(session);
  Result stop = Run({"stop", "--force"});
  EXPECT_EQ(stop.rc, 0) << stop.err;
  EXPECT_NE(stop.out.find("(SIGKILL)"), std::string::npos) << stop.out;
  ExpectNothingLeft(session, pids);
  // SIGKILL leaves the services no time to log their stop.
  EXPECT_EQ(ReadFile(session / "logs" / "control.out").find("stopping"), std::string::npos);
}

TEST_F(CliTest, BlockStaysAndStopsOnSigterm) {
  const std::string out = root_ + "/block.out", err = root_ + "/block.err";
  pid_t lumen = Spawn(LUMEN_CLI,
                      {"start", "--head", "--block", "--port=0", "--num-cpus=1",
                       "--object-store-memory=100000000", "--temp-dir=" + root_ + "/head"},
                      {}, out, err);
  StatusUntil("Active:\n 1 node_");
  const fs::path session = Session("head");
  const std::vector<int> pids = RecordedPids(session);
  ASSERT_EQ(pids.size(), 3u);
  EXPECT_EQ(waitpid(lumen, nullptr, WNOHANG), 0);  // still in the foreground
  kill(lumen, SIGTERM);
  int status = 0;
  ASSERT_EQ(waitpid(lumen, &status, 0), lumen);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << ReadFile(err);
  ExpectNothingLeft(session, pids);
}

TEST_F(CliTest, ListensOnLoopbackUnlessToldAndSaysSo) {
  const std::string ip = NonLoopbackAddress();
  if (ip.empty()) GTEST_SKIP() << "this machine has no IPv4 address but loopback";
  const std::string local = StartHead("local");
  const int local_port = std::stoi(local.substr(local.rfind(':') + 1));
  EXPECT_EQ(local.rfind("127.0.0.1:", 0), 0u);
  EXPECT_TRUE(Accepts("127.0.0.1", local_port));
  EXPECT_FALSE(Accepts(ip, local_port));
  EXPECT_EQ(SessionLogs(Session("local")).find("non-loopback"), std::string::npos);

  const std::string open = StartHead("open", {"--node-ip-address=" + ip});
  EXPECT_EQ(open, ip + ":" + open.substr(open.rfind(':') + 1));
  EXPECT_TRUE(Accepts(ip, std::stoi(open.substr(open.rfind(':') + 1))));
  EXPECT_NE(SessionLogs(Session("open")).find("a non-loopback address"), std::string::npos);
  Result driver = RunProgram(LUMEN_CLI_DRIVER, {open});
  EXPECT_NE(driver.out.find("RESULT 49"), std::string::npos) << driver.err;
}

// ---- the dashboard (lumen_dashboard): the state API over HTTP

// The dashboard's "host:port" from a session's record.
std::string DashboardOf(const fs::path &session) {
  auto record = nlohmann::json::parse(ReadFile(session / "lumen.json"), nullptr, false);
  return record.is_object() ? record.value("dashboard", "") : "";
}

httplib::Result HttpGet(const std::string &host_port, const std::string &path,
                        const httplib::Headers &headers) {
  const size_t colon = host_port.rfind(':');
  httplib::Client client(host_port.substr(0, colon), std::stoi(host_port.substr(colon + 1)));
  return client.Get(path.c_str(), headers);
}

TEST_F(CliTest, TheHeadsDashboardServesTheStateApiToTokenHoldersOnly) {
  const std::string address = StartHead("head", {"--dashboard-port=0"});
  const fs::path session = Session("head");
  const std::string dashboard = DashboardOf(session);
  ASSERT_FALSE(dashboard.empty());
  EXPECT_EQ(dashboard.rfind("127.0.0.1:", 0), 0u);  // loopback unless told otherwise
  const std::string token = ReadFile(session / "token");
  const httplib::Headers auth{{"Authorization", "Bearer " + token}};

  auto anonymous = HttpGet(dashboard, "/api/v0/nodes", {});
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  auto wrong = HttpGet(dashboard, "/api/v0/nodes", {{"Authorization", "Bearer 0123456789abcdef"}});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  auto foreign = HttpGet(dashboard, "/api/v0/nodes",
                         {{"Authorization", "Bearer " + token}, {"Origin", "http://evil.example"}});
  ASSERT_TRUE(foreign);
  EXPECT_EQ(foreign->status, 403);

  auto nodes = HttpGet(dashboard, "/api/v0/nodes", auth);
  ASSERT_TRUE(nodes);
  ASSERT_EQ(nodes->status, 200) << nodes->body;
  nlohmann::json rows = nlohmann::json::parse(nodes->body)["data"]["result"]["result"];
  ASSERT_EQ(rows.size(), 1u) << nodes->body;
  EXPECT_EQ(rows[0]["is_head_node"], true);
  EXPECT_EQ(rows[0]["state"], "ALIVE");
  EXPECT_EQ(rows[0]["resources_total"]["CPU"], 2.0);

  // A driver's job, listed once it ends.
  ASSERT_NE(RunProgram(LUMEN_CLI_DRIVER, {address}).out.find("RESULT 49"), std::string::npos);
  auto jobs = HttpGet(dashboard,
                      "/api/v0/jobs?filter_keys=status&filter_predicates=%3D&filter_values=SUCCEEDED", auth);
  ASSERT_TRUE(jobs);
  ASSERT_EQ(jobs->status, 200) << jobs->body;
  nlohmann::json job_result = nlohmann::json::parse(jobs->body)["data"]["result"];
  EXPECT_EQ(job_result["num_filtered"], 1) << jobs->body;
  EXPECT_EQ(job_result["result"][0]["type"], "DRIVER");

  auto bad = HttpGet(dashboard, "/api/v0/actors?limit=0", auth);
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("limit"), std::string::npos);

  const std::vector<int> pids = RecordedPids(session);
  Result stop = Run({"stop"});
  EXPECT_EQ(stop.rc, 0) << stop.err;
  ExpectNothingLeft(session, pids);
  EXPECT_FALSE(HttpGet(dashboard, "/api/v0/nodes", auth));  // nothing answers there now
}

TEST_F(CliTest, TheHeadPrintsTheDashboardsAddressOrStartsNoneWhenToldNot) {
  Result with = Run({"start", "--head", "--port=0", "--dashboard-port=0", "--num-cpus=1",
                     "--object-store-memory=100000000", "--temp-dir=" + root_ + "/with"});
  ASSERT_EQ(with.rc, 0) << with.err;
  EXPECT_NE(with.out.find("Dashboard: http://" + DashboardOf(Session("with"))), std::string::npos)
      << with.out;

  Result without = Run({"start", "--head", "--port=0", "--include-dashboard=false", "--num-cpus=1",
                        "--object-store-memory=100000000", "--temp-dir=" + root_ + "/without"});
  ASSERT_EQ(without.rc, 0) << without.err;
  EXPECT_EQ(without.out.find("Dashboard:"), std::string::npos) << without.out;
  EXPECT_EQ(DashboardOf(Session("without")), "");
  EXPECT_EQ(RecordedPids(Session("without")).size(), 2u);
}

TEST_F(CliTest, ADashboardPortInUseFailsWhenAskedForAndIsSkippedByDefault) {
  int fd = -1;
  const int port = Listen(&fd);
  Result r = Run({"start", "--head", "--port=0", "--dashboard-port=" + std::to_string(port),
                  "--temp-dir=" + root_ + "/head"});
  ExpectOneLineError(r, 1, "dashboard");
  EXPECT_NE(r.err.find("in use"), std::string::npos) << r.err;
  EXPECT_NE(Run({"status"}).rc, 0);  // nothing recorded as started
  close(fd);

  // Ray's default port, taken (by this test, when it can): another is used.
  int busy = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(8265);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool taken_here =
      bind(busy, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) == 0 && listen(busy, 4) == 0;
  StartHead();
  const std::string dashboard = DashboardOf(Session("head"));
  ASSERT_FALSE(dashboard.empty());
  EXPECT_NE(dashboard, "127.0.0.1:8265");  // taken, by this test or by someone else
  if (!taken_here) std::cout << "(port 8265 was already taken on this machine)\n";
  close(busy);
}

TEST_F(CliTest, TheDashboardsMetricsAreValidPrometheusTextWithRaysNames) {
  const std::string address = StartHead("head", {"--dashboard-port=0"});
  const fs::path session = Session("head");
  const std::string dashboard = DashboardOf(session);
  const std::string release = root_ + "/release";
  pid_t driver = -1;
  ASSERT_NO_FATAL_FAILURE(StartActorDriver(address, "scraped", release, &driver));

  auto anonymous = HttpGet(dashboard, "/metrics", {});
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  auto res = HttpGet(dashboard, "/metrics", {{"Authorization", "Bearer " + ReadFile(session / "token")}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; version=0.0.4");
  EXPECT_TRUE(std::regex_search(res->body, std::regex("\nray_cluster_active_nodes\\{[^}]*\\} 1\n")))
      << res->body;
  EXPECT_TRUE(std::regex_search(res->body, std::regex("\nray_actors\\{[^}]*State=\"ALIVE\"[^}]*\\} 1\n")))
      << res->body;
  EXPECT_TRUE(
      std::regex_search(res->body, std::regex("\nray_resources\\{[^}]*Name=\"CPU\"[^}]*State=\"USED\"")))
      << res->body;
  // The node's machine and object store (ray_node_*, ray_object_store_*), as its node service read them.
  EXPECT_TRUE(std::regex_search(res->body, std::regex("\nray_node_cpu_count\\{[^}]*\\} " +
                                                      std::to_string(sysconf(_SC_NPROCESSORS_ONLN)) + "\n")))
      << res->body;
  std::smatch mem;
  ASSERT_TRUE(std::regex_search(res->body, mem, std::regex("\nray_node_mem_total\\{[^}]*\\} ([0-9.e+]+)\n")))
      << res->body;
  EXPECT_NEAR(std::stod(mem[1]), static_cast<double>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE),
              64 << 20);
  EXPECT_TRUE(std::regex_search(res->body, std::regex("\nray_node_cpu_utilization\\{[^}]*\\} [0-9]")))
      << res->body;
  EXPECT_TRUE(std::regex_search(res->body, std::regex("\nray_node_disk_free\\{[^}]*\\} [1-9]"))) << res->body;
  EXPECT_TRUE(std::regex_search(
      res->body, std::regex("\nray_object_store_memory\\{[^}]*Location=\"MMAP_SHM\"[^}]*\\} [0-9]")))
      << res->body;
  EXPECT_TRUE(
      std::regex_search(res->body, std::regex("\nray_object_store_available_memory\\{[^}]*\\} [1-9]")))
      << res->body;

  // Prometheus' own parser and linter: it must parse (exit 1 is a parse
  // error); its only complaint may be Ray's CamelCase label names (SessionName,
  // State, ...), kept for Ray's Grafana dashboards (exit 3).
  const std::string scraped = root_ + "/metrics.txt";
  std::ofstream(scraped) << res->body;
  pid_t promtool = fork();
  if (promtool == 0) {
    int in = open(scraped.c_str(), O_RDONLY);
    int err = open((root_ + "/promtool.err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(in, 0);
    dup2(err, 1);
    dup2(err, 2);
    execl("/usr/bin/promtool", "promtool", "check", "metrics", static_cast<char *>(nullptr));
    _exit(127);
  }
  int status = 0;
  ASSERT_EQ(waitpid(promtool, &status, 0), promtool);
  ASSERT_TRUE(WIFEXITED(status));
  const std::string lint = ReadFile(root_ + "/promtool.err");
  ASSERT_NE(WEXITSTATUS(status), 127)
      << "promtool is missing: scripts/install-deps.sh installs it (Debian's prometheus)";
  EXPECT_TRUE(WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 3) << lint;
  std::istringstream lines(lint);
  for (std::string line; std::getline(lines, line);)
    EXPECT_TRUE(lumen::testing::IsLintOfRaysOwnNames(line)) << line;

  // The scrape configuration in the repository, pointed at this cluster, is
  // one Prometheus accepts.
  std::string config = ReadFile(fs::path(LUMEN_SOURCE_DIR) / "dashboard" / "prometheus.yml");
  config = std::regex_replace(config, std::regex("credentials_file: \\S+"),
                              "credentials_file: " + (session / "token").string());
  config = std::regex_replace(config, std::regex("127\\.0\\.0\\.1:8265"), dashboard);
  ASSERT_NE(config.find(dashboard), std::string::npos) << config;
  std::ofstream(root_ + "/prometheus.yml") << config;
  Result check = RunProgram("/usr/bin/promtool", {"check", "config", root_ + "/prometheus.yml"});
  EXPECT_EQ(check.rc, 0) << check.out << check.err;

  std::ofstream(release).put('x');
  ASSERT_EQ(waitpid(driver, &status, 0), driver);
}

TEST_F(CliTest, ListAndGetShowTheClusterThroughTheDashboard) {
  const std::string address = StartHead("head", {"--dashboard-port=0"});
  const std::string release = root_ + "/release";
  pid_t driver = -1;
  ASSERT_NO_FATAL_FAILURE(StartActorDriver(address, "lister", release, &driver));

  Result nodes = Run({"list", "nodes"});
  ASSERT_EQ(nodes.rc, 0) << nodes.err;
  EXPECT_NE(nodes.out.find("======== List: "), std::string::npos) << nodes.out;
  EXPECT_NE(nodes.out.find("Total: 1"), std::string::npos) << nodes.out;
  EXPECT_TRUE(std::regex_search(nodes.out, std::regex("\n +NODE_ID +NODE_IP +IS_HEAD_NODE +STATE")))
      << nodes.out;
  EXPECT_TRUE(std::regex_search(nodes.out, std::regex("\n0 +[0-9a-f]+ +127\\.0\\.0\\.1 +true +ALIVE")))
      << nodes.out;

  Result actors = Run({"list", "actors", "--filter", "name=lister", "-f", "state=alive", "--format", "json",
                       "--address=" + address});
  ASSERT_EQ(actors.rc, 0) << actors.err;
  nlohmann::json rows = nlohmann::json::parse(actors.out);
  ASSERT_EQ(rows.size(), 1u) << actors.out;
  EXPECT_EQ(rows[0]["state"], "ALIVE");
  EXPECT_FALSE(rows[0]["class_name"].get<std::string>().empty());
  const std::string actor_id = rows[0]["actor_id"];

  Result get = Run({"get", "actors", actor_id});
  ASSERT_EQ(get.rc, 0) << get.err;
  EXPECT_NE(get.out.find("actor_id: " + actor_id), std::string::npos) << get.out;
  EXPECT_NE(get.out.find("name: lister"), std::string::npos) << get.out;
  EXPECT_NE(get.out.find("num_restarts: 0"), std::string::npos) << get.out;  // a detail field
  // Its state changes, oldest first, the live one with its worker's pid.
  Result got = Run({"get", "actors", actor_id, "--format", "json"});
  ASSERT_EQ(got.rc, 0) << got.err;
  const nlohmann::json actor = nlohmann::json::parse(got.out);
  std::vector<std::string> states;
  for (const auto &e : actor.at("events")) states.push_back(e.at("state"));
  EXPECT_EQ(states, (std::vector<std::string>{"DEPENDENCIES_UNREADY", "PENDING_CREATION", "ALIVE"}))
      << got.out;
  EXPECT_EQ(actor["events"][2]["pid"], actor["pid"]) << got.out;
  EXPECT_EQ(actor["events"][2]["node_id"], actor["node_id"]) << got.out;
  EXPECT_TRUE(actor["events"][2]["created_ms"].is_number_integer()) << got.out;
  EXPECT_EQ(actor["num_events_dropped"], 0) << got.out;
  Result missing = Run({"get", "actors", "00ff"});
  EXPECT_EQ(missing.rc, 1);
  EXPECT_EQ(missing.err, "lumen get: error: no actor_id 00ff\n");

  std::ofstream(release).put('x');
  int status = 0;
  ASSERT_EQ(waitpid(driver, &status, 0), driver);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  Result dead = Run({"list", "actors", "-f", "state!=ALIVE", "--format", "yaml"});
  ASSERT_EQ(dead.rc, 0) << dead.err;
  EXPECT_NE(dead.out.find("state: DEAD"), std::string::npos) << dead.out;  // its driver ended: so did it
  Result ended = Run({"get", "actors", actor_id, "--format", "json"});
  ASSERT_EQ(ended.rc, 0) << ended.err;
  const nlohmann::json ended_actor = nlohmann::json::parse(ended.out);
  const nlohmann::json &last = ended_actor.at("events").back();
  EXPECT_EQ(last["state"], "DEAD") << ended.out;
  EXPECT_TRUE(last["cause"].is_string()) << ended.out;
  EXPECT_EQ(last["cause"], ended_actor["death_cause"]) << ended.out;
}

TEST_F(CliTest, ListAndGetRejectBadInputInOneLine) {
  StartHead("head", {"--dashboard-port=0"});
  // The head keeps running here: only the exit code and the one line count.
  auto ExpectOneLineError = [](const Result &r, int rc, const std::string &text) {
    EXPECT_EQ(r.rc, rc) << r.err;
    EXPECT_EQ(Lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find(text), std::string::npos) << r.err;
  };
  ExpectOneLineError(Run({"list", "widgets"}), 2, "unknown resource 'widgets'");
  ExpectOneLineError(Run({"list", "actors", "-f", "colour=red"}), 2, "cannot filter by 'colour'");
  ExpectOneLineError(Run({"list", "actors", "-f", "colour"}), 2, "KEY=VALUE");
  ExpectOneLineError(Run({"list", "actors", "--limit=0"}), 2, "limit");
  ExpectOneLineError(Run({"list", "actors", "--format=xml"}), 2, "xml");
  ExpectOneLineError(Run({"get", "actors"}), 2, "id");
  ExpectOneLineError(Run({"list", "nodes", "--token=0123456789abcdef"}), 1, "the token is wrong");
}

TEST_F(CliTest, ListSaysSoWhenTheClusterHasNoDashboard) {
  StartHead("head", {"--include-dashboard=false"});
  Result r = Run({"list", "nodes"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(Lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("has no dashboard"), std::string::npos) << r.err;
}

// ---- bad input: one line, an exit code, nothing running

TEST_F(CliTest, BadFlagsAndValuesExitTwo) {
  ExpectOneLineError(Run({"start", "--head", "--bogus"}), 2, "--bogus");
  ExpectOneLineError(Run({"start", "--head", "--num-cpus=lots", "--temp-dir=" + root_ + "/h"}), 2,
                     "num-cpus");
  ExpectOneLineError(Run({"start", "--head", "--resources=[1]", "--temp-dir=" + root_ + "/h"}), 2,
                     "--resources");
  ExpectOneLineError(Run({"start", "--head", "--port=70000", "--temp-dir=" + root_ + "/h"}), 2, "port");
  ExpectOneLineError(Run({"start", "--head", "--address=127.0.0.1:1"}), 2, "excludes");
  ExpectOneLineError(Run({"start"}), 2, "--head");
  ExpectOneLineError(Run({"start", "--address=nowhere", "--token=x"}), 2, "HOST:PORT");
  ExpectOneLineError(Run({"stop", "--nope"}), 2, "--nope");
  ExpectOneLineError(Run({"status", "--wat"}), 2, "--wat");
  ExpectOneLineError(Run({"launch"}), 2, "launch");
  EXPECT_FALSE(fs::exists(root_ + "/h"));
}

TEST_F(CliTest, PortInUseFails) {
  int fd = -1;
  const int port = Listen(&fd);
  Result r = Run({"start", "--head", "--port=" + std::to_string(port), "--temp-dir=" + root_ + "/head"});
  ExpectOneLineError(r, 1, "Address already in use");
  close(fd);
  EXPECT_NE(Run({"status"}).rc, 0);  // nothing recorded as started
}

TEST_F(CliTest, NothingBehindTheAddressFails) {
  int fd = -1;
  const int port = Listen(&fd);
  close(fd);  // the port is free now: nothing answers there
  Result r = Run({"start", "--address=127.0.0.1:" + std::to_string(port), "--token=abc",
                  "--temp-dir=" + root_ + "/node"});
  ExpectOneLineError(r, 1, "cannot reach a Lumen control service");
  Result s = Run({"status", "--address=127.0.0.1:" + std::to_string(port), "--token=abc"});
  ExpectOneLineError(s, 1, "cannot reach a Lumen control service");
}

TEST_F(CliTest, NonLumenServerFails) {
  int fd = -1;
  const int port = Listen(&fd);
  std::atomic<bool> done{false};
  std::thread server([&] {  // answers every connection with garbage
    while (!done) {
      int c = accept(fd, nullptr, nullptr);
      if (c < 0) break;
      const char garbage[] = "HTTP/1.0 200 OK\r\n\r\nthis is not a Lumen service, nor are these bytes";
      for (int i = 0; i < 8; ++i) (void)!send(c, garbage, sizeof(garbage), MSG_NOSIGNAL);  // it may hang up
      close(c);
    }
  });
  Result r = Run({"start", "--address=127.0.0.1:" + std::to_string(port), "--token=abc",
                  "--temp-dir=" + root_ + "/node"});
  ExpectOneLineError(r, 1, "is not a Lumen control service");
  done = true;
  shutdown(fd, SHUT_RDWR);
  server.join();
  close(fd);
}

TEST_F(CliTest, WrongTokenFails) {
  const std::string address = StartHead();
  Result r =
      Run({"start", "--address=" + address, "--token=0123456789abcdef", "--temp-dir=" + root_ + "/node"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(Lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("the token is wrong"), std::string::npos) << r.err;
  EXPECT_TRUE(ProcessesNaming(root_ + "/node").empty());
  EXPECT_FALSE(fs::exists(root_ + "/node"));
  Result env = Run({"start", "--address=" + address, "--temp-dir=" + root_ + "/node"},
                   {"LUMEN_TOKEN=0123456789abcdef"});
  EXPECT_NE(env.err.find("the token is wrong"), std::string::npos) << env.err;
  // The head itself is untouched.
  EXPECT_NE(Run({"status"}).out.find("Active:\n 1 node_"), std::string::npos);
}

}  // namespace
