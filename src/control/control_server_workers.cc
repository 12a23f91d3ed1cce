// ControlServer: the worker directory's handlers (worker_directory.h).
#include "base/logging.h"
#include "control/control_server.h"

namespace lumen::control {

using rpc::Unary;

void ControlServer::RegisterWorkerDirectoryHandlers() {
  using namespace proto;
  dispatcher_.Register(PUBLISH_WORKER_ADDRESS,
                       [this](const rpc::ConnectionPtr &, uint64_t, const Address &req) {
                         if (Status st = workers_.Publish(req); !st.ok())
                           LUMEN_LOG_WARN("ignoring a worker address: {}", st.ToString());
                       });
  dispatcher_.Register(
      REMOVE_WORKER_ADDRESS,
      [this](const rpc::ConnectionPtr &, uint64_t, const Address &req) { workers_.Remove(req.worker_id()); });
  Unary<LookupWorkerRequest, LookupWorkerReply>(
      dispatcher_, LOOKUP_WORKER,
      [this](const rpc::ConnectionPtr &, const LookupWorkerRequest &req, LookupWorkerReply *rep) {
        if (const Address *found = workers_.Find(req.worker_id())) {
          rep->set_found(true);
          *rep->mutable_address() = *found;
        }
        return Status::OK();
      });
}

}  // namespace lumen::control
