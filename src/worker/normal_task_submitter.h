// The normal-task submitter (Ray's NormalTaskSubmitter): runs a process's
// tasks on workers leased from the node services. Tasks that need the same
// resources in the same runtime env share a scheduling queue and its leases.
// For a queue with tasks waiting it asks this process's node for leases (at
// most kMaxPendingLeases at once), follows SPILLBACK replies to the node
// named there, pushes tasks straight to the leased workers (several at once
// when PipelinePolicy says they are short), retries the tasks of a worker
// that died per their max_retries, cancels the requests no task needs any
// more, and gives leases back once idle (at once while another submitter
// waits for workers: LEASES_WANTED).
//
// It decides; its LeaseTransport sends (RPC in the core worker, a fake in
// tests) and its Owner acts on the outcome (a task's returns, its failure).
//
// Threading: no lock of its own. Its state is guarded by its owner's mutex
// `mu` (the core worker's mu_, because a task's end touches the owner's
// objects in the same critical section). Every public method is called with
// `mu` held. The callbacks it gives the transport run on the event-loop
// thread without `mu` and take it; what they leave to do after it (After)
// runs once it is released.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "protocol/node.pb.h"
#include "protocol/worker.pb.h"
#include "rpc/rpc.h"
#include "worker/pipeline_policy.h"
#include "worker/task_entry.h"
#include "worker/task_event_recorder.h"

namespace lumen::worker {

/// How the submitter reaches node services and leased workers.
class LeaseTransport {
 public:
  /// A node or a leased worker as the transport knows it (a connection),
  /// opaque to the submitter, which only holds it and hands it back. A null
  /// node is this process's own node.
  using Peer = std::shared_ptr<void>;

  virtual ~LeaseTransport() = default;
  /// Asks `node` for a worker; the transport stamps who asks (job, worker).
  /// `cb` runs once, on the event-loop thread, without the owner's mutex.
  virtual void RequestLease(const Peer &node, proto::WorkerLeaseRequest request,
                            rpc::ResponseCallback cb) = 0;
  /// Withdraws `node`'s pending requests for `request`'s resources; they are
  /// answered as canceled. Dropped when the node cannot be reached.
  virtual void CancelLeases(const Peer &node, const proto::WorkerLeaseRequest &request) = 0;
  /// Gives lease `lease_id` back to the node that granted it.
  virtual void ReturnWorker(const Peer &node, uint64_t lease_id, bool worker_failed) = 0;
  /// The node at `address` (a SPILLBACK reply's), or null when it cannot be
  /// reached. Event-loop thread, owner's mutex not held; does not wait.
  virtual Peer ConnectNode(const std::string &address) = 0;
  /// A leased worker, or null when it cannot be reached. As ConnectNode.
  virtual Peer ConnectWorker(const proto::Address &worker) = 0;
  /// Sends a task to a leased worker; `write_now`: write it at once rather
  /// than batched through the event loop (a lone, latency-bound task). `cb`
  /// runs as RequestLease's.
  virtual void PushTask(const Peer &worker, const proto::PushTaskRequest &request, bool write_now,
                        rpc::ResponseCallback cb) = 0;
  /// Whether this process's node is still connected: an error from a node
  /// that is connected is its answer, not its loss.
  virtual bool NodeConnected() = 0;
  /// `node` in messages.
  virtual std::string NodeName(const Peer &node) = 0;
};

class NormalTaskSubmitter {
 public:
  using Peer = LeaseTransport::Peer;

  /// What the submitter's decisions mean to the rest of the process. Called
  /// with the owner's mutex held; work that must wait for it goes in `after`.
  class Owner {
   public:
    virtual ~Owner() = default;
    /// A leased worker's connection broke: a process the job depends on may
    /// have died with it. The owner checks, and calls OnLost if so.
    virtual void CheckForLoss(After *after) = 0;
    /// `task` ends with an error (its return set to it).
    virtual void FailTask(TaskEntry &task, proto::ErrorType type, const std::string &message,
                          After *after) = 0;
    /// `task` ran: `reply` is its worker's answer (its returns).
    virtual void CompleteTask(TaskEntry &task, const proto::PushTaskReply &reply, After *after) = 0;
  };

