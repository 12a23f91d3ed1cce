#include "dashboard/log_routes.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <httplib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <utility>

namespace lumen::dashboard {
namespace {

using Json = nlohmann::ordered_json;

// Ray's `ray logs --tail` default.
constexpr long kDefaultLines = 1000;
// How often a follower looks for more: files say nothing when they grow.
constexpr auto kFollowPoll = std::chrono::milliseconds(100);

void SendText(httplib::Response &res, int status, const std::string &text) {
  res.status = status;
  res.set_content(text + "\n", "text/plain; charset=utf-8");
}

// Ray's state API envelope.
void SendEnvelope(httplib::Response &res, int status, bool ok, const std::string &msg, Json data) {
  res.status = status;
  res.set_content(Json{{"result", ok}, {"msg", msg}, {"data", std::move(data)}}.dump(), "application/json");
}

// `lines`: a count, or -1 for every line; default kDefaultLines.
StatusOr<long> LinesParam(const httplib::Request &req) {
  if (!req.has_param("lines")) return kDefaultLines;
  const std::string text = req.get_param_value("lines");
  char *end = nullptr;
  errno = 0;
  const long lines = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || lines < -1)
    return Status::InvalidArgument("lines must be a count of lines, or -1 for all of them; got '" + text +
                                   "'");
  return lines;
}

// The folder of the node the request names (Ray's node_id; none: the
// head's): the head's own logs/, or the copy of another node's files kept
// under logs/nodes/<id>/ (control/node_log_store.h). NotFound for a node with
// no files here; InvalidArgument for an id that is not hex.
StatusOr<std::string> NodeLogsDir(const httplib::Request &req, const std::string &head,
                                  const std::string &logs_dir) {
  std::string node = req.get_param_value("node_id");
  if (node.empty() || node == head) return logs_dir;
  if (node.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
    return Status::InvalidArgument("node_id must be a node's hex id, got '" + node + "'");
  std::transform(node.begin(), node.end(), node.begin(), [](unsigned char c) { return std::tolower(c); });
  const std::string dir = logs_dir + "/nodes/" + node;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec) || std::filesystem::is_symlink(dir, ec))
    return Status::NotFound("no log files of node " + node + " are kept on the head (the head's node is " +
                            head + ")");
  return dir;
}

// The files of `dir` whose names match `glob` (a shell pattern; without a
// wildcard, a part of the name), by category.
Json LogListing(const std::string &dir, const std::string &glob) {
  const bool pattern = glob.find_first_of("*?[") != std::string::npos;
  std::map<std::string, std::set<std::string>> by_category;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec) || it->is_symlink(ec)) continue;
    const std::string name = it->path().filename().string();
    if (!glob.empty() &&
        (pattern ? fnmatch(glob.c_str(), name.c_str(), 0) != 0 : name.find(glob) == std::string::npos))
      continue;
    by_category[LogCategory(name)].insert(name);
  }
  Json categories = Json::object();
  for (auto &[category, names] : by_category) categories[category] = names;
  return categories;
}

bool Truthy(const std::string &value) { return value == "1" || value == "true" || value == "True"; }

}  // namespace

StatusOr<LogTail> ReadLogTail(const std::string &path, long lines) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return Status::NotFound("cannot open " + path + ": " + std::strerror(errno));
  struct stat st {};
  fstat(fd, &st);
  LogTail tail;
  tail.end = st.st_size;
  // Back from the end a block at a time, counting the newlines that end a
  // line before the last one (a last line without its newline counts too).
  off_t begin = tail.end;
  long seen = 0;
  std::string block;
  bool done = lines == 0;
  while (!done && begin > 0) {
    const off_t size = std::min<off_t>(begin, 64 * 1024);
    begin -= size;
    block.resize(static_cast<size_t>(size));
    if (pread(fd, block.data(), block.size(), begin) != size) break;
    size_t keep_from = 0;
    for (size_t i = block.size(); i-- > 0;) {
      if (block[i] != '\n' || begin + static_cast<off_t>(i) == tail.end - 1) continue;
      if (lines >= 0 && ++seen == lines) {
        keep_from = i + 1;
        done = true;
        break;
      }
    }
    tail.text.insert(0, block, keep_from, std::string::npos);
  }
  close(fd);
  return tail;
}

std::string LogCategory(const std::string &filename) {
  auto ends_with = [&filename](const char *suffix) {
    const size_t n = std::strlen(suffix);
    return filename.size() >= n && filename.compare(filename.size() - n, n, suffix) == 0;
  };
  if (filename.rfind("worker-", 0) == 0)
    return ends_with(".err") ? "worker_err" : ends_with(".out") ? "worker_out" : "core_worker";
  if (filename.rfind("job-driver-", 0) == 0) return "job_driver";
  const size_t cut = filename.find_first_of("-.");
  return cut == std::string::npos || cut == 0 ? "other" : filename.substr(0, cut);
}

