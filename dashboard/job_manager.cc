#include "dashboard/job_manager.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <utility>

#include "base/logging.h"
#include "dashboard/log_routes.h"

extern char **environ;

namespace lumen::dashboard {
namespace {

// How much of a failed job's log its message carries.
constexpr long kFailureLogLines = 20;
constexpr size_t kFailureLogBytes = 4000;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Ray's form: "raysubmit_" and 16 letters and digits.
std::string FreshSubmissionId() {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device device;
  std::uniform_int_distribution<size_t> pick(0, sizeof(kAlphabet) - 2);
  std::string id = "raysubmit_";
  for (int i = 0; i < 16; ++i) id += kAlphabet[pick(device)];
  return id;
}

bool IsExecutableFile(const std::string &path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
}

// The program execve runs: argv[0] itself when it names a path (relative
// ones resolve against the working directory, after the child's chdir), else
// the first executable of that name in `path_list`, as execvp looks it up.
StatusOr<std::string> ResolveProgram(const std::string &name, const std::string &path_list) {
  if (name.find('/') != std::string::npos) return name;
  size_t begin = 0;
  while (begin <= path_list.size()) {
    size_t end = path_list.find(':', begin);
    if (end == std::string::npos) end = path_list.size();
    std::string dir = path_list.substr(begin, end - begin);
    if (dir.empty()) dir = ".";
    if (IsExecutableFile(dir + "/" + name)) return dir + "/" + name;
    begin = end + 1;
  }
  return Status::NotFound("'" + name + "' not found in PATH (" + path_list + ")");
}

// The job's environment: this process's, the cluster's address and token,
// then the submitter's env_vars over them.
std::vector<std::string> JobEnvironment(const JobManagerOptions &options, const JobRequest &request) {
  std::map<std::string, std::string> env;
  for (char **e = environ; e && *e; ++e) {
    const char *eq = std::strchr(*e, '=');
    if (eq) env[std::string(*e, static_cast<size_t>(eq - *e))] = eq + 1;
  }
  if (!options.cluster_address.empty()) env["RAY_ADDRESS"] = options.cluster_address;
  if (!options.token.empty()) env["LUMEN_CLUSTER_TOKEN"] = options.token;
  env["LUMEN_SUBMISSION_ID"] = request.submission_id;
  for (const auto &[key, value] : request.env_vars) env[key] = value;
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto &[key, value] : env) out.push_back(key + "=" + value);
  return out;
}

// True while a process of group `pgid` lives. Zombies do not count: an
// orphan's waits for whoever adopted it, which may be slow to reap it.
bool GroupAlive(pid_t pgid) {
  if (kill(-pgid, 0) != 0 && errno == ESRCH) return false;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    char stat[512];
    const int fd = open(("/proc/" + name + "/stat").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    const ssize_t n = read(fd, stat, sizeof(stat) - 1);
    close(fd);
    if (n <= 0) continue;
    stat[n] = '\0';
    const char *close_paren = std::strrchr(stat, ')');
    char state = 0;
    int ppid = 0, pgrp = 0;
    if (close_paren && std::sscanf(close_paren + 1, " %c %d %d", &state, &ppid, &pgrp) == 3 && pgrp == pgid &&
        state != 'Z')
      return true;
  }
  return false;
}

std::vector<char *> Pointers(std::vector<std::string> &strings) {
  std::vector<char *> out;
  out.reserve(strings.size() + 1);
  for (std::string &s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// What the child reports through its pipe when it cannot exec.
struct ChildFailure {
  int stage;  // 0: chdir, 1: execve
  int error;
};

// The child between fork and execve: async-signal-safe calls only (the
// dashboard has threads, whose locks the child must never touch).
[[noreturn]] void RunChild(const char *program, char *const argv[], char *const envp[], const char *cwd,
                           int stdin_fd, int log_fd, int report_fd, pid_t parent, int max_fd) {
  setpgid(0, 0);
  // A dashboard killed outright takes its jobs with it.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127);
  // The dashboard blocks its termination signals and may ignore others:
  // the job starts with the defaults.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);
  dup2(stdin_fd, 0);
  dup2(log_fd, 1);
  dup2(log_fd, 2);
  // Nothing of the dashboard's (sockets, files) survives the exec.
  for (int fd = 3; fd <= max_fd; ++fd)
    if (fd != report_fd) fcntl(fd, F_SETFD, FD_CLOEXEC);
  ChildFailure failure{0, 0};
  if (cwd[0] != '\0' && chdir(cwd) != 0) {
    failure = {0, errno};
  } else {
    execve(program, argv, envp);
    failure = {1, errno};
  }
  ssize_t ignored = write(report_fd, &failure, sizeof(failure));
  (void)ignored;
  _exit(127);
}

}  // namespace

const char *JobStatusName(JobStatus status) {
  switch (status) {
    case JobStatus::kPending:
      return "PENDING";
    case JobStatus::kRunning:
      return "RUNNING";
    case JobStatus::kStopped:
      return "STOPPED";
    case JobStatus::kSucceeded:
      return "SUCCEEDED";
    case JobStatus::kFailed:
      return "FAILED";
  }
  return "FAILED";
}

bool IsTerminal(JobStatus status) {
  return status == JobStatus::kStopped || status == JobStatus::kSucceeded || status == JobStatus::kFailed;
}

bool ValidSubmissionId(const std::string &id) {
  if (id.empty() || id.size() > 128 || id == "." || id == "..") return false;
  for (char c : id)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') return false;
  return true;
}

StatusOr<std::vector<std::string>> SplitCommandLine(const std::string &text) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      ++i;
      continue;
    }
    in_word = true;
    if (c == '\'') {
      const size_t close = text.find('\'', i + 1);
      if (close == std::string::npos) return Status::InvalidArgument("entrypoint: unterminated ' quote");
      word += text.substr(i + 1, close - i - 1);
      i = close + 1;
    } else if (c == '"') {
      ++i;
      for (;;) {
        if (i >= text.size()) return Status::InvalidArgument("entrypoint: unterminated \" quote");
        if (text[i] == '"') break;
        if (text[i] == '\\' && i + 1 < text.size() && std::strchr("\"\\$`\n", text[i + 1])) ++i;
        word += text[i++];
      }
      ++i;
    } else if (c == '\\') {
      if (i + 1 >= text.size()) return Status::InvalidArgument("entrypoint: a trailing backslash");
      if (text[i + 1] != '\n') word += text[i + 1];
      i += 2;
    } else {
      word += c;
      ++i;
    }
  }
  if (in_word) words.push_back(std::move(word));
  if (words.empty()) return Status::InvalidArgument("entrypoint: the command is empty");
  return words;
}

