// The core worker: the runtime inside every driver and worker process (Ray's
// CoreWorker). It owns the objects this process creates (ownership-based
// reference counting: local refs, refs held by submitted tasks, refs nested in
// owned objects, and borrowers elsewhere), submits tasks straight to workers
// leased from the node service (pipelining several to a worker when tasks are
// short), creates actors through the control service and sends actor calls
// straight to the actor's worker in submission order, and, in a worker, runs
// the tasks pushed to it (an actor's methods included). Its parts, each a
// class with its own tests: the submitters (normal_task_submitter.h,
// actor_task_submitter.h), the reference counter, the object fetcher,
// lineage recovery, the task inbox, the peer directory and the recorders.
//
// Losses. A process this one cannot work without (the node service, the
// control service, a driver's fork server) that dies, or stops answering
// for rpc::PeerTimeout(), fails the job here: tasks and actor calls waiting
// for a worker, and everything submitted later, fail with a message naming
// what was lost (OnLost). Calls in flight to a worker, an actor or an owner
// fail when that connection closes or stops answering.
//
// Threading: one event-loop thread runs all RPC callbacks. User threads call
// the public methods; shared state is guarded by one mutex (mu_), never held
// while user code runs or while waiting on the network. In a worker, tasks
// run on the thread that calls RunTaskLoop(), plus max_concurrency - 1 more
// threads in an actor created with max_concurrency > 1.
#pragma once

#include <cstdint>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <atomic>
#include <string>
#include <unordered_map>
#include <vector>

#include <msgpack.hpp>

#include "base/clock.h"
#include "base/id.h"
#include "base/serial_executor.h"
#include "object_store/arena.h"
#include "protocol/control.pb.h"
#include "protocol/node.pb.h"
#include "protocol/worker.pb.h"
#include "rpc/rpc.h"
#include "worker/actor_task_submitter.h"
#include "worker/peer_directory.h"
#include "worker/task_event_recorder.h"
#include "worker/exec_queue.h"
#include "worker/normal_task_submitter.h"
#include "worker/object_recovery.h"
#include "worker/reference_counter.h"
#include "worker/task_entry.h"

