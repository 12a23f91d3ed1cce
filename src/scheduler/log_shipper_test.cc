// LogShipper: each file of the node's logs/ folder is shipped from where the
// last received chunk ended, in bounded batches; a failed batch is sent
// again from the same place; a receiver that wants nothing stops it; Flush
// ships everything left.
#include "scheduler/log_shipper.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

namespace lumen::scheduler {
namespace {
namespace fs = std::filesystem;

class LogShipperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lls-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    session_ = tmpl;
    fs::create_directories(session_ + "/logs");
  }
  void TearDown() override { fs::remove_all(session_); }

  void Append(const std::string &file, const std::string &text) {
    std::ofstream(session_ + "/logs/" + file, std::ios::app) << text;
  }

  // What a receiver keeps, written at each chunk's offset.
  void Receive(const proto::NodeLogBatch &batch) {
    for (const auto &c : batch.chunks()) {
      std::string &file = received_[c.filename()];
      if (file.size() < c.offset() + c.data().size()) file.resize(c.offset() + c.data().size());
      file.replace(c.offset(), c.data().size(), c.data());
    }
  }

  std::string session_;
  std::map<std::string, std::string> received_;
  boost::asio::io_context io_;
};

TEST_F(LogShipperTest, EachBatchCarriesWhatTheFilesGainedSinceTheLastReceivedOne) {
  LogShipper shipper(io_, std::string(16, '\1'), session_, nullptr);
  Append("worker-1.out", "hello\n");
  Append("node.log", "up\n");
  proto::NodeLogBatch batch;
  ASSERT_TRUE(shipper.NextBatch(&batch));
  EXPECT_EQ(batch.node_id(), std::string(16, '\1'));
  EXPECT_EQ(batch.session_dir(), session_);
  ASSERT_EQ(batch.chunks_size(), 2);
  // Not received: the same again.
  proto::NodeLogBatch again;
  ASSERT_TRUE(shipper.NextBatch(&again));
  EXPECT_EQ(again.chunks_size(), 2);
  Receive(batch);
  shipper.Shipped(batch);
  EXPECT_FALSE(shipper.NextBatch(&batch));  // nothing new

  Append("worker-1.out", "world\n");
  ASSERT_TRUE(shipper.NextBatch(&batch));
  ASSERT_EQ(batch.chunks_size(), 1);
  EXPECT_EQ(batch.chunks(0).offset(), 6);
  EXPECT_EQ(batch.chunks(0).data(), "world\n");
  Receive(batch);
  shipper.Shipped(batch);
  EXPECT_EQ(received_["worker-1.out"], "hello\nworld\n");
  EXPECT_EQ(received_["node.log"], "up\n");
}

TEST_F(LogShipperTest, ABigFileGoesInBoundedChunksAndFlushShipsItAll) {
  std::string big;
  for (int i = 0; big.size() < 3 * LogShipper::kMaxChunk; ++i) big += "line " + std::to_string(i) + "\n";
  Append("driver.out", big);
  for (int i = 0; i < 6; ++i)
    Append("worker-" + std::to_string(i) + ".err", std::string(LogShipper::kMaxChunk, 'x'));
  int batches = 0;
  LogShipper shipper(io_, std::string(16, '\2'), session_,
                     [&](const proto::NodeLogBatch &batch, std::function<void(StatusOr<bool>)> done) {
                       ++batches;
                       size_t bytes = 0;
                       for (const auto &c : batch.chunks()) {
                         EXPECT_LE(c.data().size(), LogShipper::kMaxChunk);
                         bytes += c.data().size();
                       }
                       EXPECT_LE(bytes, LogShipper::kMaxBatch);
                       Receive(batch);
                       done(true);
                     });
  bool sent = false;
  shipper.ShipNext([&](bool taken) { sent = taken; });  // as the first interval does
  ASSERT_TRUE(sent);
  bool flushed = false;
  shipper.Flush([&] { flushed = true; });
  EXPECT_TRUE(flushed);
  EXPECT_GE(batches, 3);
  EXPECT_EQ(received_["driver.out"], big);
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(received_["worker-" + std::to_string(i) + ".err"].size(), LogShipper::kMaxChunk);
}

TEST_F(LogShipperTest, AFailedBatchIsSentAgainAndAReceiverThatWantsNoneStopsIt) {
  Append("node.log", "one\n");
  std::vector<StatusOr<bool>> answers{Status::Disconnected("gone"), true};
  int sends = 0;
  LogShipper shipper(io_, std::string(16, '\3'), session_,
                     [&](const proto::NodeLogBatch &batch, std::function<void(StatusOr<bool>)> done) {
                       EXPECT_EQ(batch.chunks(0).offset(), 0);  // both times from the start
                       done(answers[sends++]);
                     });
  bool taken = true;
  shipper.ShipNext([&](bool t) { taken = t; });  // fails
  EXPECT_FALSE(taken);
  EXPECT_EQ(sends, 1);
  shipper.ShipNext([&](bool t) { taken = t; });  // sent again, taken
  EXPECT_TRUE(taken);
  EXPECT_EQ(sends, 2);
  proto::NodeLogBatch batch;
  EXPECT_FALSE(shipper.NextBatch(&batch));  // received

  LogShipper head(
      io_, std::string(16, '\4'), session_,
      [&](const proto::NodeLogBatch &, std::function<void(StatusOr<bool>)> done) { done(false); });
  head.ShipNext([](bool) {});
  EXPECT_FALSE(head.wanted());
  bool flushed = false;
  head.Flush([&] { flushed = true; });  // never taken one: nothing to wait for
  EXPECT_TRUE(flushed);
  Append("node.log", "two\n");
  int after = 0;
  LogShipper counting(io_, std::string(16, '\5'), session_,
                      [&](const proto::NodeLogBatch &, std::function<void(StatusOr<bool>)> done) {
                        ++after;
                        done(false);
                      });
  counting.ShipNext([](bool) {});
  counting.ShipNext([](bool) {});
  EXPECT_EQ(after, 1);  // told once, it sends nothing more
}

TEST_F(LogShipperTest, LinksAndFoldersInTheLogsFolderAreNotShipped) {
  fs::create_directories(session_ + "/logs/sub");
  std::ofstream(session_ + "/outside") << "secret\n";
  fs::create_symlink(session_ + "/outside", session_ + "/logs/link.log");
  LogShipper shipper(io_, std::string(16, '\6'), session_, nullptr);
  proto::NodeLogBatch batch;
  EXPECT_FALSE(shipper.NextBatch(&batch));
}

}  // namespace
}  // namespace lumen::scheduler
