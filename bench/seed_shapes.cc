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

#include "seed_work.h"

namespace {

struct Summary {
  int id = 0;
  double sum = 0, min = 0, max = 0;
  MSGPACK_DEFINE(id, sum, min, max);
};

Summary Filter(const std::vector<double> &m, int n, int id) {
  seed::FilterStats s = seed::Filter(m, n, id);
  return Summary{id, s.sum, s.min, s.max};
}

Summary FilterRef(const std::vector<double> &m, int n, int id) { return Filter(m, n, id); }
Summary FilterValue(std::vector<double> m, int n, int id) { return Filter(m, n, id); }
RAY_REMOTE(FilterRef, FilterValue);

int64_t Count(const std::vector<std::string> &corpus, const std::string &keyword) {
  return seed::Count(corpus, keyword);
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
  const std::vector<double> m = seed::MakeMatrix(n);
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
  const std::vector<std::string> corpus = seed::MakeCorpus(docs, words);
  const std::vector<std::string> &keywords = seed::Keywords();
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
