#include "api_runtime/runtime_head.h"

#include "api_runtime/runtime_daemons.h"

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

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/child_process.h"
#include "base/logging.h"
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

// ---- session roots ----
//
// Every session folder lives in a root folder of this user's. A root must be
// a real directory (no symlink), owned by this user, that nobody else can
// write to: whoever can rename entries in it can swap a session folder for
// their own and plant sockets a victim's processes then talk to. Roots Lumen
// names itself are made private (0700). A root someone else made first (they
// are at guessable paths) is skipped for the next candidate, never used.

uid_t Uid() { return geteuid(); }

// Checks (and for Lumen's own roots, creates and makes private) `root`.
// `ours`: Lumen chose the name, so the folder is ours to create and chmod;
// otherwise (LUMEN_TMPDIR) it must already be a folder nobody else can write.
Status VerifyRoot(const fs::path &root, bool ours) {
  if (ours && mkdir(root.c_str(), 0700) != 0 && errno != EEXIST)
    return Status::IoError("cannot create " + root.string() + ": " + std::strerror(errno));
  int fd = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ELOOP || err == ENOTDIR)
      return Status::IoError(root.string() + " is a symbolic link or not a folder");
    return Status::IoError("cannot open " + root.string() + ": " + std::strerror(err));
  }
  struct stat st;
  Status result;
  if (fstat(fd, &st) != 0) {
    result = Status::IoError("cannot stat " + root.string() + ": " + std::strerror(errno));
  } else if (st.st_uid != Uid()) {
    result = Status::IoError(root.string() + " belongs to uid " + std::to_string(st.st_uid) +
                             ", not to uid " + std::to_string(Uid()));
  } else if (ours && (st.st_mode & 077) != 0 && fchmod(fd, 0700) != 0) {
    result = Status::IoError("cannot make " + root.string() + " private: " + std::strerror(errno));
  } else if (!ours && (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    result = Status::IoError(root.string() + " can be written by other users (mode " +
                             fmt::format("{:o}", st.st_mode & 07777) + ")");
  }
  close(fd);
  return result;
}

bool OnTmpfs(const char *path) {
  struct statfs sfs;
  return statfs(path, &sfs) == 0 && sfs.f_type == TMPFS_MAGIC;
}

// The roots this user's sessions may live in, in order of preference.
// $LUMEN_TMPDIR alone when set. Otherwise a cluster that lives only as long
// as its driver keeps its session (sockets, token, logs) on a tmpfs when
// there is one: on a disk-backed /tmp each file or socket created costs
// ~0.2 ms here (ext4, measured), and a start creates about twenty on its way
// to the first result. Clusters started to outlive their driver keep their
// logs on /tmp. Last come private folders under /tmp made by mkdtemp, whose
// names nobody can guess and so nobody can take first.
std::vector<fs::path> CandidateRoots(bool embedded) {
  if (const std::string &tmp = CurrentSettings().tmpdir; !tmp.empty()) return {tmp};
  const std::string uid = std::to_string(Uid());
  std::vector<fs::path> roots;
  if (embedded && OnTmpfs("/dev/shm")) roots.push_back("/dev/shm/lumen-" + uid);
  if (const char *xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg) roots.push_back(fs::path(xdg) / "lumen");
  roots.push_back("/tmp/lumen-" + uid);
  if (!embedded && OnTmpfs("/dev/shm")) roots.push_back("/dev/shm/lumen-" + uid);
  return roots;
}

// Folders mkdtemp made for this user when every candidate root was taken.
std::vector<fs::path> MadeRoots() {
  const std::string prefix = "lumen-" + std::to_string(Uid()) + "-";
  std::error_code ec;
  std::vector<fs::path> made;
  for (auto it = fs::directory_iterator("/tmp", ec); !ec && it != fs::directory_iterator(); it.increment(ec))
    if (it->path().filename().string().rfind(prefix, 0) == 0) made.push_back(it->path());
  std::sort(made.begin(), made.end());
  return made;
}

