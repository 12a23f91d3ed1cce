#include "worker/peer_directory.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>

namespace lumen::worker {
namespace {

namespace fs = std::filesystem;

proto::Address Addr(const WorkerID &w, const NodeID &n, const std::string &unix_path,
                    const std::string &tcp) {
  proto::Address a;
  a.set_worker_id(w.Binary());
  a.set_node_id(n.Binary());
  a.set_unix_path(unix_path);
  a.set_tcp(tcp);
  return a;
}

TEST(PeerDirectoryRouteTest, SameNodeByUnixSocketOtherNodesByTcp) {
  NodeID self = NodeID::FromRandom(), other = NodeID::FromRandom();
  WorkerID w = WorkerID::FromRandom();
  auto here = PeerDirectory::Route(Addr(w, self, "/s/sockets/w-1", "10.213.0.1:4000"), self.Binary());
  ASSERT_TRUE(here.ok());
  EXPECT_EQ(*here, "/s/sockets/w-1");
  auto there = PeerDirectory::Route(Addr(w, other, "/s2/sockets/w-1", "10.213.0.2:4000"), self.Binary());
  ASSERT_TRUE(there.ok());
  EXPECT_EQ(*there, "tcp:10.213.0.2:4000");
}

TEST(PeerDirectoryRouteTest, NeverAnotherNodesUnixPath) {
  NodeID self = NodeID::FromRandom(), other = NodeID::FromRandom();
  auto r = PeerDirectory::Route(Addr(WorkerID::FromRandom(), other, "/s2/sockets/w-1", ""), self.Binary());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound) << (r.ok() ? *r : r.status().ToString());
}

TEST(PeerDirectoryRouteTest, AnAddressWithoutNodeIsLocalUnlessItHasTcp) {
  NodeID self = NodeID::FromRandom();
  proto::Address a = Addr(WorkerID::FromRandom(), self, "/s/sockets/w-1", "");
  a.clear_node_id();
  auto local = PeerDirectory::Route(a, self.Binary());
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(*local, "/s/sockets/w-1");
  a.set_tcp("10.213.0.3:4000");
  auto remote = PeerDirectory::Route(a, self.Binary());
  ASSERT_TRUE(remote.ok());
  EXPECT_EQ(*remote, "tcp:10.213.0.3:4000");
}

class PeerDirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("peer_dir_test_" + std::to_string(getpid()));
    fs::create_directories(dir_ / "sockets");
  }
  void TearDown() override {
    for (int fd : fds_) close(fd);
    fs::remove_all(dir_);
  }
  // A listening Unix socket where the worker `w` of this node would listen.
  void Listen(const WorkerID &w) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::string path = WorkerSocketPath(dir_.string(), w);
    ASSERT_LT(path.size(), sizeof(sa.sun_path));
    std::strcpy(sa.sun_path, path.c_str());
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)), 0) << std::strerror(errno);
    ASSERT_EQ(listen(fd, 1), 0);
    fds_.push_back(fd);
  }

  fs::path dir_;
  std::vector<int> fds_;
  NodeID self_ = NodeID::FromRandom();
  NodeID other_ = NodeID::FromRandom();
};

TEST_F(PeerDirectoryTest, OneNodeClusterUsesTheDerivedPathAndNeverLooksUp) {
  PeerDirectory d(dir_.string(), nullptr);
  WorkerID w = WorkerID::FromRandom();
  auto r = d.Resolve(w, self_.Binary());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, WorkerSocketPath(dir_.string(), w));
}

TEST_F(PeerDirectoryTest, AWorkerOnThisNodeIsFoundInTheSocketFolderWithoutAsking) {
  std::atomic<int> asked{0};
  PeerDirectory d(dir_.string(), [&](const WorkerID &) -> StatusOr<proto::Address> {
    asked++;
    return Status::NotFound("unexpected");
  });
  WorkerID w = WorkerID::FromRandom();
  Listen(w);
  auto r = d.Resolve(w, self_.Binary());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, WorkerSocketPath(dir_.string(), w));
  EXPECT_EQ(asked.load(), 0);
}

TEST_F(PeerDirectoryTest, AWorkerElsewhereIsAskedForOnceAndReachedByTcp) {
  std::atomic<int> asked{0};
  WorkerID remote = WorkerID::FromRandom();
  PeerDirectory d(dir_.string(), [&](const WorkerID &w) -> StatusOr<proto::Address> {
    asked++;
    if (w != remote) return Status::NotFound("unknown");
    return Addr(remote, other_, "/other/sockets/w-x", "10.213.0.2:4100");
  });
  for (int i = 0; i < 3; ++i) {
    auto r = d.Resolve(remote, self_.Binary());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(*r, "tcp:10.213.0.2:4100");
  }
  EXPECT_EQ(asked.load(), 1);
  EXPECT_EQ(d.NumCached(), 1u);

  // Unknown to the cluster: an error, and not remembered (a later ask may
  // find a worker that registered meanwhile).
  WorkerID unknown = WorkerID::FromRandom();
  EXPECT_EQ(d.Resolve(unknown, self_.Binary()).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(d.Resolve(unknown, self_.Binary()).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(asked.load(), 3);
  EXPECT_EQ(d.NumCached(), 1u);
}

TEST_F(PeerDirectoryTest, ALookupFailureIsReported) {
  PeerDirectory d(dir_.string(), [](const WorkerID &) -> StatusOr<proto::Address> {
    return Status::Disconnected("control service gone");
  });
  EXPECT_EQ(d.Resolve(WorkerID::FromRandom(), self_.Binary()).status().code(), StatusCode::kDisconnected);
}

}  // namespace
}  // namespace lumen::worker
