#include "api_runtime/runtime_fork_server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <set>
#include <cstring>

#include "base/child_process.h"
#include "base/encoding.h"
#include "base/settings.h"
#include "base/timeouts.h"
#include "protocol/node.pb.h"
#include "rpc/rpc.h"
#include "worker/core_worker.h"

namespace lumen::api {
namespace {

// Before exiting for want of the node (see CoreWorkerOptions::fork_server_fd).
// No SIGPIPE if the driver is gone too. A fork server on a node other than
// the driver's has no driver to tell (control_fd -1).
void TellDriverNodeLost(int control_fd) {
  if (control_fd < 0) return;
  const char byte = worker::kForkServerLostNode;
  (void)!send(control_fd, &byte, 1, MSG_NOSIGNAL);
}

// Kills this job's workers and waits for them, so that when the fork server
// has exited (what the driver waits for in Shutdown) no worker remains.
[[noreturn]] void ExitKillingWorkers(const std::set<pid_t> &children) {
  for (pid_t c : children) kill(c, SIGKILL);
  for (pid_t c : children) waitpid(c, nullptr, 0);
  _exit(0);
}

// Serves `settings`' job on its node until the node or (control_fd >= 0)
// the driver goes away.
[[noreturn]] void ServeForkServer(const proto::ForkServerSettings &settings, int control_fd) {
  const std::string &node_socket = settings.node_socket();
  const std::string &token = settings.token();
  const std::string &session_dir = settings.session_dir();
  const uint32_t job_id = settings.job_id();

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC);

  auto conn = rpc::BlockingConnection::Connect(node_socket, token);
  if (!conn.ok()) {
    TellDriverNodeLost(control_fd);
    _exit(1);
  }
  auto &node = *conn.value();
  proto::RegisterClientRequest reg;
  reg.set_kind(proto::FORK_SERVER);
  reg.set_pid(getpid());
  reg.set_job_id(job_id);
  // It may register before the driver does: its workers must learn the
  // job's default actor lifetime from the node all the same.
  reg.set_default_detached(settings.default_detached());
  constexpr uint64_t kRegisterCall = 1;
  if (!node.Send(rpc::FrameType::kRequest, proto::REGISTER_CLIENT, kRegisterCall, reg).ok()) _exit(1);
  // The node's object store, mapped here once (from the node's answer to our
  // registration) and inherited by every worker forked after that: each then
  // starts without a store hand-out of its own. Mapping without populating
  // starts no thread, so this process stays single-threaded. Should it fail,
  // the workers ask the node themselves.
  std::unique_ptr<object_store::Arena> store;

  std::set<pid_t> children;
  for (;;) {
    // poll ignores a negative fd: without a driver, only the node ends us.
    pollfd fds[3] = {{node.fd(), POLLIN, 0}, {sfd, POLLIN, 0}, {control_fd, POLLIN, 0}};
    if (poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      _exit(1);
    }
    if (fds[1].revents & POLLIN) {
      signalfd_siginfo si;
      while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
          children.erase(pid);
          proto::WorkerExited ex;
          ex.set_pid(pid);
          if (WIFSIGNALED(status)) {
            ex.set_exit_code(-1);
            ex.set_signal(WTERMSIG(status));
          } else {
            ex.set_exit_code(WEXITSTATUS(status));
          }
          (void)node.Send(rpc::FrameType::kOneway, proto::WORKER_EXITED, 0, ex);
        }
        break;
      }
    }
    if (fds[2].revents & (POLLIN | POLLHUP)) {
      // The driver closed its end: the job is over.
      ExitKillingWorkers(children);
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      auto frame = node.Receive();
      if (!frame.ok()) {
        // Said before the workers die, so that the driver, seeing them die,
        // knows the node's loss is the cause and not ours.
        TellDriverNodeLost(control_fd);
        ExitKillingWorkers(children);
      }
      if (frame->type == rpc::FrameType::kPing) {
        // The node checks that we are alive when it waits on us.
        (void)node.Send(rpc::FrameType::kPong, 0, 0, proto::NodeEmpty());
        continue;
      }
      if (frame->type == rpc::FrameType::kResponse && frame->call_id == kRegisterCall && !store) {
        proto::RegisterClientReply node_info;
        if (rpc::ParseBody(frame->body, &node_info)) {
          auto mapped = object_store::AttachToNodeArena(node_info.arena_socket(), token, /*populate=*/false);
          if (mapped.ok()) store = std::move(mapped.value());
        }
        continue;
      }
      if (frame->type != rpc::FrameType::kOneway || frame->method != proto::FORK_WORKER) continue;
      proto::ForkWorkerRequest req;
      if (!rpc::ParseBody(frame->body, &req)) continue;
      pid_t pid = fork();
      if (pid == 0) {
        close(node.fd());
        close(sfd);
        if (control_fd >= 0) close(control_fd);
        sigprocmask(SIG_UNBLOCK, &mask, nullptr);
        // A detached actor's worker must outlive the driver (and us); the
        // others die with the fork server.
        if (!req.detached()) prctl(PR_SET_PDEATHSIG, SIGKILL);
        RedirectOutputToWorkerLogs(session_dir);
        RunWorkerProcess(node_socket, token, session_dir, ToHex(req.worker_id()), job_id,
                         settings.ray_namespace(), settings.runtime_env(),
                         std::map<std::string, std::string>(req.env().begin(), req.env().end()),
                         std::move(store));
      }
      if (pid > 0 && !req.detached()) children.insert(pid);
    }
  }
}

