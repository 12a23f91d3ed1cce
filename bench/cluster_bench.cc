// Lumen across nodes (issue 15's benchmarks): a driver on node A of a
// three-node cluster on this machine, which bench/cluster_compare builds with
// `lumen start` (A the head with resource "A", B and C joined with "B"/"C"
// and one "pool" each) and Ray's side of in bench/cluster_compare_ray.py.
//
//   cluster_bench --address HOST:PORT --lumen BIN --temp-b DIR --temp-c DIR [--rounds N] [--json PATH]
//
//   loopback_tcp_gigabytes         1 GiB through one loopback TCP connection
//                                  (this process, two threads): the floor
//   cross_node_transfer_gigabytes  a fresh 1 GiB object Put on A, read by a
//                                  task on B: GiB over the task's round trip
//   broadcast_1gib_seconds         a fresh 1 GiB object Put on A, read by a
//                                  task on B and one on C at once
//   tasks_across_3_nodes           empty tasks, each pinned to A, B, C in
//                                  turn, all submitted then all got: tasks/s
//   node_death_to_actor_answer_ms  an actor (max_restarts 1) on B or C: its
//                                  node killed (`lumen stop --force`), until
//                                  a call answers from its restart on the other
//
// Medians of --rounds (default 3; the node death once: it kills a node).
// JSON: the microbenchmarks' format, {key: [value, sd], "units": {...}}.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <ray/api.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_figures.h"
#include "bench_stats.h"

extern char **environ;

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t kGiB = uint64_t{1} << 30;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

bench::Figures g_figures;

void Report(const std::string &key, const std::vector<double> &samples, const std::string &unit) {
  const auto [median, sd] = bench::MedianSd(samples);
  g_figures.Report(key, median, sd, unit);
}

// ---- the loopback TCP floor ----

double LoopbackTcpGigabytes() {
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(listener, reinterpret_cast<sockaddr *>(&addr), len) != 0 || listen(listener, 1) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr *>(&addr), &len) != 0)
    throw std::runtime_error(std::string("loopback listener: ") + std::strerror(errno));
  int sender = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(sender, reinterpret_cast<sockaddr *>(&addr), len) != 0)
    throw std::runtime_error(std::string("loopback connect: ") + std::strerror(errno));
  int receiver = accept(listener, nullptr, nullptr);
  close(listener);
  constexpr size_t kPiece = 4 << 20;
  std::vector<char> out(kPiece, 'x'), in(kPiece);
  const auto start = Clock::now();
  std::thread reader([&] {
    uint64_t got = 0;
    while (got < kGiB) {
      const ssize_t n = read(receiver, in.data(), in.size());
      if (n <= 0) break;
      got += static_cast<uint64_t>(n);
    }
  });
  for (uint64_t sent = 0; sent < kGiB;) {
    const ssize_t n = write(sender, out.data(), std::min<uint64_t>(kPiece, kGiB - sent));
    if (n <= 0) throw std::runtime_error(std::string("loopback write: ") + std::strerror(errno));
    sent += static_cast<uint64_t>(n);
  }
  reader.join();
  const double s = Seconds(start);
  close(sender);
  close(receiver);
  return static_cast<double>(kGiB) / 1e9 / s;
}

// ---- remote functions ----

// Reads the object in place (ray::Buffer, as Ray Python reads a numpy array):
// what is timed is moving the bytes between nodes, not decoding them.
uint64_t Size(ray::Buffer<int64_t> v) {
  return v.size() * sizeof(int64_t) + static_cast<uint64_t>(v[v.size() / 2]);
}
RAY_REMOTE(Size);

int Nothing() { return 0; }
RAY_REMOTE(Nothing);

std::string NodeId() { return ray::GetRuntimeContext().GetNodeId(); }
RAY_REMOTE(NodeId);

class Survivor {
 public:
  static Survivor *Create() { return new Survivor(); }
  std::string Where() { return ray::GetRuntimeContext().GetNodeId(); }
};
RAY_REMOTE(Survivor::Create, &Survivor::Where);

ray::ObjectRef<std::vector<int64_t>> FreshGiB(int64_t fill) {
  return ray::Put(std::vector<int64_t>(kGiB / sizeof(int64_t), fill));
}

std::string NodeOf(const std::string &resource) {
  return *ray::Task(NodeId).SetResource(resource, 0.001).Remote().Get();
}

