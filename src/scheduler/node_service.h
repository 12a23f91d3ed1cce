// The node service (Ray's raylet role), one per machine: it owns the node's
// resources, its worker pool, its shared-memory object store, and it leases
// workers to submitters. Tasks themselves never pass through it: a submitter
// that holds a lease pushes tasks straight to the worker.
//
// Its worker pool (worker_pool.h) starts the workers and keeps the idle ones;
// this service decides which lease each serves.
//
// A job whose driver is on another node is learned from the control service
// when a lease for it arrives, and its workers here come from the driver's
// program, fetched once per content into a cache and started as the job's
// fork server on this node (node_service_jobs.cc, program_cache.h).
//
// Threading: all state lives on the service's event-loop thread; RPC handlers,
// timers and the SIGCHLD handler run there. The arena fd server has its own
// accept thread and touches no state here.
#pragma once

#include <chrono>
#include <cstdint>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/id.h"
#include "base/machine_stats.h"
#include "base/process_stats.h"
#include "object_manager/node_peers.h"
#include "object_manager/object_manager.h"
#include "object_store/arena.h"
#include "object_store/object_store.h"
#include "protocol/control.pb.h"
#include "protocol/node.pb.h"
#include "rpc/rpc.h"
#include "scheduler/cluster_lease_view.h"
#include "scheduler/lease_policy.h"
#include "scheduler/log_monitor.h"
#include "scheduler/log_shipper.h"
#include "scheduler/program_cache.h"
#include "scheduler/resources.h"
#include "scheduler/worker_pool.h"

namespace lumen::scheduler {

struct NodeServiceOptions {
  std::string session_dir;
  std::string token;
  std::string control_address;  // where the control service listens
  /// How long to keep trying to reach the control service at start-up (it
  /// may be starting alongside this node); zero: one attempt.
  std::chrono::milliseconds control_wait{0};
  std::string node_ip = "127.0.0.1";
  std::string unix_path;  // this service's socket (default: <session>/sockets/node)
  std::string tcp_host = "127.0.0.1";
  int tcp_port = 0;
  /// The cluster spans nodes: this node's drivers and workers also listen on
  /// TCP at `node_ip` and are published in the control service's worker
  /// directory. Off for ray::Init's embedded head (Unix sockets only).
  bool worker_tcp = false;
  /// A driver's own node on a machine with no other of the cluster's
  /// (NodeInfo.for_driver): its end is the driver's, not a failure.
  bool for_driver = false;
  std::map<std::string, double> resources;  // CPU, GPU, memory, custom
  std::vector<int> gpu_ids;                 // device indices behind resources["GPU"]
  /// Normal leases: this node grants them itself while its utilization is
  /// below this (Ray's scheduler_spread_threshold), then spreads them
  /// across nodes (lease_policy.h). LUMEN_SCHEDULER_SPREAD_THRESHOLD.
  double spread_threshold = kSpreadThreshold;
  size_t store_capacity = 0;
  size_t store_prefault = 0;
  std::string worker_program;  // generic worker for code_search_path jobs
  size_t inline_threshold = 100 * 1024;
  /// Workers started per job ahead of any lease; -1: the CPUs, but at most
  /// the machine's cores (more start only as leases need them).
  int prestart_workers = -1;
  /// Workers starting at once, over all jobs (Ray's
  /// maximum_startup_concurrency); -1: the machine's cores.
  int max_starting_workers = -1;
  /// Where the node reads the time its decisions depend on (the throttle on
  /// LEASES_WANTED, how long a worker has been idle); its timers still fire
  /// on the steady clock. A test passes a FakeClock.
  Clock *clock = &Clock::Real();
};

class NodeService {
 public:
  explicit NodeService(NodeServiceOptions options);
  ~NodeService();

  Status Start();
  /// Blocks until SHUTDOWN_NODE arrives, the control service goes away, or Stop().
  void WaitForShutdown();
  void Stop();
  const NodeID &node_id() const { return node_id_; }
  /// Runs the idle-worker check now, on the loop thread, and returns when it
  /// has (it also runs every kIdleCheckInterval): a test that moved the
  /// FakeClock past the grace period sees its effect without waiting.
  /// False if the loop did not run it (stopped or hung).
  bool CheckIdleWorkers();

 private:
  struct Client;
  struct Job;
  struct PendingLease;

