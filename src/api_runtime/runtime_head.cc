#include "api_runtime/runtime_head.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "base/id.h"

namespace lumen::api {
namespace fs = std::filesystem;

std::string HelperProgramDir() {
  if (const char *dir = std::getenv("LUMEN_BIN_DIR")) return dir;
  Dl_info info;
  if (dladdr(reinterpret_cast<void *>(&HelperProgramDir), &info) && info.dli_fname) {
    fs::path lib = fs::canonical(info.dli_fname);
    return (lib.parent_path().parent_path() / "bin").string();
  }
  return "/usr/local/bin";
}

namespace {

pid_t Spawn(const std::vector<std::string> &args, const std::string &token, const std::string &log_path,
            bool die_with_parent) {
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid != 0) return pid;
  if (die_with_parent) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(1);
  }
  setsid();  // keep terminal signals (Ctrl-C) for the driver to handle
  setenv("LUMEN_CLUSTER_TOKEN", token.c_str(), 1);
  int out = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (out >= 0) {
    dup2(out, STDOUT_FILENO);
    dup2(out, STDERR_FILENO);
    close(out);
  }
  int devnull = open("/dev/null", O_RDONLY);
  if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    // Close everything else we inherited (the driver's sockets, the fork server's pipe).
#ifdef SYS_close_range
  if (syscall(SYS_close_range, 3u, ~0u, 0u) != 0)  // Linux 5.9+
#endif
    for (int fd = 3; fd < 1024; ++fd) close(fd);
  std::vector<char *> argv;
  for (auto &a : args) argv.push_back(const_cast<char *>(a.c_str()));
  argv.push_back(nullptr);
  execv(argv[0], argv.data());
  _exit(127);
}

long long DefaultStoreBytes() {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return static_cast<long long>(pages) * page * 3 / 10;  // Ray's default: 30% of memory
}

// Waits for `path` to appear; false at the deadline or once any of `pids`
// has exited (it will not write it then).
bool WaitForFile(const std::string &path, std::initializer_list<pid_t> pids,
                 std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (fs::exists(path)) return true;
    for (pid_t pid : pids)
      if (waitpid(pid, nullptr, WNOHANG) == pid) return false;
    // Short polls: these files appear within milliseconds, and Init waits
    // for two of them (2 ms polls made Init ~10 ms slower, measured).
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return false;
}

}  // namespace

StatusOr<HeadProcesses> StartHead(const HeadOptions &options, bool die_with_parent) {
  HeadProcesses head;
  const char *tmp = std::getenv("LUMEN_TMPDIR");
  fs::path root = tmp ? tmp : "/tmp/lumen";
  char stamp[64];
  std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof(stamp), "%Y-%m-%d_%H-%M-%S", std::localtime(&now));
  head.session_dir =
      (root / ("session_" + std::string(stamp) + "_" + std::to_string(getpid()) + "_" + RandomHex(3)))
          .string();
  std::error_code ec;
  fs::create_directories(head.session_dir + "/logs", ec);
  fs::create_directories(head.session_dir + "/sockets", ec);
  if (ec) return Status::IoError("cannot create session folder " + head.session_dir + ": " + ec.message());
  chmod(head.session_dir.c_str(), 0700);
  head.token = RandomHex(32);
  {
    std::ofstream tok(head.session_dir + "/token");
    tok << head.token;
  }
  chmod((head.session_dir + "/token").c_str(), 0600);
  // A stable pointer to the newest session for tools (`lumen status`).
  fs::remove(root / "session_latest", ec);
  fs::create_directory_symlink(head.session_dir, root / "session_latest", ec);

  std::string bin = HelperProgramDir();
  head.control_unix = head.session_dir + "/sockets/control";
  head.node_socket = head.session_dir + "/sockets/node";
  std::string port_file = head.session_dir + "/control.port";
  head.control_pid =
      Spawn({bin + "/lumen_control", "--session-dir=" + head.session_dir, "--unix=" + head.control_unix,
             "--host=" + options.host, "--port=" + std::to_string(options.port), "--port-file=" + port_file},
            head.token, head.session_dir + "/logs/control.out", die_with_parent);

  // The node starts alongside the control service and keeps trying to reach
  // its Unix socket (--control-wait-ms): starting a program here takes ~4 ms,
  // so starting them one after the other cost Init that much more.
  nlohmann::json res = nlohmann::json::object();
  double cpus =
      options.num_cpus >= 0 ? options.num_cpus : static_cast<double>(std::thread::hardware_concurrency());
  if (cpus > 0) res["CPU"] = cpus;

  for (auto &[k, v] : options.resources) res[k] = v;
  long long store = options.object_store_memory > 0 ? options.object_store_memory : DefaultStoreBytes();
  std::string ready_file = head.session_dir + "/node.ready";
  head.node_pid = Spawn(
      {bin + "/lumen_node", "--session-dir=" + head.session_dir, "--control=unix:" + head.control_unix,
       "--unix=" + head.node_socket, "--resources=" + res.dump(),
       "--object-store-memory=" + std::to_string(store),
       "--num-gpus=" + std::to_string(static_cast<int>(options.num_gpus)),
       "--worker-program=" + bin + "/lumen_worker", "--ready-file=" + ready_file, "--control-wait-ms=10000"},
      head.token, head.session_dir + "/logs/node.out", die_with_parent);
  if (!WaitForFile(port_file, {head.control_pid}, std::chrono::seconds(10))) {
    StopHead(head);
    return Status::IoError("the control service did not start (see " + head.session_dir +
                           "/logs/control.out; programs looked up in " + bin + ")");
  }
  {
    std::ifstream pf(port_file);
    std::string port;
    pf >> port;
    head.control_tcp = options.host + ":" + port;
  }
  if (!WaitForFile(ready_file, {head.node_pid, head.control_pid}, std::chrono::seconds(20))) {
    StopHead(head);
    return Status::IoError("the node service did not start (see " + head.session_dir + "/logs/node.out)");
  }
  return head;
}

void StopHead(HeadProcesses &head) {
  auto stop = [](int &pid) {
    if (pid <= 0) return;
    kill(pid, SIGTERM);
    for (int i = 0; i < 300; ++i) {  // up to 3 s of grace
      if (waitpid(pid, nullptr, WNOHANG) == pid) {
        pid = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    pid = -1;
  };
  stop(head.node_pid);  // first: it stops the workers
  stop(head.control_pid);
  std::error_code ec;
  fs::remove_all(head.session_dir + "/sockets", ec);
}

}  // namespace lumen::api
