// The control service's task events (issue 18): batches from core workers
// merged into the bounded TaskEventStore, read back by the state API.
#include "control/control_server.h"
#include "protocol/control.pb.h"

namespace lumen::control {

void ControlServer::RegisterTaskEventHandlers() {
  rpc::Unary<proto::TaskEventBatch, proto::Empty>(
      dispatcher_, proto::ADD_TASK_EVENTS,
      [this](const rpc::ConnectionPtr &, const proto::TaskEventBatch &batch, proto::Empty *) {
        task_events_->Add(batch);
        return Status::OK();
      });
  rpc::Unary<proto::GetTaskEventsRequest, proto::GetTaskEventsReply>(
      dispatcher_, proto::GET_TASK_EVENTS,
      [this](const rpc::ConnectionPtr &, const proto::GetTaskEventsRequest &request,
             proto::GetTaskEventsReply *reply) {
        *reply = task_events_->Get(request);
        return Status::OK();
      });
}

}  // namespace lumen::control
