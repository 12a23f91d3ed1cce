// The runtime's timeouts and grace periods, in one place, each with the
// reason for its value. A timeout here bounds a wait that only a broken or
// hung peer makes long: the common case finishes far inside it, so the value
// decides how long a failure takes to be reported, not how fast anything
// runs. Polling intervals and the user's own timeouts are not here.
//
// Threading: constants only.
#pragma once

#include <chrono>

namespace lumen {

/// A deadline far enough away never to pass: for calls whose answer comes
/// when something else happens (a lease granted when resources free up, an
/// object's status once it is created), where any finite deadline would fail
/// work that is merely waiting its turn.
inline constexpr std::chrono::hours kForever{24 * 365};

// ---- RPC

/// A call whose caller names no deadline. Control and node calls answer in
/// well under a millisecond; 30 s reports a hung service without failing a
/// merely slow one on a loaded machine.
inline constexpr std::chrono::milliseconds kDefaultCallTimeout{30000};
/// Extra time a blocking caller waits past its call's own deadline. The
/// event loop's sweeper enforces the deadline; this only guards against a
/// loop that stopped running.
inline constexpr std::chrono::seconds kCallSyncGrace{2};
/// Connecting and proving the token, when the caller names no deadline.
inline constexpr std::chrono::milliseconds kConnectTimeout{10000};
/// A peer that connected must finish the handshake within this; it is
/// generous because peers may be busy starting (a worker's first accept).
inline constexpr std::chrono::seconds kHandshakeTimeout{10};
/// Connecting to another worker on this node (an owner, an actor's worker):
/// a local Unix socket, so 5 s means the peer is gone or hung.
inline constexpr std::chrono::milliseconds kPeerConnectTimeout{5000};
/// How long a peer may stay silent while this side waits on it before the
/// connection is closed as dead (rpc::PeerTimeout; LUMEN_PEER_TIMEOUT_MS
/// replaces it). A few seconds: a live event loop answers a ping in
/// microseconds, and a lost node or service must fail pending work quickly.
inline constexpr std::chrono::milliseconds kDefaultPeerTimeout{5000};

// ---- starting and stopping processes

/// The control service writing its port file: it does little before that.
inline constexpr std::chrono::seconds kControlStartTimeout{10};
/// The node service listening, and then saying it is ready. It maps and
/// pre-faults the object store first, which on a large store takes seconds.
inline constexpr std::chrono::seconds kNodeStartTimeout{20};
/// How long a starting node keeps trying the control service's socket
/// (`--control-wait-ms`): the two start side by side.
inline constexpr std::chrono::milliseconds kNodeControlWait{10000};
/// How long Init waits for the job's first prestarted worker (~1.5 ms
/// normally). Bounded so slow machines only return later, never fail.
inline constexpr std::chrono::milliseconds kFirstWorkerWait{2000};
/// A node answers WAIT_FOR_WORKERS by its own deadline; the call gets this
/// much more before the caller gives up on the node itself.
inline constexpr std::chrono::seconds kWaitForWorkersGrace{5};
/// A service asked to stop (SIGTERM) flushes and exits; past this it is killed.
inline constexpr std::chrono::seconds kServiceStopGrace{3};
/// `lumen stop`: how long a daemon sent SIGKILL may take to be gone (its
/// memory freed, its sockets closed) before stop reports it still running.
inline constexpr std::chrono::seconds kDaemonGoneTimeout{30};
/// The driver writes its fork server's settings (a few hundred bytes) in one
/// go: once their first byte has come, the rest must follow within this, or
/// the fork server reports a broken driver instead of waiting for good.
inline constexpr std::chrono::seconds kForkServerSettingsTimeout{10};
/// The fork server has no state to save; past this it is killed.
inline constexpr std::chrono::seconds kForkServerStopGrace{1};
/// A process shutting down waits this long for its event loop to run the
/// last clean-up; a loop that does not answer is stopped anyway.
inline constexpr std::chrono::seconds kCoreWorkerStopWait{2};
inline constexpr std::chrono::seconds kNodeStopWait{5};
// How long a stopping node waits for its last log files to reach the head.
inline constexpr std::chrono::seconds kNodeLogFlushWait{2};

// ---- the node's worker pool

/// An idle worker beyond the pool the node keeps (its prestart size) is
/// stopped once idle this long: Ray's idle_worker_killing_time_threshold_ms.
/// Long enough that a burst of work finds its workers still there.
inline constexpr std::chrono::milliseconds kIdleWorkerGrace{1000};

// ---- calls that wait on the cluster

/// Placement-group waits: the control service answers by the user's own
/// deadline; the call gets this much more for the answer to arrive.
inline constexpr std::chrono::milliseconds kPlacementGroupWaitGrace{30000};
/// KILL_ACTOR is answered once the actor's process is gone, which may take
/// the process's own exit handlers; a minute means it is stuck.
inline constexpr std::chrono::milliseconds kKillActorTimeout{60000};
/// ACTOR_EXITING tells the control service not to restart an actor that
/// exits on purpose; the worker exits afterwards either way.
inline constexpr std::chrono::milliseconds kActorExitingTimeout{5000};
/// Task events (issue 18): how often a core worker sends what its tasks went
/// through to the control service; the state API lags by about this much.
inline constexpr std::chrono::milliseconds kTaskEventFlushInterval{1000};
/// User metrics: how often a process sends its changes (Ray's
/// metrics_report_interval_ms is 10 s; one small batch a second per process
/// that records any keeps /metrics close behind the programs).
inline constexpr std::chrono::milliseconds kMetricFlushInterval{1000};
/// The last batch of task events at Shutdown: answered at once by a live
/// control service; a hung one should delay Shutdown little.
inline constexpr std::chrono::milliseconds kTaskEventFlushTimeout{2000};
/// A driver's JOB_FINISHED at Shutdown: a live control service answers at
/// once, and a hung one should delay Shutdown little.
inline constexpr std::chrono::seconds kJobFinishedTimeout{2};
/// GET_ALL_NODES with usage: how long the control service waits for each
/// node's resources (a live node answers at once, from its loop); one that
/// has not answered by then is left out of the sum rather than holding up
/// the answer.
inline constexpr std::chrono::milliseconds kNodeUsageTimeout{5000};
/// A full object store makes CREATE_OBJECT wait this long for space (other
/// objects being freed) before failing with ObjectStoreFull...
inline constexpr std::chrono::milliseconds kObjectStoreFullWait{10000};
/// ...and the call itself gets this long, which covers that wait.
inline constexpr std::chrono::milliseconds kCreateObjectTimeout{60000};
/// PULL_OBJECT: a reader's node fetching an object from another node. It may
/// first wait kObjectStoreFullWait for room, then moves up to gigabytes; a
/// source that dies fails it sooner (the connection's peer timeout).
inline constexpr std::chrono::milliseconds kPullObjectTimeout{600000};
/// A reader that could pull an object from none of its copies asks the
/// control service whether their nodes died (it sees a node whose processes
/// died at once, but may hear of it just after the pull failed): it asks
/// again every kLostCopyRecheck, for at most kLostCopyConfirm, before the
/// pull's error stands.
inline constexpr std::chrono::milliseconds kLostCopyConfirm{5000};
inline constexpr std::chrono::milliseconds kLostCopyRecheck{100};

}  // namespace lumen