[[noreturn]] void ForkServerMain(int control_fd) {
  // Wait for the driver to say where the node is (or to go away).
  auto received = ReceiveForkServerSettings(control_fd);
  if (!received.ok()) {
    if (received.status().code() == StatusCode::kDisconnected) _exit(0);  // the driver gave up first
    std::fprintf(stderr, "lumen: the fork server cannot start: %s\n", received.status().ToString().c_str());
    _exit(1);
  }
  ServeForkServer(*received, control_fd);
}

}  // namespace

void RunNodeForkServer(const std::string &settings_hex, const std::string &token) {
  proto::ForkServerSettings settings;
  auto bytes = FromHex(settings_hex);
  if (!bytes || !settings.ParseFromString(*bytes) || settings.node_socket().empty() ||
      settings.session_dir().empty() || token.empty()) {
    std::fprintf(stderr, "lumen: %s does not hold a job's fork server settings (or %s is unset)\n",
                 kNodeForkServerVariable, kClusterTokenVariable);
    _exit(1);
  }
  settings.set_token(token);
  // Its workers are forks of it: they must not see these (a worker that
  // starts a program of its own would hand them on).
  unsetenv(kNodeForkServerVariable);
  unsetenv(kClusterTokenVariable);
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  ServeForkServer(settings, /*control_fd=*/-1);
}

ForkServerHandle ForkForkServer() {
  ForkServerHandle h;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return h;
  // Anything the program buffered must not be printed again by every worker.
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    close(sv[0]);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(0);
    setpgid(0, 0);  // Ctrl-C at the terminal goes to the driver, not to workers
    ForkServerMain(sv[1]);
  }
  close(sv[1]);
  if (pid < 0) {
    close(sv[0]);
    return h;
  }
  h.pid = pid;
  h.control_fd = sv[0];
  return h;
}

Status SendForkServerSettings(int fd, const proto::ForkServerSettings &settings) {
  return rpc::WriteFrame(fd, rpc::FrameType::kOneway, proto::START_FORK_SERVER, 0, settings);
}

StatusOr<proto::ForkServerSettings> ReceiveForkServerSettings(int fd) {
  // The driver may take a while to start the cluster: no limit on the wait
  // for the first byte, only on the rest of the message.
  pollfd p{fd, POLLIN, 0};
  while (poll(&p, 1, -1) < 0)
    if (errno != EINTR) return Status::IoError(std::string("poll: ") + std::strerror(errno));
  auto frame =
      rpc::ReadFrame(fd, static_cast<int>(std::chrono::milliseconds(kForkServerSettingsTimeout).count()),
                     kMaxForkServerSettings);
  if (!frame.ok()) {
    if (frame.status().code() == StatusCode::kDisconnected) return frame.status();
    return Status::IoError("reading the fork server's settings: " + frame.status().message());
  }
  if (frame->type != rpc::FrameType::kOneway || frame->method != proto::START_FORK_SERVER)
    return Status::InvalidArgument("expected the fork server's settings, got frame type " +
                                   std::to_string(static_cast<int>(frame->type)) + " method " +
                                   std::to_string(frame->method));
  proto::ForkServerSettings settings;
  if (!rpc::ParseBody(frame->body, &settings))
    return Status::InvalidArgument("malformed fork server settings");
  if (settings.node_socket().empty() || settings.session_dir().empty())
    return Status::InvalidArgument("the fork server's settings name no node socket or session directory");
  return settings;
}

bool StartForkServer(ForkServerHandle &h, const std::string &node_socket, const std::string &token,
                     const std::string &session_dir, uint32_t job_id, const std::string &ray_namespace,
                     const std::string &runtime_env, bool default_detached) {
  if (h.control_fd < 0) return false;
  proto::ForkServerSettings settings;
  settings.set_node_socket(node_socket);
  settings.set_token(token);
  settings.set_session_dir(session_dir);
  settings.set_job_id(job_id);
  settings.set_ray_namespace(ray_namespace);
  settings.set_runtime_env(runtime_env);
  settings.set_default_detached(default_detached);
  return SendForkServerSettings(h.control_fd, settings).ok();
}

void StopForkServer(ForkServerHandle &h) {
  if (h.control_fd >= 0) {
    close(h.control_fd);  // the fork server kills its workers and exits
    h.control_fd = -1;
  }
  if (h.pid > 0) {
    if (!ReapWithin(h.pid, kForkServerStopGrace)) {
      kill(h.pid, SIGKILL);
      waitpid(h.pid, nullptr, 0);
    }
    h.pid = -1;
  }
}

}  // namespace lumen::api
