// The fork server's start message: one protobuf frame on the socketpair
// between the driver and the fork server, and what a bad one gives.
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "api_runtime/runtime_fork_server.h"
#include "rpc/frame.h"
#include "rpc/rpc.h"

namespace lumen::api {
namespace {

class ForkServerSettingsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds_), 0); }
  void TearDown() override {
    CloseDriverEnd();
    close(fds_[1]);
  }
  int driver() const { return fds_[0]; }
  int fork_server() const { return fds_[1]; }
  void CloseDriverEnd() {
    if (fds_[0] >= 0) close(fds_[0]);
    fds_[0] = -1;
  }
  void WriteRaw(const std::string &bytes) {
    ASSERT_EQ(write(driver(), bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  }
  static std::string Header(uint32_t body_len, rpc::FrameType type, uint16_t method) {
    std::string h(rpc::kFrameHeaderSize, '\0');
    rpc::detail::EncodeHeader(h.data(), body_len, static_cast<uint16_t>(type), method, 0);
    return h;
  }

  static proto::ForkServerSettings Sample() {
    proto::ForkServerSettings s;
    s.set_node_socket("/tmp/session/sockets/node");
    // What the old newline format could not carry: a line break, and its
    // own end marker, inside a value.
    s.set_token("tok\nEND\nen");
    s.set_session_dir("/tmp/session");
    s.set_job_id(4000000000u);
    s.set_ray_namespace("ns");
    s.set_runtime_env("{\"env_vars\": {\"A\": \"line1\\nline2\"}}\n");
    s.set_default_detached(true);
    return s;
  }

 private:
  int fds_[2] = {-1, -1};
};

TEST_F(ForkServerSettingsTest, RoundTrip) {
  const proto::ForkServerSettings sent = Sample();
  ASSERT_TRUE(SendForkServerSettings(driver(), sent).ok());
  auto got = ReceiveForkServerSettings(fork_server());
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->node_socket(), sent.node_socket());
  EXPECT_EQ(got->token(), sent.token());
  EXPECT_EQ(got->session_dir(), sent.session_dir());
  EXPECT_EQ(got->job_id(), sent.job_id());
  EXPECT_EQ(got->ray_namespace(), sent.ray_namespace());
  EXPECT_EQ(got->runtime_env(), sent.runtime_env());
  EXPECT_TRUE(got->default_detached());
}

TEST_F(ForkServerSettingsTest, DriverGoneBeforeSendingIsDisconnected) {
  CloseDriverEnd();
  auto got = ReceiveForkServerSettings(fork_server());
  EXPECT_EQ(got.status().code(), StatusCode::kDisconnected) << got.status().ToString();
}

TEST_F(ForkServerSettingsTest, TruncatedBodyIsAnError) {
  const std::string body = Sample().SerializeAsString();
  WriteRaw(Header(static_cast<uint32_t>(body.size()), rpc::FrameType::kOneway, proto::START_FORK_SERVER) +
           body.substr(0, body.size() / 2));
  CloseDriverEnd();
  auto got = ReceiveForkServerSettings(fork_server());
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kIoError) << got.status().ToString();
  EXPECT_NE(got.status().message().find("inside a frame body"), std::string::npos) << got.status().ToString();
}

TEST_F(ForkServerSettingsTest, TruncatedHeaderIsAnError) {
  WriteRaw(Header(10, rpc::FrameType::kOneway, proto::START_FORK_SERVER).substr(0, 5));
  CloseDriverEnd();
  auto got = ReceiveForkServerSettings(fork_server());
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kIoError) << got.status().ToString();
  EXPECT_NE(got.status().message().find("inside a frame header"), std::string::npos)
      << got.status().ToString();
}

TEST_F(ForkServerSettingsTest, TheOldTextFormatIsRejected) {
  WriteRaw("/tmp/node\ntoken\n/tmp/session\n1\nns\n\n0\nEND\n");
  auto got = ReceiveForkServerSettings(fork_server());
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kIoError) << got.status().ToString();
}

TEST_F(ForkServerSettingsTest, OversizedBodyIsRejectedBeforeReadingIt) {
  WriteRaw(Header(kMaxForkServerSettings + 1, rpc::FrameType::kOneway, proto::START_FORK_SERVER));
  auto got = ReceiveForkServerSettings(fork_server());
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("too large"), std::string::npos) << got.status().ToString();
}

TEST_F(ForkServerSettingsTest, AnotherMessageIsRejected) {
  proto::ForkWorkerRequest other;
  other.set_worker_id("w");
  ASSERT_TRUE(rpc::WriteFrame(driver(), rpc::FrameType::kOneway, proto::FORK_WORKER, 0, other).ok());
  auto got = ReceiveForkServerSettings(fork_server());
  EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument) << got.status().ToString();
}

TEST_F(ForkServerSettingsTest, MalformedBodyIsRejected) {
  const std::string garbage = "\xff\xff\xff\xff\xff";
  WriteRaw(Header(static_cast<uint32_t>(garbage.size()), rpc::FrameType::kOneway, proto::START_FORK_SERVER) +
           garbage);
  auto got = ReceiveForkServerSettings(fork_server());
  EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument) << got.status().ToString();
}

TEST_F(ForkServerSettingsTest, SettingsWithoutANodeAreRejected) {
  proto::ForkServerSettings empty;
  ASSERT_TRUE(SendForkServerSettings(driver(), empty).ok());
  auto got = ReceiveForkServerSettings(fork_server());
  EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument) << got.status().ToString();
}

// A peer that stops mid-frame without closing is reported, not waited on
// for good (the fork server's own limit is kForkServerSettingsTimeout).
TEST_F(ForkServerSettingsTest, StalledFrameTimesOut) {
  WriteRaw(Header(100, rpc::FrameType::kOneway, proto::START_FORK_SERVER) + "abc");
  auto got = rpc::ReadFrame(fork_server(), /*timeout_ms=*/20);
  EXPECT_EQ(got.status().code(), StatusCode::kTimedOut) << got.status().ToString();
}

}  // namespace
}  // namespace lumen::api