namespace lumen::worker {

/// What running one task produced (filled by the task executor).
struct ExecResult {
  proto::ErrorType error = proto::NO_ERROR;
  std::string error_message;
  /// The serialized return value: its size and what writes it (straight
  /// into the store's allocation for a large one); false: serializing failed.
  size_t size = 0;
  std::function<bool(char *dst)> write;
  std::vector<ObjectID> nested;  // refs serialized inside the return value
  bool exit_worker = false;      // the task asked the worker to exit (ExitActor)
};
struct ArgBytes {
  const char *data;
  size_t size;
  std::string_view object_id;  // a stored object's id (the spec's); empty: carried in the task's message
  std::shared_ptr<const void> owner;  // keeps the object's bytes where they are; null for message bytes
};
/// Runs a task's function: provided by the API layer, which knows the user's
/// registered functions. Must not throw.
using TaskExecutor =
    std::function<void(const proto::TaskSpec &spec, const std::vector<ArgBytes> &args, ExecResult *result)>;

/// Written by a fork server on its start socket when it exits because it lost
/// the node service (see CoreWorkerOptions::fork_server_fd).
inline constexpr char kForkServerLostNode = 'N';

struct CoreWorkerOptions {
  bool is_driver = true;
  std::string node_address;  // the node service's Unix socket
  /// Workers started by the node know their session folder: they then skip
  /// the provisional registration that tells a driver where it is.
  std::string session_dir;
  /// Drivers that started the cluster know its control service too: with
  /// both this and session_dir set, they skip that registration as well.
  std::string control_address;
  std::string token;
  uint32_t job_id = 0;  // drivers: assigned by the control service when 0
  /// Drivers: called with the job id as soon as it is known, before the
  /// driver registers with the node (ray::Init starts its fork server then,
  /// so that the job's first workers start sooner). On the calling thread.
  std::function<void(uint32_t job_id)> on_job_id;
  std::string ray_namespace;
  WorkerID worker_id = WorkerID::FromRandom();
  std::vector<std::string> code_search_path;
  std::string job_runtime_env;
  bool has_fork_server = false;
  /// Drivers: the job's default actor lifetime (workers learn it from the node).
  bool default_detached = false;
  /// Drivers: this program, registered with the job and uploaded to the
  /// control service when it lacks it (program_upload.h), so that other
  /// nodes can run the job's code. Unset (no sha256): not shipped.
  proto::JobProgram program;
  /// Drivers: where worker output lines go (default: stdout/stderr with (pid=N)).
  std::function<void(const proto::LogLines &)> on_log_lines;
  /// Workers: runs pushed tasks.
  TaskExecutor executor;
  /// Drivers: the job's fork server, and a descriptor (owned by the core
  /// worker from then on) that reads end-of-file once it has exited, after
  /// the byte kForkServerLostNode when it exited because it lost the node:
  /// either loss fails the job (see CoreWorker::OnLost).
  int fork_server_pid = -1;
  int fork_server_fd = -1;
  /// Workers forked by the job's fork server: the node's object store,
  /// mapped once by the fork server and inherited across fork, so a new
  /// worker skips the store hand-out (a connection and its handshake) on the
  /// way to its first task. Null: the worker asks the node for it.
  std::shared_ptr<object_store::Arena> arena;
  /// What the worker's decisions from elapsed time read: Get and Wait
  /// timeouts, the idle grace period of a lease, when a leased worker looks
  /// stalled. Tests pass a FakeClock (which must outlive the core worker).
  Clock *clock = &Clock::Real();
  /// Workers of a cluster that spans nodes: also listen on TCP at this
  /// address (their node's IP, from LUMEN_WORKER_TCP_HOST), so that
  /// processes on other nodes reach them. Drivers learn it from their node.
  /// Empty: Unix socket only (ray::Init's embedded head).
  std::string tcp_host;
};

/// A stored value as read by Get: bytes (inline, or pinned in shared memory)
/// plus the error, if the task that made it failed.
/// How long a thread about to wait polls before it sleeps (see
/// core_worker.cc): adapts to whether polling has been paying off.
class AdaptiveSpin {
 public:
  /// Microseconds to poll this time; 0: sleep at once.
  int Next();
  /// After a wait that polled for `used_us`: whether it ended while polling.
  void Report(int used_us, bool hit);

 private:
  std::atomic<int> budget_us_{-1};  // -1: the full budget
  std::atomic<uint32_t> skips_{0};
};

struct RayObject {
  proto::ErrorType error = proto::NO_ERROR;
  std::shared_ptr<const std::string> inline_data;  // for inline values and error messages
  const char *data = nullptr;
  size_t size = 0;
  std::shared_ptr<void> pin;  // keeps a shared-memory object pinned while alive
  std::string ErrorMessage() const { return std::string(data, size); }
};
using RayObjectPtr = std::shared_ptr<const RayObject>;

struct TaskOptions {
  std::string name;
  std::map<std::string, double> resources;
  int max_retries = 1;
  std::string runtime_env;
};

/// Writes exactly the announced number of serialized bytes to `dst`;
/// returns false if serialization failed (the object is then dropped).
using ValueWriter = std::function<bool(char *dst)>;

struct ActorOptions {
  std::string name;  // empty: unnamed
  std::string ray_namespace;
  std::map<std::string, double> resources;  // held while the actor lives
  int max_restarts = 0;                     // -1: unlimited
  int max_concurrency = 1;
  bool detached = false;
  std::string runtime_env;
  /// What must be free to place it; empty: `resources`, or 1 CPU when those are empty too.
  std::map<std::string, double> placement;
  std::string placement_group_id;  // placed in this group's bundle
};

struct SubmitArg {
  std::shared_ptr<msgpack::sbuffer> value;  // by value, or
  ObjectID ref;                             // by reference
  std::vector<ObjectID> nested;
};

class CoreWorker {
 public:
  static StatusOr<std::unique_ptr<CoreWorker>> Create(CoreWorkerOptions options);
  ~CoreWorker();

