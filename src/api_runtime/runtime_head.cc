#include "api_runtime/runtime_head.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <functional>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/child_process.h"
#include "base/id.h"
#include "base/settings.h"
#include "base/timeouts.h"
#include "control/control_process.h"
#include "scheduler/node_process.h"

namespace lumen::api {
namespace fs = std::filesystem;

std::string HelperProgramDir() {
  if (const std::string &dir = CurrentSettings().bin_dir; !dir.empty()) return dir;
  Dl_info info;
  if (dladdr(reinterpret_cast<void *>(&HelperProgramDir), &info) && info.dli_fname) {
    fs::path lib = fs::canonical(info.dli_fname);
    return (lib.parent_path().parent_path() / "bin").string();
  }
  return "/usr/local/bin";
}

namespace {

// Closes the descriptors in [from, to] (close_range where the kernel has it).
void CloseRange(unsigned from, unsigned to) {
  if (from > to) return;
#ifdef SYS_close_range
  if (syscall(SYS_close_range, from, to, 0u) == 0) return;  // Linux 5.9+
#endif
  for (unsigned fd = from; fd <= to && fd < 1024; ++fd) close(static_cast<int>(fd));
}

// In a freshly forked child: what every service process starts with. All
// inherited descriptors but `keep_fd` are closed.
void PrepareServiceChild(pid_t parent, const std::string &log_path, bool die_with_parent, int keep_fd = -1) {
  if (die_with_parent) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(1);
  }
  setsid();  // keep terminal signals (Ctrl-C) for the driver to handle
  int out = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (out >= 0) {
    dup2(out, STDOUT_FILENO);
    dup2(out, STDERR_FILENO);
    close(out);
  }
  int devnull = open("/dev/null", O_RDONLY);
  if (devnull >= 0) dup2(devnull, STDIN_FILENO);
  // Close everything else we inherited (the driver's sockets, the fork server's pipe).
  if (keep_fd >= 3) {
    CloseRange(3, static_cast<unsigned>(keep_fd) - 1);
    CloseRange(static_cast<unsigned>(keep_fd) + 1, ~0u);
  } else {
    CloseRange(3, ~0u);
  }
}

// Starts a service program (lumen_control, lumen_node).
pid_t Spawn(const std::vector<std::string> &args, const std::string &token, const std::string &log_path,
            bool die_with_parent) {
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid != 0) return pid;
  PrepareServiceChild(parent, log_path, die_with_parent);
  setenv(kClusterTokenVariable, token.c_str(), 1);
  std::vector<char *> argv;
  for (auto &a : args) argv.push_back(const_cast<char *>(a.c_str()));
  argv.push_back(nullptr);
  execv(argv[0], argv.data());
  _exit(127);
}

// Runs a service in a fork of this process instead: the service code is
// already loaded here (libray_api.so), and an exec costs ~2 ms of loading and
// symbol binding before the service can start, which made up most of Init.
// Called before the runtime starts a thread, like the fork server; the child
// is made to look like a new program (default signal handlers, nothing
// blocked, its own name) and never returns.
pid_t ForkService(const char *name, const std::string &log_path, bool die_with_parent,
                  const std::function<int()> &body, int keep_fd = -1) {
  std::fflush(nullptr);  // or the child would write the driver's buffered output again
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid != 0) return pid;
  PrepareServiceChild(parent, log_path, die_with_parent, keep_fd);
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  prctl(PR_SET_NAME, name);
  int rc = body();
  std::fflush(nullptr);
  _exit(rc);  // never the driver's atexit handlers or static destructors
}

// LUMEN_EXEC_SERVICES=1: start the service programs even for an embedded
// cluster (as `lumen start` does), e.g. to run a service under a debugger.
bool ExecServices() { return CurrentSettings().exec_services; }

long long DefaultStoreBytes() {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return static_cast<long long>(pages) * page * 3 / 10;  // Ray's default: 30% of memory
}

// ": <the last line of `path`>", or nothing if it has none: why a service
// that failed to start said it did.
std::string LastLine(const std::string &path) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return last.empty() ? "" : ": " + last;
}

