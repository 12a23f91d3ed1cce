#include "dashboard/request_guard.h"

#include <arpa/inet.h>
#include <nettle/memops.h>

#include <algorithm>
#include <utility>

namespace lumen::dashboard {
namespace {

// The token of an "Authorization"-style value "Bearer <token>", or "".
std::string_view BearerToken(std::string_view value) {
  constexpr std::string_view kBearer = "Bearer ";
  if (value.size() <= kBearer.size() || value.substr(0, kBearer.size()) != kBearer) return {};
  return value.substr(kBearer.size());
}

// The value of cookie `name` in a Cookie header ("a=1; b=2"), or "".
std::string_view CookieValue(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    size_t end = header.find(';');
    std::string_view pair = header.substr(0, end);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    if (pair.size() > name.size() && pair.substr(0, name.size()) == name && pair[name.size()] == '=')
      return pair.substr(name.size() + 1);
    if (end == std::string_view::npos) break;
    header.remove_prefix(end + 1);
  }
  return {};
}

}  // namespace

RequestGuard::RequestGuard(std::string token, std::vector<std::string> hosts)
    : token_(std::move(token)), hosts_(std::move(hosts)) {}

bool RequestGuard::TokenMatches(std::string_view candidate) const {
  if (token_.empty() || candidate.size() != token_.size()) return false;
  return nettle_memeql_sec(candidate.data(), token_.data(), token_.size()) != 0;
}

// "*:PORT" in the list (a server bound to every address) admits any IPv4
// literal with that port: a DNS rebinding attack needs a name, never a literal.
bool RequestGuard::HostAllowed(const std::string &host) const {
  if (std::find(hosts_.begin(), hosts_.end(), host) != hosts_.end()) return true;
  const size_t colon = host.rfind(':');
  if (colon == std::string::npos) return false;
  const std::string wildcard = "*" + host.substr(colon);
  if (std::find(hosts_.begin(), hosts_.end(), wildcard) == hosts_.end()) return false;
  in_addr addr;
  return inet_pton(AF_INET, host.substr(0, colon).c_str(), &addr) == 1;
}

bool RequestGuard::OriginAllowed(const RequestFacts &request) const {
  if (request.sec_fetch_site == "cross-site") return false;
  if (request.origin.empty()) return true;  // not a cross-origin browser request
  for (const std::string &host : hosts_) {
    if (request.origin == "http://" + host) return true;
  }
  return false;
}

Verdict RequestGuard::Check(const RequestFacts &request) const {
  if (!HostAllowed(request.host) || !OriginAllowed(request)) return Verdict::kForeignOrigin;
  for (std::string_view candidate :
       {BearerToken(request.authorization), BearerToken(request.x_ray_authorization),
        CookieValue(request.cookie, kTokenCookie)}) {
    if (TokenMatches(candidate)) return Verdict::kAllowed;
  }
  return Verdict::kNoToken;
}

std::string RequestGuard::SessionCookie() const {
  return std::string(kTokenCookie) + "=" + token_ + "; Path=/; HttpOnly; SameSite=Strict";
}

}  // namespace lumen::dashboard
