#include "scheduler/worker_pool.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string_view>
#include <thread>

#include <nlohmann/json.hpp>

#include "base/logging.h"
#include "base/settings.h"
#include "protocol/node.pb.h"

namespace lumen::scheduler {

std::map<std::string, std::string> EnvVarsOf(const std::string &runtime_env) {
  std::map<std::string, std::string> vars;
  if (runtime_env.empty()) return vars;
  auto j = nlohmann::json::parse(runtime_env, nullptr, false);
  if (!j.is_object()) return vars;
  auto it = j.find("env_vars");
  if (it == j.end() || !it->is_object()) return vars;
  for (auto &[k, v] : it->items())
    if (v.is_string()) vars[k] = v.get<std::string>();
  return vars;
}

std::string EnvKey(const std::map<std::string, std::string> &vars) {
  return vars.empty() ? std::string() : nlohmann::json(vars).dump();
}

WorkerPool::WorkerPool(Options options) : options_(std::move(options)) {
  // A worker is a process: --num-cpus=1000 on two cores must not start a
  // thousand of them at once, nor one per CPU before any work asks.
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (options_.max_starting_workers < 1) options_.max_starting_workers = cores;
  if (options_.prestart_workers < 0)
    options_.prestart_workers = static_cast<int>(std::min<double>(std::max(0.0, options_.cpus), cores));
}

WorkerPool::~WorkerPool() {
  if (sigchld_) sigchld_->cancel();
}

int WorkerPool::Starting() const {
  int n = 0;
  for (auto &[id, w] : workers_) n += !w->registered;
  return n;
}

bool WorkerPool::WorkersOnTheWay(const JobWorkers &job) {
  if (job.registered > 0) return false;         // here already
  if (!job.cannot_start.empty()) return false;  // none will come
  return job.starting > 0 || (job.expects_fork_server && !job.fork_server);
}

void WorkerPool::Prestart(JobWorkers &job) {
  if (job.prestarted || !(job.fork_server || can_exec())) return;
  job.prestarted = true;
  for (int i = 0; i < options_.prestart_workers; ++i)
    if (Start(job, /*detached=*/false, options_.base_env).IsNil()) break;
}

void WorkerPool::Replenish(JobWorkers &job, const Worker &taken) {
  const std::string key = EnvKey(options_.base_env);
  if (!job.prestarted || taken.env_key != key) return;
  auto idle = job.idle.find(key);
  const size_t waiting = idle == job.idle.end() ? 0 : idle->second.size();
  const int starting = job.starting_by_env.count(key) ? job.starting_by_env.at(key) : 0;
  for (int n = static_cast<int>(waiting) + starting; n < options_.prestart_workers; ++n)
    if (Start(job, /*detached=*/false, options_.base_env).IsNil()) break;
}

WorkerID WorkerPool::Start(JobWorkers &job, bool detached, const std::map<std::string, std::string> &env) {
  // Those that wait start as others register (the node dispatches again then).
  if (!CanStartMore()) return WorkerID::Nil();
  auto w = std::make_shared<Worker>();
  w->id = WorkerID::FromRandom();
  w->job_id = job.id;
  w->detached = detached;
  w->reserved = detached;
  w->env_key = EnvKey(env);
  if (!job.cannot_start.empty()) return WorkerID::Nil();
  if (!job.fork_server && job.expects_fork_server) {
    return WorkerID::Nil();  // its fork server is still starting; the node dispatches again when it registers
  }
  if (job.fork_server) {
    proto::ForkWorkerRequest req;
    req.set_worker_id(w->id.Binary());
    req.set_detached(detached);
    req.mutable_env()->insert(env.begin(), env.end());
    if (!options_.worker_tcp_host.empty())
      (*req.mutable_env())[kWorkerTcpHostVariable] = options_.worker_tcp_host;
    job.fork_server->Notify(proto::FORK_WORKER, req);
  } else if (can_exec()) {
    if (!Exec(job, *w, env)) return WorkerID::Nil();
  } else {
    LUMEN_LOG_ERROR("job {} has no way to start workers (no fork server, no worker program)", job.id);
    return WorkerID::Nil();
  }
  job.starting++;
  job.starting_by_env[w->env_key]++;
  workers_[w->id] = w;
  return w->id;
}

bool WorkerPool::Exec(JobWorkers &job, Worker &w, const std::map<std::string, std::string> &env) {
  // Generic worker: exec the worker program, which loads the job's libraries.
  std::vector<std::string> args = {
      options_.worker_program,
      "--lumen_node_socket=" + options_.node_socket,
      "--lumen_worker_id=" + w.id.Hex(),
      "--ray_job_id=" + std::to_string(job.id),
      "--ray_session_dir=" + options_.session_dir,
      "--ray_job_namespace=" + job.ray_namespace,
  };
  std::string path;
  for (auto &p : job.code_search_path) path += (path.empty() ? "" : ":") + p;
  args.push_back("--ray_code_search_path=" + path);
  // This process has threads: between fork and exec the child may only
  // make async-signal-safe calls (another thread may have held the heap's
  // lock at the fork), so everything it needs is built here first.
  // Its environment: ours, the job's env_vars, then the lease's (Ray's
  // order: a task's or actor's own env_vars win over the job's).
  auto vars = EnvVarsOf(job.runtime_env);
  for (auto &[k, v] : env) vars[k] = v;
  vars[kClusterTokenVariable] = options_.token;
  if (!options_.worker_tcp_host.empty()) vars[kWorkerTcpHostVariable] = options_.worker_tcp_host;
  std::vector<std::string> environment;
  for (char **e = environ; *e; ++e) {
    std::string_view entry(*e);
    if (!vars.count(std::string(entry.substr(0, entry.find('='))))) environment.emplace_back(entry);
  }
  for (auto &[k, v] : vars) environment.push_back(k + "=" + v);
  std::vector<char *> argv, envp;
  for (auto &a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto &e : environment) envp.push_back(e.data());
  envp.push_back(nullptr);
  // The log files are named after the child's pid, which only it knows:
  // it writes its pid into the room left at the end of these names.
  std::string logs = options_.session_dir + "/logs/worker-";
  std::string out_name = logs + std::string(20, '\0'), err_name = out_name;
  const size_t pid_at = logs.size();
  pid_t pid = fork();
  if (pid == 0) {
    char digits[20];
    int n = 0;
    for (pid_t p = getpid(); p > 0 && n < 20; p /= 10) digits[n++] = static_cast<char>('0' + p % 10);
    auto name = [&](std::string &path, const char *suffix) {
      size_t at = pid_at;
      for (int i = n - 1; i >= 0; --i) path[at++] = digits[i];
      for (const char *c = suffix; *c; ++c) path[at++] = *c;
      path[at] = '\0';
      return path.data();
    };
    int out = open(name(out_name, ".out"), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int err = open(name(err_name, ".err"), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out >= 0) dup2(out, STDOUT_FILENO);
    if (err >= 0) dup2(err, STDERR_FILENO);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  if (pid < 0) {
    LUMEN_LOG_ERROR("fork failed for worker: {}", strerror(errno));
    return false;
  }
  w.pid = pid;
  w.exec_child = true;
  return true;
}

WorkerID WorkerPool::IdleToMakeRoomFor(JobWorkers &job, const std::string &env_key) {
  // Workers dedicated to other env_vars would pile up idle: past the
  // prestarted pool's size, one of them goes for each worker started (as
  // Ray's pool does with workers of other runtime envs).
  if (static_cast<int>(workers_.size()) < std::max(1, options_.prestart_workers)) return WorkerID::Nil();
  for (auto &[key, ids] : job.idle) {
    if (key == env_key) continue;
    while (!ids.empty()) {
      WorkerID victim = ids.front();
      ids.pop_front();
      if (workers_.count(victim)) return victim;
    }
  }
  return WorkerID::Nil();
}

std::vector<WorkerID> WorkerPool::OnForkServerLost(JobWorkers &job) {
  job.fork_server.reset();
  job.cannot_start = "The job's fork server (pid " + std::to_string(job.fork_server_pid) +
                     ") died, so this job can start no more workers";
  std::vector<WorkerID> never;
  for (auto &[id, w] : workers_)
    if (w->job_id == job.id && !w->registered && !w->exec_child) never.push_back(id);
  return never;
}

bool WorkerPool::HasIdle(JobWorkers &job, const std::string &env_key) {
  auto it = job.idle.find(env_key);
  if (it == job.idle.end()) return false;
  auto &idle = it->second;
  while (!idle.empty() && !workers_.count(idle.front())) idle.pop_front();  // died meanwhile
  return !idle.empty();
}

Worker *WorkerPool::OnRegistered(const WorkerID &id, int pid, rpc::ConnectionPtr conn,
                                 const proto::Address &address, JobWorkers *job) {
  auto it = workers_.find(id);
  if (it == workers_.end()) return nullptr;
  auto &w = *it->second;
  w.registered = true;
  w.pid = pid;
  w.conn = std::move(conn);
  w.address = address;
  if (job) {
    job->starting = std::max(0, job->starting - 1);
    job->starting_by_env[w.env_key]--;
    job->registered++;
    if (!w.reserved) ReturnIdle(*job, w);
  }
  return &w;
}

std::shared_ptr<Worker> WorkerPool::TakeIdle(JobWorkers &job, const std::string &env_key) {
  // Skip idle workers that died meanwhile.
  auto &idle = job.idle[env_key];
  while (!idle.empty() && !workers_.count(idle.front())) idle.pop_front();
  if (idle.empty()) return nullptr;
  auto worker = workers_[idle.front()];
  idle.pop_front();
  return worker;
}

void WorkerPool::ReturnIdle(JobWorkers &job, Worker &worker) {
  worker.idle_since = options_.clock->Now();
  job.idle[worker.env_key].push_back(worker.id);
}

std::vector<WorkerID> WorkerPool::IdleToReap(const std::vector<JobWorkers *> &jobs,
                                             Clock::Duration grace) const {
  const int excess = static_cast<int>(workers_.size()) - options_.prestart_workers;
  if (excess <= 0) return {};
  const auto now = options_.clock->Now();
  std::vector<std::pair<Clock::TimePoint, WorkerID>> idle;
  for (auto *job : jobs)
    for (auto &[key, ids] : job->idle)
      for (auto &id : ids)
        if (auto w = Find(id); w && now - w->idle_since >= grace) idle.emplace_back(w->idle_since, id);
  std::sort(idle.begin(), idle.end(), [](auto &a, auto &b) { return a.first < b.first; });
  std::vector<WorkerID> reap;
  for (size_t i = 0; i < idle.size() && static_cast<int>(i) < excess; ++i) reap.push_back(idle[i].second);
  return reap;
}

size_t WorkerPool::CountIdle(const JobWorkers &job) const {
  size_t n = 0;
  for (auto &[env, ids] : job.idle) n += ids.size();
  return n;
}

std::shared_ptr<Worker> WorkerPool::Find(const WorkerID &id) const {
  auto it = workers_.find(id);
  return it == workers_.end() ? nullptr : it->second;
}

WorkerID WorkerPool::FindByPid(int pid) const {
  for (auto &[id, w] : workers_)
    if (w->pid == pid) return id;
  return WorkerID::Nil();
}

void WorkerPool::Remove(const WorkerID &id, JobWorkers *job) {
  auto it = workers_.find(id);
  if (it == workers_.end()) return;
  if (job && !it->second->registered) {
    job->starting = std::max(0, job->starting - 1);
    job->starting_by_env[it->second->env_key]--;
  }
  if (job) {
    auto idle = job->idle.find(it->second->env_key);
    if (idle != job->idle.end()) std::erase(idle->second, id);
  }
  workers_.erase(it);
}

void WorkerPool::WatchChildren(boost::asio::io_context &io,
                               std::function<void(const WorkerID &, const std::string &)> on_exit,
                               std::function<void(pid_t, const std::string &)> on_other) {
  on_exit_ = std::move(on_exit);
  on_other_ = std::move(on_other);
  sigchld_ = std::make_unique<boost::asio::signal_set>(io, SIGCHLD);
  ArmChildWatch();
  ReapChildren();  // anything that exited before the handler was installed
}

void WorkerPool::ArmChildWatch() {
  sigchld_->async_wait([this](const boost::system::error_code &ec, int) {
    if (ec) return;
    ReapChildren();
    ArmChildWatch();
  });
}

void WorkerPool::ReapChildren() {
  int status = 0;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    WorkerID id = FindByPid(pid);
    auto why = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                   : "exited with code " + std::to_string(WEXITSTATUS(status));
    if (id.IsNil()) {
      if (on_other_) on_other_(pid, why);
    } else if (on_exit_) {
      on_exit_(id, why);
    }
  }
}

std::vector<pid_t> WorkerPool::KillAll() {
  std::vector<pid_t> children;
  for (auto &[id, w] : workers_) {
    if (w->pid <= 0) continue;
    kill(w->pid, SIGKILL);
    if (w->exec_child) children.push_back(w->pid);
  }
  workers_.clear();
  if (sigchld_) sigchld_->cancel();
  return children;
}

}  // namespace lumen::scheduler