// Waits for `path` to appear; false at the deadline or once any of `pids`
// has exited (it will not write it then; it is reaped and its pid set to -1),
// or closed `wake_fd`. A forked service writes to `wake_fd` (a pipe) once the
// file is there, which ends the wait at once;
// without one, short polls (these files appear within milliseconds; 2 ms
// polls made Init ~10 ms slower, measured).
bool WaitForFile(const std::string &path, std::initializer_list<int *> pids,
                 std::chrono::milliseconds timeout, int wake_fd = -1) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (fs::exists(path)) return true;
    for (int *pid : pids) {
      if (*pid > 0 && waitpid(*pid, nullptr, WNOHANG) == *pid) {
        *pid = -1;
        return false;
      }
    }
    if (wake_fd >= 0) {
      pollfd p{wake_fd, POLLIN, 0};
      if (poll(&p, 1, 1) > 0) {
        char byte;
        if ((p.revents & POLLIN) && read(wake_fd, &byte, 1) == 1) continue;
        // The writer closed the pipe without a byte: it exited (and may have
        // been reaped already). The file will not come now.
        if (p.revents & (POLLHUP | POLLERR)) return fs::exists(path);
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return false;
}

fs::path LatestRoot() { return CurrentSettings().LatestRoot(); }

// A folder of this user's, mode 0700, on a tmpfs; empty if there is none.
fs::path TmpfsSessionRoot() {
  struct statfs sfs;
  if (statfs("/dev/shm", &sfs) != 0 || sfs.f_type != TMPFS_MAGIC) return {};
  fs::path root = "/dev/shm/lumen-" + std::to_string(getuid());
  if (mkdir(root.c_str(), 0700) != 0 && errno != EEXIST) return {};
  struct stat st;
  // Someone else's folder (or a link) under a world-writable parent: not ours to use.
  if (lstat(root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid()) return {};
  return root;
}

// Where the session folder goes: $LUMEN_TMPDIR when set. Otherwise a
// cluster that lives only as long as its driver keeps its session (sockets,
// token, logs) on a tmpfs when there is one: on a disk-backed /tmp each file
// or socket created costs ~0.2 ms here (ext4, measured), and a start creates
// about twenty on its way to the first result. Clusters started to outlive
// their driver keep their logs on /tmp.
fs::path SessionRoot(bool embedded) {
  if (!CurrentSettings().tmpdir.empty() || !embedded) return LatestRoot();
  fs::path tmpfs = TmpfsSessionRoot();
  return tmpfs.empty() ? LatestRoot() : tmpfs;
}

// Removes old sessions under `root` whose driver (the pid in the folder's
// name) is gone, keeping the newest `keep`: sessions on a tmpfs hold memory.
void PruneSessions(const fs::path &root, const std::string &current, size_t keep) {
  std::error_code ec;
  std::vector<fs::path> sessions;
  for (auto it = fs::directory_iterator(root, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.rfind("session_2", 0) == 0 && it->path() != current) sessions.push_back(it->path());
  }
  if (sessions.size() <= keep) return;
  std::sort(sessions.begin(), sessions.end());  // names start with the start time
  sessions.resize(sessions.size() - keep);
  for (auto &dir : sessions) {
    // session_<date>_<time>_<pid>_<hex>
    std::string name = dir.filename().string();
    size_t end = name.rfind('_');
    size_t begin = end == std::string::npos ? end : name.rfind('_', end - 1);
    if (begin == std::string::npos) continue;
    pid_t pid = static_cast<pid_t>(std::atol(name.substr(begin + 1, end - begin - 1).c_str()));
    if (pid > 0 && (kill(pid, 0) == 0 || errno == EPERM)) continue;  // its driver still runs
    fs::remove_all(dir, ec);
  }
}

// The node's own last words, for a node that exited or never served.
Status NodeStartError(const HeadProcesses &head) {
  return Status::IoError("the node service did not start" + LastLine(head.session_dir + "/logs/node.out") +
                         " (see " + head.session_dir + "/logs/node.out)");
}

}  // namespace

StatusOr<HeadProcesses> StartHead(const HeadOptions &options, bool die_with_parent,
                                  const std::function<void()> &while_starting) {
  HeadProcesses head;
  fs::path root = SessionRoot(die_with_parent);
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
  std::string bin = HelperProgramDir();
  head.control_unix = head.session_dir + "/sockets/control";
  head.node_socket = head.session_dir + "/sockets/node";
  std::string port_file = head.session_dir + "/control.port";
  const bool exec = !die_with_parent || ExecServices();
  if (exec) {
    head.control_pid = Spawn(
        {bin + "/lumen_control", "--session-dir=" + head.session_dir, "--unix=" + head.control_unix,
         "--host=" + options.host, "--port=" + std::to_string(options.port), "--port-file=" + port_file},
        head.token, head.session_dir + "/logs/control.out", die_with_parent);
  } else {
    control::ControlProcessOptions copts;
    copts.session_dir = head.session_dir;
    copts.unix_path = head.control_unix;
    copts.tcp_host = options.host;
    copts.tcp_port = options.port;
    copts.port_file = port_file;
    copts.token = head.token;
    head.control_pid = ForkService("lumen_control", head.session_dir + "/logs/control.out", die_with_parent,
                                   [&] { return control::RunControlProcess(copts); });
  }

  // The node starts alongside the control service and keeps trying to reach
  // its Unix socket (--control-wait-ms): starting them one after the other
  // cost Init the whole start of the control service.
  scheduler::NodeProcessOptions nopts;
  nopts.session_dir = head.session_dir;
  nopts.control_address = "unix:" + head.control_unix;
  nopts.control_wait_ms = static_cast<int>(kNodeControlWait.count());
  nopts.unix_path = head.node_socket;
  double cpus =
      options.num_cpus >= 0 ? options.num_cpus : static_cast<double>(std::thread::hardware_concurrency());
  if (cpus > 0) nopts.resources["CPU"] = cpus;
  for (auto &[k, v] : options.resources) nopts.resources[k] = v;
  nopts.store_bytes = options.object_store_memory > 0 ? options.object_store_memory : DefaultStoreBytes();
  nopts.num_gpus = static_cast<int>(options.num_gpus);
  nopts.worker_program = bin + "/lumen_worker";
  std::string ready_file = head.session_dir + "/node.ready";
  nopts.ready_file = ready_file;
  nopts.token = head.token;
  int wake_fd = -1;
  if (exec) {
    nlohmann::json res(nopts.resources);
    head.node_pid =
        Spawn({bin + "/lumen_node", "--session-dir=" + nopts.session_dir,
               "--control=" + nopts.control_address, "--unix=" + nopts.unix_path, "--resources=" + res.dump(),
               "--object-store-memory=" + std::to_string(nopts.store_bytes),
               "--num-gpus=" + std::to_string(nopts.num_gpus), "--worker-program=" + nopts.worker_program,
               "--ready-file=" + ready_file, "--control-wait-ms=" + std::to_string(nopts.control_wait_ms)},
              head.token, head.session_dir + "/logs/node.out", die_with_parent);
  } else {
    // The node also says "ready" on a pipe: the wait below then ends at once.
    int ready_pipe[2];
    if (pipe2(ready_pipe, O_CLOEXEC) == 0) {
      nopts.ready_fd = ready_pipe[1];
      wake_fd = ready_pipe[0];
    }
    head.node_pid = ForkService(
        "lumen_node", head.session_dir + "/logs/node.out", die_with_parent,
        [&] { return scheduler::RunNodeProcess(nopts); }, nopts.ready_fd);
    if (nopts.ready_fd >= 0) close(nopts.ready_fd);
  }
  head.node_ready_fd = wake_fd;
  head.node_ready_file = ready_file;
  if (while_starting) while_starting();
  // A stable pointer to the newest session for tools (`lumen status`), and
  // for drivers that join this cluster by address (its token).
  std::error_code link_ec;
  fs::path latest_root = LatestRoot();
  fs::create_directories(latest_root, link_ec);
  fs::remove(latest_root / "session_latest", link_ec);
  fs::create_directory_symlink(head.session_dir, latest_root / "session_latest", link_ec);
  if (root != latest_root) PruneSessions(root, head.session_dir, /*keep=*/20);

  if (!WaitForFile(port_file, {&head.control_pid}, kControlStartTimeout)) {
    StopHead(head);
    return Status::IoError("the control service did not start" +
                           LastLine(head.session_dir + "/logs/control.out") + " (see " + head.session_dir +
                           "/logs/control.out; programs looked up in " + bin + ")");
  }
  {
    std::ifstream pf(port_file);
    std::string port;
    pf >> port;
    head.control_tcp = options.host + ":" + port;
  }
  // The node listens before it registers with the control service: the
  // caller can connect and register meanwhile, then calls AwaitNodeReady.
  if (!WaitForFile(head.node_socket, {&head.node_pid, &head.control_pid}, kNodeStartTimeout)) {
    Status st = NodeStartError(head);
    StopHead(head);
    return st;
  }
  return head;
}

Status AwaitNodeReady(HeadProcesses &head) {
  bool ready = WaitForFile(head.node_ready_file, {&head.node_pid, &head.control_pid}, kNodeStartTimeout,
                           head.node_ready_fd);
  if (head.node_ready_fd >= 0) close(head.node_ready_fd);
  head.node_ready_fd = -1;
  return ready ? Status::OK() : NodeStartError(head);
}

void StopHead(HeadProcesses &head) {
  auto stop = [](int &pid) {
    if (pid <= 0) return;
    kill(pid, SIGTERM);
    if (!ReapWithin(pid, kServiceStopGrace)) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    pid = -1;
  };
  if (head.node_ready_fd >= 0) close(head.node_ready_fd);
  head.node_ready_fd = -1;
  stop(head.node_pid);  // first: it stops the workers
  stop(head.control_pid);
  std::error_code ec;
  fs::remove_all(head.session_dir + "/sockets", ec);
}

}  // namespace lumen::api