  // ---- objects ----
  /// Stores a new object of `size` serialized bytes that `write` produces
  /// straight into the object's storage (see ValueWriter).
  StatusOr<ObjectID> Put(size_t size, const ValueWriter &write, const std::vector<ObjectID> &nested);
  /// Fills `out` in input order. timeout_ms < 0 waits forever; TimedOut otherwise.
  Status Get(const std::vector<ObjectID> &ids, int64_t timeout_ms, std::vector<RayObjectPtr> *out);
  /// Returns ready flags; waits until num_objects are ready or the timeout.
  std::vector<bool> Wait(const std::vector<ObjectID> &ids, int num_objects, int64_t timeout_ms);
  void AddLocalReference(const ObjectID &id);
  void RemoveLocalReference(const ObjectID &id);

  // ---- tasks ----
  ObjectID SubmitTask(const std::string &function_name, std::vector<SubmitArg> args,
                      const TaskOptions &options);

  // ---- actors ----
  /// Registers the actor with the control service (AlreadyExists when its
  /// name is taken) and creates it once its arguments are ready.
  StatusOr<ActorID> CreateActor(const std::string &function_name, const std::string &class_name,
                                std::vector<SubmitArg> args, const ActorOptions &options);
  /// Calls a method; calls from this process run in submission order.
  ObjectID SubmitActorTask(const ActorID &actor_id, const std::string &function_name,
                           std::vector<SubmitArg> args, const TaskOptions &options);
  /// A live actor's id by name, or Nil.
  StatusOr<ActorID> GetNamedActor(const std::string &name, const std::string &ray_namespace);
  /// Returns once the actor's process is gone (restarting if allowed).
  Status KillActor(const ActorID &actor_id, bool no_restart);
  /// The connection to the control service, made on first use (blocking:
  /// never call on the event-loop thread). Once it was lost, the loss.
  StatusOr<rpc::ConnectionPtr> Control();
  /// This worker hosts an actor (set when its creation task starts).
  const ActorID &current_actor_id() const { return actor_id_; }
  bool actor_restarted() const { return actor_restarted_; }
  /// The job's default actor lifetime is DETACHED.
  bool job_default_detached() const { return options_.default_detached; }

  // ---- worker mode ----
  /// Runs pushed tasks on this thread until the node tells us to exit or goes away.
  void RunTaskLoop();
  /// After RunTaskLoop returned: waits until a threaded actor's extra
  /// executors have finished the calls they were running (they end then), so
  /// that nothing runs on the actor any more. Not from an executor thread.
  void WaitForExecutors();
  /// Drivers: waits until the node has a registered worker for this job (its
  /// prestarted pool), at most `timeout`. Returns how many have registered.
  int WaitForWorkers(std::chrono::milliseconds timeout);
  /// True while this worker runs a task (a Get then lends its CPU back).
  bool InTask() const { return in_task_; }

  // ---- context ----
  const WorkerID &worker_id() const { return options_.worker_id; }
  uint32_t job_id() const { return options_.job_id; }
  const std::string &ray_namespace() const { return options_.ray_namespace; }
  const std::string &session_dir() const { return session_dir_; }
  const proto::RegisterClientReply &node_info() const { return node_info_; }
  /// Where this process serves other core workers (borrowers, submitters).
  const proto::Address &address() const { return self_address_; }
  rpc::Connection &node() { return *node_; }
  /// Values of at least this many bytes live in the node's shared-memory
  /// store; smaller ones travel inside messages.
  size_t inline_threshold() const { return inline_threshold_; }
  /// Number of objects this process tracks (owned or borrowed); for tests.
  size_t NumTrackedObjects();
  /// How many times a Get or Wait caller has gone to sleep for its objects;
  /// for tests, to see a caller woken before its deadline go back to sleep.
  uint64_t NumWaitSleeps();
  /// Calls whose connection to their actor broke, waiting for the control
  /// service's news of the actor; for tests.
  size_t NumCallsAwaitingDeathInfo();

