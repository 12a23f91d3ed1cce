// Physical floors of this machine, for judging the microbenchmarks
// (benchmarks-ray.md §6.3): what no runtime can beat here.
//
//   floors [--quick] [--json PATH]
//
//   uds_round_trip_us    64-byte ping-pong between two processes over a
//                        Unix stream socket (socketpair + fork): p50, p99, mean
//   memcpy_gigabytes     memcpy of a 1 GiB buffer into another 1 GiB buffer,
//                        both pre-faulted (touched before timing), GB/s
//   memset_gigabytes     memset of the pre-faulted 1 GiB buffer, GB/s
//   seed_matrix_filters_floor_speedup, seed_keyword_search_floor_speedup
//                        the seed shapes' work (seed_work.h) split over two
//                        forked processes that already hold the data (no
//                        runtime, no transfer, no decoding), against the same
//                        work serially in one: what the two CPUs of this
//                        machine give these shapes at best (the better of two
//                        layouts, see SeedShapeFloors). Median of rounds,
//                        serial and parallel timed in each round.
//
// The JSON output uses the microbenchmarks' format (Ray's): {key: [value, sd],
// "units": {key: unit}}.
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "bench_figures.h"
#include "seed_work.h"
#include "bench_stats.h"

using Clock = std::chrono::steady_clock;

