// The node's worker pool: the worker processes the node service starts for
// each job, and the idle ones it keeps ready for the next lease.
//
// A job's workers come from its fork server (a copy of the driver forked
// before it started any thread, so a single-file program's RAY_REMOTE
// functions exist in every worker), or, for jobs that name a
// code_search_path, from the generic worker program exec'd here, which loads
// the user's shared libraries. A worker only serves work that asks for the
// environment it was started with (runtime_env env_vars), so that no task's
// variables are set in a running process: idle workers are kept per job and
// per environment (EnvKey).
//
// Starting is capped: at most max_starting_workers start at once over all
// jobs (Ray's maximum_startup_concurrency), and a job prestarts at most as
// many workers as the machine has cores; more start only as leases need them.
//
// Leases are the node service's business: the Worker records carry the lease
// a worker serves, but the pool never grants or releases one.
//
// Threading: not thread-safe. The node service owns it and calls it only on
// its event-loop thread (RPC handlers, timers, the SIGCHLD handler), which is
// also where the SIGCHLD watch runs its callback.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/id.h"
#include "protocol/common.pb.h"
#include "rpc/rpc.h"
#include "scheduler/resources.h"

namespace lumen::scheduler {

/// A runtime_env's env_vars (the submitter validated them; what is not a
/// string is left out).
std::map<std::string, std::string> EnvVarsOf(const std::string &runtime_env);

/// Which workers can run work with these env_vars: the same set, whatever
/// the order or spelling of the JSON that named them.
std::string EnvKey(const std::map<std::string, std::string> &vars);

/// One worker process the node started, and the lease it serves.
struct Worker {
  WorkerID id;
  int pid = 0;
  uint32_t job_id = 0;
  bool registered = false;
  bool exec_child = false;  // started by exec (we reap it), not by a fork server
  bool detached = false;    // hosts a detached actor: outlives its job's driver
  bool reserved = false;    // started for one pending lease; never idle
  bool actor = false;       // dedicated to an actor: never returned to the pool
  std::string env_key;      // EnvKey() of the env_vars it was started with
  rpc::ConnectionPtr conn;
  proto::Address address;
  Clock::TimePoint idle_since;  // when it last went idle
  uint64_t lease_id = 0;
  uint64_t lease_holder = 0;   // the client (connection) the lease was granted to
  NodeResources::Grant grant;  // what the current lease holds
  ResourceSet lent_back;       // CPU returned to the node while the worker is blocked
};

/// What the pool knows of one job: how its workers start and which are idle.
struct JobWorkers {
  uint32_t id = 0;
  rpc::ConnectionPtr fork_server;
  int fork_server_pid = 0;
  /// Why no worker can start for the job any more (its fork server died);
  /// empty while they can.
  std::string cannot_start;
  std::vector<std::string> code_search_path;
  std::string ray_namespace;
  std::string runtime_env;
  bool expects_fork_server = false;  // workers come from it once it registers
  int starting = 0;
  std::map<std::string, int> starting_by_env;  // by EnvKey()
  int registered = 0;                          // workers that have registered (ever)
  // By EnvKey(): a worker only runs work that asks for the env_vars it was
  // started with.
  std::map<std::string, std::deque<WorkerID>> idle;
  bool prestarted = false;
};

class WorkerPool {
 public:
  struct Options {
    std::string session_dir;
    std::string node_socket;     // where workers reach the node
    std::string token;           // handed to exec'd workers
    std::string worker_program;  // generic worker for code_search_path jobs
    /// Workers started per job ahead of any lease; -1: the CPUs, but at
    /// most the machine's cores.
    int prestart_workers = -1;
    /// Workers starting at once, over all jobs; -1: the machine's cores.
    int max_starting_workers = -1;
    double cpus = 0;  // the node's CPUs, for the default prestart
    /// The environment of prestarted workers: what work that names no
    /// env_vars and holds no GPU is served with.
    std::map<std::string, std::string> base_env;
    Clock *clock = &Clock::Real();  // when workers go idle
    /// Non-empty: workers also listen on TCP at this address (the node's
    /// IP), told by kWorkerTcpHostVariable; not part of their env key.
    std::string worker_tcp_host;
  };

  explicit WorkerPool(Options options);
  ~WorkerPool();
  WorkerPool(const WorkerPool &) = delete;
  WorkerPool &operator=(const WorkerPool &) = delete;

