// The work of the seed's two data-heavy shapes (issue 16), shared by
// seed_shapes.cc (on Lumen and on Ray C++, so plain C++17 and no Lumen
// header) and floors.cc (the same work split over two processes with no
// runtime at all: the best speed-up any system can reach on this machine).
// bench/seed_shapes.py does the same work in numpy and Python.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace seed {

struct FilterStats {
  double sum = 0, min = 0, max = 0;
};

inline std::vector<double> MakeMatrix(int n) {
  std::vector<double> m(static_cast<size_t>(n) * n);
  uint64_t s = 0x9E3779B97F4A7C15ULL;
  for (auto &v : m) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    v = static_cast<double>(s >> 11) * (1.0 / 9007199254740992.0);
  }
  return m;
}

// Filter `id` over the n x n matrix: scale, 3x3 blur, threshold or Laplacian.
inline FilterStats Filter(const std::vector<double> &m, int n, int id) {
  double sum = 0, mn = std::numeric_limits<double>::infinity(), mx = -mn;
  auto take = [&](double v) {
    sum += v;
    mn = std::min(mn, v);
    mx = std::max(mx, v);
  };
  auto at = [&](int r, int c) {
    r = std::clamp(r, 0, n - 1);
    c = std::clamp(c, 0, n - 1);
    return m[static_cast<size_t>(r) * n + c];
  };
  const int kind = id % 4;
  const double k = 1 + id / 4;
  for (int r = 0; r < n; ++r) {
    for (int c = 0; c < n; ++c) {
      switch (kind) {
        case 0:
          take(at(r, c) * k);
          break;
        case 1: {
          double s = 0;
          for (int dr = -1; dr <= 1; ++dr)
            for (int dc = -1; dc <= 1; ++dc) s += at(r + dr, c + dc);
          take(s / 9 * k);
          break;
        }
        case 2:
          take(at(r, c) >= 0.1 * k ? 1.0 : 0.0);
          break;
        default:
          take(std::fabs(4 * at(r, c) - at(r - 1, c) - at(r + 1, c) - at(r, c - 1) - at(r, c + 1)) * k);
      }
    }
  }
  return FilterStats{sum, mn, mx};
}

inline const char *const kWords[] = {"the",    "of",    "and",    "to",    "in",     "is",      "ray",
                                     "task",   "actor", "object", "store", "node",   "cluster", "worker",
                                     "driver", "gpu",   "cpu",    "model", "train",  "tune",    "data",
                                     "queue",  "lease", "spill",  "grpc",  "plasma", "raylet",  "serve",
                                     "memory", "put",   "get",    "wait",  "remote", "future"};
inline const int kNumWords = sizeof(kWords) / sizeof(kWords[0]);

inline std::vector<std::string> MakeCorpus(int docs, int words) {
  std::vector<std::string> corpus;
  uint64_t s = 0x243F6A8885A308D3ULL;
  for (int d = 0; d < docs; ++d) {
    std::string doc;
    for (int i = 0; i < words; ++i) {
      s ^= s << 13;
      s ^= s >> 7;
      s ^= s << 17;
      if (i) doc.push_back(' ');
      doc += kWords[std::min((s >> 20) % kNumWords, (s >> 40) % kNumWords)];
    }
    corpus.push_back(std::move(doc));
  }
  return corpus;
}

// Whole-word occurrences of `keyword` in every document.
inline int64_t Count(const std::vector<std::string> &corpus, const std::string &keyword) {
  int64_t hits = 0;
  for (const std::string &doc : corpus) {
    for (size_t pos = doc.find(keyword); pos != std::string::npos; pos = doc.find(keyword, pos + 1)) {
      const size_t end = pos + keyword.size();
      if ((pos == 0 || doc[pos - 1] == ' ') && (end == doc.size() || doc[end] == ' ')) ++hits;
    }
  }
  return hits;
}

/// The keywords the keyword shape searches for, one task each.
inline const std::vector<std::string> &Keywords() {
  static const std::vector<std::string> k = {"ray",   "actor", "object", "cluster", "worker", "gpu",
                                             "spill", "grpc",  "plasma", "raylet",  "train",  "tune",
                                             "serve", "lease", "queue",  "future"};
  return k;
}

}  // namespace seed
