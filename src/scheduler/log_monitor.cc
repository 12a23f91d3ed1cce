#include "scheduler/log_monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cstring>

#include "base/logging.h"

namespace lumen::scheduler {

LogMonitor::LogMonitor(boost::asio::io_context &io) : io_(io) {
  inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd_ < 0) {
    const int err = errno;
    LUMEN_LOG_WARN("inotify unavailable ({}): reading worker logs every {} ms", std::strerror(err),
                   kPollInterval.count());
    return;
  }
  inotify_ = std::make_unique<boost::asio::posix::stream_descriptor>(io_, inotify_fd_);
  WaitForEvents();
}

LogMonitor::~LogMonitor() {
  Stop();
  for (auto &[pid, w] : workers_) {
    Close(w->out);
    Close(w->err);
  }
  if (inotify_) inotify_->close();  // closes inotify_fd_
}

void LogMonitor::Stop() {
  stopped_ = true;
  if (inotify_) inotify_->cancel();
  if (poll_timer_) poll_timer_->cancel();
}

void LogMonitor::AddWorker(pid_t pid, const std::string &out_path, const std::string &err_path, Sink sink) {
  if (workers_.count(pid)) return;
  auto &w = workers_[pid];
  w = std::make_unique<Followed>();
  w->sink = std::move(sink);
  for (bool is_err : {false, true}) {
    File &file = is_err ? w->err : w->out;
    Open(is_err ? err_path : out_path, is_err, file);
    if (file.watch >= 0) by_watch_[file.watch] = {pid, is_err};
    // Watched before the first read: nothing written in between is missed.
    if (file.fd >= 0) Drain(file, w->sink, /*flush=*/false);
  }
}

void LogMonitor::RemoveWorker(pid_t pid) {
  auto it = workers_.find(pid);
  if (it == workers_.end()) return;
  Followed &w = *it->second;
  for (File *file : {&w.out, &w.err}) {
    if (file->fd >= 0) Drain(*file, w.sink, /*flush=*/true);
    Close(*file);
  }
  workers_.erase(it);
}

void LogMonitor::Open(const std::string &path, bool is_err, File &file) {
  file.is_err = is_err;
  if (inotify_fd_ >= 0) {
    file.watch = inotify_add_watch(inotify_fd_, path.c_str(), IN_MODIFY);
    const int err = errno;
    if (file.watch < 0 && err != ENOENT) {
      // Out of watches (fs.inotify.max_user_watches): this file is polled.
      LUMEN_LOG_WARN("cannot watch {} ({}): reading it every {} ms", path, std::strerror(err),
                     kPollInterval.count());
      SchedulePoll();
    }
  } else {
    SchedulePoll();
  }
  file.fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (file.fd < 0) {
    const int err = errno;  // before the logger runs
    LUMEN_LOG_WARN("cannot read worker log {}: {}", path, std::strerror(err));
    Close(file);
  }
}

void LogMonitor::Close(File &file) {
  if (file.watch >= 0) {
    by_watch_.erase(file.watch);
    if (inotify_fd_ >= 0) inotify_rm_watch(inotify_fd_, file.watch);
    file.watch = -1;
  }
  if (file.fd >= 0) close(file.fd);
  file.fd = -1;
}

void LogMonitor::Drain(File &file, const Sink &sink, bool flush) {
  // The file offset is the position of the last read: files are only ever
  // appended to, so a plain read() continues where the previous one ended.
  char buf[65536];
  std::vector<std::string> lines;
  for (;;) {
    ssize_t n = read(file.fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    const char *p = buf;
    const char *end = buf + n;
    while (p < end) {
      const char *nl = static_cast<const char *>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
      if (!nl) {
        file.partial.append(p, static_cast<size_t>(end - p));
        break;
      }
      file.partial.append(p, static_cast<size_t>(nl - p));
      lines.push_back(std::move(file.partial));
      file.partial.clear();
      p = nl + 1;
    }
  }
  if (flush && !file.partial.empty()) {
    lines.push_back(std::move(file.partial));
    file.partial.clear();
  }
  if (!lines.empty()) sink(file.is_err, std::move(lines));
}

void LogMonitor::WaitForEvents() {
  inotify_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                       [this](const boost::system::error_code &ec) {
                         if (ec || stopped_) return;
                         OnEvents();
                         WaitForEvents();
                       });
}

void LogMonitor::OnEvents() {
  // Which files grew; each is then read once, however many events it had.
  std::vector<int> grown;
  alignas(inotify_event) char buf[8192];
  for (;;) {
    ssize_t n = read(inotify_fd_, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EAGAIN: all read
    for (char *p = buf; p < buf + n;) {
      auto *ev = reinterpret_cast<inotify_event *>(p);
      if (ev->mask & IN_MODIFY) grown.push_back(ev->wd);
      p += sizeof(inotify_event) + ev->len;
    }
  }
  for (int wd : grown) {
    auto it = by_watch_.find(wd);
    if (it == by_watch_.end()) continue;  // its worker was removed meanwhile
    auto w = workers_.find(it->second.first);
    if (w == workers_.end()) continue;
    File &file = it->second.second ? w->second->err : w->second->out;
    if (file.fd >= 0) Drain(file, w->second->sink, /*flush=*/false);
  }
}

void LogMonitor::SchedulePoll() {
  if (poll_timer_ || stopped_) return;
  poll_timer_ = std::make_unique<boost::asio::steady_timer>(io_);
  PollLater();
}

void LogMonitor::PollLater() {
  poll_timer_->expires_after(kPollInterval);
  poll_timer_->async_wait([this](const boost::system::error_code &ec) {
    if (ec || stopped_) return;
    for (auto &[pid, w] : workers_)
      for (File *file : {&w->out, &w->err})
        if (file->fd >= 0) Drain(*file, w->sink, /*flush=*/false);
    PollLater();
  });
}

}  // namespace lumen::scheduler
