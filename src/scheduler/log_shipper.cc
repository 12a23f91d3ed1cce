#include "scheduler/log_shipper.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "base/logging.h"

namespace lumen::scheduler {

LogShipper::LogShipper(boost::asio::io_context &io, std::string node_id, std::string session_dir, Send send)
    : io_(io),
      node_id_(std::move(node_id)),
      session_dir_(std::move(session_dir)),
      logs_dir_(session_dir_ + "/logs"),
      send_(std::move(send)),
      timer_(io) {}

LogShipper::~LogShipper() {
  *alive_ = false;
  timer_.cancel();
}

void LogShipper::Start() { Arm(); }

void LogShipper::Stop() {
  stopped_ = true;
  timer_.cancel();
}

void LogShipper::Arm() {
  if (stopped_ || !wanted_) return;
  timer_.expires_after(kInterval);
  std::weak_ptr<bool> alive = alive_;
  timer_.async_wait([this, alive](const boost::system::error_code &ec) {
    if (ec || !alive.lock()) return;
    Tick();
  });
}

void LogShipper::Tick() {
  ShipNext([this](bool) { Arm(); });
}

bool LogShipper::NextBatch(proto::NodeLogBatch *batch) const {
  batch->Clear();
  batch->set_node_id(node_id_);
  batch->set_session_dir(session_dir_);
  size_t room = kMaxBatch;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(logs_dir_, ec);
       !ec && it != std::filesystem::directory_iterator() && room > 0; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    auto found = shipped_.find(name);
    const int64_t from = found == shipped_.end() ? 0 : found->second;
    // A node keeps a file per worker stream: only those that grew are opened.
    struct stat seen {};
    if (lstat(it->path().c_str(), &seen) != 0 || !S_ISREG(seen.st_mode) || seen.st_size <= from) continue;
    const int fd = open(it->path().c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) continue;
    struct stat st {};
    if (fstat(fd, &st) == 0 && st.st_size > from) {
      // A file that shrank (truncated) is shipped on from where it was.
      const size_t want = std::min({static_cast<size_t>(st.st_size - from), kMaxChunk, room});
      std::string data(want, '\0');
      const ssize_t n = pread(fd, data.data(), want, from);
      if (n > 0) {
        data.resize(static_cast<size_t>(n));
        proto::NodeLogChunk *chunk = batch->add_chunks();
        chunk->set_filename(name);
        chunk->set_offset(from);
        chunk->set_data(std::move(data));
        room -= static_cast<size_t>(n);
      }
    }
    close(fd);
  }
  return batch->chunks_size() > 0;
}

void LogShipper::Shipped(const proto::NodeLogBatch &batch) {
  for (const proto::NodeLogChunk &c : batch.chunks()) {
    int64_t &at = shipped_[c.filename()];
    at = std::max(at, c.offset() + static_cast<int64_t>(c.data().size()));
  }
}

void LogShipper::ShipNext(std::function<void(bool sent)> then) {
  auto batch = std::make_shared<proto::NodeLogBatch>();
  if (in_flight_ || !wanted_ || !NextBatch(batch.get())) return then(false);
  in_flight_ = true;
  std::weak_ptr<bool> alive = alive_;
  send_(*batch, [this, alive, batch, then = std::move(then)](StatusOr<bool> wanted) {
    if (!alive.lock()) return;
    in_flight_ = false;
    if (!wanted.ok()) {
      LUMEN_LOG_DEBUG("shipping logs to the head failed ({}); sent again next time",
                      wanted.status().ToString());
      return then(false);
    }
    if (!*wanted) {
      wanted_ = false;  // the head keeps this node's folder itself
      return then(false);
    }
    confirmed_ = true;
    Shipped(*batch);
    then(true);
  });
}

void LogShipper::Flush(std::function<void()> done) {
  // Only where the receiver said it keeps this node's logs: a node that has
  // not heard so yet (the head's own, or one stopping within its first
  // interval) does not hold up its stop for a reply.
  if (!confirmed_) return done();
  // At most this many batches: a node that writes faster than it ships
  // still stops.
  FlushFrom(64, std::move(done));
}

void LogShipper::FlushFrom(int batches_left, std::function<void()> done) {
  if (batches_left == 0) return done();
  std::weak_ptr<bool> alive = alive_;
  ShipNext([this, alive, batches_left, done](bool sent) {
    if (!sent || !alive.lock()) return done();
    FlushFrom(batches_left - 1, done);
  });
}

}  // namespace lumen::scheduler
