// StateSource over the control service: one authenticated connection, made
// at the first query and made again after it is lost, so a dashboard started
// before the control service serves, or outliving a brief loss, still answers.
//
// Threading: any thread; calls are serialised on one connection (each is one
// table read on the control service's loop, so queueing them costs little).
#pragma once

#include <memory>
#include <string>

#include "base/mutex.h"
#include "dashboard/state_source.h"
#include "rpc/rpc.h"

namespace lumen::dashboard {

class ControlStateSource : public StateSource {
 public:
  /// `address`: "unix:/path" or "tcp:host:port"; `token`: the cluster's.
  ControlStateSource(std::string address, std::string token);
  ~ControlStateSource() override;

  StatusOr<proto::GetAllNodesReply> Nodes() override;
  StatusOr<proto::GetAllActorsReply> Actors() override;
  StatusOr<proto::GetAllJobsReply> Jobs() override;
  StatusOr<proto::GetAllPlacementGroupsReply> PlacementGroups() override;
  StatusOr<proto::GetTaskEventsReply> Tasks(const proto::GetTaskEventsRequest &request) override;
  StatusOr<proto::GetAllNodesReply> NodeFacts(bool workers, bool objects) override;
  StatusOr<proto::GetAllNodesReply> NodeProcesses() override;
  StatusOr<proto::GetMetricsReply> Metrics() override;

 private:
  /// One call, connecting first if needed; after a failed call on an
  /// existing connection, connects once more and tries again.
  Status Call(uint16_t method, const google::protobuf::MessageLite &request,
              google::protobuf::MessageLite *reply);

  const std::string address_;
  const std::string token_;
  rpc::EventLoop loop_;
  Mutex mu_;
  rpc::ConnectionPtr conn_ GUARDED_BY(mu_);
};

}  // namespace lumen::dashboard
