#include "cli/dashboard_client.h"

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "dashboard/dashboard_address.h"

namespace lumen::cli {
namespace {

// The dashboard's "host:port", from the control service's KV store.
StatusOr<std::string> DashboardAddress(const std::string &cluster, const std::string &token) {
  rpc::EventLoop loop("lumen-cli");
  auto conn = ConnectControl(loop, cluster, token);
  if (!conn.ok()) return conn.status();
  proto::KvGetRequest get;
  get.set_ns(dashboard::kDashboardKvNamespace);
  get.set_key(dashboard::kDashboardKvKey);
  proto::KvGetReply reply;
  Status st = (*conn)->CallSync(proto::KV_GET, get, &reply);
  (*conn)->Close();
  if (!st.ok())
    return Status::IoError("the control service at " + cluster + " did not answer: " + st.message());
  if (!reply.found())
    return Status::NotFound("the cluster at " + cluster +
                            " has no dashboard (its head was started with --include-dashboard=false)");
  std::string address = reply.value();
  // A dashboard on every address: reach it where the control service is.
  if (address.rfind("0.0.0.0:", 0) == 0) address = cluster.substr(0, cluster.rfind(':')) + address.substr(7);
  return address;
}

}  // namespace

std::unique_ptr<httplib::Client> DashboardTarget::Client() const {
  const size_t colon = address.rfind(':');
  auto client =
      std::make_unique<httplib::Client>(address.substr(0, colon), std::stoi(address.substr(colon + 1)));
  client->set_connection_timeout(std::chrono::seconds(10));
  client->set_read_timeout(std::chrono::seconds(30));
  return client;
}

httplib::Headers DashboardTarget::Auth() const { return {{"Authorization", "Bearer " + token}}; }

StatusOr<DashboardTarget> FindDashboard(const std::string &address_flag, const std::string &token_flag) {
  DashboardTarget target;
  if (address_flag.rfind("http://", 0) == 0) {
    std::string rest = address_flag.substr(7);
    while (!rest.empty() && rest.back() == '/') rest.pop_back();
    if (rest.find(':') == std::string::npos || rest.find('/') != std::string::npos)
      return Status::InvalidArgument("a dashboard address is http://HOST:PORT, got '" + address_flag + "'");
    target.address = rest;
    target.token = token_flag;
    if (target.token.empty())
      if (const char *env = std::getenv("LUMEN_TOKEN")) target.token = env;
    if (target.token.empty())
      return Status::InvalidArgument("with a dashboard's http:// address, pass --token or set LUMEN_TOKEN");
    return target;
  }
  auto cluster = ClusterAddress(address_flag);
  if (!cluster.ok()) return cluster.status();
  auto token = TokenFor(*cluster, token_flag);
  if (!token.ok()) return token.status();
  auto dashboard = DashboardAddress(*cluster, *token);
  if (!dashboard.ok()) return dashboard.status();
  target.address = *dashboard;
  target.token = *token;
  return target;
}

std::string ReplyMessage(const httplib::Response &res) {
  auto body = nlohmann::json::parse(res.body, nullptr, /*allow_exceptions=*/false);
  std::string text = body.is_object() && body.contains("msg") && body["msg"].is_string()
                         ? body["msg"].get<std::string>()
                         : res.body;
  const size_t newline = text.find('\n');
  if (newline != std::string::npos) text.resize(newline);
  if (text.empty()) text = "HTTP " + std::to_string(res.status);
  return text;
}

Status StreamToStdout(const DashboardTarget &dashboard, const std::string &path) {
  auto client = dashboard.Client();
  client->set_read_timeout(std::chrono::hours(24 * 365));  // a stream may be quiet for long
  int status = 0;
  std::string error;
  auto res = client->Get(
      path.c_str(), dashboard.Auth(),
      [&](const httplib::Response &response) {
        status = response.status;
        return true;
      },
      [&](const char *data, size_t n) {
        if (status != 200) {
          error.append(data, n);
        } else {
          std::cout.write(data, static_cast<std::streamsize>(n));
          std::cout.flush();
        }
        return true;
      });
  if (!res)
    return Status::IoError("lost the dashboard at " + dashboard.address + ": " +
                           httplib::to_string(res.error()));
  const std::string first = error.substr(0, error.find('\n'));
  if (status == 400) return Status::InvalidArgument(first);
  if (status == 404) return Status::NotFound(first);
  if (status != 200) return Status::IoError("the dashboard answered " + std::to_string(status));
  return Status::OK();
}

}  // namespace lumen::cli