// A root the user named (LUMEN_TMPDIR, `lumen start --temp-dir`): made
// private if missing; an existing one is checked, never changed.
StatusOr<fs::path> NamedRoot(const std::string &dir, const std::string &what) {
  std::error_code ec;
  fs::create_directories(fs::path(dir).parent_path(), ec);
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return Status::IoError(what + ": cannot create " + dir + ": " + std::strerror(errno));
  Status st = VerifyRoot(dir, /*ours=*/false);
  if (!st.ok())
    return Status::IoError(what + ": " + st.message() +
                           "; name a folder of your own that only you can write to");
  return fs::absolute(dir);
}

// The root a new session goes in (see CandidateRoots), verified; or why
// there is none.
StatusOr<fs::path> SessionRoot(bool embedded, const std::string &temp_dir = "") {
  if (!temp_dir.empty()) return NamedRoot(temp_dir, "--temp-dir");
  if (const std::string &tmp = CurrentSettings().tmpdir; !tmp.empty()) return NamedRoot(tmp, "LUMEN_TMPDIR");
  std::string refused;
  for (const fs::path &root : CandidateRoots(embedded)) {
    Status st = VerifyRoot(root, /*ours=*/true);
    if (st.ok()) return root;
    LUMEN_LOG_WARN("not keeping Lumen sessions in {}: {}", root.string(), st.message());
    refused += "; " + st.message();
  }
  // Reuse one made before (verified like the others), else make one.
  for (const fs::path &root : MadeRoots())
    if (VerifyRoot(root, /*ours=*/true).ok()) return root;
  std::string made = "/tmp/lumen-" + std::to_string(Uid()) + "-XXXXXX";
  if (mkdtemp(made.data()) != nullptr && VerifyRoot(made, /*ours=*/true).ok()) return fs::path(made);
  return Status::IoError("no private folder for the session" + refused +
                         ". Remove those folders, or set LUMEN_TMPDIR to a folder of your own");
}

// session_<date>_<time>_<pid>_<hex>: the pid of the driver that made it.
pid_t SessionDriverPid(const std::string &name) {
  size_t end = name.rfind('_');
  size_t begin = end == std::string::npos || end == 0 ? std::string::npos : name.rfind('_', end - 1);
  if (begin == std::string::npos) return -1;
  return static_cast<pid_t>(std::atol(name.substr(begin + 1, end - begin - 1).c_str()));
}

// A session is in use while the driver that made it runs, or (a session of
// `lumen start`, whose starter exits at once) while a daemon it records runs.
bool SessionInUse(const fs::path &session) {
  pid_t pid = SessionDriverPid(session.filename().string());
  if (pid > 0 && (kill(pid, 0) == 0 || errno == EPERM)) return true;
  return RecordedDaemonsRunning(session.string());
}

