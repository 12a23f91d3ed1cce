#include "api_runtime/runtime_join.h"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/udp.hpp>
#include <algorithm>
#include <cstring>
#include <vector>

#include "api_runtime/runtime_daemons.h"
#include "api_runtime/runtime_head.h"
#include "protocol/control.pb.h"
#include "rpc/rpc.h"

namespace lumen::api {

bool IsLocalAddress(const std::string &ip) {
  boost::system::error_code ec;
  const auto wanted = boost::asio::ip::make_address(ip, ec);
  if (ec) return false;
  if (wanted.is_loopback()) return true;
  ifaddrs *all = nullptr;
  if (getifaddrs(&all) != 0) return false;
  bool found = false;
  for (ifaddrs *i = all; i && !found; i = i->ifa_next) {
    if (!i->ifa_addr) continue;
    if (i->ifa_addr->sa_family == AF_INET && wanted.is_v4()) {
      auto *sin = reinterpret_cast<const sockaddr_in *>(i->ifa_addr);
      found = boost::asio::ip::address_v4(ntohl(sin->sin_addr.s_addr)) == wanted.to_v4();
    } else if (i->ifa_addr->sa_family == AF_INET6 && wanted.is_v6()) {
      auto *sin6 = reinterpret_cast<const sockaddr_in6 *>(i->ifa_addr);
      boost::asio::ip::address_v6::bytes_type bytes;
      std::memcpy(bytes.data(), sin6->sin6_addr.s6_addr, bytes.size());
      found = boost::asio::ip::address_v6(bytes) == wanted.to_v6();
    }
  }
  freeifaddrs(all);
  return found;
}

StatusOr<JoinedNode> JoinCluster(const std::string &address) {
  std::string target = address;
  if (target == "auto") {  // Ray's address="auto": the cluster `lumen start` started here
    auto local = LocalClusterAddress();
    if (!local.ok()) return local.status();
    target = *local;
  }
  JoinedNode joined;
  const std::string addr = target.rfind("unix:", 0) == 0 ? target : "tcp:" + target;
  auto token = TokenForAddress(addr);
  if (!token.ok())
    return Status::InvalidArgument("cannot join the cluster at " + target + ": " + token.status().message());
  joined.token = *token;
  rpc::EventLoop loop("lumen-init");
  auto control = rpc::Connect(loop, addr, joined.token, nullptr);
  if (!control.ok())
    return Status::Disconnected("cannot reach the cluster at " + target + ": " + control.status().ToString());
  proto::GetAllNodesReply nodes;
  Status st = control.value()->CallSync(proto::GET_ALL_NODES, proto::GetAllNodesRequest(), &nodes);
  control.value()->Close();
  if (!st.ok())
    return Status::Disconnected("cannot list the nodes of the cluster at " + target + ": " + st.ToString());
  // This machine's nodes first, the longest running first (of several
  // nodes on one machine, the head's or else the first started: the same
  // one every time), then the others. A node that died a moment ago is
  // still listed alive until the control service has seen it go: one that
  // does not answer is passed over for the next.
  std::vector<const proto::NodeInfo *> candidates;
  for (const auto &n : nodes.nodes())
    if (n.alive()) candidates.push_back(&n);
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const proto::NodeInfo *a, const proto::NodeInfo *b) {
                     return a->start_time_ms() < b->start_time_ms();
                   });
  if (candidates.empty()) return Status::NotFound("the cluster at " + target + " has no live node");
  // Only this machine's: a node elsewhere cannot share its store with the
  // driver (the store is shared memory).
  candidates.erase(std::remove_if(candidates.begin(), candidates.end(),
                                  [](const proto::NodeInfo *n) { return !IsLocalAddress(n->node_ip()); }),
                   candidates.end());
  if (candidates.empty()) {
    joined.control_address = addr;
    if (addr.rfind("unix:", 0) == 0) {  // the control service is on this machine, its nodes elsewhere
      joined.local_ip = "127.0.0.1";
      return joined;
    }
    const std::string host = target.substr(0, target.rfind(':'));
    auto local = LocalAddressToward(host);
    if (!local.ok())
      return Status::Disconnected("cannot tell this machine's address toward the cluster at " + target +
                                  ": " + local.status().message());
    joined.local_ip = *local;
    return joined;
  }
  for (const proto::NodeInfo *n : candidates) {
    const std::string &raylet = n->raylet_address();
    const std::string socket = raylet.rfind("unix:", 0) == 0 ? raylet.substr(5) : raylet;
    auto probe =
        rpc::Connect(loop, socket.rfind("tcp:", 0) == 0 ? socket : "unix:" + socket, joined.token, nullptr);
    if (!probe.ok()) continue;
    (*probe)->Close();
    joined.node_socket = socket;
    joined.session_dir = n->session_dir();
    break;
  }
  if (joined.node_socket.empty())
    return Status::NotFound("the cluster at " + target + " has no live node on this machine that answers");
  return joined;
}

StatusOr<std::string> LocalAddressToward(const std::string &host) {
  namespace ip = boost::asio::ip;
  boost::asio::io_context io;
  boost::system::error_code ec;
  std::string name = host;
  if (name.size() > 2 && name.front() == '[' && name.back() == ']') name = name.substr(1, name.size() - 2);
  ip::udp::resolver resolver(io);
  auto endpoints = resolver.resolve(name, "9", ec);  // any port: nothing is sent
  if (ec || endpoints.empty()) return Status::NotFound("cannot resolve " + host + ": " + ec.message());
  // A datagram socket connected to the host sends nothing, but the kernel
  // picks the route and so the address this machine would send from. A
  // name may resolve to several addresses (IPv6 and IPv4): the first with a
  // route.
  for (const auto &entry : endpoints) {
    ip::udp::socket socket(io);
    socket.open(entry.endpoint().protocol(), ec);
    if (!ec) socket.connect(entry.endpoint(), ec);
    if (ec) continue;
    const ip::udp::endpoint local = socket.local_endpoint(ec);
    if (!ec) return local.address().to_string();
  }
  return Status::Disconnected("no route to " + host + ": " + ec.message());
}

}  // namespace lumen::api
