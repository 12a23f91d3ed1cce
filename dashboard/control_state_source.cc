#include "dashboard/control_state_source.h"

#include <utility>

namespace lumen::dashboard {

ControlStateSource::ControlStateSource(std::string address, std::string token)
    : address_(std::move(address)), token_(std::move(token)), loop_("lumen-dash-rpc") {}

ControlStateSource::~ControlStateSource() {
  MutexLock lock(mu_);
  if (conn_) conn_->Close();
}

Status ControlStateSource::Call(uint16_t method, const google::protobuf::MessageLite &request,
                                google::protobuf::MessageLite *reply) {
  MutexLock lock(mu_);
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool fresh = !conn_;
    if (fresh) {
      auto conn = rpc::Connect(loop_, address_, token_, nullptr);
      if (!conn.ok())
        return Status::Disconnected("cannot reach the control service at " + address_ + ": " +
                                    conn.status().message());
      conn_ = *conn;
    }
    Status st = conn_->CallSync(method, request, reply);
    if (st.ok()) return st;
    conn_->Close();
    conn_.reset();
    // A fresh connection that fails is a real failure; an old one may only
    // have been lost in between (the control service restarted).
    if (fresh)
      return Status::Disconnected("the control service at " + address_ + " did not answer: " + st.message());
  }
  return Status::Disconnected("the control service at " + address_ + " did not answer");
}

StatusOr<proto::GetAllNodesReply> ControlStateSource::Nodes() {
  proto::GetAllNodesRequest request;
  request.set_with_usage(true);
  proto::GetAllNodesReply reply;
  LUMEN_RETURN_IF_ERROR(Call(proto::GET_ALL_NODES, request, &reply));
  return reply;
}

StatusOr<proto::GetAllActorsReply> ControlStateSource::Actors() {
  proto::GetAllActorsReply reply;
  LUMEN_RETURN_IF_ERROR(Call(proto::GET_ALL_ACTORS, proto::GetAllActorsRequest(), &reply));
  return reply;
}

StatusOr<proto::GetAllJobsReply> ControlStateSource::Jobs() {
  proto::GetAllJobsReply reply;
  LUMEN_RETURN_IF_ERROR(Call(proto::GET_ALL_JOBS, proto::GetAllJobsRequest(), &reply));
  return reply;
}

StatusOr<proto::GetAllPlacementGroupsReply> ControlStateSource::PlacementGroups() {
  proto::GetAllPlacementGroupsReply reply;
  LUMEN_RETURN_IF_ERROR(Call(proto::GET_ALL_PLACEMENT_GROUPS, proto::GetAllPlacementGroupsRequest(), &reply));
  return reply;
}

StatusOr<proto::GetTaskEventsReply> ControlStateSource::Tasks(const proto::GetTaskEventsRequest &request) {
  proto::GetTaskEventsReply reply;
  LUMEN_RETURN_IF_ERROR(Call(proto::GET_TASK_EVENTS, request, &reply));
  return reply;
}

StatusOr<proto::GetAllNodesReply> ControlStateSource::NodeFacts(bool workers, bool objects) {
  proto::GetAllNodesRequest request;
  request.set_with_usage(true);
  request.set_with_workers(workers);
  request.set_with_objects(objects);
  proto::GetAllNodesReply reply;
  LUMEN_RETURN_IF_ERROR(Call(proto::GET_ALL_NODES, request, &reply));
  return reply;
}

StatusOr<proto::GetAllNodesReply> ControlStateSource::NodeProcesses() {
  proto::GetAllNodesRequest request;
  request.set_with_usage(true);
  request.set_with_processes(true);
  proto::GetAllNodesReply reply;
  LUMEN_RETURN_IF_ERROR(Call(proto::GET_ALL_NODES, request, &reply));
  return reply;
}

StatusOr<proto::GetMetricsReply> ControlStateSource::Metrics() {
  proto::GetMetricsReply reply;
  LUMEN_RETURN_IF_ERROR(Call(proto::GET_METRICS, proto::GetMetricsRequest(), &reply));
  return reply;
}

}  // namespace lumen::dashboard
