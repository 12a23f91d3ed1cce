// LogMonitor: the node's log monitor (Ray's log_monitor.py role). Each
// worker writes its stdout and stderr to files of its own (WorkerLogPrefix);
// the monitor keeps both open, reads what was appended since the last read,
// and hands complete lines to a per-worker sink, which the node forwards to
// the worker's driver as proto::LogLines (the driver prints them prefixed
// with "(pid=N)"). When a worker is removed, what it wrote last is read, a
// last line without its newline is handed on too, and the files are closed.
//
// Waking: an inotify watch per file (IN_MODIFY) wakes the monitor when a
// file grows, so output arrives as soon as it is written and an idle node
// reads nothing. Where inotify is unavailable (out of instances or watches),
// the monitor falls back to reading every open file each kPollInterval.
//
// Threading: every method, and the sinks, run on the thread that runs
// `io` (the node's event loop); no locks.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

namespace lumen::scheduler {

class LogMonitor {
 public:
  /// Lines of one stream (without their newlines), in the order written.
  /// It must not call back into the monitor.
  using Sink = std::function<void(bool is_err, std::vector<std::string> lines)>;
  /// How often files are read when inotify is unavailable.
  static constexpr std::chrono::milliseconds kPollInterval{50};

  explicit LogMonitor(boost::asio::io_context &io);
  ~LogMonitor();  // closes every file; hands nothing on
  LogMonitor(const LogMonitor &) = delete;
  LogMonitor &operator=(const LogMonitor &) = delete;

  /// Starts following worker `pid`'s two files from their beginning (what
  /// is there already is handed on at once). No-op if it is followed
  /// already. A file that cannot be opened is skipped (its stream is then not
  /// forwarded), with a warning.
  void AddWorker(pid_t pid, const std::string &out_path, const std::string &err_path, Sink sink);
  /// Reads what `pid` wrote last, hands it on (a last line without its
  /// newline included), and closes its files. No-op if not followed.
  void RemoveWorker(pid_t pid);
  bool Follows(pid_t pid) const { return workers_.count(pid) > 0; }
  /// Stops waking up; files stay open until RemoveWorker or destruction.
  void Stop();

 private:
  struct File {
    int fd = -1;
    int watch = -1;  // inotify watch descriptor, -1 if none
    bool is_err = false;
    std::string partial;  // the start of a line whose newline has not come yet
  };
  struct Followed {
    File out, err;
    Sink sink;
  };

  void Open(const std::string &path, bool is_err, File &file);
  void Close(File &file);
  /// Reads `file` to its end and hands on complete lines (and, if `flush`,
  /// a last partial one).
  void Drain(File &file, const Sink &sink, bool flush);
  void WaitForEvents();
  void OnEvents();
  void SchedulePoll();  // starts polling, if not yet
  void PollLater();

  boost::asio::io_context &io_;
  int inotify_fd_ = -1;
  std::unique_ptr<boost::asio::posix::stream_descriptor> inotify_;
  std::unique_ptr<boost::asio::steady_timer> poll_timer_;  // only without inotify
  bool stopped_ = false;
  std::map<pid_t, std::unique_ptr<Followed>> workers_;
  std::map<int, std::pair<pid_t, bool>> by_watch_;  // inotify watch -> (pid, is_err)
};

}  // namespace lumen::scheduler
