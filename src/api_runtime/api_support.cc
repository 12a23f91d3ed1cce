// Out-of-line parts of the public headers other than the function registry:
// RAYLOG's logger, the in-process metric recorders, PlacementGroup::Wait, the
// runtime context and cluster views (Lumen extensions, runtime_context.h) and
// the serializer's large-buffer copy.
#include <ray/api/logging.h>
#include <ray/api/metric.h>
#include <ray/api/ray_runtime.h>
#include <ray/api/runtime_context.h>
#include <ray/api/serializer.h>
#include <ray/api/task_options.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <sstream>

#include "base/parallel_copy.h"

namespace ray {

namespace internal {
void CopyBytes(char *dst, const char *src, size_t n) { lumen::ParallelCopy(dst, src, n); }
}  // namespace internal

// ---- logging ----

namespace {

const char *LevelName(RayLoggerLevel level) {
  switch (level) {
    case RayLoggerLevel::DEBUG:
      return "DEBUG";
    case RayLoggerLevel::INFO:
      return "INFO";
    case RayLoggerLevel::WARNING:
      return "WARNING";
    case RayLoggerLevel::ERROR:
      return "ERROR";
    case RayLoggerLevel::FATAL:
      return "FATAL";
  }
  return "UNKNOWN";
}

RayLoggerLevel MinimumLevel() {
  static const RayLoggerLevel level = [] {
    const char *env = std::getenv("RAY_LOG_LEVEL");
    if (env == nullptr) {
      return RayLoggerLevel::INFO;
    }
    std::string value(env);
    std::transform(value.begin(), value.end(), value.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (value == "debug") return RayLoggerLevel::DEBUG;
    if (value == "warning") return RayLoggerLevel::WARNING;
    if (value == "error") return RayLoggerLevel::ERROR;
    if (value == "fatal") return RayLoggerLevel::FATAL;
    return RayLoggerLevel::INFO;
  }();
  return level;
}

std::mutex &StderrMutex() {
  static std::mutex *mutex = new std::mutex();
  return *mutex;
}

class StderrLogger : public RayLogger {
 public:
  StderrLogger(const char *file_name, int line_number, RayLoggerLevel level)
      : level_(level), enabled_(IsLevelEnabled(level)) {
    if (enabled_) {
      std::string file(file_name == nullptr ? "" : file_name);
      size_t slash = file.find_last_of('/');
      if (slash != std::string::npos) {
        file = file.substr(slash + 1);
      }
      stream_ << "[" << LevelName(level) << " " << file << ":" << line_number << "] ";
    }
  }

  ~StderrLogger() override {
    if (enabled_) {
      stream_ << "\n";
      std::string line = stream_.str();
      {
        std::lock_guard<std::mutex> lock(StderrMutex());
        std::cerr << line << std::flush;
      }
    }
    if (level_ == RayLoggerLevel::FATAL) {
      std::abort();
    }
  }

 protected:
  bool IsEnabled() const override { return enabled_; }
  std::ostream &Stream() override { return stream_; }

 private:
  RayLoggerLevel level_;
  bool enabled_;
  std::ostringstream stream_;
};

}  // namespace

std::unique_ptr<RayLogger> CreateRayLogger(const char *file_name, int line_number, RayLoggerLevel level) {
  return std::make_unique<StderrLogger>(file_name, line_number, level);
}

bool IsLevelEnabled(RayLoggerLevel level) {
  return level == RayLoggerLevel::FATAL || static_cast<int>(level) >= static_cast<int>(MinimumLevel());
}

// ---- metrics ----

struct Metric::State {
  std::string name;
  std::string description;
  std::string unit;
  std::vector<std::string> tag_keys;
  bool accumulate = false;
  mutable std::mutex mutex;
  std::map<std::map<std::string, std::string>, double> values;
};

namespace {
std::map<std::string, std::string> SortedTags(const std::unordered_map<std::string, std::string> &tags) {
  return std::map<std::string, std::string>(tags.begin(), tags.end());
}
}  // namespace

Metric::Metric(const std::string &name, const std::string &description, const std::string &unit,
               const std::vector<std::string> &tag_keys, bool accumulate)
    : state_(std::make_shared<State>()) {
  state_->name = name;
  state_->description = description;
  state_->unit = unit;
  state_->tag_keys = tag_keys;
  state_->accumulate = accumulate;
}

Metric::~Metric() {}

std::string Metric::GetName() const { return state_->name; }

void Metric::Record(double value, const std::unordered_map<std::string, std::string> &tags) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  auto key = SortedTags(tags);
  if (state_->accumulate) {
    state_->values[key] += value;
  } else {
    state_->values[key] = value;
  }
}

bool Metric::GetRecordedValue(const std::unordered_map<std::string, std::string> &tags, double *value) const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  auto it = state_->values.find(SortedTags(tags));
  if (it == state_->values.end()) {
    return false;
  }
  if (value != nullptr) {
    *value = it->second;
  }
  return true;
}

