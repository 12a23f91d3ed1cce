// keyword_search: counts keywords over a generated corpus, one task per chunk
// of documents. The driver handles each chunk's result as soon as it is ready
// (a ray::Wait(refs, 1, timeout) loop), merges the counts and checks them
// against a serial count.
//
//   keyword_search [--small] [--docs D] [--words W] [--chunk C]
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

// Counts each keyword in every document of the chunk; result is aligned with `keywords`.
static std::vector<int64_t> CountKeywords(const std::vector<std::string> &docs,
                                          const std::vector<std::string> &keywords) {
  std::unordered_map<std::string_view, size_t> index;
  for (size_t i = 0; i < keywords.size(); ++i) index.emplace(keywords[i], i);
  std::vector<int64_t> counts(keywords.size(), 0);
  for (const std::string &doc : docs) {
    size_t pos = 0;
    while (pos < doc.size()) {
      size_t end = doc.find(' ', pos);
      if (end == std::string::npos) end = doc.size();
      auto it = index.find(std::string_view(doc).substr(pos, end - pos));
      if (it != index.end()) ++counts[it->second];
      pos = end + 1;
    }
  }
  return counts;
}
RAY_REMOTE(CountKeywords);

static double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int main(int argc, char **argv) {
  int num_docs = 200, words = 20000, chunk = 10;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--small")) {
      num_docs = 40;
      words = 2000;
      chunk = 4;
    } else if (!std::strcmp(argv[i], "--docs") && i + 1 < argc) {
      num_docs = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--words") && i + 1 < argc) {
      words = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--chunk") && i + 1 < argc) {
      chunk = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: %s [--small] [--docs D] [--words W] [--chunk C]\n", argv[0]);
      return 2;
    }
  }

  ray::Init();
  std::printf("Generating %d documents of %d words each (deterministic pseudo-random text)...\n", num_docs,
              words);
  std::vector<std::vector<std::string>> chunks;
  size_t bytes = 0;
  for (int d = 0; d < num_docs; ++d) {
    if (d % chunk == 0) chunks.emplace_back();
    chunks.back().push_back(MakeDocument(d, words));
    bytes += chunks.back().back().size();
  }
  std::printf("Corpus: %.1f MiB in %zu chunks of up to %d documents. Searching for %zu keywords.\n",
              bytes / 1048576.0, chunks.size(), chunk, kKeywords.size());

  auto t0 = std::chrono::steady_clock::now();
  ray::ObjectRef<std::vector<std::string>> keywords_ref = ray::Put(kKeywords);
  std::vector<ray::ObjectRef<std::vector<int64_t>>> pending;
  std::map<std::string, size_t> chunk_of;  // object id -> chunk index
  for (size_t c = 0; c < chunks.size(); ++c) {
    auto ref = ray::Task(CountKeywords).Remote(ray::Put(chunks[c]), keywords_ref);
    chunk_of[ref.ID()] = c;
    pending.push_back(ref);
  }
  std::printf("Submitted %zu tasks; handling each result as soon as it is ready:\n", pending.size());

  std::vector<int64_t> total(kKeywords.size(), 0);
  std::vector<std::vector<int64_t>> per_chunk(chunks.size());
  size_t done = 0;
  while (!pending.empty()) {
    ray::WaitResult<std::vector<int64_t>> wr = ray::Wait(pending, 1, 1000);
    for (auto &ref : wr.ready) {
      size_t c = chunk_of.at(ref.ID());
      std::vector<int64_t> counts = *ray::Get(ref);
      int64_t hits = 0;
      for (size_t k = 0; k < counts.size() && k < total.size(); ++k) {
        total[k] += counts[k];
        hits += counts[k];
      }
      per_chunk[c] = counts;
      ++done;
      std::printf("  chunk %3zu done: %lld keyword hits (%zu/%zu, %.3f s)\n", c, static_cast<long long>(hits),
                  done, chunks.size(), Seconds(t0));
    }
    pending.assign(wr.unready.begin(), wr.unready.end());
  }
  const double elapsed = Seconds(t0);

  std::vector<size_t> order(kKeywords.size());
  for (size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return total[a] > total[b]; });
  std::printf("Top keywords:\n");
  for (size_t i = 0; i < order.size() && i < 10; ++i) {
    std::printf("  %-12s %lld\n", kKeywords[order[i]].c_str(), static_cast<long long>(total[order[i]]));
  }
  std::printf("Searching with %zu tasks took %.3f s.\n", chunks.size(), elapsed);

  auto t1 = std::chrono::steady_clock::now();
  std::vector<int64_t> expected(kKeywords.size(), 0);
  int bad = 0;
  for (size_t c = 0; c < chunks.size(); ++c) {
    std::vector<int64_t> e = CountKeywords(chunks[c], kKeywords);
    if (e != per_chunk[c]) {
      std::printf("  MISMATCH in chunk %zu\n", c);
      ++bad;
    }
    for (size_t k = 0; k < e.size(); ++k) expected[k] += e[k];
  }
  if (expected != total) ++bad;
  std::printf("The same search serially in the driver took %.3f s.\n", Seconds(t1));
  ray::Shutdown();
  if (bad) {
    std::printf("FAILED: merged counts do not match the serial count.\n");
    return 1;
  }
  std::printf("OK: merged counts match the serial count.\n");
  return 0;
}