  // ---- nodes (core_worker_nodes.cc) ----
  /// Runs once for each node of the cluster that dies, as the control
  /// service reports it (NODE_CHANGED; heard once this process is connected
  /// to the control service, which a driver is from Create on and a worker
  /// from its first actor or control call). On the event-loop thread, with
  /// no lock of this core worker held: it may take them, and must not block.
  /// The hook for what a node's death means to this process's tasks and
  /// objects (retry, lineage reconstruction).
  using NodeDeathHandler = std::function<void(const NodeID &node_id, const proto::NodeInfo &info)>;
  void AddNodeDeathHandler(NodeDeathHandler handler);
  /// The node `node_id` (NodeID binary) died: the copies of objects this
  /// process owns that were there are forgotten, and objects left with no
  /// copy are made again from their lineage (the task that made them re-run,
  /// recursively through lost arguments, out of its max_retries) or, when
  /// that cannot be (a Put, an exhausted task, lineage not kept), fail with
  /// OBJECT_LOST saying why (UnreconstructableException at the API). Running
  /// tasks on that node need no call: their workers' connections close, and
  /// they are retried. Any thread but with mu_ not held (takes it);
  /// idempotent; cheap for a node that held nothing of ours. Called from Get
  /// when every copy failed to pull and the control service says their
  /// nodes are dead, from a borrower's NODES_DEAD, and by whoever learns of a
  /// node's death (the control service's node-death publication).
  void OnNodeDead(const std::string &node_id);

  /// Stops the event loop and closes connections. Idempotent.
  void Shutdown();

 private:
  struct ObjectEntry;
  class NormalTaskLink;
  class ActorTaskLink;
  class PlasmaPin;

  explicit CoreWorker(CoreWorkerOptions options);
  Status Connect();
  void RegisterHandlers();
  /// A process the job depends on is gone: fails what waits for workers or
  /// for actors that are not alive, and (through lost_) all later work. The
  /// first loss is the one reported. mu_ not held.
  void OnLost(Status why);
  void LoseLocked(Status why, After *after);
  /// Whether the fork server is gone, and why, without waiting: a worker
  /// that died with it may be seen before its end of file. Sets lost_.
  void CheckForkServerLocked(After *after);
  /// The node's loss, or the control service's where that connection has
  /// closed as well: the node stops when it loses the control service, and
  /// the first loss is the one to report. Loop thread; mu_ may be held.
  Status NodeLost(const std::string &why);
  Status ControlLost(const std::string &why) const;
  /// Installs `conn` as the control connection (control_mu_ held): its loss is the job's.
  void AdoptControlLocked(rpc::ConnectionPtr conn);
  /// Drivers: reports the fork server's exit (loop thread).
  void WatchForkServer();

