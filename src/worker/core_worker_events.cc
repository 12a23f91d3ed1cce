// Task events and user metrics leaving the process: the task event
// recorder's buffer and the metric registry's changes are sent to the
// control service every kTaskEventFlushInterval / kMetricFlushInterval, from
// the helper thread (it may connect, which must not happen on the loop), and
// once more at Shutdown.
#include <google/protobuf/arena.h>

#include "base/logging.h"
#include "base/timeouts.h"
#include "protocol/control.pb.h"
#include "worker/core_worker_internal.h"
#include "worker/metric_recorder.h"

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
  // On an arena: a busy second's batch is tens of thousands of small
  // messages, each freed at once when the batch goes.
  google::protobuf::Arena arena;
  auto *batch = google::protobuf::Arena::CreateMessage<proto::TaskEventBatch>(&arena);
  if (!task_events_.TakeBatch(batch)) return;
  auto control = Control();
  if (!control.ok()) {
    // Nowhere to send them: the job has lost the control service already.
    LUMEN_LOG_DEBUG("dropping {} task events: {}", batch->events_size(), control.status().ToString());
    return;
  }
  if (wait) {
    proto::Empty ack;
    (void)control.value()->CallSync(proto::ADD_TASK_EVENTS, *batch, &ack, kTaskEventFlushTimeout);
    return;
  }
  control.value()->Call(
      proto::ADD_TASK_EVENTS, *batch, [](Status, std::string_view) {}, kTaskEventFlushTimeout);
}

void CoreWorker::ArmMetricFlush() {
  if (!metric_timer_) return;
  metric_timer_->expires_after(kMetricFlushInterval);
  metric_timer_->async_wait([this](const boost::system::error_code &ec) {
    if (ec) return;
    if (MetricRegistry::Instance().NumCells() > 0) helper_.Post([this] { FlushMetrics(/*wait=*/false); });
    ArmMetricFlush();
  });
}

namespace {

proto::MetricKind KindToProto(MetricKind kind) {
  switch (kind) {
    case MetricKind::kCounter:
      return proto::METRIC_COUNTER;
    case MetricKind::kSum:
      return proto::METRIC_SUM;
    case MetricKind::kHistogram:
      return proto::METRIC_HISTOGRAM;
    default:
      return proto::METRIC_GAUGE;
  }
}

proto::MetricFamily FamilyToProto(MetricChanges &m) {
  proto::MetricFamily family;
  family.set_name(std::move(m.name));
  family.set_description(std::move(m.description));
  family.set_unit(std::move(m.unit));
  family.set_kind(KindToProto(m.kind));
  for (double b : m.boundaries) family.add_boundaries(b);
  family.mutable_series()->Reserve(static_cast<int>(m.series.size()));
  for (MetricSeriesChange &c : m.series) {
    proto::MetricSeries *s = family.add_series();
    for (const auto &[key, value] : c.tags) {
      proto::MetricTag *tag = s->add_tags();
      tag->set_key(key);
      tag->set_value(value);
    }
    s->set_value(c.value);
    for (uint64_t n : c.buckets) s->add_bucket_counts(n);
    s->set_sum(c.sum);
    s->set_count(c.count);
  }
  return family;
}

}  // namespace

void CoreWorker::FlushMetrics(bool wait) {
  MetricBatchChanges changes = MetricRegistry::Instance().TakeBatch();
  if (changes.metrics.empty() && changes.dropped_series == 0) return;
  proto::MetricBatch batch;
  batch.set_job_id(options_.job_id);
  batch.set_node_id(node_info_.node_id());
  batch.set_dropped_series(changes.dropped_series);
  for (MetricChanges &m : changes.metrics) *batch.add_families() = FamilyToProto(m);
  auto control = Control();
  if (!control.ok()) {
    LUMEN_LOG_DEBUG("dropping {} metrics' changes: {}", batch.families_size(), control.status().ToString());
    return;
  }
  if (wait) {
    proto::Empty ack;
    (void)control.value()->CallSync(proto::ADD_METRICS, batch, &ack, kTaskEventFlushTimeout);
    return;
  }
  control.value()->Call(
      proto::ADD_METRICS, batch, [](Status, std::string_view) {}, kTaskEventFlushTimeout);
}

TaskPlace CoreWorker::SelfPlace() const {
  return {NodeID::FromBinary(node_info_.node_id()), options_.worker_id, pid_};
}

void CoreWorker::RecordReplyLocked(const TaskEntry &task, const proto::PushTaskReply &reply) {
  if (!task_events_.enabled()) return;
  if (reply.returns_size() == 0) {
    task_events_.RecordEnd(task.spec, proto::NO_ERROR, {}, task.events_kept);
    return;
  }
  const proto::ObjectPayload &p = reply.returns(0).payload();
  task_events_.RecordEnd(task.spec, p.error(), p.error() == proto::NO_ERROR ? std::string() : p.data(),
                         task.events_kept);
}

}  // namespace lumen::worker