namespace {

bench::Figures g_figures;

void Report(const std::string &key, double value, double sd, const std::string &unit) {
  g_figures.Report(key, value, sd, unit);
}

bool WriteAll(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool ReadAll(int fd, char *p, size_t n) {
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

// 64-byte request/response between a parent and a forked child.
void UdsRoundTrip(int iterations) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
    std::perror("socketpair");
    std::exit(1);
  }
  const size_t kMsg = 64;
  pid_t child = fork();
  if (child == 0) {
    close(sv[0]);
    char buf[kMsg];
    while (ReadAll(sv[1], buf, kMsg) && WriteAll(sv[1], buf, kMsg)) {
    }
    _exit(0);
  }
  close(sv[1]);
  char buf[kMsg];
  std::memset(buf, 1, kMsg);
  const int warmup = iterations / 20 + 100;
  std::vector<double> us;
  us.reserve(iterations);
  for (int i = 0; i < warmup + iterations; ++i) {
    auto t0 = Clock::now();
    if (!WriteAll(sv[0], buf, kMsg) || !ReadAll(sv[0], buf, kMsg)) {
      std::fprintf(stderr, "round trip failed\n");
      std::exit(1);
    }
    if (i >= warmup) us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  close(sv[0]);
  waitpid(child, nullptr, 0);
  double mean = 0;
  for (double u : us) mean += u;
  mean /= us.size();
  std::sort(us.begin(), us.end());
  Report("uds_round_trip_us_p50", us[us.size() / 2], 0, "us");
  Report("uds_round_trip_us_p99", us[std::min(us.size() - 1, us.size() * 99 / 100)], 0, "us");
  Report("uds_round_trip_us_mean", mean, 0, "us");
}

using bench::MeanSd;

// memcpy and memset over pre-faulted 1 GiB buffers.
void Bandwidth(int repeats) {
  const size_t kBytes = size_t{1} << 30;
  std::vector<uint8_t> src(kBytes, 1), dst(kBytes, 0);  // both touched: every page faulted in
  std::memcpy(dst.data(), src.data(), kBytes);          // warm-up copy
  std::vector<double> copy, set;
  for (int i = 0; i < repeats; ++i) {
    auto t0 = Clock::now();
    std::memcpy(dst.data(), src.data(), kBytes);
    copy.push_back(kBytes / 1e9 / std::chrono::duration<double>(Clock::now() - t0).count());
    src[i] = static_cast<uint8_t>(i);  // keep the copies from being merged
  }
  for (int i = 0; i < repeats; ++i) {
    auto t0 = Clock::now();
    std::memset(dst.data(), i + 2, kBytes);
    set.push_back(kBytes / 1e9 / std::chrono::duration<double>(Clock::now() - t0).count());
  }
  if (dst[kBytes / 2] == 0xff) std::printf(" ");  // use the result
  auto c = MeanSd(copy);
  auto s = MeanSd(set);
  Report("memcpy_gigabytes", c.first, c.second, "GB/s");
  Report("memset_gigabytes", s.first, s.second, "GB/s");
}

// Runs `work(part)` for parts 0 and 1 serially here and in parallel in two
// forked children that inherited everything `work` reads; reports the median
// serial / parallel time over `rounds` rounds, each round timing both.
template <typename Work>
double TwoProcessSpeedup(const std::string &key, int rounds, Work work) {
  int to_child[2][2], from_child[2][2];
  pid_t child[2];
  for (int k = 0; k < 2; ++k) {
    if (pipe(to_child[k]) != 0 || pipe(from_child[k]) != 0) {
      std::perror("pipe");
      std::exit(1);
    }
    child[k] = fork();
    if (child[k] == 0) {
      // The parent's ends, this child's and an earlier child's: held open
      // here too, a child would never read end-of-file.
      for (int j = 0; j <= k; ++j) {
        close(to_child[j][1]);
        close(from_child[j][0]);
      }
      char go;
      while (ReadAll(to_child[k][0], &go, 1)) {
        double checksum = work(k);
        if (!WriteAll(from_child[k][1], reinterpret_cast<const char *>(&checksum), sizeof checksum)) break;
      }
      _exit(0);
    }
    close(to_child[k][0]);
    close(from_child[k][1]);
  }
  std::vector<double> serial, parallel;
  double expect = 0, got = 0;
  for (int r = 0; r < rounds + 1; ++r) {  // the first round warms up
    auto t0 = Clock::now();
    expect = work(0) + work(1);
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    t0 = Clock::now();
    got = 0;
    for (int k = 0; k < 2; ++k) {
      if (!WriteAll(to_child[k][1], "g", 1)) std::exit(1);
    }
    for (int k = 0; k < 2; ++k) {
      double part = 0;
      if (!ReadAll(from_child[k][0], reinterpret_cast<char *>(&part), sizeof part)) std::exit(1);
      got += part;
    }
    double p = std::chrono::duration<double>(Clock::now() - t0).count();
    if (r > 0) {
      serial.push_back(s);
      parallel.push_back(p);
    }
  }
  for (int k = 0; k < 2; ++k) {
    close(to_child[k][1]);
    close(from_child[k][0]);
    waitpid(child[k], nullptr, 0);
  }
  if (got != expect) {
    std::fprintf(stderr, "%s: the processes' results differ from the serial ones\n", key.c_str());
    std::exit(1);
  }
  std::sort(serial.begin(), serial.end());
  std::sort(parallel.begin(), parallel.end());
  return serial[serial.size() / 2] / parallel[parallel.size() / 2];
}

// The seed shapes' sizes and work, as bench/seed_shapes.cc runs them: 16
// filters over a 2048 x 2048 matrix, 16 keywords over 200 documents. Each in
// two layouts, of which the better one is the floor: both processes read the
// one copy the parent made (shared pages, as a zero-copy reader would), or
// each makes its own first (as a worker that decodes its argument does).
// Which wins varies with the shape on this VM.
void SeedShapeFloors(int rounds) {
  const int n = 2048;
  const std::vector<double> m = seed::MakeMatrix(n);
  auto filters = [&](const std::vector<double> &data, int part) {
    double sum = 0;
    for (int id = part; id < 16; id += 2) sum += seed::Filter(data, n, id).sum;
    return sum;
  };
  const std::string matrix = "seed_matrix_filters_floor_speedup";
  double shared = TwoProcessSpeedup(matrix, rounds, [&](int part) { return filters(m, part); });
  double own = TwoProcessSpeedup(matrix, rounds, [&](int part) {
    static const std::vector<double> mine = m;
    return filters(mine, part);
  });
  Report(matrix, std::max(shared, own), 0, "x");

  const std::vector<std::string> corpus = seed::MakeCorpus(200, 20000);
  auto search = [&](const std::vector<std::string> &data, int part) {
    double hits = 0;
    const auto &keywords = seed::Keywords();
    for (size_t i = part; i < keywords.size(); i += 2)
      hits += static_cast<double>(seed::Count(data, keywords[i]));
    return hits;
  };
  const std::string keywords = "seed_keyword_search_floor_speedup";
  shared = TwoProcessSpeedup(keywords, rounds, [&](int part) { return search(corpus, part); });
  own = TwoProcessSpeedup(keywords, rounds, [&](int part) {
    static const std::vector<std::string> mine = corpus;
    return search(mine, part);
  });
  Report(keywords, std::max(shared, own), 0, "x");
}

}  // namespace

int main(int argc, char **argv) {
  bool quick = false;
  std::string json_path;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) {
      quick = true;
    } else if (!std::strcmp(argv[i], "--json") && i + 1 < argc) {
      json_path = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--json PATH]\n", argv[0]);
      return 2;
    }
  }
  UdsRoundTrip(quick ? 5000 : 20000);
  Bandwidth(quick ? 3 : 8);
  SeedShapeFloors(quick ? 5 : 9);
  if (!json_path.empty() && !g_figures.WriteJson(json_path)) return 1;
  return 0;
}