  void RegisterHandlers();
  /// Starts shipping this node's logs to the control service (on the loop).
  void StartLogShipper();
  /// Ships what is left of them; returns when done or after a bound.
  void FlushLogs();
  void RegisterLeaseHandlers();
  void RegisterObjectHandlers();
  void RegisterWorkerAndNodeHandlers();
  void RegisterJobHandlers();
  /// Objects across nodes: PULL_OBJECT, PULL_OBJECT_CHUNK, DELETE_OBJECT_COPIES.
  void RegisterTransferHandlers();
  /// Blocking (the peers' helper thread): a live node's address, from the
  /// control service's node table.
  StatusOr<std::string> ResolveNode(const NodeID &node);
  /// REGISTER_CLIENT from a driver, fork server or worker.
  void HandleRegisterClient(const rpc::ConnectionPtr &conn, uint64_t call_id,
                            proto::RegisterClientRequest &req);
  /// The job's entry, made on first use by its driver or fork server.
  Job &JobFor(uint32_t job_id);
  void RegisterDriver(const rpc::ConnectionPtr &conn, const proto::RegisterClientRequest &req);
  void RegisterForkServer(const rpc::ConnectionPtr &conn, const proto::RegisterClientRequest &req);
  /// False if the worker is not one this node started.
  bool RegisterWorker(const rpc::ConnectionPtr &conn, const Client &client,
                      const proto::RegisterClientRequest &req);
  /// The worker directory (options_.worker_tcp): a driver's or worker's
  /// address goes to the control service when it registers here, before it
  /// is answered, and is taken back when its connection closes.
  void PublishClient(const proto::Address &address);
  void UnpublishClient(const Client &client);
  /// WAIT_FOR_WORKERS: whether a worker of the job is starting and none has
  /// registered yet (so a waiter should wait), and answering the waiters.
  bool WorkersOnTheWay(const Job &job) const;
  void AnswerWorkerWaiters(Job &job);
  void OnClientClosed(const std::shared_ptr<Client> &client);
  void OnWorkerGone(const WorkerID &id, const std::string &why);
  void KillJobWorkers(uint32_t job_id);
  /// SIGKILLs the workers and forgets them now (leases released).
  void KillWorkers(const std::vector<WorkerID> &ids, const std::string &why);
  void TryDispatch();
  /// Where a normal task's lease request goes (node_spillback.cc): it stays
  /// here (granted or queued as before), it was answered with SPILLBACK, or
  /// it waits for a fresh view of the other nodes.
  enum class LeasePlace { kHere, kMoved, kWaitForView };
  LeasePlace PlaceLease(PendingLease &p);
  /// PlaceLease's decision; when kMoved, `spill` is the SPILLBACK reply.
  /// `decided_on_view`: the request's record of the view it was kept by.
  LeasePlace PlaceNormalLease(const ResourceSet &request, uint32_t job_id, int spill_hops,
                              int64_t &decided_on_view, proto::WorkerLeaseReply *spill);
  /// Asks the control service for the other nodes' resources (one request
  /// at a time), then dispatches again.
  void RefreshClusterView();
  /// While normal leases wait here, looks again at the other nodes once the
  /// view they were kept by is stale (kClusterViewMaxAge, by options_.clock),
  /// so they move once another node has room.
  void ArmClusterViewTimer();
  /// A FakeClock moved: runs the cluster view timer if it is due by then.
  void OnClockAdvanced();
  /// The jobs whose workers can start here (NODE_STATS.startable_jobs).
  std::vector<uint32_t> StartableJobs() const;
  /// For a job that can start no more workers: whether `p` can still be
  /// served by one that is there (else it is refused at once).
  bool CanStillServe(PendingLease &p, Job &job);
  /// Grants a detached actor's lease once the worker started for it is up;
  /// whether it was granted.
  bool DispatchDetached(PendingLease &p, Job &job, const std::map<std::string, std::string> &env);
  /// The GPU devices `p` would be granted now, once the requests `ahead` of
  /// it have taken theirs (none if it cannot be granted now).
  std::vector<int> PreviewGpus(const PendingLease &p, const std::vector<const PendingLease *> &ahead) const;
  /// The environment of a worker that serves `p` with devices `gpus`: the
  /// request's env_vars and CUDA_VISIBLE_DEVICES (the worker pool's key).
  std::map<std::string, std::string> WorkerEnvFor(const PendingLease &p, const std::vector<int> &gpus) const;
  void GrantLease(PendingLease &req, Worker &worker);
  void ReleaseLease(Worker &worker);
  /// Placement-group bundles: reserves what fits, in arrival order.
  void TryReserveBundles();
  void ReturnBundles(const std::string &group);
  /// Asks holders of leases other than `requester`'s to give idle workers
  /// back at once rather than after their idle grace period.
  void NotifyLeasesWanted(uint64_t requester);
  /// Stops idle workers beyond the pool's size that have been idle for
  /// kIdleWorkerGrace (by options_.clock), and schedules the next check.
  void ReapIdleWorkers();
  void ScheduleIdleCheck();
  /// Forwards a registered worker's output to its job's driver (LogMonitor).
  void FollowWorkerLogs(const Worker &w);

