// LogShipper: ships what this node's session logs/ folder gains (its own
// log, its workers' and drivers' output) to the control service every
// kInterval, which keeps a copy on the head (control/node_log_store.h), so
// that a node's logs stay readable from the head once the node, or its
// machine, is gone (Ray's logs of a dead node are lost with it).
//
// Each file is shipped from where the last shipped chunk ended; a batch is
// bounded (kMaxChunk per file, kMaxBatch in all), one is in flight at a time,
// and a failed one is sent again from the same offsets. The head's own node
// shares the head's logs folder: told so by its first reply, it stops. A node
// killed outright loses at most its last interval; Flush ships the rest
// when the node stops cleanly.
//
// Threading: every method runs on the thread that runs `io` (the node's
// event loop), as do the send function's callbacks.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "base/status.h"
#include "protocol/control.pb.h"

namespace lumen::scheduler {

class LogShipper {
 public:
  static constexpr std::chrono::milliseconds kInterval{1000};
  static constexpr size_t kMaxChunk = 1 << 20;  // per file and batch
  static constexpr size_t kMaxBatch = 4 << 20;  // per batch

  /// Sends a batch; calls `done` with whether the receiver wants more (or
  /// an error: sent again next time).
  using Send =
      std::function<void(const proto::NodeLogBatch &batch, std::function<void(StatusOr<bool>)> done)>;

  /// `node_id`: this node's (binary); `session_dir`: its session folder,
  /// whose logs/ is shipped.
  LogShipper(boost::asio::io_context &io, std::string node_id, std::string session_dir, Send send);
  ~LogShipper();
  LogShipper(const LogShipper &) = delete;
  LogShipper &operator=(const LogShipper &) = delete;

  /// Ships every kInterval until Stop.
  void Start();
  void Stop();
  /// Ships what is left now, batch after batch, then calls `done` (also
  /// when the receiver fails or wants nothing, and at once unless it has
  /// taken a batch before). Stop first.
  void Flush(std::function<void()> done);

  /// The next batch: what the files gained since what was shipped; false
  /// when there is nothing new. Does not advance: Shipped does.
  bool NextBatch(proto::NodeLogBatch *batch) const;
  /// Records `batch` as received.
  void Shipped(const proto::NodeLogBatch &batch);
  /// Sends the next batch now, as each interval does, if there is one and
  /// none is in flight; `then` runs once its reply came (with whether one
  /// was sent and taken).
  void ShipNext(std::function<void(bool sent)> then);
  bool wanted() const { return wanted_; }

 private:
  void Arm();
  void Tick();
  void FlushFrom(int batches_left, std::function<void()> done);

  boost::asio::io_context &io_;
  const std::string node_id_;
  const std::string session_dir_;
  const std::string logs_dir_;
  Send send_;
  std::map<std::string, int64_t> shipped_;  // file name -> bytes received
  bool wanted_ = true;
  bool confirmed_ = false;  // the receiver has taken a batch
  bool in_flight_ = false;
  bool stopped_ = false;
  boost::asio::steady_timer timer_;
  // Callbacks that outlive this object (a reply after destruction) see it gone.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace lumen::scheduler
