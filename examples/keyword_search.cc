// keyword_search: Ray's keyword-search example. A corpus of documents (a
// plain std::vector<std::string>) is stored once with ray::Put, and one task
// per keyword scans the whole corpus for it. The driver handles each result as
// soon as it is ready (a ray::Wait(refs, 1, timeout) loop), checks every count
// against a serial scan and prints the speed-up.
//
// The task takes the corpus by const reference: each worker decodes the
// stored corpus once and shares it between the tasks it runs (objects are
// immutable), instead of every task copying 25 MiB of strings.
//
//   keyword_search [--small] [--docs D] [--words W]
#include <ray/api.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

static const char *kWords[] = {
    "the",     "of",        "and",        "to",     "in",      "is",      "that",   "for",    "it",
    "as",      "was",       "with",       "be",     "by",      "on",      "not",    "he",     "this",
    "are",     "or",        "his",        "from",   "at",      "which",   "but",    "have",   "an",
    "had",     "they",      "you",        "were",   "their",   "one",     "all",    "we",     "can",
    "her",     "has",       "there",      "been",   "ray",     "task",    "actor",  "object", "store",
    "cluster", "node",      "worker",     "driver", "future",  "remote",  "put",    "get",    "wait",
    "memory",  "scheduler", "gpu",        "cpu",    "shuffle", "dataset", "model",  "train",  "tune",
    "serve",   "latency",   "throughput", "queue",  "lease",   "spill",   "plasma", "grpc",   "raylet"};
static const int kNumWords = sizeof(kWords) / sizeof(kWords[0]);

static const std::vector<std::string> kKeywords = {
    "ray",    "actor", "object",  "cluster",    "worker",  "scheduler", "gpu",   "plasma",
    "raylet", "spill", "latency", "throughput", "dataset", "train",     "serve", "grpc"};

// Deterministic document `doc_id` of `words` words. Word frequencies are skewed
// (a word's chance falls with its index) so the top-keyword list is interesting.
static std::string MakeDocument(int doc_id, int words) {
  uint64_t s = 0x243F6A8885A308D3ULL ^ (static_cast<uint64_t>(doc_id + 1) * 0x9E3779B97F4A7C15ULL);
  std::string doc;
  doc.reserve(static_cast<size_t>(words) * 7);
  for (int i = 0; i < words; ++i) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    uint64_t a = (s >> 20) % kNumWords, b = (s >> 40) % kNumWords;
    if (i) doc.push_back(' ');
    doc += kWords[std::min(a, b)];
  }
  return doc;
}

// Whole-word occurrences of `keyword` in every document of the corpus.
static int64_t CountKeyword(const std::vector<std::string> &corpus, const std::string &keyword) {
  int64_t hits = 0;
  for (const std::string &doc : corpus) {
    for (size_t pos = doc.find(keyword); pos != std::string::npos; pos = doc.find(keyword, pos + 1)) {
      const size_t end = pos + keyword.size();
      if ((pos == 0 || doc[pos - 1] == ' ') && (end == doc.size() || doc[end] == ' ')) ++hits;
    }
  }
  return hits;
}
RAY_REMOTE(CountKeyword);

static double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int main(int argc, char **argv) {
  int num_docs = 200, words = 20000;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--small")) {
      num_docs = 40;
      words = 2000;
    } else if (!std::strcmp(argv[i], "--docs") && i + 1 < argc) {
      num_docs = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--words") && i + 1 < argc) {
      words = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--small] [--docs D] [--words W]\n", argv[0]);
      return 2;
    }
  }

  ray::Init();
  std::printf("Generating %d documents of %d words each (deterministic pseudo-random text)...\n", num_docs,
              words);
  std::vector<std::string> corpus;
  size_t bytes = 0;
  for (int d = 0; d < num_docs; ++d) {
    corpus.push_back(MakeDocument(d, words));
    bytes += corpus.back().size();
  }
  std::printf("Corpus: %.1f MiB. Searching it for %zu keywords, one task per keyword.\n", bytes / 1048576.0,
              kKeywords.size());

  auto t0 = std::chrono::steady_clock::now();
  ray::ObjectRef<std::vector<std::string>> corpus_ref = ray::Put(corpus);
  std::vector<ray::ObjectRef<int64_t>> pending;
  std::map<std::string, size_t> keyword_of;  // object id -> keyword index
  for (size_t k = 0; k < kKeywords.size(); ++k) {
    auto ref = ray::Task(CountKeyword).Remote(corpus_ref, kKeywords[k]);
    keyword_of[ref.ID()] = k;
    pending.push_back(ref);
  }
  std::printf("Submitted %zu tasks; handling each result as soon as it is ready:\n", pending.size());

  std::vector<int64_t> counts(kKeywords.size(), 0);
  size_t done = 0;
  while (!pending.empty()) {
    ray::WaitResult<int64_t> wr = ray::Wait(pending, 1, 1000);
    for (auto &ref : wr.ready) {
      const size_t k = keyword_of.at(ref.ID());
      counts[k] = *ray::Get(ref);
      ++done;
      std::printf("  %-12s %8lld hits (%zu/%zu, %.3f s)\n", kKeywords[k].c_str(),
                  static_cast<long long>(counts[k]), done, kKeywords.size(), Seconds(t0));
    }
    pending.assign(wr.unready.begin(), wr.unready.end());
  }
  const double parallel_s = Seconds(t0);

  std::vector<size_t> order(kKeywords.size());
  for (size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return counts[a] > counts[b]; });
  std::printf("Top keywords:\n");
  for (size_t i = 0; i < order.size() && i < 5; ++i) {
    std::printf("  %-12s %lld\n", kKeywords[order[i]].c_str(), static_cast<long long>(counts[order[i]]));
  }
  std::printf("Put + %zu tasks + collecting results took %.3f s.\n", kKeywords.size(), parallel_s);

  std::printf("Now doing the same search serially in the driver, to compare...\n");
  auto t1 = std::chrono::steady_clock::now();
  int bad = 0;
  for (size_t k = 0; k < kKeywords.size(); ++k) {
    if (CountKeyword(corpus, kKeywords[k]) != counts[k]) {
      std::printf("  MISMATCH for %s\n", kKeywords[k].c_str());
      ++bad;
    }
  }
  const double serial_s = Seconds(t1);
  std::printf("Serial in the driver took %.3f s (speed-up with tasks: %.2fx).\n", serial_s,
              serial_s / parallel_s);
  ray::Shutdown();
  if (bad) {
    std::printf("FAILED: %d of %zu counts do not match the serial scan.\n", bad, kKeywords.size());
    return 1;
  }
  std::printf("OK: every count matches the serial scan.\n");
  return 0;
}
