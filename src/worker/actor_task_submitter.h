// The caller's side of actor calls (Ray's ActorTaskSubmitter): follows each
// actor this process calls, as the control service publishes it (subscribed
// on first use), and sends its method calls straight to the actor's worker in
// submission order. A call whose arguments are not resolved yet holds back
// the calls behind it (never reordered). Calls not yet sent wait while the
// actor is being created or restarted and go to its new worker; they fail
// with ACTOR_DIED and its death cause once it is dead for good. A call in
// flight when the connection to the actor's worker fails waits for the
// control service's news of the actor (Ray's wait for death info, at most
// DeathInfoWait()), so that it fails naming why the actor died (its node's
// death, say) rather than with the bare connection error.
//
// What the core worker keeps: building a call's TaskSpec and TaskEntry,
// resolving its arguments (it sets TaskEntry::resolved and calls Pump), the
// objects a call returns (Owner), and creating actors. Everything sent goes
// through an ActorTransport, so unit tests need no process or socket.
//
// Threading: no lock of its own. `mu`, given to the constructor, is the core
// worker's mutex (CoreWorker::mu_); it guards this class's state and the
// TaskEntry objects, and every public method must be called with it held.
// The callbacks this class hands its transport (replies, connections made,
// ACTOR_UPDATE notifications) run without it, on the event-loop thread or
// the core worker's helper thread: they take `mu` themselves, and run the
// work they collected (After) once it is released.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "base/clock.h"
#include "base/id.h"
#include "base/status.h"
#include "protocol/common.pb.h"
#include "protocol/control.pb.h"
#include "protocol/worker.pb.h"
#include "rpc/rpc.h"
#include "worker/task_entry.h"
#include "worker/task_event_recorder.h"

namespace lumen::worker {

/// What ActorTaskSubmitter sends, and to whom. The core worker's
/// implementation uses rpc::Connections; tests answer by hand.
class ActorTransport {
 public:
  /// A connection the submitter holds without looking into it: the core
  /// worker's is an rpc::ConnectionPtr, a test's its own fake.
  using Peer = std::shared_ptr<void>;

  virtual ~ActorTransport() = default;

  /// Delivers the control service's ACTOR_UPDATE notifications to
  /// `on_update` (event-loop thread, mu not held). Called once, by the
  /// submitter's constructor.
  virtual void ListenForActorUpdates(std::function<void(const proto::ActorInfo &info)> on_update) = 0;
  /// Asks the control service, over `control`, for actor `id`'s state
  /// (SUBSCRIBE_ACTOR; `cb` gets a SubscribeActorReply), which also has it
  /// send this process the actor's later ACTOR_UPDATEs, after the reply.
  virtual void SubscribeActor(const Peer &control, const ActorID &id, rpc::ResponseCallback cb) = 0;
  /// Connects to the actor's worker at `address` without blocking the
  /// caller; `done` runs later, mu not held, with the connection, or null
  /// when that worker cannot be reached.
  virtual void ConnectToActor(const proto::Address &address, std::function<void(Peer peer)> done) = 0;
  /// Sends `spec` to the actor's worker (PUSH_TASK; `cb` gets a
  /// PushTaskReply, or the connection's error). `write_now`: the caller is
  /// about to wait for this call alone, so it is written on this thread
  /// (rpc::DirectSendScope) rather than by the event loop.
  virtual void PushActorTask(const Peer &peer, const proto::TaskSpec &spec, bool write_now,
                             rpc::ResponseCallback cb) = 0;
};

class ActorTaskSubmitter {
 public:
  /// What the core worker does when the submitter is done with a call: the
  /// call's return objects and argument refs are the core worker's. Called
  /// with mu held; work that must wait until it is released goes to `after`.
  class Owner {
   public:
    virtual ~Owner() = default;
    /// Ends `task` with an error, which its return object then holds.
    virtual void FailTask(TaskEntry &task, proto::ErrorType type, const std::string &message,
                          After *after) = 0;
    /// Ends `task` as its worker's reply says: its returns are ready.
    virtual void CompleteTask(TaskEntry &task, const proto::PushTaskReply &reply, After *after) = 0;
    /// Lets go of what `task` holds (its argument refs) without a result:
    /// an actor's creation task, once the actor is dead.
    virtual void FinishTask(TaskEntry &task, After *after) = 0;
  };