std::string JoinCommandLine(const std::vector<std::string> &argv) {
  std::string out;
  for (const std::string &arg : argv) {
    if (!out.empty()) out += ' ';
    const bool plain = !arg.empty() && arg.find_first_not_of(
                                           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                           "0123456789_-./=:,+@%") == std::string::npos;
    if (plain) {
      out += arg;
      continue;
    }
    out += '\'';
    for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

JobManager::JobManager(JobManagerOptions options) : options_(std::move(options)) {
  launcher_ = std::thread([this] { LaunchLoop(); });
}

JobManager::~JobManager() { Shutdown(); }

StatusOr<std::string> JobManager::Submit(JobRequest request) {
  if (request.argv.empty() || request.argv[0].empty())
    return Status::InvalidArgument("the entrypoint has no command");
  if (request.submission_id.empty()) request.submission_id = FreshSubmissionId();
  if (!ValidSubmissionId(request.submission_id))
    return Status::InvalidArgument("submission_id '" + request.submission_id +
                                   "' is not 1 to 128 of letters, digits, '_', '-' and '.'");
  if (request.working_dir.empty()) request.working_dir = options_.default_working_dir;
  if (!request.working_dir.empty()) {
    struct stat st {};
    if (request.working_dir[0] != '/')
      return Status::InvalidArgument("working_dir must be an absolute path on the head, got '" +
                                     request.working_dir + "'");
    if (stat(request.working_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return Status::InvalidArgument("working_dir '" + request.working_dir + "' is not a folder on the head");
  }
  for (const auto &[key, value] : request.env_vars)
    if (key.empty() || key.find('=') != std::string::npos || key.find('\0') != std::string::npos ||
        value.find('\0') != std::string::npos)
      return Status::InvalidArgument("env_vars: '" + key + "' is not a variable name");
  for (const std::string &arg : request.argv)
    if (arg.find('\0') != std::string::npos)
      return Status::InvalidArgument("the entrypoint holds a NUL character");
  if (request.entrypoint.empty()) request.entrypoint = JoinCommandLine(request.argv);

  MutexLock lock(mu_);
  if (shutting_down_) return Status::Cancelled("the dashboard is shutting down");
  if (jobs_.count(request.submission_id))
    return Status::AlreadyExists("a job with submission_id '" + request.submission_id + "' already exists");
  auto job = std::make_unique<Job>();
  JobInfo &info = job->info;
  info.submission_id = request.submission_id;
  info.entrypoint = request.entrypoint;
  info.argv = request.argv;
  info.submission_time_ms = NowMs();
  info.working_dir = request.working_dir;
  info.metadata = request.metadata;
  info.runtime_env_json = request.runtime_env_json.empty() ? "{}" : request.runtime_env_json;
  info.submitter = request.submitter;
  info.log_path = options_.logs_dir + "/job-driver-" + request.submission_id + ".log";
  info.message = "Job has not started yet.";
  LUMEN_LOG_INFO("job {} submitted from {}: {} (in {})", info.submission_id,
                 info.submitter.empty() ? "(unknown)" : info.submitter, info.entrypoint, info.working_dir);
  const std::string id = info.submission_id;
  Job *pending = job.get();
  pending->request = std::make_unique<JobRequest>(std::move(request));
  jobs_.emplace(id, std::move(job));
  order_.push_back(id);
  to_launch_.push_back(pending);
  changed_.notify_all();
  // PENDING until the launcher has started it (a moment).
  changed_.wait(lock.native(), [pending] { return pending->launched; });
  pending->request.reset();
  ForgetOldFinished();
  return id;
}

void JobManager::LaunchLoop() {
  MutexLock lock(mu_);
  for (;;) {
    changed_.wait(lock.native(), [this]() REQUIRES(mu_) { return !to_launch_.empty() || launcher_done_; });
    if (to_launch_.empty()) return;
    Job *job = to_launch_.front();
    to_launch_.erase(to_launch_.begin());
    if (job->stop_requested) {  // stopped while it waited
      job->info.status = JobStatus::kStopped;
      job->info.message = "Job was stopped before it started.";
      job->info.end_time_ms = NowMs();
    } else {
      Launch(*job, *job->request);
    }
    job->launched = true;
    changed_.notify_all();
  }
}

void JobManager::Launch(Job &job, const JobRequest &request) {
  JobInfo &info = job.info;
  auto fail = [&info](const std::string &message) {
    info.status = JobStatus::kFailed;
    info.message = message;
    info.end_time_ms = NowMs();
    LUMEN_LOG_WARN("job {} could not start: {}", info.submission_id, message);
  };
  std::vector<std::string> env = JobEnvironment(options_, request);
  std::string path_list = "/usr/local/bin:/usr/bin:/bin";
  for (const std::string &kv : env)
    if (kv.rfind("PATH=", 0) == 0) path_list = kv.substr(5);
  auto program = ResolveProgram(info.argv[0], path_list);
  if (!program.ok()) return fail("cannot run the entrypoint: " + program.status().message());
  const int log_fd = open(info.log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) return fail("cannot create " + info.log_path + ": " + std::strerror(errno));
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int report[2];
  if (null_fd < 0 || pipe2(report, O_CLOEXEC) != 0) {
    const int err = errno;
    close(log_fd);
    if (null_fd >= 0) close(null_fd);
    return fail(std::string("cannot start a process: ") + std::strerror(err));
  }
  // Everything the child needs is made here: between fork and execve it may
  // not allocate.
  std::vector<std::string> argv_strings = info.argv;
  std::vector<char *> argv = Pointers(argv_strings);
  std::vector<char *> envp = Pointers(env);
  const long open_max = sysconf(_SC_OPEN_MAX);
  const int max_fd = static_cast<int>(open_max > 0 && open_max < 65536 ? open_max : 65536) - 1;
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0)
    RunChild(program->c_str(), argv.data(), envp.data(), info.working_dir.c_str(), null_fd, log_fd, report[1],
             parent, max_fd);
  const int fork_errno = errno;
  close(report[1]);
  close(log_fd);
  close(null_fd);
  if (pid < 0) {
    close(report[0]);
    return fail(std::string("cannot start a process: ") + std::strerror(fork_errno));
  }
  // Both the child and this process set the group, so that a Stop right
  // after the fork finds it whichever runs first.
  setpgid(pid, pid);
  ChildFailure failure{};
  ssize_t n;
  do {
    n = read(report[0], &failure, sizeof(failure));
  } while (n < 0 && errno == EINTR);
  close(report[0]);
  if (n == static_cast<ssize_t>(sizeof(failure))) {  // it never ran: reap it here
    waitpid(pid, nullptr, 0);
    return fail(failure.stage == 0
                    ? "cannot enter working_dir " + info.working_dir + ": " + std::strerror(failure.error)
                    : "cannot run " + *program + ": " + std::strerror(failure.error));
  }
  info.pid = pid;
  info.start_time_ms = NowMs();
  info.status = JobStatus::kRunning;
  info.message = "Job is currently running.";
  job.waiter = std::thread([this, id = info.submission_id, pid] { WaitForExit(id, pid); });
}

void JobManager::WaitForExit(const std::string &submission_id, pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  {
    MutexLock lock(mu_);
    Job &job = *jobs_.at(submission_id);
    // A stopped job ends once its escalation has signalled what was left of
    // its group, not when its first process exits.
    changed_.wait(lock.native(), [&job]() { return !job.stop_requested || job.killed; });
    JobInfo &info = job.info;
    info.end_time_ms = NowMs();
    if (WIFEXITED(status)) {
      info.driver_exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      info.driver_exit_code = -WTERMSIG(status);  // as Python's returncode (Ray's driver_exit_code)
    }
    if (job.stop_requested) {
      info.status = JobStatus::kStopped;
      info.message = "Job was intentionally stopped.";
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      info.status = JobStatus::kSucceeded;
      info.message = "Job finished successfully.";
    } else {
      info.status = JobStatus::kFailed;
      info.message =
          WIFEXITED(status)
              ? "Job entrypoint command failed with exit code " + std::to_string(WEXITSTATUS(status))
              : "Job entrypoint command was killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
                    strsignal(WTERMSIG(status)) + ")";
      // As Ray's: what it said last, which usually says why.
      if (auto tail = ReadLogTail(info.log_path, kFailureLogLines); tail.ok() && !tail->text.empty()) {
        std::string text = tail->text;
        if (text.size() > kFailureLogBytes) text = text.substr(text.size() - kFailureLogBytes);
        info.message +=
            ", last available logs (truncated to " + std::to_string(kFailureLogLines) + " lines):\n" + text;
      }
    }
    LUMEN_LOG_INFO("job {} {}: {}", submission_id, JobStatusName(info.status),
                   info.message.substr(0, info.message.find('\n')));
  }
  changed_.notify_all();
}

bool JobManager::StopLocked(Job &job) {
  if (IsTerminal(job.info.status) || job.stop_requested) return !IsTerminal(job.info.status);
  job.stop_requested = true;
  if (job.info.pid <= 0) return true;  // not started yet: the launcher will not start it
  job.killer = std::thread([this, id = job.info.submission_id, pgid = job.info.pid] { Escalate(id, pgid); });
  return true;
}

void JobManager::Escalate(const std::string &submission_id, pid_t pgid) {
  kill(-pgid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + options_.stop_grace;
  // Nothing says when the last process of a group exits: look every 20 ms
  // (without mu_: the look reads /proc).
  while (GroupAlive(pgid) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (GroupAlive(pgid)) {
    LUMEN_LOG_INFO("job {}: its processes outlived SIGTERM by {} ms; SIGKILL", submission_id,
                   options_.stop_grace.count());
    kill(-pgid, SIGKILL);
  }
  {
    MutexLock lock(mu_);
    jobs_.at(submission_id)->killed = true;
  }
  changed_.notify_all();
}

StatusOr<JobInfo> JobManager::Get(const std::string &submission_id) const {
  MutexLock lock(mu_);
  auto it = jobs_.find(submission_id);
  if (it == jobs_.end()) return Status::NotFound("Job " + submission_id + " does not exist");
  return it->second->info;
}

std::vector<JobInfo> JobManager::List() const {
  MutexLock lock(mu_);
  std::vector<JobInfo> out;
  out.reserve(order_.size());
  for (const std::string &id : order_) out.push_back(jobs_.at(id)->info);
  return out;
}

StatusOr<bool> JobManager::Stop(const std::string &submission_id) {
  MutexLock lock(mu_);
  auto it = jobs_.find(submission_id);
  if (it == jobs_.end()) return Status::NotFound("Job " + submission_id + " does not exist");
  LUMEN_LOG_INFO("job {}: stop requested", submission_id);
  return StopLocked(*it->second);
}

void JobManager::NoteDriver(const std::string &submission_id, const std::string &job_id_hex, int driver_pid) {
  MutexLock lock(mu_);
  auto it = jobs_.find(submission_id);
  if (it == jobs_.end() || !it->second->info.driver_job_id.empty()) return;
  it->second->info.driver_job_id = job_id_hex;
  it->second->info.driver_pid = driver_pid;
}

Status JobManager::Delete(const std::string &submission_id) {
  MutexLock lock(mu_);
  auto it = jobs_.find(submission_id);
  if (it == jobs_.end()) return Status::NotFound("Job " + submission_id + " does not exist");
  if (!IsTerminal(it->second->info.status) || it->second->request)  // (its Submit has not returned yet)
    return Status::InvalidArgument("Job " + submission_id + " is " + JobStatusName(it->second->info.status) +
                                   ": stop it before deleting it");
  Erase(submission_id);
  return Status::OK();
}

StatusOr<JobInfo> JobManager::Wait(const std::string &submission_id,
                                   std::chrono::milliseconds timeout) const {
  MutexLock lock(mu_);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  changed_.wait_until(lock.native(), deadline, [&]() REQUIRES(mu_) {
    auto it = jobs_.find(submission_id);
    return it == jobs_.end() || IsTerminal(it->second->info.status);
  });
  auto it = jobs_.find(submission_id);
  if (it == jobs_.end()) return Status::NotFound("Job " + submission_id + " does not exist");
  return it->second->info;
}

void JobManager::Shutdown() {
  MutexLock lock(mu_);
  shutting_down_ = true;
  for (auto &[id, job] : jobs_) StopLocked(*job);
  changed_.wait(lock.native(), [this]() REQUIRES(mu_) {
    for (auto &[id, job] : jobs_)
      if (!IsTerminal(job->info.status)) return false;
    return true;
  });
  for (auto &[id, job] : jobs_) {
    if (job->waiter.joinable()) job->waiter.join();
    if (job->killer.joinable()) job->killer.join();
  }
  // Only now may the thread that forked the jobs end (see the header).
  launcher_done_ = true;
  changed_.notify_all();
  lock.Unlock();
  if (launcher_.joinable() && launcher_.get_id() != std::this_thread::get_id()) launcher_.join();
}

void JobManager::Erase(const std::string &submission_id) {
  auto it = jobs_.find(submission_id);
  if (it == jobs_.end()) return;
  if (it->second->waiter.joinable()) it->second->waiter.join();
  if (it->second->killer.joinable()) it->second->killer.join();
  jobs_.erase(it);
  order_.erase(std::find(order_.begin(), order_.end(), submission_id));
}

void JobManager::ForgetOldFinished() {
  size_t finished = 0;
  // A job whose Submit has not returned yet (its request still held) stays.
  auto forgettable = [](const Job &job) { return IsTerminal(job.info.status) && !job.request; };
  for (const auto &[id, job] : jobs_) finished += forgettable(*job) ? 1 : 0;
  for (size_t i = 0; i < order_.size() && finished > options_.max_finished_jobs;) {
    const std::string id = order_[i];
    if (forgettable(*jobs_.at(id))) {
      Erase(id);
      --finished;
    } else {
      ++i;
    }
  }
}

}  // namespace lumen::dashboard
