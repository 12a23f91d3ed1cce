#include "dashboard/log_routes.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <httplib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
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

// NotFound if the request names a node (Ray's node_id) other than the head's:
// the files of other nodes stay on their machines.
Status OnlyTheHead(const httplib::Request &req, const std::string &head) {
  const std::string node = req.get_param_value("node_id");
  if (node.empty() || node == head) return Status::OK();
  return Status::NotFound("only the head node's log files (node " + head + ") are served; node " + node +
                          "'s are in its session folder on its machine");
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
  http.Get("/api/v0/logs", [logs_dir, node_id](const httplib::Request &req, httplib::Response &res) {
    const std::string head = node_id();
    if (Status st = OnlyTheHead(req, head); !st.ok())
      return SendEnvelope(res, 404, false, st.message(), nullptr);
    const std::string glob = req.has_param("glob") ? req.get_param_value("glob") : "";
    const bool pattern = glob.find_first_of("*?[") != std::string::npos;
    std::map<std::string, std::set<std::string>> by_category;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(logs_dir, ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      if (!it->is_regular_file(ec) || it->is_symlink(ec)) continue;
      const std::string name = it->path().filename().string();
      // Ray's glob is a shell pattern; without a wildcard, a part of the name.
      if (!glob.empty() &&
          (pattern ? fnmatch(glob.c_str(), name.c_str(), 0) != 0 : name.find(glob) == std::string::npos))
        continue;
      by_category[LogCategory(name)].insert(name);
    }
    Json categories = Json::object();
    for (auto &[category, names] : by_category) categories[category] = names;
    SendEnvelope(res, 200, true, "", {{"result", {{head, categories}}}});
  });
  auto file = [logs_dir, node_id, &stopping](bool follow) {
    return [logs_dir, node_id, &stopping, follow](const httplib::Request &req, httplib::Response &res) {
      if (Status st = OnlyTheHead(req, node_id()); !st.ok()) return SendText(res, 404, st.message());
      auto path = LogFilePath(logs_dir, req.get_param_value("filename"));
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
