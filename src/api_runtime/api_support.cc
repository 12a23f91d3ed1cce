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
#include "worker/metric_recorder.h"

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
// Each metric's state is a cell of the process's registry
// (worker/metric_recorder.h), which the core worker's flush timer sends on.

struct Metric::State : lumen::worker::MetricCell {
  using MetricCell::MetricCell;
};

namespace {
lumen::worker::MetricKind CellKind(int kind) {
  switch (kind) {
    case 1:
      return lumen::worker::MetricKind::kCounter;
    case 2:
      return lumen::worker::MetricKind::kSum;
    case 3:
      return lumen::worker::MetricKind::kHistogram;
    default:
      return lumen::worker::MetricKind::kGauge;
  }
}
}  // namespace

Metric::Metric(const std::string &name, const std::string &description, const std::string &unit,
               const std::vector<std::string> &tag_keys, Kind kind, const std::vector<double> &boundaries)
    : state_(std::make_shared<State>(name, description, unit, CellKind(static_cast<int>(kind)), boundaries)) {
  (void)tag_keys;  // tags are whatever each Record names, as in Ray's C++ API
  lumen::worker::MetricRegistry::Instance().Add(state_);
}

Metric::~Metric() {}

std::string Metric::GetName() const { return state_->name(); }

void Metric::Record(double value, const std::unordered_map<std::string, std::string> &tags) {
  state_->Record(value, tags);
}

bool Metric::GetRecordedValue(const std::unordered_map<std::string, std::string> &tags, double *value) const {
  return state_->Value(tags, value);
}

std::map<std::map<std::string, std::string>, double> Metric::GetRecordedValues() const {
  return state_->Values();
}

Gauge::Gauge(const std::string &name, const std::string &description, const std::string &unit,
             const std::vector<std::string> &tag_keys)
    : Metric(name, description, unit, tag_keys, Kind::kGauge) {}

void Gauge::Set(double value, const std::unordered_map<std::string, std::string> &tags) {
  Record(value, tags);
}

Histogram::Histogram(const std::string &name, const std::string &description, const std::string &unit,
                     const std::vector<double> boundaries, const std::vector<std::string> &tag_keys)
    : Metric(name, description, unit, tag_keys, Kind::kHistogram, boundaries),
      boundaries_(lumen::worker::MetricCell::SortedBoundaries(boundaries)) {}

void Histogram::Observe(double value, const std::unordered_map<std::string, std::string> &tags) {
  Record(value, tags);
}

bool Histogram::GetRecordedCounts(const std::unordered_map<std::string, std::string> &tags,
                                  std::vector<uint64_t> *bucket_counts, double *sum, uint64_t *count) const {
  lumen::worker::MetricCell::HistogramCounts counts;
  if (!state_->Histogram(tags, &counts)) return false;
  if (bucket_counts != nullptr) *bucket_counts = std::move(counts.buckets);
  if (sum != nullptr) *sum = counts.sum;
  if (count != nullptr) *count = counts.count;
  return true;
}

Counter::Counter(const std::string &name, const std::string &description, const std::string &unit,
                 const std::vector<std::string> &tag_keys)
    : Metric(name, description, unit, tag_keys, Kind::kCounter) {}

void Counter::Inc(double value, const std::unordered_map<std::string, std::string> &tags) {
  Record(value, tags);
}

Sum::Sum(const std::string &name, const std::string &description, const std::string &unit,
         const std::vector<std::string> &tag_keys)
    : Metric(name, description, unit, tag_keys, Kind::kSum) {}

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