void RunOrThrow(const std::vector<std::string> &argv) {
  std::vector<char *> args;
  for (const auto &a : argv) args.push_back(const_cast<char *>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  if (posix_spawn(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0)
    throw std::runtime_error("cannot run " + argv[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error(argv[0] + " failed");
}

struct Options {
  std::string address, lumen, temp_b, temp_c, json;
  int rounds = 3;
};

void Measure(const Options &o) {
  std::vector<double> floor, transfer, broadcast, tasks;
  // Each node's first worker started, and the cluster quiet, before the floor.
  for (const char *node : {"A", "B", "C"}) (void)*ray::Task(Nothing).SetResource(node, 0.001).Remote().Get();
  for (int r = 0; r < o.rounds; ++r) floor.push_back(LoopbackTcpGigabytes());
  Report("loopback_tcp_gigabytes", floor, "GB/s");

  for (int r = 0; r < o.rounds; ++r) {
    auto object = FreshGiB(r);
    const auto start = Clock::now();
    (void)*ray::Task(Size).SetResource("B", 0.001).Remote(object).Get();
    transfer.push_back(static_cast<double>(kGiB) / 1e9 / Seconds(start));
  }
  Report("cross_node_transfer_gigabytes", transfer, "GB/s");

  for (int r = 0; r < o.rounds; ++r) {
    auto object = FreshGiB(r + 10);
    const auto start = Clock::now();
    auto on_b = ray::Task(Size).SetResource("B", 0.001).Remote(object);
    auto on_c = ray::Task(Size).SetResource("C", 0.001).Remote(object);
    (void)*on_b.Get();
    (void)*on_c.Get();
    broadcast.push_back(Seconds(start));
  }
  Report("broadcast_1gib_seconds", broadcast, "s");

  const char *nodes[] = {"A", "B", "C"};
  constexpr int kTasks = 3000;
  for (int r = 0; r <= o.rounds; ++r) {  // round 0 warms each node's workers up
    std::vector<ray::ObjectRef<int>> refs;
    refs.reserve(kTasks);
    const auto start = Clock::now();
    for (int i = 0; i < kTasks; ++i)
      refs.push_back(ray::Task(Nothing).SetResource(nodes[i % 3], 0.001).Remote());
    (void)ray::Get(refs);
    if (r > 0) tasks.push_back(kTasks / Seconds(start));
  }
  Report("tasks_across_3_nodes", tasks, "tasks/s");

  // The actor on B or C (one "pool" each): the node it is on is killed.
  const std::string b = NodeOf("B");
  auto survivor = ray::Actor(Survivor::Create).SetResource("pool", 1).SetMaxRestarts(1).Remote();
  const std::string first = *survivor.Task(&Survivor::Where).Remote().Get();
  const auto start = Clock::now();
  RunOrThrow({o.lumen, "stop", "--force", "--temp-dir=" + (first == b ? o.temp_b : o.temp_c)});
  for (;;) {
    try {
      const std::string now = *survivor.Task(&Survivor::Where).Remote().Get();
      if (now != first) break;
    } catch (const ray::internal::RayException &) {
      // A call that met the death; the next goes to the restart.
    }
  }
  Report("node_death_to_actor_answer_ms", {Seconds(start) * 1000}, "ms");
}

}  // namespace

int main(int argc, char **argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--address")
      o.address = value;
    else if (flag == "--lumen")
      o.lumen = value;
    else if (flag == "--temp-b")
      o.temp_b = value;
    else if (flag == "--temp-c")
      o.temp_c = value;
    else if (flag == "--rounds")
      o.rounds = std::stoi(value);
    else if (flag == "--json")
      o.json = value;
  }
  if (o.address.empty() || o.lumen.empty() || o.temp_b.empty() || o.temp_c.empty()) {
    std::fprintf(
        stderr,
        "usage: cluster_bench --address HOST:PORT --lumen BIN --temp-b DIR --temp-c DIR [--rounds N] "
        "[--json PATH]\n");
    return 2;
  }
  ray::RayConfig config;
  config.address = o.address;
  try {
    ray::Init(config);
    Measure(o);
  } catch (const std::exception &e) {
    std::fprintf(stderr, "cluster_bench: %s\n", e.what());
    return 1;
  }
  if (!o.json.empty() && !g_figures.WriteJson(o.json)) return 1;
  ray::Shutdown();
  return 0;
}
