// Worker mode: running the tasks pushed to this process, in order, on the
// thread that calls RunTaskLoop.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>

#include "base/parallel_copy.h"
#include "base/settings.h"
#include "protocol/control.pb.h"
#include "worker/core_worker_internal.h"

namespace lumen::worker {

// ---------------------------------------------------------------- execution

bool LendLoopEnabled() { return CurrentSettings().lend_loop; }

void CoreWorker::RunTaskLoop() { ExecLoop(/*lead=*/LendLoopEnabled()); }

void CoreWorker::WaitForExecutors() {
  for (auto &t : exec_queue_.TakeExecutors(/*exit=*/false)) t.join();
}

void CoreWorker::ExecLoop(bool lead) {
  for (;;) {
    if (lead && !exec_queue_.HasWork()) {
      // An idle worker reads its next call off the socket on this thread
      // instead of having the loop thread hand it over: one wake-up per
      // call, not two (1_1_actor_calls_sync ~26k -> ~41k calls/s here; for
      // task workers, with the submitter reading its own reply too,
      // sync_task_latency_us p50 34 -> 12 us, and pipelined bursts lost
      // nothing: single_client_tasks_async 99k -> 108k tasks/s).
      const int spin = idle_spin_.Next();
      const auto start = std::chrono::steady_clock::now();
      bool led = loop_.Lead([&] { return exec_queue_.HasWork(); },
                            std::chrono::steady_clock::time_point::max(), std::chrono::microseconds(spin));
      if (led && spin > 0)
        idle_spin_.Report(spin, std::chrono::steady_clock::now() - start <= std::chrono::microseconds(spin));
    }
    bool backlog = false;
    // Exiting (ExitActor, or the node asked): calls still queued are not
    // run; their callers see the connection close.
    std::optional<ExecQueue::Task> t = exec_queue_.Next(&backlog);
    if (!t) return;
    // More calls queued behind this one: the loop thread serves the sockets
    // (batched replies, new calls) while this thread works through them.
    if (backlog) loop_.Attend();
    ExecuteTask(t->conn, t->call_id, std::move(t->spec));
  }
}

void CoreWorker::ExecuteTask(const rpc::ConnectionPtr &conn, uint64_t call_id, proto::TaskSpec spec) {
  // Only a normal task lends its CPU back while blocked in Get (as in Ray,
  // an actor keeps what it holds).
  const bool normal = spec.type() == proto::NORMAL_TASK;
  const bool creation = spec.type() == proto::ACTOR_CREATION_TASK;
  if (normal) in_task_ = true;
  if (creation) {
    // Known before the constructor runs: WasCurrentActorRestarted() works in it.
    actor_id_ = ActorID::FromBinary(spec.actor_id());
    actor_restarted_ = spec.actor_creation().num_restarts() > 0;
    actor_creator_ = conn;
  }
  const uint64_t posted_before = loop_.PostCount();
  // Where and when it runs, and (after the reply) how it ended: a record of
  // its own, complete even when the submitter dropped the attempt's events.
  const bool events_kept = task_events_.RecordHere(spec, proto::RUNNING);
  TaskEventRecorder::ScopedCurrentTask current(TaskID::FromBinary(spec.task_id()));
  ExecResult result;
  std::vector<ArgBytes> args;
  std::vector<RayObjectPtr> held;
  args.reserve(spec.args_size());
  for (auto &arg : spec.args()) {
    if (!arg.is_ref()) {
      args.push_back({arg.data().data(), arg.data().size(), {}, nullptr});
      continue;
    }
    ObjectID id = ObjectID::FromBinary(arg.object_id());
    if (arg.in_plasma()) {
      auto pin = PinPlasma(id);
      if (pin.ok()) {
        auto obj = std::make_shared<RayObject>();
        obj->data = pin.value()->data();
        obj->size = pin.value()->size();
        obj->pin = pin.value();
        held.push_back(obj);
        args.push_back({obj->data, obj->size, arg.object_id(), obj});
        continue;
      }
    }
    std::vector<RayObjectPtr> got;
    Status st = Get({id}, -1, &got);
    if (!st.ok() || got[0]->error != proto::NO_ERROR) {
      result.error = st.ok() ? got[0]->error : proto::OBJECT_LOST;
      result.error_message = st.ok() ? got[0]->ErrorMessage() : st.message();
      break;
    }
    held.push_back(got[0]);
    args.push_back({got[0]->data, got[0]->size, arg.object_id(), got[0]});
  }
  if (result.error == proto::NO_ERROR) options_.executor(spec, args, &result);
  held.clear();
  if (creation) {
    if (result.error != proto::NO_ERROR) {
      result.exit_worker = true;  // a constructor that failed leaves a dead actor
    } else {
      // max_concurrency > 1: more executors on the same queue (any order).
      // Threads of their own, not a pool's: they run ExecLoop beside the
      // main thread, and one may end the process (Shutdown detaches it).
      for (int i = 1; i < spec.actor_creation().max_concurrency(); ++i)
        exec_queue_.StartExecutor([this] { ExecLoop(/*lead=*/false); });
    }
  } else if (result.exit_worker && !actor_id_.IsNil() && actor_creator_) {
    // ExitActor: tell the control service first, so it does not restart us.
    proto::ActorIdRequest exiting;
    exiting.set_actor_id(actor_id_.Binary());
    proto::Empty ack;
    (void)actor_creator_->CallSync(proto::ACTOR_EXITING, exiting, &ack, kActorExitingTimeout);
  }
  // Task output reaches the driver through the node's log tailing.
  std::cout.flush();
  std::fflush(stdout);
  std::fflush(stderr);

  proto::PushTaskReply reply;
  auto *ret = reply.add_returns();
  ObjectID return_id = ObjectID::ForTaskReturn(TaskID::FromBinary(spec.task_id()), 1);
  ret->set_object_id(return_id.Binary());
  auto *payload = ret->mutable_payload();
  if (result.error != proto::NO_ERROR) {
    payload->set_error(result.error);
    payload->set_data(result.error_message);
  } else {
    // Refs inside the return value: make the caller a borrower before it
    // learns about them, so they survive this worker dropping its own refs.
    std::vector<ObjectID> remote;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto &n : result.nested) {
        payload->add_nested_ids(n.Binary());
        auto it = objects_.find(n);
        if (n.Owner() == options_.worker_id) {
          if (it != objects_.end() && spec.caller().unix_path() != self_address_.unix_path())
            refs_.AddBorrower(n, spec.caller().unix_path());
        } else {
          remote.push_back(n);
        }
      }
    }
    Status borrowed;
    for (auto &n : remote) {
      if (n.Owner() == WorkerID::FromBinary(spec.caller().worker_id())) continue;  // the caller owns it
      auto owner = OwnerConnection(n.Owner());
      // An owner that is gone took the object with it: the caller's Get
      // of it reports that, as for any ref whose owner died.
      if (!owner) continue;
      proto::BorrowRequest req;
      req.add_object_ids(n.Binary());
      *req.mutable_borrower() = spec.caller();
      proto::BorrowReply rep;
      borrowed = owner->CallSync(proto::ADD_BORROWER, req, &rep);
      if (borrowed.code() == StatusCode::kDisconnected) {
        borrowed = Status::OK();  // it went away meanwhile: as above
        continue;
      }
      if (!borrowed.ok()) {
        // An owner that may still be alive does not count the caller: it
        // could free the object while the caller holds a reference to it.
        borrowed = Status(StatusCode::kObjectLost, "The result of " + spec.function().function_name() +
                                                       " holds a reference to object " + n.Hex() +
                                                       ", but its owner could not be told that the caller "
                                                       "borrows it: " +
                                                       borrowed.ToString());
        break;
      }
    }
    Status st = borrowed;
    if (st.ok()) {
      st = StoreValue(
          return_id, result.size, [&result](char *dst) { return !result.write || result.write(dst); },
          payload);
    }
    if (!borrowed.ok()) {
      // The caller gets no refs: it borrows none of ours either.
      After after;
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (auto &n : result.nested) {
          auto it = objects_.find(n);
          if (n.Owner() != options_.worker_id || it == objects_.end()) continue;
          refs_.RemoveBorrower(n, spec.caller().unix_path());
          MaybeFreeLocked(n, &after);
        }
      }
      RunAll(after);
      payload->clear_nested_ids();
      payload->set_error(proto::OBJECT_LOST);
      payload->set_data(borrowed.message());
    } else if (!st.ok()) {
      payload->set_error(StoreFailureType(st));
      payload->set_data("Failed to store the result of " + spec.function().function_name() + ": " +
                        st.ToString());
    }
  }
  reply.set_worker_exiting(result.exit_worker);
  if (normal) in_task_ = false;
  // What the task sent (tasks it submitted, objects it freed) goes out before
  // its reply, even when the loop thread was not awake to send it.
  if (loop_.PostCount() != posted_before) loop_.Drain();
  {
    // With nothing else queued there is nothing to batch the reply with.
    std::optional<rpc::DirectSendScope> direct;
    // An exiting worker writes its last reply itself: the process ends
    // right after, before the loop would flush it.
    if (result.exit_worker || exec_queue_.Empty()) direct.emplace();
    conn->Reply(call_id, reply);
  }
  const proto::ObjectPayload &ended = reply.returns(0).payload();
  task_events_.RecordHereEnd(spec, ended.error(),
                             ended.error() == proto::NO_ERROR ? std::string() : ended.data(), events_kept);
  if (result.exit_worker) exec_queue_.RequestExit();
}

}  // namespace lumen::worker
