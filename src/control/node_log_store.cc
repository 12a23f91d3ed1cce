#include "control/node_log_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "base/encoding.h"
#include "base/id.h"
#include "base/logging.h"

namespace lumen::control {
namespace {

bool PlainName(const std::string &name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

}  // namespace

NodeLogStore::NodeLogStore(std::string logs_dir, std::string own_session_dir, int64_t max_bytes_per_node,
                           int64_t max_total_bytes)
    : logs_dir_(std::move(logs_dir)),
      own_session_dir_(std::move(own_session_dir)),
      max_bytes_per_node_(max_bytes_per_node),
      max_total_bytes_(max_total_bytes) {}

void NodeLogStore::OnNodeDead(const std::string &node_id) {
  const std::string node = ToHex(node_id);
  if (std::find(dead_.begin(), dead_.end(), node) == dead_.end()) dead_.push_back(node);
}

bool NodeLogStore::MakeRoom(int64_t needed, const std::string &writer) {
  while (total_ + needed > max_total_bytes_) {
    auto victim = std::find_if(dead_.begin(), dead_.end(), [&](const std::string &n) { return n != writer; });
    if (victim == dead_.end()) return false;
    const std::string node = *victim;
    dead_.erase(victim);
    std::error_code ec;
    std::filesystem::remove_all(NodeDir(node), ec);
    if (ec) LUMEN_LOG_WARN("cannot remove the logs of dead node {}: {}", node, ec.message());
    if (auto it = sizes_.find(node); it != sizes_.end()) {
      for (const auto &[file, n] : it->second) total_ -= n;
      sizes_.erase(it);
    }
    removed_.insert(node);
    LUMEN_LOG_INFO("removed the logs of dead node {}: the head keeps {} bytes of nodes' logs at most", node,
                   max_total_bytes_);
  }
  return true;
}

std::string NodeLogStore::NodeDir(const std::string &node_hex) const {
  return logs_dir_ + "/nodes/" + node_hex;
}

StatusOr<bool> NodeLogStore::Add(const proto::NodeLogBatch &batch) {
  if (logs_dir_.empty() || batch.session_dir() == own_session_dir_) return false;
  if (batch.node_id().size() != NodeID::kSize)
    return Status::InvalidArgument("a node log batch names no node (id of " +
                                   std::to_string(batch.node_id().size()) + " bytes)");
  for (const proto::NodeLogChunk &c : batch.chunks())
    if (!PlainName(c.filename()) || c.offset() < 0)
      return Status::InvalidArgument("a node log chunk names no plain file in its logs folder: '" +
                                     c.filename() + "'");
  const std::string node = ToHex(batch.node_id());
  if (removed_.count(node)) return false;  // late words of a dead node whose files went
  const std::string dir = NodeDir(node);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IoError("cannot make " + dir + ": " + ec.message());
  auto &sizes = sizes_[node];
  int64_t kept = 0;
  for (const auto &[file, n] : sizes) kept += n;
  for (const proto::NodeLogChunk &c : batch.chunks()) {
    int64_t &size = sizes[c.filename()];
    const int64_t end = c.offset() + static_cast<int64_t>(c.data().size());
    // Only what grows the file counts against the bound; past it, nothing
    // more of this node is written.
    const int64_t growth = std::max<int64_t>(0, end - size);
    if (kept + growth > max_bytes_per_node_ || !MakeRoom(growth, node)) continue;
    const std::string path = dir + "/" + c.filename();
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) return Status::IoError("cannot open " + path + ": " + std::strerror(errno));
    size_t done = 0;
    while (done < c.data().size()) {
      const ssize_t n = pwrite(fd, c.data().data() + done, c.data().size() - done,
                               static_cast<off_t>(c.offset() + static_cast<int64_t>(done)));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const int err = errno;
        close(fd);
        return Status::IoError("cannot write " + path + ": " + std::strerror(err));
      }
      done += static_cast<size_t>(n);
    }
    close(fd);
    kept += growth;
    total_ += growth;
    size = std::max(size, end);
  }
  return true;
}

}  // namespace lumen::control
