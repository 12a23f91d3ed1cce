// Who may use the dashboard's HTTP endpoints. Every request must carry the
// cluster token: `Authorization: Bearer <token>` (the API, the CLI), Ray's
// proxy header `X-Ray-Authorization: Bearer <token>`, or the cookie the login
// page sets for a browser session. Independently of the token, a request is
// refused when its Host is not one this server answers to (DNS rebinding) or
// when a browser says it comes from another origin (Origin, Sec-Fetch-Site:
// cross-site), so no other site's page can drive it through a logged-in
// browser. Ray shipped its dashboard without any of this for years (ShadowRay,
// CVE-2023-48022).
//
// Threading: immutable after construction; Check from any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace lumen::dashboard {

/// The cookie the login page sets (HttpOnly, SameSite=Strict).
inline constexpr const char *kTokenCookie = "lumen_token";

struct RequestFacts {
  std::string authorization;        // Authorization
  std::string x_ray_authorization;  // X-Ray-Authorization
  std::string cookie;               // Cookie
  std::string host;                 // Host
  std::string origin;               // Origin (browsers send it on cross-origin and unsafe requests)
  std::string sec_fetch_site;       // Sec-Fetch-Site
};

enum class Verdict {
  kAllowed,
  kNoToken,        // no token, or not the cluster's: 401 (the login page, for a browser)
  kForeignOrigin,  // a cross-site request or a Host this server does not answer to: 403
};

class RequestGuard {
 public:
  /// `hosts`: the Host header values this server answers to ("127.0.0.1:8265",
  /// "localhost:8265", ...); "*:8265" admits any IPv4 literal with that port.
  RequestGuard(std::string token, std::vector<std::string> hosts);

  /// The origin check first (a foreign page never learns whether its token
  /// was right), then the token.
  Verdict Check(const RequestFacts &request) const;

  /// True if `candidate` is the cluster token; compared in constant time.
  bool TokenMatches(std::string_view candidate) const;

  /// The Set-Cookie value that keeps the token for a browser session.
  std::string SessionCookie() const;

 private:
  bool HostAllowed(const std::string &host) const;
  bool OriginAllowed(const RequestFacts &request) const;

  const std::string token_;
  const std::vector<std::string> hosts_;
};

}  // namespace lumen::dashboard
