#include "control/metric_store.h"

#include <algorithm>
#include <tuple>

namespace lumen::control {

MetricStore::MetricStore(MetricLimits limits) : limits_(limits) {}

void MetricStore::Add(const proto::MetricBatch &batch) {
  dropped_ += batch.dropped_series();
  for (const proto::MetricFamily &family : batch.families())
    AddFamily(batch.job_id(), batch.node_id(), family);
}

void MetricStore::AddFamily(uint32_t job_id, const std::string &node_id, const proto::MetricFamily &update) {
  auto [it, fresh] = families_.try_emplace(update.name());
  Family &family = it->second;
  const std::vector<double> boundaries(update.boundaries().begin(), update.boundaries().end());
  if (fresh) {
    family.description = update.description();
    family.unit = update.unit();
    family.kind = update.kind();
    family.boundaries = boundaries;
  } else if (family.kind != update.kind() || family.boundaries != boundaries) {
    // Two programs (or two metrics of one) gave one name to different
    // metrics: the first keeps the name.
    dropped_ += update.series_size();
    return;
  }
  if (family.description.empty()) family.description = update.description();
  const size_t buckets = family.boundaries.size() + 1;
  for (const proto::MetricSeries &change : update.series()) {
    Key key{job_id, node_id, {}};
    key.tags.reserve(change.tags_size());
    for (const proto::MetricTag &t : change.tags()) key.tags.emplace_back(t.key(), t.value());
    std::sort(key.tags.begin(), key.tags.end());
    auto s = family.series.find(key);
    if (s == family.series.end()) {
      if (num_series_ >= limits_.max_series && !EvictEndedJob()) {
        ++dropped_;
        continue;
      }
      proto::MetricSeries created;
      for (const auto &[k, v] : key.tags) {
        proto::MetricTag *tag = created.add_tags();
        tag->set_key(k);
        tag->set_value(v);
      }
      created.set_job_id(job_id);
      created.set_node_id(node_id);
      if (family.kind == proto::METRIC_HISTOGRAM)
        for (size_t i = 0; i < buckets; ++i) created.add_bucket_counts(0);
      s = family.series.emplace(std::move(key), std::move(created)).first;
      ++num_series_;
    }
    proto::MetricSeries &total = s->second;
    switch (family.kind) {
      case proto::METRIC_GAUGE:
        total.set_value(change.value());
        break;
      case proto::METRIC_HISTOGRAM:
        if (static_cast<size_t>(change.bucket_counts_size()) != buckets) {
          ++dropped_;  // malformed: its buckets do not match the boundaries
          break;
        }
        for (size_t i = 0; i < buckets; ++i)
          total.set_bucket_counts(static_cast<int>(i), total.bucket_counts(static_cast<int>(i)) +
                                                           change.bucket_counts(static_cast<int>(i)));
        total.set_sum(total.sum() + change.sum());
        total.set_count(total.count() + change.count());
        break;
      default:  // counter, sum: increases only (a negative one would read as a reset)
        if (change.value() > 0) total.set_value(total.value() + change.value());
        break;
    }
  }
  if (family.series.empty()) families_.erase(it);
}

void MetricStore::JobEnded(uint32_t job_id, int64_t now_ms) { ended_.try_emplace(job_id, now_ms); }

void MetricStore::Expire(int64_t now_ms) {
  std::vector<uint32_t> expired;
  for (const auto &[job, when] : ended_)
    if (now_ms - when >= limits_.finished_job_retention_ms) expired.push_back(job);
  for (uint32_t job : expired) RemoveJob(job);
}

bool MetricStore::EvictEndedJob() {
  while (!ended_.empty()) {
    auto first = std::min_element(ended_.begin(), ended_.end(),
                                  [](const auto &a, const auto &b) { return a.second < b.second; });
    const size_t before = num_series_;
    RemoveJob(first->first);  // erases it from ended_
    if (num_series_ < before) return true;
  }
  return false;
}

void MetricStore::RemoveJob(uint32_t job_id) {
  ended_.erase(job_id);
  for (auto f = families_.begin(); f != families_.end();) {
    auto &series = f->second.series;
    for (auto s = series.begin(); s != series.end();) {
      if (s->first.job_id == job_id) {
        s = series.erase(s);
        --num_series_;
      } else {
        ++s;
      }
    }
    f = series.empty() ? families_.erase(f) : std::next(f);
  }
}

proto::GetMetricsReply MetricStore::Get() const {
  proto::GetMetricsReply reply;
  for (const auto &[name, family] : families_) {
    proto::MetricFamily *out = reply.add_families();
    out->set_name(name);
    out->set_description(family.description);
    out->set_unit(family.unit);
    out->set_kind(family.kind);
    for (double b : family.boundaries) out->add_boundaries(b);
    for (const auto &[key, series] : family.series) *out->add_series() = series;
  }
  reply.set_dropped_series(dropped_);
  return reply;
}

}  // namespace lumen::control
