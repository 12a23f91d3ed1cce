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
  if (!json_path.empty() && !g_figures.WriteJson(json_path)) return 1;
  return 0;
}