// Sessions under `root`, newest first.
std::vector<fs::path> SessionsIn(const fs::path &root) {
  std::error_code ec;
  std::vector<fs::path> sessions;
  for (auto it = fs::directory_iterator(root, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    if (it->path().filename().string().rfind("session_2", 0) == 0 && !it->is_symlink(ec))
      sessions.push_back(it->path());
  }
  std::sort(sessions.rbegin(), sessions.rend());  // names start with the start time
  return sessions;
}

// A driver removes its session at Shutdown; what is left belongs to drivers
// that died first (or whose Init failed, whose logs its error points at).
// Those are removed, keeping the newest `keep` for their logs.
void PruneSessions(const fs::path &root, const std::string &current, size_t keep) {
  size_t kept = 0;
  for (const fs::path &dir : SessionsIn(root)) {
    if (dir == current || SessionInUse(dir)) continue;
    if (kept < keep) {
      ++kept;
      continue;
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
}

// Points root/session_latest at `session`, replacing the link atomically.
void LinkLatest(const fs::path &root, const std::string &session) {
  const fs::path link = root / "session_latest";
  const fs::path staging = root / ("session_latest." + std::to_string(getpid()));
  std::error_code ec;
  fs::remove(staging, ec);
  fs::create_directory_symlink(session, staging, ec);
  if (!ec) fs::rename(staging, link, ec);
  if (ec) fs::remove(staging, ec);
}

// The first word of a file in a session folder ("" if unreadable).
std::string ReadSessionFile(const fs::path &path) {
  std::ifstream in(path);
  std::string word;
  in >> word;
  return word;
}

// The node's own last words, for a node that exited or never served.
Status NodeStartError(const HeadProcesses &head) {
  return Status::IoError("the node service did not start" + LastLine(head.session_dir + "/logs/node.out") +
                         " (see " + head.session_dir + "/logs/node.out)");
}

}  // namespace

namespace {

// Makes `head`'s private session folder under `root` (with logs/ and
// sockets/) and writes head.token to its token file (0600).
Status CreateSession(const fs::path &root, HeadProcesses &head) {
  char stamp[64];
  std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof(stamp), "%Y-%m-%d_%H-%M-%S", std::localtime(&now));
  head.session_dir =
      (root / ("session_" + std::string(stamp) + "_" + std::to_string(getpid()) + "_" + RandomHex(3)))
          .string();
  // Private from the start; a name that exists already is not ours to use.
  for (const std::string &dir :
       {head.session_dir, head.session_dir + "/logs", head.session_dir + "/sockets"}) {
    if (mkdir(dir.c_str(), 0700) != 0)
      return Status::IoError("cannot create session folder " + dir + ": " + std::strerror(errno));
  }
  const std::string path = head.session_dir + "/token";
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 || write(fd, head.token.data(), head.token.size()) != static_cast<ssize_t>(head.token.size())) {
    Status st = Status::IoError("cannot write " + path + ": " + std::strerror(errno));
    if (fd >= 0) close(fd);
    return st;
  }
  close(fd);
  head.node_socket = head.session_dir + "/sockets/node";
  return Status::OK();
}

// Starts the node service of `head`'s session, registering with the control
// service at `control_address`: the lumen_node program with `exec`, else a
// fork of this process (which then must have no threads yet).
void LaunchNode(const HeadOptions &options, const std::string &control_address, bool exec,
                bool die_with_parent, bool in_cluster, HeadProcesses &head) {
  const std::string bin = HelperProgramDir();
  // The node starts alongside the control service and keeps trying to reach
  // it (--control-wait-ms): starting them one after the other cost Init the
  // whole start of the control service.
  scheduler::NodeProcessOptions nopts;
  nopts.session_dir = head.session_dir;
  nopts.control_address = control_address;
  nopts.control_wait_ms = static_cast<int>(kNodeControlWait.count());
  nopts.unix_path = head.node_socket;
  double cpus =
      options.num_cpus >= 0 ? options.num_cpus : static_cast<double>(std::thread::hardware_concurrency());
  if (cpus > 0) nopts.resources["CPU"] = cpus;
  for (auto &[k, v] : options.resources) nopts.resources[k] = v;
  nopts.store_bytes = options.object_store_memory > 0 ? options.object_store_memory : DefaultStoreBytes();
  nopts.num_gpus = static_cast<int>(options.num_gpus);
  nopts.worker_program = bin + "/lumen_worker";
  head.node_ready_file = head.session_dir + "/node.ready";
  nopts.ready_file = head.node_ready_file;
  nopts.token = head.token;
  nopts.node_ip = options.host;
  // ray::Init's embedded head is one node: its processes keep to Unix
  // sockets. `lumen start`'s nodes, and a driver's node joining a cluster,
  // are part of a cluster others reach over TCP.
  nopts.worker_tcp = in_cluster;
  const std::string log = head.session_dir + "/logs/node.out";
  if (exec) {
    nlohmann::json res(nopts.resources);
    std::vector<std::string> argv = {bin + "/lumen_node",
                                     "--session-dir=" + nopts.session_dir,
                                     "--control=" + nopts.control_address,
                                     "--unix=" + nopts.unix_path,
                                     "--resources=" + res.dump(),
                                     "--object-store-memory=" + std::to_string(nopts.store_bytes),
                                     "--num-gpus=" + std::to_string(nopts.num_gpus),
                                     "--worker-program=" + nopts.worker_program,
                                     "--ready-file=" + nopts.ready_file,
                                     "--control-wait-ms=" + std::to_string(nopts.control_wait_ms),
                                     "--node-ip=" + nopts.node_ip};
    if (nopts.worker_tcp) argv.push_back("--worker-tcp");
    if (in_cluster && die_with_parent) argv.push_back("--for-driver");  // a driver's own node (StartNode)
    head.node_pid = Spawn(argv, head.token, log, die_with_parent);
    return;
  }
  // The node also says "ready" on a pipe: waiting for it then ends at once.
  int ready_pipe[2];
  if (pipe2(ready_pipe, O_CLOEXEC) == 0) {
    nopts.ready_fd = ready_pipe[1];
    head.node_ready_fd = ready_pipe[0];
  }
  head.node_pid = ForkService(
      "lumen_node", log, die_with_parent, [&] { return scheduler::RunNodeProcess(nopts); }, nopts.ready_fd);
  if (nopts.ready_fd >= 0) close(nopts.ready_fd);
}

}  // namespace

