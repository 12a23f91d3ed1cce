#include "ray/tune/result_grid.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <system_error>

#include "flat_table.h"

namespace ray {
namespace tune {
namespace {

namespace fs = std::filesystem;

// The values of `metric` a trial reported, oldest first (non-numbers skipped;
// NaN and infinities too when filtering).
std::vector<double> MetricValues(const Result &r, const std::string &metric, bool filter_nan_and_inf) {
  std::vector<double> values;
  for (const Json &row : r.metrics_history) {
    auto it = row.find(metric);
    if (it == row.end() || !it->is_number()) continue;
    double v = it->get<double>();
    if (filter_nan_and_inf && !std::isfinite(v)) continue;
    values.push_back(v);
  }
  return values;
}

// A trial's value under `scope`; nullopt when it has none.
std::optional<double> ScopeValue(const std::vector<double> &values, const std::string &scope, Mode mode) {
  if (values.empty()) return std::nullopt;
  auto mean_of_last = [&](size_t n) {
    n = std::min(n, values.size());
    double sum = 0;
    for (size_t i = values.size() - n; i < values.size(); ++i) sum += values[i];
    return sum / static_cast<double>(n);
  };
  if (scope == "last") return values.back();
  if (scope == "avg") return mean_of_last(values.size());
  if (scope == "last-5-avg") return mean_of_last(5);
  if (scope == "last-10-avg") return mean_of_last(10);
  // "all": its best value at any point.
  return mode == Mode::kMax ? *std::max_element(values.begin(), values.end())
                            : *std::min_element(values.begin(), values.end());
}

void CheckScope(const std::string &scope) {
  static const std::set<std::string> kScopes = {"all", "last", "avg", "last-5-avg", "last-10-avg"};
  if (!kScopes.count(scope)) {
    throw TuneError("scope must be one of all, last, avg, last-5-avg, last-10-avg; got \"" + scope + "\"");
  }
}

std::string ReadAll(const fs::path &path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One trial folder back into a Result. Lines of result.json that do not
// parse (the last one, cut short by a killed driver) are skipped.
Result LoadTrial(const fs::path &dir) {
  Result r;
  r.path = dir.string();
  r.trial_id = dir.filename().string();
  Json params = Json::parse(ReadAll(dir / "params.json"), nullptr, false);
  if (!params.is_discarded()) r.config = params;
  std::ifstream results(dir / "result.json");
  for (std::string line; std::getline(results, line);) {
    Json row = Json::parse(line, nullptr, false);
    if (row.is_discarded() || !row.is_object()) continue;
    r.metrics_history.push_back(std::move(row));
  }
  if (!r.metrics_history.empty()) {
    r.metrics = r.metrics_history.back();
    auto id = r.metrics.find(fields::kTrialId);
    if (id != r.metrics.end() && id->is_string()) r.trial_id = id->get<std::string>();
  }
  if (fs::exists(dir / "error.txt")) {
    std::string text = ReadAll(dir / "error.txt");
    while (!text.empty() && text.back() == '\n') text.pop_back();
    r.error = text;
    r.status = TrialStatus::kError;
  }
  std::string latest;
  std::error_code ec;
  for (const auto &entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && name.rfind("checkpoint_", 0) == 0 && name > latest) latest = name;
  }
  if (!latest.empty()) r.checkpoint_path = (dir / latest).string();
  return r;
}

}  // namespace

ResultGrid::ResultGrid(std::vector<Result> results, std::string default_metric,
                       std::optional<Mode> default_mode, std::string experiment_path)
    : results_(std::move(results)),
      default_metric_(std::move(default_metric)),
      default_mode_(default_mode),
      experiment_path_(std::move(experiment_path)) {}

ResultGrid ResultGrid::Load(const std::string &experiment_path, std::string default_metric,
                            std::optional<Mode> default_mode) {
  std::error_code ec;
  if (!fs::is_directory(experiment_path, ec)) {
    throw TuneError("no experiment folder at " + experiment_path);
  }
  std::vector<fs::path> trial_dirs;
  for (const auto &entry : fs::directory_iterator(experiment_path, ec)) {
    if (entry.is_directory() && fs::exists(entry.path() / "params.json")) trial_dirs.push_back(entry.path());
  }
  if (ec) throw TuneError("cannot read the experiment folder " + experiment_path + ": " + ec.message());
  std::sort(trial_dirs.begin(), trial_dirs.end());
  std::vector<Result> results;
  results.reserve(trial_dirs.size());
  for (const auto &dir : trial_dirs) results.push_back(LoadTrial(dir));
  return ResultGrid(std::move(results), std::move(default_metric), default_mode, experiment_path);
}

const std::string &ResultGrid::MetricOrDefault(const std::string &metric, const char *what) const {
  if (!metric.empty()) return metric;
  if (!default_metric_.empty()) return default_metric_;
  throw TuneError(std::string("No metric is provided. Either pass a metric to ") + what +
                  " or set one in the experiment's TuneConfig.");
}

Mode ResultGrid::ModeOrDefault(const std::string &mode, const char *what) const {
  if (!mode.empty()) return ParseMode(mode);
  if (default_mode_) return *default_mode_;
  throw TuneError(std::string("No mode is provided. Either pass a mode (\"min\" or \"max\") to ") + what +
                  " or set one in the experiment's TuneConfig.");
}

const Result &ResultGrid::GetBestResult(const std::string &metric, const std::string &mode,
                                        const std::string &scope, bool filter_nan_and_inf) const {
  const std::string &m = MetricOrDefault(metric, "GetBestResult");
  const Mode md = ModeOrDefault(mode, "GetBestResult");
  CheckScope(scope);
  const Result *best = nullptr;
  double best_score = -std::numeric_limits<double>::infinity();
  for (const Result &r : results_) {
    auto v = ScopeValue(MetricValues(r, m, filter_nan_and_inf), scope, md);
    if (!v) continue;
    const double s = Score(md, *v);
    if (!best || s > best_score) {
      best = &r;
      best_score = s;
    }
  }
  if (!best) {
    throw TuneError("No best trial found for metric \"" + m + "\" and mode \"" + ModeName(md) +
                    "\": no trial reported it" + (filter_nan_and_inf ? " as a finite number." : "."));
  }
  return *best;
}

std::vector<const Result *> ResultGrid::Errors() const {
  std::vector<const Result *> out;
  for (const Result &r : results_)
    if (r.error) out.push_back(&r);
  return out;
}

size_t ResultGrid::num_errors() const { return Errors().size(); }

size_t ResultGrid::num_terminated() const {
  return static_cast<size_t>(std::count_if(results_.begin(), results_.end(), [](const Result &r) {
    return r.status == TrialStatus::kTerminated;
  }));
}

std::string ResultGrid::ToCsv(const std::string &filter_metric, const std::string &filter_mode) const {
  std::optional<Mode> mode;
  if (!filter_metric.empty() || !filter_mode.empty()) {
    if (filter_metric.empty() || filter_mode.empty()) {
      throw TuneError("ToCsv: give both filter_metric and filter_mode, or neither");
    }
    mode = ParseMode(filter_mode);
  }
  std::vector<Json> rows;
  std::vector<std::string> columns;
  std::set<std::string> seen;
  for (const Result &r : results_) {
    Json row = r.metrics;
    if (mode) {
      // The trial's best row by the filter metric (its last if it has none).
      double best = -std::numeric_limits<double>::infinity();
      for (const Json &h : r.metrics_history) {
        auto it = h.find(filter_metric);
        if (it == h.end() || !it->is_number() || !std::isfinite(it->get<double>())) continue;
        if (Score(*mode, it->get<double>()) > best) {
          best = Score(*mode, it->get<double>());
          row = h;
        }
      }
    }
    if (!row.is_object()) row = Json::object();
    row[fields::kConfig] = r.config;
    Json flat = internal::Flatten(row);
    flat[fields::kTrialId] = r.trial_id;
    flat["logdir"] = r.path;
    for (auto it = flat.begin(); it != flat.end(); ++it) {
      if (seen.insert(it.key()).second) columns.push_back(it.key());
    }
    rows.push_back(std::move(flat));
  }
  std::string csv = internal::CsvHeader(columns);
  for (const Json &row : rows) csv += internal::CsvRow(row, columns);
  return csv;
}

void ResultGrid::WriteCsv(const std::string &path, const std::string &filter_metric,
                          const std::string &filter_mode) const {
  const std::string csv = ToCsv(filter_metric, filter_mode);
  std::ofstream out(path, std::ios::trunc);
  out << csv;
  out.flush();
  if (!out) throw TuneError("cannot write " + path);
}

}  // namespace tune
}  // namespace ray