  int prestart_workers() const { return options_.prestart_workers; }
  bool can_exec() const { return !options_.worker_program.empty(); }

  /// Starts a worker for `job`; returns its id, or Nil if none can start now
  /// (among them: max_starting_workers are starting already).
  /// `env`: the env_vars it serves (beyond the job's).
  WorkerID Start(JobWorkers &job, bool detached = false, const std::map<std::string, std::string> &env = {});
  /// Prestarts a pool sized to the CPUs, once, when the job can make workers.
  void Prestart(JobWorkers &job);
  /// `taken` has just been given to an actor for good. If it was of the
  /// prestarted kind, starts workers of that kind until the job's idle and
  /// starting ones are as many as the prestart size again, so the next actor
  /// or task finds one waiting (those no work claims are stopped later by
  /// IdleToReap).
  void Replenish(JobWorkers &job, const Worker &taken);
  /// Before starting a worker for `env_key`: an idle worker of the job
  /// dedicated to other env_vars that should go once the pool has reached
  /// its size (Nil: none need go). The caller kills it.
  WorkerID IdleToMakeRoomFor(JobWorkers &job, const std::string &env_key);
  /// Workers of all jobs started and not registered yet.
  int Starting() const;
  bool CanStartMore() const { return Starting() < options_.max_starting_workers; }

  /// Whether a worker of the job is starting and none has registered yet.
  static bool WorkersOnTheWay(const JobWorkers &job);

  /// The job's fork server is gone: no worker can start for the job from now
  /// on (replacing it would need a copy of the driver from before its threads
  /// started). Returns the workers it was asked for that had not registered:
  /// they never will, and the caller forgets them.
  std::vector<WorkerID> OnForkServerLost(JobWorkers &job);
  /// An idle worker of the job for `env_key` is there to take.
  bool HasIdle(JobWorkers &job, const std::string &env_key);

  /// A started worker says hello; nullptr if the pool never started it.
  /// `job` is its job's record, if the job is still known.
  Worker *OnRegistered(const WorkerID &id, int pid, rpc::ConnectionPtr conn, const proto::Address &address,
                       JobWorkers *job);
  /// An idle worker of the job for `env_key`, taken out of the idle set.
  std::shared_ptr<Worker> TakeIdle(JobWorkers &job, const std::string &env_key);
  void ReturnIdle(JobWorkers &job, Worker &worker);
  /// Idle workers that have been idle for `grace` while the pool holds more
  /// workers than its prestart size: the ones to stop (the caller kills
  /// them), longest idle first, so that the pool comes back to that size.
  std::vector<WorkerID> IdleToReap(const std::vector<JobWorkers *> &jobs, Clock::Duration grace) const;
  size_t CountIdle(const JobWorkers &job) const;

  std::shared_ptr<Worker> Find(const WorkerID &id) const;
  /// Nil if no worker has that pid.
  WorkerID FindByPid(int pid) const;
  /// Forgets a worker that is gone; `job`: its job's record, if still known.
  void Remove(const WorkerID &id, JobWorkers *job);
  const std::unordered_map<WorkerID, std::shared_ptr<Worker>> &workers() const { return workers_; }

  /// Reaps exec'd workers as they exit, calling `on_exit(id, why)` for each
  /// known worker among them and `on_other(pid, why)` for any other child
  /// (on the loop thread that runs `io`).
  void WatchChildren(boost::asio::io_context &io,
                     std::function<void(const WorkerID &, const std::string &)> on_exit,
                     std::function<void(pid_t, const std::string &)> on_other = nullptr);
  /// SIGKILLs every worker, forgets them and stops the SIGCHLD watch.
  /// Returns the pids of the exec'd ones, for the caller to reap.
  std::vector<pid_t> KillAll();

 private:
  /// Forks and execs the generic worker program for `w`.
  bool Exec(JobWorkers &job, Worker &w, const std::map<std::string, std::string> &env);
  void ArmChildWatch();
  void ReapChildren();

  Options options_;
  std::unordered_map<WorkerID, std::shared_ptr<Worker>> workers_;
  std::unique_ptr<boost::asio::signal_set> sigchld_;
  std::function<void(const WorkerID &, const std::string &)> on_exit_;
  std::function<void(pid_t, const std::string &)> on_other_;
};

}  // namespace lumen::scheduler
