// seed_shapes: the two data-heavy shapes of Ray's seed examples, written the
// plain way against Ray's C++ API (no Lumen extension, no hand-written msgpack
// adaptor), so that Ray C++ can run the same source:
//
//   seed_matrix_filters  a std::vector<double> matrix Put once, 16 filter tasks
//                        over it, each returning a small summary;
//   seed_keyword_search  a corpus of 200 std::string documents Put once, one
//                        task per keyword scanning the whole corpus.
//
// Each shape runs `--repeat` times: Put + submit + Get of every result, then the
// same work serially in the driver. Prints one JSON object per shape with the
// median wall times and the speed-up (serial / tasks).
//
//   seed_shapes [--shape matrix|keywords|all] [--repeat R] [--by-value] [--small]
//
// --by-value makes the task functions take their large argument by value
// instead of by const reference (both are common in user code).
#include <ray/api.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace {

struct Summary {
  int id = 0;
  double sum = 0, min = 0, max = 0;
  MSGPACK_DEFINE(id, sum, min, max);
};

std::vector<double> MakeMatrix(int n) {
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
Summary Filter(const std::vector<double> &m, int n, int id) {
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
  return Summary{id, sum, mn, mx};
}

Summary FilterRef(const std::vector<double> &m, int n, int id) { return Filter(m, n, id); }
Summary FilterValue(std::vector<double> m, int n, int id) { return Filter(m, n, id); }
RAY_REMOTE(FilterRef, FilterValue);

const char *kWords[] = {"the",    "of",    "and",    "to",    "in",     "is",      "ray",
                        "task",   "actor", "object", "store", "node",   "cluster", "worker",
                        "driver", "gpu",   "cpu",    "model", "train",  "tune",    "data",
                        "queue",  "lease", "spill",  "grpc",  "plasma", "raylet",  "serve",
                        "memory", "put",   "get",    "wait",  "remote", "future"};
const int kNumWords = sizeof(kWords) / sizeof(kWords[0]);

std::vector<std::string> MakeCorpus(int docs, int words) {
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
int64_t Count(const std::vector<std::string> &corpus, const std::string &keyword) {
  int64_t hits = 0;
  for (const std::string &doc : corpus) {
    for (size_t pos = doc.find(keyword); pos != std::string::npos; pos = doc.find(keyword, pos + 1)) {
      const size_t end = pos + keyword.size();
      if ((pos == 0 || doc[pos - 1] == ' ') && (end == doc.size() || doc[end] == ' ')) ++hits;
    }
  }
  return hits;
}

int64_t CountRef(const std::vector<std::string> &corpus, const std::string &keyword) {
  return Count(corpus, keyword);
}
int64_t CountValue(std::vector<std::string> corpus, std::string keyword) { return Count(corpus, keyword); }
RAY_REMOTE(CountRef, CountValue);

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void Report(const char *name, const std::vector<double> &tasks, const std::vector<double> &serial,
            bool by_value) {
  const double t = Median(tasks), s = Median(serial);
  std::printf(
      "{\"name\": \"%s\", \"by_value\": %s, \"tasks_s\": %.4f, \"serial_s\": %.4f, \"speedup\": %.3f}\n",
      name, by_value ? "true" : "false", t, s, s / t);
  std::fflush(stdout);
}

bool RunMatrix(int n, int tasks, int repeat, bool by_value) {
  const std::vector<double> m = MakeMatrix(n);
  std::vector<double> task_s, serial_s;
  bool ok = true;
  for (int r = 0; r < repeat; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    auto ref = ray::Put(m);
    std::vector<ray::ObjectRef<Summary>> refs;
    for (int i = 0; i < tasks; ++i) {
      refs.push_back(by_value ? ray::Task(FilterValue).Remote(ref, n, i)
                              : ray::Task(FilterRef).Remote(ref, n, i));
    }
    std::vector<Summary> got;
    for (auto &f : refs) got.push_back(*ray::Get(f));
    task_s.push_back(Seconds(t0));

    auto t1 = std::chrono::steady_clock::now();
    for (int i = 0; i < tasks; ++i) {
      Summary e = Filter(m, n, i);
      ok = ok && e.sum == got[i].sum && e.min == got[i].min && e.max == got[i].max;
    }
    serial_s.push_back(Seconds(t1));
  }
  Report("seed_matrix_filters", task_s, serial_s, by_value);
  return ok;
}

bool RunKeywords(int docs, int words, int repeat, bool by_value) {
  const std::vector<std::string> corpus = MakeCorpus(docs, words);
  const std::vector<std::string> keywords = {"ray",   "actor", "object", "cluster", "worker", "gpu",
                                             "spill", "grpc",  "plasma", "raylet",  "train",  "tune",
                                             "serve", "lease", "queue",  "future"};
  std::vector<double> task_s, serial_s;
  bool ok = true;
  for (int r = 0; r < repeat; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    auto ref = ray::Put(corpus);
    std::vector<ray::ObjectRef<int64_t>> refs;
    for (const auto &k : keywords) {
      refs.push_back(by_value ? ray::Task(CountValue).Remote(ref, k) : ray::Task(CountRef).Remote(ref, k));
    }
    std::vector<int64_t> got;
    for (auto &f : refs) got.push_back(*ray::Get(f));
    task_s.push_back(Seconds(t0));

    auto t1 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < keywords.size(); ++i) ok = ok && Count(corpus, keywords[i]) == got[i];
    serial_s.push_back(Seconds(t1));
  }
  Report("seed_keyword_search", task_s, serial_s, by_value);
  return ok;
}

}  // namespace

int main(int argc, char **argv) {
  std::string shape = "all";
  int repeat = 5;
  bool by_value = false, small = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--shape") && i + 1 < argc) {
      shape = argv[++i];
    } else if (!std::strcmp(argv[i], "--repeat") && i + 1 < argc) {
      repeat = std::max(1, std::atoi(argv[++i]));
    } else if (!std::strcmp(argv[i], "--by-value")) {
      by_value = true;
    } else if (!std::strcmp(argv[i], "--small")) {
      small = true;
    } else {
      std::fprintf(stderr, "usage: %s [--shape matrix|keywords|all] [--repeat R] [--by-value] [--small]\n",
                   argv[0]);
      return 2;
    }
  }
  ray::Init();
  bool ok = true;
  if (shape == "all" || shape == "matrix") ok = RunMatrix(small ? 256 : 2048, 16, repeat, by_value) && ok;
  if (shape == "all" || shape == "keywords")
    ok = RunKeywords(small ? 20 : 200, small ? 2000 : 20000, repeat, by_value) && ok;
  ray::Shutdown();
  if (!ok) std::fprintf(stderr, "seed_shapes: a task's result differs from the serial computation\n");
  return ok ? 0 : 1;
}
