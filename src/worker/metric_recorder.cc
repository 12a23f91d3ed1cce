#include "worker/metric_recorder.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

namespace lumen::worker {
namespace {

using TagPair = std::pair<const std::string, std::string>;

// The caller's tags as a sorted view: pointers into its unordered_map.
struct TagProbe {
  const TagPair *const *items;
  size_t n;
};

// Lexicographic order of (key, value) pairs, as std::map orders MetricTags.
int Compare(const MetricTags &a, const TagProbe &b) {
  auto it = a.begin();
  for (size_t i = 0; i < b.n; ++i, ++it) {
    if (it == a.end()) return -1;
    if (int c = it->first.compare(b.items[i]->first)) return c;
    if (int c = it->second.compare(b.items[i]->second)) return c;
  }
  return it == a.end() ? 0 : 1;
}

// Calls `f` with the tags sorted, without copying them (on the stack for the
// usual handful of tags).
template <typename F>
auto WithProbe(const std::unordered_map<std::string, std::string> &tags, F &&f) {
  constexpr size_t kInline = 16;
  std::array<const TagPair *, kInline> inline_items;
  std::vector<const TagPair *> heap_items;
  const TagPair **items = inline_items.data();
  if (tags.size() > kInline) {
    heap_items.resize(tags.size());
    items = heap_items.data();
  }
  size_t n = 0;
  for (const TagPair &t : tags) items[n++] = &t;
  std::sort(items, items + n, [](const TagPair *a, const TagPair *b) { return a->first < b->first; });
  return f(TagProbe{items, n});
}

}  // namespace

std::vector<double> MetricCell::SortedBoundaries(std::vector<double> b) {
  b.erase(std::remove_if(b.begin(), b.end(), [](double v) { return !std::isfinite(v); }), b.end());
  std::sort(b.begin(), b.end());
  b.erase(std::unique(b.begin(), b.end()), b.end());
  return b;
}

struct MetricCell::Less {
  using is_transparent = void;
  bool operator()(const MetricTags &a, const MetricTags &b) const { return a < b; }
  bool operator()(const MetricTags &a, const TagProbe &b) const { return Compare(a, b) < 0; }
  bool operator()(const TagProbe &a, const MetricTags &b) const { return Compare(b, a) > 0; }
};

MetricCell::MetricCell(std::string name, std::string description, std::string unit, MetricKind kind,
                       std::vector<double> boundaries)
    : name_(std::move(name)),
      description_(std::move(description)),
      unit_(std::move(unit)),
      kind_(kind),
      boundaries_(kind == MetricKind::kHistogram ? SortedBoundaries(std::move(boundaries))
                                                 : std::vector<double>()),
      series_(std::make_unique<SeriesMap>()) {}

MetricCell::~MetricCell() = default;

MetricCell::Series *MetricCell::FindLocked(const std::unordered_map<std::string, std::string> &tags) const {
  return WithProbe(tags, [&](const TagProbe &probe) -> Series * {
    auto it = series_->find(probe);
    return it == series_->end() ? nullptr : &it->second;
  });
}

void MetricCell::Record(double value, const std::unordered_map<std::string, std::string> &tags) {
  const bool adds = kind_ == MetricKind::kCounter || kind_ == MetricKind::kSum;
  if (std::isnan(value) || (adds && value < 0)) return;
  size_t bucket = 0;
  if (kind_ == MetricKind::kHistogram)  // the first bucket whose bound holds it (le: <=)
    bucket = std::lower_bound(boundaries_.begin(), boundaries_.end(), value) - boundaries_.begin();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = WithProbe(tags, [&](const TagProbe &probe) { return series_->find(probe); });
  if (it == series_->end()) {
    if (series_->size() >= kMaxSeries) {
      ++dropped_;
      return;
    }
    it = series_->emplace(MetricTags(tags.begin(), tags.end()), Series()).first;
    if (kind_ == MetricKind::kHistogram) {
      it->second.buckets.assign(boundaries_.size() + 1, 0);
      it->second.pending_buckets.assign(boundaries_.size() + 1, 0);
    }
  }
  Series &s = it->second;
  if (!s.changed) {
    s.changed = true;
    changed_.push_back(&*it);
  }
  switch (kind_) {
    case MetricKind::kCounter:
    case MetricKind::kSum:
      s.value += value;
      s.pending += value;
      break;
    case MetricKind::kHistogram:
      s.value = value;
      ++s.buckets[bucket];
      ++s.pending_buckets[bucket];
      s.sum += value;
      s.pending_sum += value;
      ++s.count;
      ++s.pending_count;
      break;
    default:
      s.value = value;
      s.pending = value;
      break;
  }
}

bool MetricCell::Value(const std::unordered_map<std::string, std::string> &tags, double *value) const {
  std::lock_guard<std::mutex> lock(mu_);
  const Series *s = FindLocked(tags);
  if (s == nullptr) return false;
  if (value != nullptr) *value = s->value;
  return true;
}

std::map<MetricTags, double> MetricCell::Values() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<MetricTags, double> out;
  for (const auto &[tags, s] : *series_) out.emplace(tags, s.value);
  return out;
}