StatusOr<std::string> SessionRootFor(bool embedded, const std::string &temp_dir) {
  auto root = SessionRoot(embedded, temp_dir);
  if (!root.ok()) return root.status();
  return root->string();
}

StatusOr<HeadProcesses> StartHead(const HeadOptions &options, bool die_with_parent,
                                  const std::function<void()> &while_starting) {
  HeadProcesses head;
  auto root_or = SessionRoot(die_with_parent, options.temp_dir);
  if (!root_or.ok()) return root_or.status();
  const fs::path root = *root_or;
  head.token = RandomHex(32);
  LUMEN_RETURN_IF_ERROR(CreateSession(root, head));
  std::string bin = HelperProgramDir();
  head.control_unix = head.session_dir + "/sockets/control";
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
  LaunchNode(options, "unix:" + head.control_unix, exec, die_with_parent, /*in_cluster=*/!die_with_parent,
             head);
  if (while_starting) while_starting();
  // A stable pointer to the newest session, for tools (`lumen status`).
  // Drivers joining by address find their cluster's session by its port.
  LinkLatest(root, head.session_dir);
  PruneSessions(root, head.session_dir, /*keep=*/5);

  if (!WaitForFile(port_file, {&head.control_pid}, kControlStartTimeout)) {
    StopHead(head, /*keep_logs=*/true);
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
    StopHead(head, /*keep_logs=*/true);
    return st;
  }
  return head;
}

StatusOr<HeadProcesses> StartNode(const HeadOptions &options, const std::string &control_address,
                                  const std::string &token, bool die_with_parent) {
  HeadProcesses node;
  auto root = SessionRoot(/*embedded=*/die_with_parent, options.temp_dir);
  if (!root.ok()) return root.status();
  node.token = token;
  LUMEN_RETURN_IF_ERROR(CreateSession(*root, node));
  LaunchNode(options, control_address, /*exec=*/true, die_with_parent, /*in_cluster=*/true, node);
  LinkLatest(*root, node.session_dir);
  PruneSessions(*root, node.session_dir, /*keep=*/5);
  if (Status ready = AwaitNodeReady(node); !ready.ok()) {
    StopHead(node, /*keep_logs=*/true);
    return ready;
  }
  return node;
}

Status StartDashboard(const std::string &host, int port, HeadProcesses &head) {
  const std::string bin = HelperProgramDir();
  const std::string port_file = head.session_dir + "/dashboard.port";
  const std::string log = head.session_dir + "/logs/dashboard.out";
  head.dashboard_pid = Spawn({bin + "/lumen_dashboard", "--session-dir=" + head.session_dir,
                              "--control=unix:" + head.control_unix, "--cluster-address=" + head.control_tcp,
                              "--host=" + host, "--port=" + std::to_string(port), "--port-file=" + port_file},
                             head.token, log, /*die_with_parent=*/false);
  if (!WaitForFile(port_file, {&head.dashboard_pid}, kControlStartTimeout)) {
    if (head.dashboard_pid > 0) {
      kill(head.dashboard_pid, SIGKILL);
      waitpid(head.dashboard_pid, nullptr, 0);
      head.dashboard_pid = -1;
    }
    return Status::IoError("the dashboard did not start" + LastLine(log) + " (see " + log + ")");
  }
  std::ifstream pf(port_file);
  std::string bound;
  pf >> bound;
  head.dashboard_address = host + ":" + bound;
  return Status::OK();
}

