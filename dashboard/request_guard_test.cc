#include "dashboard/request_guard.h"

#include <gtest/gtest.h>

#include <vector>

namespace lumen::dashboard {
namespace {

const std::string kToken(64, 'a');

RequestFacts Local() {
  RequestFacts r;
  r.host = "127.0.0.1:8265";
  return r;
}

TEST(RequestGuardTest, TheTokenComesAsBearerProxyHeaderOrCookie) {
  RequestGuard guard(kToken, {"127.0.0.1:8265"});
  RequestFacts none = Local();
  EXPECT_EQ(guard.Check(none), Verdict::kNoToken);
  RequestFacts bearer = Local();
  bearer.authorization = "Bearer " + kToken;
  EXPECT_EQ(guard.Check(bearer), Verdict::kAllowed);
  RequestFacts proxy = Local();
  proxy.x_ray_authorization = "Bearer " + kToken;
  EXPECT_EQ(guard.Check(proxy), Verdict::kAllowed);
  RequestFacts cookie = Local();
  cookie.cookie = "other=1; " + std::string(kTokenCookie) + "=" + kToken + "; x=y";
  EXPECT_EQ(guard.Check(cookie), Verdict::kAllowed);
}

TEST(RequestGuardTest, AWrongOrMalformedTokenIsRefused) {
  RequestGuard guard(kToken, {"127.0.0.1:8265"});
  for (const std::string &value :
       std::vector<std::string>{"Bearer " + std::string(64, 'b'), "Bearer " + kToken + "x", "Bearer ",
                                "Basic " + kToken, kToken, "Bearer " + kToken.substr(1)}) {
    RequestFacts r = Local();
    r.authorization = value;
    EXPECT_EQ(guard.Check(r), Verdict::kNoToken) << value;
  }
  RequestFacts cookie = Local();
  cookie.cookie = "x" + std::string(kTokenCookie) + "=" + kToken;  // another cookie's name
  EXPECT_EQ(guard.Check(cookie), Verdict::kNoToken);
}

TEST(RequestGuardTest, AnEmptyClusterTokenLetsNobodyIn) {
  RequestGuard guard("", {"127.0.0.1:8265"});
  RequestFacts r = Local();
  r.authorization = "Bearer ";
  EXPECT_EQ(guard.Check(r), Verdict::kNoToken);
  EXPECT_FALSE(guard.TokenMatches(""));
}

TEST(RequestGuardTest, ForeignOriginsAndHostsAreRefusedEvenWithTheToken) {
  RequestGuard guard(kToken, {"127.0.0.1:8265", "localhost:8265"});
  RequestFacts same = Local();
  same.authorization = "Bearer " + kToken;
  same.origin = "http://127.0.0.1:8265";
  EXPECT_EQ(guard.Check(same), Verdict::kAllowed);

  RequestFacts foreign = same;
  foreign.origin = "http://evil.example";
  EXPECT_EQ(guard.Check(foreign), Verdict::kForeignOrigin);
  RequestFacts cross = Local();
  cross.authorization = "Bearer " + kToken;
  cross.sec_fetch_site = "cross-site";
  EXPECT_EQ(guard.Check(cross), Verdict::kForeignOrigin);
  RequestFacts rebound = Local();  // DNS rebinding: a name that now points here
  rebound.authorization = "Bearer " + kToken;
  rebound.host = "evil.example:8265";
  EXPECT_EQ(guard.Check(rebound), Verdict::kForeignOrigin);
  RequestFacts other_port = Local();
  other_port.authorization = "Bearer " + kToken;
  other_port.host = "127.0.0.1:9999";
  EXPECT_EQ(guard.Check(other_port), Verdict::kForeignOrigin);
}

TEST(RequestGuardTest, AServerOnEveryAddressAnswersIpLiteralsOnly) {
  RequestGuard guard(kToken, {"*:8265", "localhost:8265"});
  RequestFacts r;
  r.authorization = "Bearer " + kToken;
  for (const char *host : {"10.1.2.3:8265", "192.168.0.7:8265", "localhost:8265"}) {
    r.host = host;
    EXPECT_EQ(guard.Check(r), Verdict::kAllowed) << host;
  }
  for (const char *host : {"evil.example:8265", "10.1.2.3:8266", "10.1.2.3"}) {
    r.host = host;
    EXPECT_EQ(guard.Check(r), Verdict::kForeignOrigin) << host;
  }
}

TEST(RequestGuardTest, TheSessionCookieIsHttpOnlyAndSameSiteStrict) {
  RequestGuard guard(kToken, {});
  const std::string cookie = guard.SessionCookie();
  EXPECT_EQ(cookie.rfind(std::string(kTokenCookie) + "=" + kToken, 0), 0u);
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos);
  EXPECT_NE(cookie.find("SameSite=Strict"), std::string::npos);
}

}  // namespace
}  // namespace lumen::dashboard
