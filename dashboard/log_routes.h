// Log files over HTTP (Ray's `/api/v0/logs` shapes), of every node: the head's
// from its session's logs/ folder, which every Lumen process of the head
// writes into, and each other node's from the copy the head keeps under
// logs/nodes/<node id>/ (shipped by the node: scheduler/log_shipper.h), which
// stays readable once the node is gone.
//   GET /api/v0/logs[?node_id=ID]                {result, msg, data: {result: {node_id: {category:
//   [files]}}}} GET /api/v0/logs/file?filename=F&lines=N[&node_id=ID]   the last N lines (all: -1; default
//   1000) as text/plain GET /api/v0/logs/stream?filename=F&lines=N[&node_id=ID] those lines, then what is
//   appended, as a chunked stream
// Without node_id: the head's node. A filename naming anything but a plain
// file directly in the node's folder (a path, "..", a link) is a 400; one that
// does not exist a 404, as is a node with no files on the head.
// `glob` is a shell pattern, or without a wildcard a part of the name.
//
// Threading: the handlers run on cpp-httplib's pool threads and share no
// state; a stream polls its file until its client goes or `stopping` is set.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"

namespace httplib {
class Response;
class Server;
}  // namespace httplib

namespace lumen::dashboard {

/// The last `lines` lines of the file at `path` (every line if lines < 0),
/// and the file's size when read (where a follower goes on from).
struct LogTail {
  std::string text;
  off_t end = 0;
};
StatusOr<LogTail> ReadLogTail(const std::string &path, long lines);

/// The file's category as Ray's log API groups them ("worker_out", "driver", "job", "control", ...).
std::string LogCategory(const std::string &filename);

/// InvalidArgument unless `filename` is a plain name (no '/', not "." or
/// ".."); NotFound unless it names a regular file (not a link) in `dir`. Its path.
StatusOr<std::string> LogFilePath(const std::string &dir, const std::string &filename);

/// How many streams (log follows, job log tails) may be open at once: each
/// holds a request thread of the server's (cpp-httplib's pool has 8 or more).
inline constexpr int kMaxLogStreams = 4;

/// Streams `prefix`, then the file at `path` from `offset`, as a chunked
/// text/plain body: whatever is appended, until `ended()` holds and the file
/// is drained, the client goes, or `stopping` is set. A 503 when
/// kMaxLogStreams are open already.
void StreamFile(httplib::Response &res, const std::string &path, off_t offset, std::string prefix,
                std::function<bool()> ended, const std::atomic<bool> &stopping);

/// `node_id`: the head node's id (hex), the key of its files in the listing.
void RouteLogs(httplib::Server &http, std::string logs_dir, std::function<std::string()> node_id,
               const std::atomic<bool> &stopping);

}  // namespace lumen::dashboard
