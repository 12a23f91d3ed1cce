// Where the dashboard's state API reads the cluster's tables: the control
// service in the dashboard process (ControlStateSource), a fake in tests.
//
// Threading: implementations are called from the HTTP server's worker
// threads, several at once, and must be safe for that.
#pragma once

#include "base/status.h"
#include "protocol/control.pb.h"

namespace lumen::dashboard {

class StateSource {
 public:
  virtual ~StateSource() = default;
  /// Nodes with their resource use (asked of each alive node).
  virtual StatusOr<proto::GetAllNodesReply> Nodes() = 0;
  virtual StatusOr<proto::GetAllActorsReply> Actors() = 0;
  virtual StatusOr<proto::GetAllJobsReply> Jobs() = 0;
  virtual StatusOr<proto::GetAllPlacementGroupsReply> PlacementGroups() = 0;
  /// Task attempts from the task events, the request's query applied where
  /// they are kept (control/task_event_store.h).
  virtual StatusOr<proto::GetTaskEventsReply> Tasks(const proto::GetTaskEventsRequest &request) = 0;
  /// Nodes as Nodes(), each alive one with its processes (`workers`) and the
  /// objects in its store (`objects`) in its usage.
  virtual StatusOr<proto::GetAllNodesReply> NodeFacts(bool workers, bool objects) = 0;
  /// Nodes as Nodes(), each alive one with its processes' CPU and memory
  /// (`processes` in its usage).
  virtual StatusOr<proto::GetAllNodesReply> NodeProcesses() = 0;
  /// The user metrics' sums, and the control service's own process.
  virtual StatusOr<proto::GetMetricsReply> Metrics() = 0;
};

}  // namespace lumen::dashboard