  // Objects (mu_ held unless noted).
  /// The entry of `id`, made (and counted in refs_) on first use.
  ObjectEntry &EntryLocked(const ObjectID &id);
  /// Frees `id` if nothing references it (refs_), and what that releases.
  void MaybeFreeLocked(const ObjectID &id, std::vector<std::function<void()>> *after);
  /// refs_ freed `id`: drops its value, deletes stored copies, answers
  /// those waiting on it, and tells its owner that we no longer borrow it.
  void DropEntryLocked(const ObjectID &id, const ReferenceCounter::Refs &refs);
  /// Before a Get sleeps: spins (mu_ released) until `done` holds or the
  /// adaptive budget runs out. Returns with `lock` held.
  template <typename Done>
  void SpinBeforeBlockingLocked(std::unique_lock<std::mutex> &lock, Done done);
  /// Runs the event loop on this thread (mu_ released) until `done` holds
  /// or `deadline` passes, if no other thread leads it. Returns with `lock` held.
  template <typename Done>
  void LeadLoopLocked(std::unique_lock<std::mutex> &lock, Done done, Clock::TimePoint deadline);
  void SetReadyLocked(const ObjectID &id, const proto::ObjectPayload &payload,
                      std::vector<std::function<void()>> *after);
  void RequestFromOwnerLocked(const ObjectID &id, ObjectEntry &e);
  void SendBorrowLocked(const ObjectID &id, bool add);
  StatusOr<RayObjectPtr> MaterializeLocked(const ObjectID &id, ObjectEntry &e,
                                           std::unique_lock<std::mutex> &lock);
  StatusOr<std::shared_ptr<PlasmaPin>> PinPlasma(const ObjectID &id);
  // Objects across nodes (core_worker_fetch.cc).
  /// Has the local node pull `id` from a node holding a copy (`where`'s
  /// node_id, then copy_node_ids), one after another until one succeeds;
  /// records the new copy with the owner. mu_ not held (blocks). Disconnected
  /// when no node it asked answered that it lacks the object (they may be dead).
  Status FetchToLocal(const ObjectID &id, const proto::ObjectPayload &where);
  void RecordLocalCopy(const ObjectID &id);
  /// The object is freed: has the nodes other than this one drop their copies.
  void DeleteRemoteCopiesLocked(const ObjectID &id, const proto::ObjectPayload &payload);
  void RegisterFetchHandlers();
  /// NODE_CHANGED: a driver prints one warning line per dead node; the
  /// NodeDeathHandlers run.
  void RegisterNodeHandlers();
  // Lost objects (core_worker_recovery.cc; decisions in ObjectRecovery).
  /// A normal task finished with its return in a node's store: keeps its
  /// lineage (and recovers the return at once if that node is known dead).
  void KeepLineageLocked(const TaskEntry &task, After *after);
  /// Forgets `node_id`'s copies of owned objects; recovers those left with none.
  void DropNodeLocked(const std::string &node_id, After *after);
  /// Makes `id` (owned, every copy gone) again, or fails it, saying `why` it was lost.
  void RecoverLocked(const ObjectID &id, const std::string &why, After *after);
  ObjectRecovery::ObjectState RecoveryStateLocked(const ObjectID &id);
  /// Makes a ready object pending again (its nested refs released).
  void ResetObjectLocked(const ObjectID &id, After *after);
  /// Queues the task `r` again to make its return.
  void ResubmitLocked(ObjectRecovery::Resubmit r, After *after);
  /// Get could not read `id` from any copy: when their nodes are dead (the
  /// control service's node table says so), recovers it (owner) or tells
  /// the owner and asks it again (borrower), and returns true: wait for it
  /// anew. False: the read's error stands. Releases `lock` meanwhile.
  /// `unreachable`: the pulls failed for want of the nodes, not the object.
  bool RecoverFromFailedReadLocked(const ObjectID &id, bool unreachable, std::unique_lock<std::mutex> &lock,
                                   After *after);
  /// Which of `nodes` the control service's node table says are dead (or does not know). Blocks.
  std::vector<std::string> DeadNodesOf(const std::vector<std::string> &nodes);
  void RegisterRecoveryHandlers();
  /// Stores a value for `id`: inline in `payload` when small, else in the
  /// node's shared-memory store (payload marked in_plasma).
  Status StoreValue(const ObjectID &id, size_t size, const ValueWriter &write, proto::ObjectPayload *payload);
  /// Marks an id we own but no longer track as lost (it was freed).
  void MarkFreedLocked(const ObjectID &id, std::vector<std::function<void()>> *after);
  std::string OwnerPath(const WorkerID &owner) const;
  /// The connection to the owner of objects `owner` made, by its Unix socket
  /// on this node or by TCP on another (peer_directory.h); null when it
  /// cannot be reached. Blocking: not on the loop thread.
  rpc::ConnectionPtr OwnerConnection(const WorkerID &owner);
  /// Listens on TCP at `host` (empty: not at all) and makes directory_.
  Status ListenForOtherNodes(const std::string &host);
  /// What to connect to for a peer known by its address; empty when it
  /// cannot be reached from here.
  std::string RouteTo(const proto::Address &peer) const;
  /// The cached connection to another core worker, made on first use.
  /// `pipelined`: do not wait for the handshake (rpc::ConnectPipelined); may
  /// then be called on the loop thread.
  rpc::ConnectionPtr PeerConnection(const std::string &unix_path, bool pipelined = false);

