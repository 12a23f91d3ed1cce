#include "progress_reporter.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "flat_table.h"

namespace ray {
namespace tune {
namespace internal {
namespace {

// Status order of the rows (Ray lists running trials first).
int StatusRank(TrialStatus s) {
  switch (s) {
    case TrialStatus::kRunning:
      return 0;
    case TrialStatus::kPaused:
      return 1;
    case TrialStatus::kPending:
      return 2;
    case TrialStatus::kTerminated:
      return 3;
    case TrialStatus::kError:
      return 4;
  }
  return 5;
}

std::string FormatCell(const Json &v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.5g", v.get<double>());
    return buf;
  }
  return v.dump();
}

std::string Clock(double seconds) {
  const long long total_ms = std::llround(seconds * 1000);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld.%02lld", total_ms / 3600000, total_ms / 60000 % 60,
                total_ms / 1000 % 60, total_ms % 1000 / 10);
  return buf;
}

// A psql-style table (as Ray's tabulate output): numbers right-aligned.
std::string Table(const std::vector<std::string> &header, const std::vector<std::vector<Json>> &rows) {
  std::vector<size_t> width(header.size());
  std::vector<bool> numeric(header.size(), true);
  std::vector<std::vector<std::string>> cells;
  for (size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
  for (const auto &row : rows) {
    std::vector<std::string> line;
    for (size_t c = 0; c < header.size(); ++c) {
      line.push_back(FormatCell(row[c]));
      width[c] = std::max(width[c], line.back().size());
      if (!row[c].is_null() && !row[c].is_number()) numeric[c] = false;
    }
    cells.push_back(std::move(line));
  }
  auto rule = [&](char edge, char joint) {
    std::string s(1, edge);
    for (size_t c = 0; c < header.size(); ++c)
      s += std::string(width[c] + 2, '-') + (c + 1 == header.size() ? edge : joint);
    return s + "\n";
  };
  auto line = [&](const std::vector<std::string> &fields) {
    std::string s = "|";
    for (size_t c = 0; c < header.size(); ++c) {
      const std::string pad(width[c] - fields[c].size(), ' ');
      s += " " + (numeric[c] ? pad + fields[c] : fields[c] + pad) + " |";
    }
    return s + "\n";
  };
  std::string out = rule('+', '+') + line(header) + rule('|', '+');
  for (const auto &row : cells) out += line(row);
  return out + rule('+', '+');
}

}  // namespace

ProgressReporter::ProgressReporter(ProgressOptions options, std::ostream &out, bool in_place)
    : options_(std::move(options)), out_(out), in_place_(in_place) {}

std::vector<std::string> ProgressReporter::ParameterColumns(const std::vector<ProgressRow> &rows) const {
  if (!options_.parameter_columns.empty()) return options_.parameter_columns;
  std::vector<std::string> keys;
  std::map<std::string, std::set<std::string>> values;
  for (const auto &row : rows) {
    const Json flat = Flatten(row.config);
    for (auto it = flat.begin(); it != flat.end(); ++it) {
      if (!values.count(it.key())) keys.push_back(it.key());
      values[it.key()].insert(it->dump());
    }
  }
  if (rows.size() <= 1) return keys;
  std::vector<std::string> varying;
  for (const auto &k : keys)
    if (values[k].size() > 1) varying.push_back(k);
  return varying;
}

std::vector<std::string> ProgressReporter::MetricColumns(const ProgressSnapshot &snapshot) const {
  if (!options_.metric_columns.empty()) return options_.metric_columns;
  std::vector<std::string> cols;
  if (!snapshot.metric.empty()) cols.push_back(snapshot.metric);
  for (const char *usual : {"loss", "mean_loss", "accuracy", "mean_accuracy", "episode_reward_mean"}) {
    if (std::find(cols.begin(), cols.end(), usual) != cols.end()) continue;
    for (const auto &row : snapshot.rows) {
      if (row.last_result.contains(usual)) {
        cols.push_back(usual);
        break;
      }
    }
  }
  return cols;
}

std::string ProgressReporter::Render(const ProgressSnapshot &snapshot) const {
  std::map<TrialStatus, size_t> by_status;
  for (const auto &row : snapshot.rows) by_status[row.status]++;
  std::string out = "== Status ==\n";
  out += "Running for " + Clock(snapshot.elapsed_s) + "\n";
  if (!snapshot.scheduler_line.empty()) out += snapshot.scheduler_line + "\n";
  if (!snapshot.resources_line.empty()) out += "Logical resource usage: " + snapshot.resources_line + "\n";
  if (!snapshot.logdir.empty()) out += "Result logdir: " + snapshot.logdir + "\n";
  out += "Number of trials: " + std::to_string(snapshot.rows.size());
  if (snapshot.total_trials >= 0) out += "/" + std::to_string(snapshot.total_trials);
  std::string counts;
  for (const auto &[status, n] : by_status) {
    counts += (counts.empty() ? "" : ", ") + std::to_string(n) + " " + TrialStatusName(status);
  }
  out += counts.empty() ? "\n" : " (" + counts + ")\n";
  if (snapshot.rows.empty()) return out;

  std::vector<const ProgressRow *> order;
  for (const auto &row : snapshot.rows) order.push_back(&row);
  const std::string &sort_metric = options_.sort_by_metric;
  std::stable_sort(order.begin(), order.end(), [&](const ProgressRow *a, const ProgressRow *b) {
    if (!sort_metric.empty()) {
      auto va = a->last_result.find(sort_metric), vb = b->last_result.find(sort_metric);
      const bool ha = va != a->last_result.end() && va->is_number();
      const bool hb = vb != b->last_result.end() && vb->is_number();
      if (ha != hb) return ha;
      if (ha) return Score(options_.mode, va->get<double>()) > Score(options_.mode, vb->get<double>());
      return false;
    }
    return StatusRank(a->status) < StatusRank(b->status);
  });

  const auto params = ParameterColumns(snapshot.rows);
  const auto metrics = MetricColumns(snapshot);
  std::vector<std::string> header = {"Trial name", "status", "loc"};
  header.insert(header.end(), params.begin(), params.end());
  header.insert(header.end(), metrics.begin(), metrics.end());
  header.push_back("iter");
  header.push_back("total time (s)");
  std::vector<std::vector<Json>> rows;
  const size_t shown = std::min(order.size(), options_.max_progress_rows);
  for (size_t i = 0; i < shown; ++i) {
    const ProgressRow &r = *order[i];
    const Json flat = Flatten(r.config);
    std::vector<Json> cells = {r.name, TrialStatusName(r.status), r.location};
    for (const auto &p : params) cells.push_back(flat.contains(p) ? flat[p] : Json());
    for (const auto &m : metrics) cells.push_back(r.last_result.contains(m) ? r.last_result[m] : Json());
    cells.push_back(r.last_result.contains(fields::kTrainingIteration)
                        ? r.last_result[fields::kTrainingIteration]
                        : Json());
    cells.push_back(r.last_result.contains(fields::kTimeTotalS) ? r.last_result[fields::kTimeTotalS]
                                                                : Json());
    rows.push_back(std::move(cells));
  }
  out += Table(header, rows);
  if (shown < order.size()) {
    std::map<TrialStatus, size_t> hidden;
    for (size_t i = shown; i < order.size(); ++i) hidden[order[i]->status]++;
    std::string what;
    for (const auto &[status, n] : hidden)
      what += (what.empty() ? "" : ", ") + std::to_string(n) + " " + TrialStatusName(status);
    out += "... " + std::to_string(order.size() - shown) + " more trials not shown (" + what + ")\n";
  }
  return out;
}

void ProgressReporter::Report(const ProgressSnapshot &snapshot, double now_s, bool force) {
  if (!force && !Due(now_s)) return;
  const std::string text = Render(snapshot);
  // Back over the previous report, then clear to the end of the screen.
  if (in_place_ && last_lines_ > 0) out_ << "\x1b[" << last_lines_ << "F\x1b[J";
  out_ << text;
  if (!in_place_) out_ << "\n";
  out_.flush();
  last_lines_ = static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
  last_report_s_ = now_s;
  reported_ = true;
}

}  // namespace internal
}  // namespace tune
}  // namespace ray
