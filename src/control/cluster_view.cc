#include "control/cluster_view.h"

#include <optional>

#include "base/timeouts.h"
#include "protocol/node.pb.h"

namespace lumen::control {

ResourceMap ToResourceMap(const proto::ResourceSet &r) { return {r.amounts().begin(), r.amounts().end()}; }

void FetchNodeResources(const std::vector<NodeLink> &nodes,
                        std::function<void(std::vector<PlacementNode>)> done) {
  struct Gather {
    std::vector<std::optional<PlacementNode>> answers;
    size_t outstanding = 0;
    std::function<void(std::vector<PlacementNode>)> done;
    void Answered() {
      if (--outstanding > 0) return;
      std::vector<PlacementNode> out;
      for (auto &a : answers)
        if (a) out.push_back(std::move(*a));
      done(std::move(out));
    }
  };
  auto gather = std::make_shared<Gather>();
  gather->answers.resize(nodes.size());
  gather->done = std::move(done);
  std::vector<std::pair<size_t, rpc::ConnectionPtr>> alive;
  for (size_t i = 0; i < nodes.size(); ++i) {
    auto conn = nodes[i].conn.lock();
    if (conn && conn->IsOpen()) alive.emplace_back(i, conn);
  }
  gather->outstanding = alive.size() + 1;  // +1: answered below, once every call is sent
  for (auto &[index, conn] : alive) {
    size_t i = index;  // a structured binding cannot be captured before clang 16
    std::string id = nodes[i].id;
    conn->Call(
        proto::NODE_STATS, proto::NodeEmpty(),
        [gather, i, id](Status st, std::string_view body) {
          proto::NodeStatsReply rep;
          if (st.ok() && rpc::ParseBody(body, &rep))
            gather->answers[i] =
                PlacementNode{id, ToResourceMap(rep.total()), ToResourceMap(rep.available())};
          gather->Answered();
        },
        kNodeUsageTimeout);  // as GET_ALL_NODES with_usage: a silent node is left out
  }
  gather->Answered();
}

}  // namespace lumen::control