Status AwaitNodeReady(HeadProcesses &head) {
  bool ready = WaitForFile(head.node_ready_file, {&head.node_pid, &head.control_pid}, kNodeStartTimeout,
                           head.node_ready_fd);
  if (head.node_ready_fd >= 0) close(head.node_ready_fd);
  head.node_ready_fd = -1;
  return ready ? Status::OK() : NodeStartError(head);
}

void StopHead(HeadProcesses &head, bool keep_logs) {
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
  stop(head.dashboard_pid);
  stop(head.control_pid);
  if (head.session_dir.empty()) return;
  std::error_code ec;
  if (keep_logs) {
    fs::remove_all(head.session_dir + "/sockets", ec);
    return;
  }
  // A finished session leaves nothing behind: on a tmpfs its files are memory.
  const fs::path session = head.session_dir;
  const fs::path latest = session.parent_path() / "session_latest";
  if (fs::read_symlink(latest, ec) == session) fs::remove(latest, ec);
  fs::remove_all(session, ec);
}

StatusOr<std::string> TokenForAddress(const std::string &address) {
  if (const std::string &t = CurrentSettings().cluster_token; !t.empty()) return t;
  if (const std::string &t = CurrentSettings().join_token; !t.empty())
    return t;  // LUMEN_TOKEN, as `lumen` takes it
  std::string a = address;
  if (a.rfind("unix:", 0) == 0) {
    // <session>/sockets/control
    const fs::path session = fs::path(a.substr(5)).parent_path().parent_path();
    std::string token = ReadSessionFile(session / "token");
    if (token.empty()) return Status::NotFound("no cluster token in " + session.string());
    return token;
  }
  if (a.rfind("tcp:", 0) == 0) a = a.substr(4);
  const size_t colon = a.rfind(':');
  const std::string port = colon == std::string::npos ? "" : a.substr(colon + 1);
  if (port.empty()) return Status::InvalidArgument("bad cluster address '" + address + "', want host:port");
  // This user's sessions on this machine whose control service listens on
  // that port; the newest whose driver still runs. A wrong guess costs
  // nothing: the service cannot prove a token it does not hold, and the
  // client sends nothing derived from it.
  std::vector<fs::path> roots = CandidateRoots(/*embedded=*/true);
  for (const fs::path &root : CandidateRoots(/*embedded=*/false))
    if (std::find(roots.begin(), roots.end(), root) == roots.end()) roots.push_back(root);
  if (CurrentSettings().tmpdir.empty())
    for (const fs::path &root : MadeRoots()) roots.push_back(root);
  for (const fs::path &root : roots) {
    if (!VerifyRoot(root, /*ours=*/false).ok()) continue;
    for (const fs::path &session : SessionsIn(root)) {
      if (ReadSessionFile(session / "control.port") != port || !SessionInUse(session)) continue;
      std::string token = ReadSessionFile(session / "token");
      if (!token.empty()) return token;
    }
  }
  // Heads `lumen start` put under a --temp-dir of their own.
  for (const std::string &session : StartedSessions()) {
    if (ReadSessionFile(fs::path(session) / "control.port") != port || !RecordedDaemonsRunning(session))
      continue;
    std::string token = ReadSessionFile(fs::path(session) / "token");
    if (!token.empty()) return token;
  }
  return Status::NotFound("no cluster of this user's on this machine listens on port " + port +
                          "; to join a cluster started elsewhere, set LUMEN_TOKEN to its token");
}

}  // namespace lumen::api
