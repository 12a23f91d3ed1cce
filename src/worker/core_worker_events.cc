// Task events leaving the process: the recorder's buffer is sent to the
// control service every kTaskEventFlushInterval, from the helper thread (it
// may connect, which must not happen on the loop), and once more at Shutdown.
#include "base/logging.h"
#include "base/timeouts.h"
#include "protocol/control.pb.h"
#include "worker/core_worker_internal.h"

namespace lumen::worker {

void CoreWorker::ArmTaskEventFlush() {
  if (!task_events_.enabled() || !event_timer_) return;
  event_timer_->expires_after(kTaskEventFlushInterval);
  event_timer_->async_wait([this](const boost::system::error_code &ec) {
    if (ec) return;
    if (task_events_.NumBuffered() > 0) helper_.Post([this] { FlushTaskEvents(/*wait=*/false); });
    ArmTaskEventFlush();
  });
}

void CoreWorker::FlushTaskEvents(bool wait) {
  if (!task_events_.enabled()) return;
  proto::TaskEventBatch batch = task_events_.TakeBatch();
  if (batch.events_size() == 0 && batch.dropped_per_job().empty()) return;
  auto control = Control();
  if (!control.ok()) {
    // Nowhere to send them: the job has lost the control service already.
    LUMEN_LOG_DEBUG("dropping {} task events: {}", batch.events_size(), control.status().ToString());
    return;
  }
  if (wait) {
    proto::Empty ack;
    (void)control.value()->CallSync(proto::ADD_TASK_EVENTS, batch, &ack, kTaskEventFlushTimeout);
    return;
  }
  control.value()->Call(
      proto::ADD_TASK_EVENTS, batch, [](Status, std::string_view) {}, kTaskEventFlushTimeout);
}

TaskPlace CoreWorker::SelfPlace() const {
  return {NodeID::FromBinary(node_info_.node_id()), options_.worker_id, pid_};
}

void CoreWorker::RecordReplyLocked(const TaskEntry &task, const proto::PushTaskReply &reply) {
  if (!task_events_.enabled()) return;
  if (reply.returns_size() == 0) {
    task_events_.RecordEnd(task.spec, proto::NO_ERROR, {});
    return;
  }
  const proto::ObjectPayload &p = reply.returns(0).payload();
  task_events_.RecordEnd(task.spec, p.error(), p.error() == proto::NO_ERROR ? std::string() : p.data());
}

}  // namespace lumen::worker
