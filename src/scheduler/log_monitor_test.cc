// LogMonitor: lines reach the sink whole, in order, per worker and stream;
// a worker's last words (a line without its newline included) are handed on
// when it is removed; its files are closed then.
#include "scheduler/log_monitor.h"

#include <fcntl.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <gtest/gtest.h>

namespace lumen::scheduler {
namespace {

namespace fs = std::filesystem;
using Lines = std::vector<std::string>;

// Only a hang reaches it.
constexpr auto kHang = std::chrono::seconds(60);

class LogMonitorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("log_monitor_test-" + std::to_string(getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    thread_ = std::thread([this] { io_.run(); });
    OnLoop([this] { monitor_ = std::make_unique<LogMonitor>(io_); });
  }
  void TearDown() override {
    OnLoop([this] { monitor_.reset(); });
    guard_.reset();
    thread_.join();
    fs::remove_all(dir_);
  }

  // Runs `fn` on the loop thread (where the monitor lives) and waits for it.
  void OnLoop(std::function<void()> fn) {
    std::promise<void> done;
    boost::asio::post(io_, [&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }

  std::string Path(pid_t pid, bool is_err) const {
    return (dir_ / ("worker-" + std::to_string(pid) + (is_err ? ".err" : ".out"))).string();
  }
  // Appends `text` to a worker's file, as the worker's own write would.
  void Write(pid_t pid, bool is_err, const std::string &text) {
    int fd = open(Path(pid, is_err).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    close(fd);
  }
  void Add(pid_t pid) {
    OnLoop([this, pid] {
      monitor_->AddWorker(pid, Path(pid, false), Path(pid, true), [this, pid](bool is_err, Lines lines) {
        std::lock_guard<std::mutex> lock(mu_);
        auto &got = received_[{pid, is_err}];
        got.insert(got.end(), lines.begin(), lines.end());
        ++deliveries_;
        cv_.notify_all();
      });
    });
  }
  void Remove(pid_t pid) {
    OnLoop([this, pid] { monitor_->RemoveWorker(pid); });
  }
  // Waits until worker `pid`'s stream has at least `n` lines; returns them.
  Lines WaitFor(pid_t pid, bool is_err, size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, kHang, [&] { return received_[{pid, is_err}].size() >= n; });
    return received_[{pid, is_err}];
  }
  Lines Received(pid_t pid, bool is_err) {
    std::lock_guard<std::mutex> lock(mu_);
    return received_[{pid, is_err}];
  }
  // Descriptors of this process open on `path`.
  int OpenCount(const std::string &path) {
    int count = 0;
    for (auto &entry : fs::directory_iterator("/proc/self/fd")) {
      std::error_code ec;
      auto target = fs::read_symlink(entry.path(), ec);
      if (!ec && target == path) ++count;
    }
    return count;
  }

  fs::path dir_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_ =
      boost::asio::make_work_guard(io_);
  std::thread thread_;
  std::unique_ptr<LogMonitor> monitor_;  // loop thread only
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::pair<pid_t, bool>, Lines> received_;
  int deliveries_ = 0;
};

TEST_F(LogMonitorTest, LinesSplitAcrossWritesArriveWhole) {
  Write(7, false, "");
  Write(7, true, "");
  Add(7);
  Write(7, false, "hel");
  Write(7, false, "lo\nwor");
  Write(7, false, "ld\n");
  EXPECT_EQ(WaitFor(7, false, 2), (Lines{"hello", "world"}));
  Write(7, true, "an error\n");
  EXPECT_EQ(WaitFor(7, true, 1), (Lines{"an error"}));
  // Nothing but whole lines came, and nothing twice.
  EXPECT_EQ(Received(7, false), (Lines{"hello", "world"}));
  Remove(7);
  EXPECT_EQ(Received(7, false), (Lines{"hello", "world"}));
  EXPECT_EQ(Received(7, true), (Lines{"an error"}));
}

TEST_F(LogMonitorTest, OutputWrittenBeforeTheWorkerIsAddedIsForwarded) {
  Write(8, false, "early 1\nearly 2\n");
  Write(8, true, "");
  Add(8);
  EXPECT_EQ(WaitFor(8, false, 2), (Lines{"early 1", "early 2"}));
  Remove(8);
}

// What a worker wrote just before it went, whether or not the monitor has
// been woken for it yet, and a last line without its newline.
TEST_F(LogMonitorTest, LastWordsAreHandedOnWhenTheWorkerIsRemoved) {
  Write(9, false, "");
  Write(9, true, "");
  Add(9);
  Write(9, false, "one\ntwo\nno newline");
  Write(9, true, "partial err");
  Remove(9);
  EXPECT_EQ(Received(9, false), (Lines{"one", "two", "no newline"}));
  EXPECT_EQ(Received(9, true), (Lines{"partial err"}));
}

TEST_F(LogMonitorTest, FilesStayOpenWhileFollowedAndCloseWhenRemoved) {
  Write(10, false, "x\n");
  Write(10, true, "y\n");
  Add(10);
  EXPECT_EQ(OpenCount(Path(10, false)), 1);
  EXPECT_EQ(OpenCount(Path(10, true)), 1);
  Add(10);  // already followed: no second descriptor
  EXPECT_EQ(OpenCount(Path(10, false)), 1);
  Remove(10);
  EXPECT_EQ(OpenCount(Path(10, false)), 0);
  EXPECT_EQ(OpenCount(Path(10, true)), 0);
  EXPECT_EQ(Received(10, false), (Lines{"x"}));
  EXPECT_EQ(Received(10, true), (Lines{"y"}));
}

TEST_F(LogMonitorTest, MissingFilesAreSkipped) {
  Add(11);  // neither file exists
  Remove(11);
  EXPECT_TRUE(Received(11, false).empty());
  // The monitor still serves others.
  Write(12, false, "fine\n");
  Add(12);
  EXPECT_EQ(WaitFor(12, false, 1), (Lines{"fine"}));
  Remove(12);
}

TEST_F(LogMonitorTest, ManyWorkersWritingAtOnce) {
  constexpr int kWorkers = 40;
  constexpr int kLines = 200;
  for (pid_t pid = 100; pid < 100 + kWorkers; ++pid) {
    Write(pid, false, "");
    Write(pid, true, "");
    Add(pid);
  }
  // Each worker writes its lines in pieces that cut lines in two.
  std::vector<std::thread> writers;
  for (pid_t pid = 100; pid < 100 + kWorkers; ++pid) {
    writers.emplace_back([this, pid] {
      for (bool is_err : {false, true}) {
        std::string all;
        for (int i = 0; i < kLines; ++i)
          all += std::to_string(pid) + (is_err ? " err " : " out ") + std::to_string(i) + "\n";
        for (size_t off = 0; off < all.size(); off += 37) Write(pid, is_err, all.substr(off, 37));
      }
    });
  }
  for (auto &t : writers) t.join();
  for (pid_t pid = 100; pid < 100 + kWorkers; ++pid) {
    for (bool is_err : {false, true}) {
      Lines expected;
      for (int i = 0; i < kLines; ++i)
        expected.push_back(std::to_string(pid) + (is_err ? " err " : " out ") + std::to_string(i));
      EXPECT_EQ(WaitFor(pid, is_err, kLines), expected) << pid << (is_err ? " err" : " out");
    }
    Remove(pid);
  }
}

}  // namespace
}  // namespace lumen::scheduler