  // Jobs whose driver is on another node (node_service_jobs.cc): learned
  // from the control service when a lease for one arrives, their workers
  // forked from the job's program, fetched and started here.
  /// Records the job as on its way and asks the control service for it.
  void LearnJob(uint32_t job_id);
  void OnJobLearned(uint32_t job_id, Status st, const proto::GetJobReply &reply);
  void StartJobProgram(uint32_t job_id, const std::string &path, const proto::JobProgram &program);
  /// No worker can start for the job: its pending leases are refused with `why`.
  void JobCannotStart(uint32_t job_id, const std::string &why);
  /// The control service says the job ended: its fork server and workers go.
  void OnJobEnded(uint32_t job_id);
  /// A child that is not a worker exited (a job program started here).
  void OnOtherChildExited(pid_t pid, const std::string &why);
  void RequestShutdown();
  std::shared_ptr<Client> ClientOf(const rpc::ConnectionPtr &conn) const;
  /// The state API's per-node facts (node_service_state.cc): this node's
  /// drivers and workers, and the objects in its store.
  void AddWorkersTo(proto::NodeStatsReply *reply) const;
  void AddObjectsTo(proto::NodeStatsReply *reply) const;
  /// Ray's ray_component_* facts: CPU and memory of this node service, its
  /// fork servers, drivers and workers, read from /proc (cpu_ keeps each
  /// pid's previous reading), and ray_node_*'s: the machine's (machine_).
  void AddProcessesTo(proto::NodeStatsReply *reply);

  NodeServiceOptions options_;
  CpuSampler cpu_;
  MachineSampler machine_;
  NodeID node_id_ = NodeID::FromRandom();
  rpc::EventLoop loop_{"lumen-node"};
  rpc::Dispatcher dispatcher_;
  std::unique_ptr<rpc::Server> server_;
  rpc::ConnectionPtr control_;
  std::unique_ptr<object_store::Arena> arena_;
  object_store::ArenaFdServer arena_server_;
  std::string arena_socket_;
  std::string tcp_address_;  // "tcp:host:port", for other nodes (set in Start)
  std::unique_ptr<object_store::ObjectStore> store_;
  // Made in Start, before the node serves; gone before the store.
  std::unique_ptr<object_manager::RpcNodePeers> peers_;
  std::unique_ptr<object_manager::ObjectManager> object_manager_;
  std::unique_ptr<boost::asio::steady_timer> idle_timer_;
  LogMonitor log_monitor_{loop_.io()};
  std::unique_ptr<LogShipper> log_shipper_;  // made on the loop once registered

  // Loop-thread state.
  NodeResources resources_;
  struct PendingBundles;
  std::list<std::shared_ptr<PendingBundles>> pending_bundles_;
  uint64_t next_client_id_ = 1;
  uint64_t next_waiter_seq_ = 1;  // WAIT_FOR_WORKERS calls
  uint64_t next_lease_id_ = 1;
  WorkerPool pool_;
  std::unordered_map<uint64_t, WorkerID> leases_;
  std::map<uint32_t, std::shared_ptr<Job>> jobs_;
  ProgramCache programs_;                   // job programs fetched here
  std::map<pid_t, uint32_t> program_pids_;  // job programs started here (fork servers), to their jobs
  std::list<std::shared_ptr<PendingLease>> pending_;
  std::unordered_map<uint64_t, std::weak_ptr<rpc::Connection>> client_conns_;  // by client id
  std::unordered_map<uint64_t, Clock::TimePoint> wanted_sent_;  // last LEASES_WANTED, by client
  LeasePolicyOptions lease_policy_;
  ClusterLeaseView cluster_view_{node_id_.Binary(), options_.clock};
  std::unique_ptr<boost::asio::steady_timer> cluster_view_timer_;
  bool cluster_view_timer_armed_ = false;
  Clock::TimePoint cluster_view_due_;  // when the armed timer is due, by options_.clock
  Clock::Listener clock_wakeup_;       // a FakeClock's moves run the timer (never the real clock's)

  std::mutex shutdown_mu_;
  std::condition_variable shutdown_cv_;
  bool shutdown_ = false;
  std::atomic<bool> stopped_{false};
};

}  // namespace lumen::scheduler