  // Submission (mu_ held).
  /// Copies the arguments into `spec`, counting the refs they use as held by `task`.
  void AddArgsLocked(std::vector<SubmitArg> &args, TaskEntry &task);
  /// A task entry with a fresh id and the fields every kind of task shares.
  std::shared_ptr<TaskEntry> NewTaskLocked(proto::TaskType type, const std::string &function_name,
                                           const std::string &name);
  /// The normal-task submitter's queue key for tasks needing `resources` in
  /// `runtime_env`; a new one is checked for being feasible anywhere.
  std::string QueueKeyLocked(const std::map<std::string, double> &resources, const std::string &runtime_env);
  void WarnIfInfeasibleLocked(const char *what, const std::map<std::string, double> &resources);
  void ResolveAndQueueLocked(std::shared_ptr<TaskEntry> task, std::vector<std::function<void()>> *after);
  void FailTaskLocked(TaskEntry &task, proto::ErrorType type, const std::string &message,
                      std::vector<std::function<void()>> *after);
  void FinishTaskLocked(TaskEntry &task, std::vector<std::function<void()>> *after);
  /// `task` ran and `reply` is its worker's answer: its attempt is recorded,
  /// its returns become ready, a normal task's lineage is kept, and it ends.
  void CompleteTaskLocked(TaskEntry &task, const proto::PushTaskReply &reply, After *after);
  /// The lease timer's tick: idle leases go back, expired death-info waits fail.
  void ReturnIdleLeases();

  // Actors (core_worker_actor.cc); their calls are actor_submitter_'s.
  /// Sends CREATE_ACTOR; without a control connection the actor is dead at once.
  void SendCreateActorLocked(TaskEntry &task, After *after);

  // Task events (core_worker_events.cc): sent every kTaskEventFlushInterval
  // from the helper thread, and once more at Shutdown.
  void ArmTaskEventFlush();
  /// Sends what the recorder holds; `wait`: for the answer (Shutdown). mu_ not held.
  void FlushTaskEvents(bool wait);
  /// User metrics (metric_recorder.h): the process's changes, sent every
  /// kMetricFlushInterval from the helper thread and once more at Shutdown.
  void ArmMetricFlush();
  void FlushMetrics(bool wait);
  /// This process as the place an attempt runs.
  TaskPlace SelfPlace() const;
  /// The attempt ended as its reply's first return says.
  void RecordReplyLocked(const TaskEntry &task, const proto::PushTaskReply &reply);

  // Execution (worker mode). In an actor, the thread that runs RunTaskLoop
  // leads the event loop while idle; extra executors of a threaded actor do not.
  void ExecLoop(bool lead);
  void ExecuteTask(const rpc::ConnectionPtr &conn, uint64_t call_id, proto::TaskSpec spec);

