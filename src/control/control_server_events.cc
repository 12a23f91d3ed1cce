// The control service's task events and user metrics (issue 18): batches
// from core workers merged into the bounded TaskEventStore and MetricStore,
// read back by the dashboard (the state API, /metrics).
#include <unistd.h>

#include <google/protobuf/arena.h>

#include <chrono>

#include "base/encoding.h"
#include "base/logging.h"
#include "control/control_server.h"
#include "protocol/control.pb.h"

namespace lumen::control {
namespace {

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void ControlServer::RegisterTaskEventHandlers() {
  // Parsed on an arena, not as Unary's message on the stack: a batch is up to
  // a second of a busy caller's attempts, thousands of small messages that
  // are all freed at once here.
  dispatcher_.Register(proto::ADD_TASK_EVENTS, rpc::Handler([this](const rpc::ConnectionPtr &conn,
                                                                   uint64_t call_id, std::string_view body) {
                         google::protobuf::Arena arena;
                         auto *batch = google::protobuf::Arena::CreateMessage<proto::TaskEventBatch>(&arena);
                         if (!rpc::ParseRequest(body, batch, conn, call_id)) return;
                         task_events_->Add(*batch);
                         if (call_id) conn->Reply(call_id, proto::Empty());
                       }));
  rpc::Unary<proto::GetTaskEventsRequest, proto::GetTaskEventsReply>(
      dispatcher_, proto::GET_TASK_EVENTS,
      [this](const rpc::ConnectionPtr &, const proto::GetTaskEventsRequest &request,
             proto::GetTaskEventsReply *reply) {
        auto got = task_events_->Get(request);
        if (!got.ok()) return got.status();
        *reply = std::move(*got);
        return Status::OK();
      });
  rpc::Unary<proto::NodeLogBatch, proto::NodeLogReply>(
      dispatcher_, proto::SHIP_NODE_LOGS,
      [this](const rpc::ConnectionPtr &, const proto::NodeLogBatch &batch, proto::NodeLogReply *reply) {
        auto wanted = node_logs_->Add(batch);
        if (!wanted.ok()) {
          LUMEN_LOG_WARN("node logs from {} not kept: {}", ToHex(batch.node_id()),
                         wanted.status().ToString());
          return wanted.status();
        }
        reply->set_wanted(*wanted);
        return Status::OK();
      });
  rpc::Unary<proto::MetricBatch, proto::Empty>(
      dispatcher_, proto::ADD_METRICS,
      [this](const rpc::ConnectionPtr &, const proto::MetricBatch &batch, proto::Empty *) {
        metrics_.Expire(WallMs());
        metrics_.Add(batch);
        return Status::OK();
      });
  rpc::Unary<proto::GetMetricsRequest, proto::GetMetricsReply>(
      dispatcher_, proto::GET_METRICS,
      [this](const rpc::ConnectionPtr &, const proto::GetMetricsRequest &, proto::GetMetricsReply *reply) {
        metrics_.Expire(WallMs());
        *reply = metrics_.Get();
        // This process's own use, for ray_component_* (Component "gcs").
        proto::ProcessStats *self = reply->mutable_control();
        self->set_pid(getpid());
        self->set_component("gcs");
        if (auto cpu = cpu_.Percent(getpid()); cpu.ok()) self->set_cpu_percent(*cpu);
        if (auto mem = ReadProcessMemory(getpid()); mem.ok()) {
          self->set_rss_bytes(mem->rss_bytes);
          self->set_uss_bytes(mem->uss_bytes);
          self->set_shared_bytes(mem->shared_bytes);
        }
        return Status::OK();
      });
}

}  // namespace lumen::control
