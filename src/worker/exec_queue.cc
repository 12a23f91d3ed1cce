#include "worker/exec_queue.h"

namespace lumen::worker {

void ExecQueue::Push(Task task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.push_back(std::move(task));
  }
  cv_.notify_one();
}

void ExecQueue::RequestExit() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    exit_ = true;
  }
  cv_.notify_all();
}

bool ExecQueue::HasWork() {
  std::lock_guard<std::mutex> lock(mu_);
  return HasWorkLocked();
}

bool ExecQueue::Empty() {
  std::lock_guard<std::mutex> lock(mu_);
  return tasks_.empty();
}

std::optional<ExecQueue::Task> ExecQueue::Next(bool *backlog) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return HasWorkLocked(); });
  if (exit_) return std::nullopt;
  Task task = std::move(tasks_.front());
  tasks_.pop_front();
  *backlog = !tasks_.empty();
  return task;
}

void ExecQueue::StartExecutor(std::function<void()> run) {
  std::lock_guard<std::mutex> lock(mu_);
  executors_.emplace_back(std::move(run));
}

std::vector<std::thread> ExecQueue::TakeExecutors(bool exit) {
  std::vector<std::thread> executors;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (exit) exit_ = true;
    executors.swap(executors_);
  }
  if (exit) cv_.notify_all();
  return executors;
}

}  // namespace lumen::worker