  /// Give a lease back after this long unused.
  static constexpr Clock::Duration kLeaseIdle = std::chrono::milliseconds(100);
  /// Lease requests outstanding per scheduling queue.
  static constexpr size_t kMaxPendingLeases = 16;
  /// How long after LEASES_WANTED a lease goes back as soon as it is idle.
  static constexpr Clock::Duration kLeasesWantedFor = std::chrono::milliseconds(200);

  NormalTaskSubmitter(std::mutex &mu, Clock &clock, LeaseTransport &transport, Owner &owner,
                      TaskEventRecorder &events);
  ~NormalTaskSubmitter();
  NormalTaskSubmitter(const NormalTaskSubmitter &) = delete;
  NormalTaskSubmitter &operator=(const NormalTaskSubmitter &) = delete;

  /// `resources` as one string, the same for equal maps: the first part of
  /// a queue's key.
  static std::string ResourceKey(const std::map<std::string, double> &resources);
  /// The key of the queue for tasks needing `resources` in `runtime_env`
  /// (TaskEntry::key), made on first use; `*created` says whether it was.
  std::string QueueKey(const std::map<std::string, double> &resources, const std::string &runtime_env,
                       bool *created);
  /// `task`, its arguments ready and its key from QueueKey, waits for a
  /// worker (ignored once stopped).
  void Submit(std::shared_ptr<TaskEntry> task, After *after);
  /// The job is lost (`why`): queued tasks and later ones fail with its
  /// message, no lease is asked for any more, and pending requests are canceled.
  void OnLost(const Status &why, After *after);
  /// Another submitter waits for workers: idle leases go back now, and for
  /// kLeasesWantedFor as soon as they are idle.
  void OnLeasesWanted();
  /// Gives back the leases unused for kLeaseIdle (the owner's timer).
  void ReturnIdleLeases();
  /// The process shuts down: replies to lease requests are ignored from now on.
  void Stop();
  /// After Stop: forgets every queue; returns the leased workers to close.
  std::vector<Peer> TakeWorkers();

  /// For tests: leases held and lease requests pending, over all queues.
  size_t NumLeases() const;
  size_t NumPendingLeaseRequests() const;

 private:
  struct LeasedWorker;
  struct Queue;

  Queue *Find(const std::string &key);
  void Pump(Queue &q);
  void SendLeaseRequest(Queue &q, const Peer &node, int hops);
  void FailQueued(Queue &q, const std::string &why, After *after);
  void FailQueuedIfLost(Queue &q, After *after);
  void ReturnIdle(Clock::Duration min_idle);
  void Push(Queue &q, LeasedWorker &w, std::shared_ptr<TaskEntry> task);
  // Reply handlers (event-loop thread; take mu_).
  void OnLeaseReply(const std::string &key, const Peer &node, int hops, Status st, std::string_view body);
  void FollowSpillback(const std::string &key, const proto::WorkerLeaseReply &rep, int hops);
  void OnLeaseGranted(const std::string &key, const Peer &node, const proto::WorkerLeaseReply &rep);
  void OnPushReply(const std::string &key, uint64_t lease_id, std::shared_ptr<TaskEntry> task, Status st,
                   std::string_view body);
  /// The worker of `lease_id` failed `task` (or died) with `st`: its tasks
  /// are retried or failed.
  void OnWorkerFailed(Queue &q, uint64_t lease_id, std::shared_ptr<TaskEntry> task, const Status &st,
                      After *after);

  std::mutex &mu_;
  Clock &clock_;
  LeaseTransport &transport_;
  Owner &owner_;
  TaskEventRecorder &events_;
  std::map<std::string, std::unique_ptr<Queue>> queues_;
  Status lost_;
  bool stopped_ = false;
  // Until then, other submitters wait for workers: idle leases go back at once.
  Clock::TimePoint leases_wanted_until_{};
};

}  // namespace lumen::worker