bool MetricCell::Histogram(const std::unordered_map<std::string, std::string> &tags,
                           HistogramCounts *out) const {
  std::lock_guard<std::mutex> lock(mu_);
  const Series *s = FindLocked(tags);
  if (s == nullptr || kind_ != MetricKind::kHistogram) return false;
  if (out != nullptr) *out = {s->buckets, s->sum, s->count};
  return true;
}

bool MetricCell::TakeChanges(MetricChanges *out) {
  std::lock_guard<std::mutex> lock(mu_);
  if (changed_.empty()) return false;
  out->name = name_;
  out->description = description_;
  out->unit = unit_;
  out->kind = kind_;
  out->boundaries = boundaries_;
  out->series.reserve(out->series.size() + changed_.size());
  for (SeriesEntry *entry : changed_) {
    Series &s = entry->second;
    MetricSeriesChange change;
    change.tags = entry->first;
    change.value = s.pending;
    if (kind_ == MetricKind::kHistogram) {
      change.buckets = s.pending_buckets;
      std::fill(s.pending_buckets.begin(), s.pending_buckets.end(), 0);
      change.sum = s.pending_sum;
      change.count = s.pending_count;
      s.pending_sum = 0;
      s.pending_count = 0;
    }
    out->series.push_back(std::move(change));
    s.pending = 0;
    s.changed = false;
  }
  changed_.clear();
  return true;
}

void MetricCell::DiscardChanges() {
  std::lock_guard<std::mutex> lock(mu_);
  for (SeriesEntry *entry : changed_) {
    Series &s = entry->second;
    s.pending = 0;
    std::fill(s.pending_buckets.begin(), s.pending_buckets.end(), 0);
    s.pending_sum = 0;
    s.pending_count = 0;
    s.changed = false;
  }
  changed_.clear();
  dropped_ = 0;
}

bool MetricCell::HasChanges() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !changed_.empty() || dropped_ > 0;
}

int64_t MetricCell::TakeDropped() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::exchange(dropped_, 0);
}

MetricRegistry &MetricRegistry::Instance() {
  static MetricRegistry *registry = new MetricRegistry();  // never destroyed: metrics may outlive statics
  return *registry;
}

void MetricRegistry::Add(std::shared_ptr<MetricCell> cell) {
  std::lock_guard<std::mutex> lock(mu_);
  cells_.push_back(std::move(cell));
  if (cells_.size() >= prune_at_) {
    PruneLocked();
    prune_at_ = std::max<size_t>(64, 2 * cells_.size());
  }
}

void MetricRegistry::PruneLocked() {
  const bool sending = exporters_ > 0;
  cells_.erase(std::remove_if(cells_.begin(), cells_.end(),
                              [sending](const std::shared_ptr<MetricCell> &c) {
                                return c.use_count() == 1 && (!sending || !c->HasChanges());
                              }),
               cells_.end());
}

void MetricRegistry::AddExporter() {
  std::lock_guard<std::mutex> lock(mu_);
  ++exporters_;
}

void MetricRegistry::RemoveExporter() {
  std::lock_guard<std::mutex> lock(mu_);
  --exporters_;
}

MetricBatchChanges MetricRegistry::TakeBatch() {
  std::vector<std::shared_ptr<MetricCell>> cells;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cells = cells_;
  }
  MetricBatchChanges batch;
  for (const auto &cell : cells) {
    MetricChanges changes;
    if (cell->TakeChanges(&changes)) batch.metrics.push_back(std::move(changes));
    batch.dropped_series += cell->TakeDropped();
  }
  {
    // A cell only the registry holds (its metric is gone) has sent its last
    // changes above; one that changed since stays for the next batch.
    std::lock_guard<std::mutex> lock(mu_);
    cells.clear();
    cells_.erase(std::remove_if(cells_.begin(), cells_.end(),
                                [](const std::shared_ptr<MetricCell> &c) {
                                  return c.use_count() == 1 && !c->HasChanges();
                                }),
                 cells_.end());
  }
  return batch;
}

void MetricRegistry::DiscardChanges() {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto &cell : cells_) cell->DiscardChanges();
}

size_t MetricRegistry::NumCells() {
  std::lock_guard<std::mutex> lock(mu_);
  return cells_.size();
}

}  // namespace lumen::worker
