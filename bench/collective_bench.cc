// All-reduce bus bandwidth of Lumen collectives (Gloo between actor
// processes of a local cluster), against the ring bound and this machine's
// memory-copy rate measured by the same program, in the same run.
//
//   collective_bench [--world N] [--quick] [--json PATH]
//
//   allreduce_busbw_<size>   2(N-1)/N * S / t for an in-place float32 sum of S
//                            bytes (nccl-tests' definition), GB/s, the median
//                            of the members' median iteration times
//   ring_bound_<size>        the fraction of 2(N-1)/N * S / (2(N-1)/N * S / B)
//                            = busbw / B reached, B = memcpy_gigabytes
//   memcpy_gigabytes         memcpy of 256 MiB into a pre-faulted buffer, GB/s
//
// bench/collective_torch.py measures torch.distributed's Gloo the same way.
#include <ray/api.h>
#include <ray/collective.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "bench_stats.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace coll = ray::collective;

class Member {
 public:
  static Member *Create() { return new Member(); }
  bool Join(int world, int rank) {
    coll::InitCollectiveGroup(world, rank, coll::Backend::kGloo, "bench");
    return true;
  }
  // Median seconds of one in-place all-reduce of `bytes` bytes of float32,
  // over `iterations` after one warm-up; a barrier before each, so the
  // members start together.
  double TimeAllReduce(int64_t bytes, int iterations) {
    std::vector<float> data(static_cast<size_t>(bytes) / sizeof(float), 1.0f);
    coll::AllReduce(data, "bench");
    std::vector<double> times;
    for (int i = 0; i < iterations; ++i) {
      coll::Barrier("bench");
      auto start = Clock::now();
      coll::AllReduce(data, "bench");
      times.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    }
    return bench::MedianSd(times).first;
  }
};
RAY_REMOTE(Member::Create, &Member::Join, &Member::TimeAllReduce);

double MemcpyGigabytes() {
  const size_t n = size_t{256} << 20;
  std::vector<char> a(n, 1), b(n, 2);
  std::vector<double> rates;
  for (int i = 0; i < 5; ++i) {
    auto start = Clock::now();
    std::memcpy(b.data(), a.data(), n);
    rates.push_back(n / std::chrono::duration<double>(Clock::now() - start).count() / 1e9);
    a[i] = b[n - 1 - i];  // keeps the copies from being optimised away
  }
  return bench::MedianSd(rates).first;
}

std::string SizeName(int64_t bytes) {
  if (bytes >= (1 << 20)) return std::to_string(bytes >> 20) + "MiB";
  return std::to_string(bytes >> 10) + "KiB";
}

}  // namespace

int main(int argc, char **argv) {
  int world = 2;
  bool quick = false;
  std::string json_path;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--world" && i + 1 < argc)
      world = std::atoi(argv[++i]);
    else if (a == "--quick")
      quick = true;
    else if (a == "--json" && i + 1 < argc)
      json_path = argv[++i];
    else {
      std::fprintf(stderr, "usage: collective_bench [--world N] [--quick] [--json PATH]\n");
      return 2;
    }
  }
  ray::RayConfig config;
  config.head_args = {"--num-cpus=" + std::to_string(world)};
  ray::Init(config);
  std::vector<ray::ActorHandle<Member>> members;
  for (int r = 0; r < world; ++r) members.push_back(ray::Actor(Member::Create).Remote());
  std::vector<ray::ObjectRef<bool>> joined;
  for (int r = 0; r < world; ++r) joined.push_back(members[r].Task(&Member::Join).Remote(world, r));
  for (auto &j : joined) j.Get();

  const double memcpy_gbs = MemcpyGigabytes();
  std::printf("world %d, memcpy %.2f GB/s\n", world, memcpy_gbs);
  std::printf("%-10s %12s %12s %10s\n", "size", "time_us", "busbw_GB/s", "of_bound");
  std::string json = "{\"memcpy_gigabytes\": [" + std::to_string(memcpy_gbs) + ", 0]";
  const int64_t top = quick ? (int64_t{16} << 20) : (int64_t{256} << 20);
  for (int64_t bytes = 4 << 10; bytes <= top; bytes *= 4) {
    const int iterations = bytes >= (64 << 20) ? 5 : bytes >= (1 << 20) ? 20 : 200;
    std::vector<ray::ObjectRef<double>> times;
    for (auto &m : members) times.push_back(m.Task(&Member::TimeAllReduce).Remote(bytes, iterations));
    std::vector<double> t;
    for (auto &x : times) t.push_back(*x.Get());
    const double seconds = bench::MedianSd(t).first;
    const double busbw = 2.0 * (world - 1) / world * bytes / seconds / 1e9;
    std::printf("%-10s %12.1f %12.3f %9.1f%%\n", SizeName(bytes).c_str(), seconds * 1e6, busbw,
                100 * busbw / memcpy_gbs);
    json += ", \"allreduce_busbw_" + SizeName(bytes) + "\": [" + std::to_string(busbw) + ", 0]";
    json += ", \"ring_bound_" + SizeName(bytes) + "\": [" + std::to_string(busbw / memcpy_gbs) + ", 0]";
  }
  json += "}";
  if (!json_path.empty()) std::ofstream(json_path) << json << "\n";
  ray::Shutdown();
  return 0;
}