StatusOr<std::string> LogFilePath(const std::string &dir, const std::string &filename) {
  if (filename.empty()) return Status::InvalidArgument("filename is required");
  if (filename.find('/') != std::string::npos || filename.find('\0') != std::string::npos ||
      filename == "." || filename == "..")
    return Status::InvalidArgument("filename must be the name of a file in the logs folder, got '" +
                                   filename + "'");
  const std::string path = dir + "/" + filename;
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return Status::NotFound("no log file named '" + filename + "'");
  if (!S_ISREG(st.st_mode))
    return Status::InvalidArgument("'" + filename + "' is not a plain file of the logs folder");
  return path;
}

void StreamFile(httplib::Response &res, const std::string &path, off_t offset, std::string prefix,
                std::function<bool()> ended, const std::atomic<bool> &stopping) {
  // Each stream holds one of the server's few request threads for as long as
  // it lasts: enough of them stay for the API.
  static std::atomic<int> open_streams{0};
  if (open_streams.fetch_add(1) >= kMaxLogStreams) {
    open_streams.fetch_sub(1);
    return SendText(
        res, 503,
        std::to_string(kMaxLogStreams) + " log streams are open already: close one, or read without follow");
  }
  res.status = 200;
  res.set_chunked_content_provider(
      "text/plain; charset=utf-8",
      [path, offset, prefix = std::move(prefix), ended = std::move(ended), &stopping](
          size_t, httplib::DataSink &sink) mutable {
        if (!prefix.empty()) {
          if (!sink.write(prefix.data(), prefix.size())) return false;
          prefix.clear();
        }
        // Whether it had ended is asked before reading, so that what was
        // written last is read before the stream ends.
        const bool over = ended();
        const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        bool wrote = false;
        if (fd >= 0) {
          char buffer[64 * 1024];
          ssize_t n;
          while ((n = pread(fd, buffer, sizeof(buffer), offset)) > 0) {
            if (!sink.write(buffer, static_cast<size_t>(n))) {
              close(fd);
              return false;
            }
            offset += n;
            wrote = true;
          }
          close(fd);
        }
        if (over || stopping.load()) {
          sink.done();
          return true;
        }
        if (!wrote) {
          if (!sink.is_writable()) return false;
          std::this_thread::sleep_for(kFollowPoll);
        }
        return true;
      },
      [](bool) { open_streams.fetch_sub(1); });
}

void RouteLogs(httplib::Server &http, std::string logs_dir, std::function<std::string()> node_id,
               const std::atomic<bool> &stopping) {
  // Every node's files: the head's, and those of the other nodes whose
  // copies the head keeps (alive or dead).
  http.Get("/api/v0/logs", [logs_dir, node_id](const httplib::Request &req, httplib::Response &res) {
    const std::string head = node_id();
    const std::string glob = req.has_param("glob") ? req.get_param_value("glob") : "";
    Json nodes = Json::object();
    if (req.has_param("node_id")) {
      auto dir = NodeLogsDir(req, head, logs_dir);
      if (!dir.ok())
        return SendEnvelope(res, dir.status().code() == StatusCode::kNotFound ? 404 : 400, false,
                            dir.status().message(), nullptr);
      const std::string id = *dir == logs_dir ? head : std::filesystem::path(*dir).filename().string();
      nodes[id] = LogListing(*dir, glob);
    } else {
      nodes[head] = LogListing(logs_dir, glob);
      std::error_code ec;
      for (auto it = std::filesystem::directory_iterator(logs_dir + "/nodes", ec);
           !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
        if (it->is_directory(ec) && !it->is_symlink(ec))
          nodes[it->path().filename().string()] = LogListing(it->path().string(), glob);
    }
    SendEnvelope(res, 200, true, "", {{"result", nodes}});
  });
  auto file = [logs_dir, node_id, &stopping](bool follow) {
    return [logs_dir, node_id, &stopping, follow](const httplib::Request &req, httplib::Response &res) {
      auto dir = NodeLogsDir(req, node_id(), logs_dir);
      if (!dir.ok())
        return SendText(res, dir.status().code() == StatusCode::kNotFound ? 404 : 400,
                        dir.status().message());
      auto path = LogFilePath(*dir, req.get_param_value("filename"));
      if (!path.ok())
        return SendText(res, path.status().code() == StatusCode::kNotFound ? 404 : 400,
                        path.status().message());
      auto lines = LinesParam(req);
      if (!lines.ok()) return SendText(res, 400, lines.status().message());
      auto tail = ReadLogTail(*path, *lines);
      if (!tail.ok()) return SendText(res, 404, tail.status().message());
      if (!follow && !(req.has_param("follow") && Truthy(req.get_param_value("follow"))))
        return res.set_content(tail->text, "text/plain; charset=utf-8");
      // The tail first, then what is appended, until the client goes.
      StreamFile(
          res, *path, tail->end, std::move(tail->text), [] { return false; }, stopping);
    };
  };
  http.Get("/api/v0/logs/file", file(false));
  http.Get("/api/v0/logs/stream", file(true));
}

}  // namespace lumen::dashboard