std::map<std::map<std::string, std::string>, double> Metric::GetRecordedValues() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->values;
}

Gauge::Gauge(const std::string &name, const std::string &description, const std::string &unit,
             const std::vector<std::string> &tag_keys)
    : Metric(name, description, unit, tag_keys, /*accumulate=*/false) {}

void Gauge::Set(double value, const std::unordered_map<std::string, std::string> &tags) {
  Record(value, tags);
}

Histogram::Histogram(const std::string &name, const std::string &description, const std::string &unit,
                     const std::vector<double> boundaries, const std::vector<std::string> &tag_keys)
    : Metric(name, description, unit, tag_keys, /*accumulate=*/false), boundaries_(boundaries) {}

void Histogram::Observe(double value, const std::unordered_map<std::string, std::string> &tags) {
  Record(value, tags);
}

Counter::Counter(const std::string &name, const std::string &description, const std::string &unit,
                 const std::vector<std::string> &tag_keys)
    : Metric(name, description, unit, tag_keys, /*accumulate=*/true) {}

void Counter::Inc(double value, const std::unordered_map<std::string, std::string> &tags) {
  Record(value, tags);
}

Sum::Sum(const std::string &name, const std::string &description, const std::string &unit,
         const std::vector<std::string> &tag_keys)
    : Metric(name, description, unit, tag_keys, /*accumulate=*/true) {}

// ---- placement groups ----

bool PlacementGroup::Wait(int timeout_seconds) {
  if (callback_) {
    return callback_(id_, timeout_seconds);
  }
  auto runtime = internal::GetRayRuntime();
  if (!runtime || id_.empty()) {
    return false;
  }
  return runtime->WaitPlacementGroupReady(id_, timeout_seconds);
}

// ---- runtime context and cluster views (Lumen extensions) ----

std::string RuntimeContext::GetJobId() const { return internal::GetRayRuntime()->GetContextIds().job_id; }
std::string RuntimeContext::GetNodeId() const { return internal::GetRayRuntime()->GetContextIds().node_id; }
std::string RuntimeContext::GetTaskId() const { return internal::GetRayRuntime()->GetContextIds().task_id; }
std::string RuntimeContext::GetActorId() const { return internal::GetRayRuntime()->GetContextIds().actor_id; }
std::string RuntimeContext::GetWorkerId() const {
  return internal::GetRayRuntime()->GetContextIds().worker_id;
}
std::string RuntimeContext::GetNamespace() const { return internal::GetRayRuntime()->GetNamespace(); }
bool RuntimeContext::WasCurrentActorRestarted() const {
  return internal::GetRayRuntime()->WasCurrentActorRestarted();
}
std::unordered_map<std::string, double> RuntimeContext::GetAssignedResources() const {
  return internal::GetRayRuntime()->GetAssignedResources();
}

RuntimeContext GetRuntimeContext() { return RuntimeContext(); }
std::vector<NodeInfo> Nodes() { return internal::GetRayRuntime()->GetNodes(); }
std::unordered_map<std::string, double> ClusterResources() {
  return internal::GetRayRuntime()->GetClusterResources();
}
std::unordered_map<std::string, double> AvailableResources() {
  return internal::GetRayRuntime()->GetAvailableResources();
}

}  // namespace ray