  /// `transport`, `owner`, `events` and `clock` must outlive the submitter.
  ActorTaskSubmitter(std::mutex &mu, ActorTransport &transport, Owner &owner, TaskEventRecorder &events,
                     Clock &clock);
  ~ActorTaskSubmitter();
  ActorTaskSubmitter(const ActorTaskSubmitter &) = delete;
  ActorTaskSubmitter &operator=(const ActorTaskSubmitter &) = delete;

  /// Whether actor `id` is followed here already (else the core worker
  /// connects to the control service, outside mu, before Queue).
  bool HasActor(const ActorID &id) const;
  /// An actor this process creates: registering it subscribed this process
  /// to it, and its updates come once it is created. `creation` holds the
  /// constructor's argument refs until the actor is dead.
  void AddCreatedActor(const ActorID &id, std::shared_ptr<TaskEntry> creation);
  /// Queues a call (its spec names the actor) behind the actor's earlier
  /// ones, numbering it (actor_seq). An actor not followed yet is subscribed
  /// to over `control`; with no `control` it is taken as dead. Nothing is
  /// sent before Pump.
  void Queue(std::shared_ptr<TaskEntry> task, const ActorTransport::Peer &control);
  /// Sends actor `id`'s queued calls that may go: in order, up to the first
  /// whose arguments are not resolved, once its worker is alive and
  /// connected (connecting first when needed); fails them when the actor is
  /// dead. The core worker calls it after Queue and whenever a queued call's
  /// arguments are resolved or its task failed.
  void Pump(const ActorID &id, After *after);
  /// Actor `id` will never be created (its creation could not be sent to
  /// the control service): it is dead with `cause`.
  void MarkDead(const ActorID &id, const std::string &cause, After *after);
  /// Fails the calls whose wait for death info is over, each with its
  /// connection's error. The core worker calls it from a periodic tick.
  void ExpireDeathInfoWaits(After *after);
  /// The job cannot go on (CoreWorker::OnLost): actors not alive are dead
  /// with `why`, and calls no longer wait for news of their actor.
  void OnLost(const Status &why, After *after);
  /// The core worker is shutting down: a call whose connection fails from
  /// now on fails at once.
  void Shutdown();
  /// Forgets every actor, without failing their calls (end of Shutdown).
  void Clear();
  /// Calls waiting for death info, all actors together; for tests.
  size_t NumAwaitingDeathInfo() const { return awaiting_death_info_; }

  /// How long a call whose connection to its actor failed waits for the
  /// control service's news of the actor (read from the settings each time).
  static Clock::Duration DeathInfoWait();

 private:
  struct ActorClient;

  /// The state of actor `id`, subscribing to it over `control` on first use.
  ActorClient &ClientFor(const ActorID &id, const ActorTransport::Peer &control);
  ActorClient *Find(const ActorID &id);
  /// Runs `f` with mu held on actor `id`'s state, if it is still followed,
  /// then the work it collected with mu released.
  template <typename F>
  void WithClient(const ActorID &id, F f);
  void ApplyActorInfo(ActorClient &c, const proto::ActorInfo &info, After *after);
  void Pump(ActorClient &c, After *after);
  void Send(ActorClient &c, std::shared_ptr<TaskEntry> task);
  void OnReply(const ActorID &id, int incarnation, const std::shared_ptr<TaskEntry> &task, Status st,
               std::string_view body);
  /// Fails the calls of `c` waiting for death info: with `cause` when given
  /// and not empty, else each with its own connection error.
  void ResolveDeathInfoWaits(ActorClient &c, const std::string *cause, After *after);

  std::mutex &mu_;
  ActorTransport &transport_;
  Owner &owner_;
  TaskEventRecorder &events_;
  Clock &clock_;
  std::unordered_map<ActorID, std::unique_ptr<ActorClient>> clients_;
  size_t awaiting_death_info_ = 0;  // in ActorClient::awaiting_death_info, all actors
  Status lost_;                     // set by OnLost
  bool shutdown_ = false;
};

}  // namespace lumen::worker
