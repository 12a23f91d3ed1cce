#include "file_writer.h"

#include <exception>
#include <utility>

#include "ray/tune/types.h"

namespace ray {
namespace tune {
namespace internal {

FileWriter::FileWriter() : thread_([this] { Loop(); }) {}

FileWriter::~FileWriter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
  }
  work_.notify_all();
  thread_.join();
}

void FileWriter::ThrowIfFailed() {
  if (error_) throw TuneError(*error_);
}

void FileWriter::Post(std::function<void()> job) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    space_.wait(lock, [&] { return jobs_.size() < kMaxQueued || error_; });
    ThrowIfFailed();
    jobs_.push_back(std::move(job));
  }
  work_.notify_one();
}

void FileWriter::Flush() {
  std::unique_lock<std::mutex> lock(mu_);
  space_.wait(lock, [&] { return (jobs_.empty() && !running_job_) || error_; });
  ThrowIfFailed();
}

void FileWriter::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    work_.wait(lock, [&] { return !jobs_.empty() || closing_; });
    if (jobs_.empty()) return;  // closing, and everything ran
    std::function<void()> job = std::move(jobs_.front());
    jobs_.pop_front();
    running_job_ = true;
    lock.unlock();
    std::optional<std::string> failure;
    try {
      job();
    } catch (const std::exception &e) {
      failure = e.what();
    }
    lock.lock();
    running_job_ = false;
    if (failure && !error_) {
      error_ = std::move(failure);
      jobs_.clear();  // they would write after a gap; the loop learns of it at its next call
    }
    space_.notify_all();
  }
}

}  // namespace internal
}  // namespace tune
}  // namespace ray