  CoreWorkerOptions options_;
  // Before loop_, so it outlives it: connections still queued on the loop
  // when it is destroyed fail their calls then, and failing a task records
  // its end.
  TaskEventRecorder task_events_;
  // The submitters of normal tasks (leases, pushes) and of actor calls,
  // each with its link (its transport and owner), made by the constructor.
  // Before loop_ too: a call failed as the loop is destroyed still finds
  // them (with their queues gone since Shutdown, and nothing to do).
  std::unique_ptr<NormalTaskLink> normal_link_;
  std::unique_ptr<NormalTaskSubmitter> normal_submitter_;
  std::unique_ptr<ActorTaskLink> actor_link_;
  std::unique_ptr<ActorTaskSubmitter> actor_submitter_;
  rpc::EventLoop loop_{"lumen-core"};
  rpc::Dispatcher dispatcher_;
  std::unique_ptr<rpc::Server> server_;
  rpc::ConnectionPtr node_;
  std::shared_ptr<object_store::Arena> arena_;  // shared only with options_.arena, which gives it up at Start
  proto::RegisterClientReply node_info_;
  std::string session_dir_;
  proto::Address self_address_;
  // Made in Connect, before anything routes to a peer; read-only after.
  std::unique_ptr<PeerDirectory> directory_;
  bool tcp_mode_ = false;  // this process listens on TCP: peers may be on other nodes
  size_t inline_threshold_ = 100 * 1024;

  Clock &clock_;
  std::mutex mu_;
  std::condition_variable ready_cv_;
  // Wakes Get and Wait callers when a FakeClock moves (see base/clock.h).
  Clock::Listener clock_wakeup_;
  // Bumped whenever an object becomes ready, so a Get about to block can
  // spin on it without taking mu_ (see SpinBeforeBlockingLocked).
  std::atomic<uint64_t> ready_seq_{0};
  uint64_t wait_sleeps_ = 0;  // mu_: see NumWaitSleeps()
  AdaptiveSpin get_spin_;     // how long a blocking Get polls before sleeping
  AdaptiveSpin idle_spin_;    // how long the idle executor polls for a next task
  std::unordered_map<ObjectID, std::unique_ptr<ObjectEntry>> objects_;
  ReferenceCounter refs_;  // mu_: the references to each object in objects_
  std::unordered_map<std::string, rpc::ConnectionPtr> peers_;  // by address (bare Unix path or tcp:)
  uint64_t task_seq_ = 0;
  uint64_t put_seq_ = 0;
  std::unique_ptr<boost::asio::steady_timer> idle_timer_;
  bool shutdown_ = false;
  std::set<std::string> warned_infeasible_;

  // Worker mode: tasks pushed to us, run in order by RunTaskLoop (and a
  // threaded actor's extra executors, joined by Shutdown).
  ExecQueue exec_queue_;
  std::atomic<bool> in_task_{false};
  // Actor hosting (set by the creation task, before the constructor runs).
  ActorID actor_id_;
  std::atomic<bool> actor_restarted_{false};
  rpc::ConnectionPtr actor_creator_;  // the control service's connection to us

  std::mutex node_death_mu_;  // the two below
  std::vector<std::shared_ptr<NodeDeathHandler>> node_death_handlers_;
  std::set<std::string> reported_dead_nodes_;  // binary ids whose NODE_CHANGED was handled
  std::mutex control_mu_;
  rpc::ConnectionPtr control_;    // to the control service; owners' liveness signal
  Status control_lost_;           // control_mu_: why control_ closed
  int control_pid_ = 0;           // for messages; 0 when unknown
  bool program_shipped_ = false;  // the control service holds this driver's program (REGISTER_CLIENT says so)

  Status lost_;  // mu_: set by OnLost
  // mu_: lineage of owned task returns in node stores, and nodes seen dead.
  ObjectRecovery recovery_;
  std::set<std::string> dead_nodes_;
  std::unique_ptr<boost::asio::posix::stream_descriptor> fork_server_watch_;

  std::unique_ptr<boost::asio::steady_timer> event_timer_;
  std::unique_ptr<boost::asio::steady_timer> metric_timer_;
  const int32_t pid_;

  // Work that may block on connecting to another process runs here, never
  // on the event loop (it would wait on itself).
  SerialExecutor helper_{"lumen-helper"};
};

}  // namespace lumen::worker
