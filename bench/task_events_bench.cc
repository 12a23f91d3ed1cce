// What task events cost per call (issue 18: "the per-call figures with events
// on against off"). One embedded cluster; N blocking actor calls and N
// blocking tasks, and for each: wall µs per call and the CPU µs per call spent
// by every process of the cluster (this driver, the workers, the node and
// control services), read from /proc before and after. CPU time per call is
// the figure that holds on a busy machine: latency there swings with whatever
// else runs, the work each process does for a call does not.
//
//   LUMEN_TASK_EVENTS=0|1 task_events_bench [--calls N] [--json PATH]
//
// Run it both ways (bench/task_events_overhead does, in alternating rounds) and
// compare. The events' own cost is recorded on the per-call path (a struct
// appended to a buffer) and paid again off it: the batch built every second,
// its message, and the control service merging it; the CPU figures show both,
// the wall figures only what the caller waits for. After the calls the
// benchmark waits two flush intervals so the last batch is counted too.
#include <ray/api.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

class Echo {
 public:
  static Echo *Create() { return new Echo(); }
  int Small() { return 1; }
};
RAY_REMOTE(Echo::Create, &Echo::Small);

int SmallTask() { return 1; }
RAY_REMOTE(SmallTask);

struct Proc {
  int ppid = 0;
  std::string comm;
  double cpu_s = 0;
};

// Every process on the machine: parent, name, user+system CPU seconds.
std::map<int, Proc> ReadProcs() {
  std::map<int, Proc> out;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  DIR *dir = opendir("/proc");
  if (dir == nullptr) return out;
  while (dirent *d = readdir(dir)) {
    const int pid = std::atoi(d->d_name);
    if (pid <= 0) continue;
    std::ifstream f(std::string("/proc/") + d->d_name + "/stat");
    std::string line;
    if (!std::getline(f, line)) continue;
    // comm is in parentheses and may hold spaces; the fields after it are fixed.
    const size_t open = line.find('('), close = line.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    Proc p;
    p.comm = line.substr(open + 1, close - open - 1);
    std::istringstream rest(line.substr(close + 2));
    std::string field;
    std::vector<std::string> fields;
    while (rest >> field) fields.push_back(field);
    if (fields.size() < 13) continue;
    p.ppid = std::atoi(fields[1].c_str());  // fields[0] is the state
    p.cpu_s = (std::atof(fields[11].c_str()) + std::atof(fields[12].c_str())) / tick;
    out[pid] = p;
  }
  closedir(dir);
  return out;
}

// This process and every process started by it (the embedded cluster's), by name.
std::map<std::string, double> ClusterCpu() {
  const auto procs = ReadProcs();
  std::map<std::string, double> by_role;
  const int self = getpid();
  for (const auto &[pid, p] : procs) {
    bool ours = pid == self;
    for (int up = p.ppid; !ours && up > 1;) {
      if (up == self) ours = true;
      auto it = procs.find(up);
      up = it == procs.end() ? 0 : it->second.ppid;
    }
    if (!ours) continue;
    // Workers are forked from this program and keep its name.
    const std::string role = pid == self ? "driver" : p.comm == procs.at(self).comm ? "workers" : p.comm;
    by_role[role] += p.cpu_s;
  }
  return by_role;
}

void WaitForFlush() {
  // Two flush intervals (1 s each): the last batch of events is sent and merged.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
}

struct Figures {
  std::vector<std::pair<std::string, double>> rows;
};

void Measure(const char *name, long calls, const std::function<void()> &call, Figures *out) {
  for (int i = 0; i < 1000; ++i) call();  // warm-up
  WaitForFlush();
  const auto before = ClusterCpu();
  const auto t0 = Clock::now();
  for (long i = 0; i < calls; ++i) call();
  const double wall_us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / calls;
  WaitForFlush();
  const auto after = ClusterCpu();
  std::printf("%s: %.2f us wall per call\n", name, wall_us);
  out->rows.push_back({std::string(name) + "_wall_us", wall_us});
  double total = 0;
  for (const auto &[role, cpu] : after) {
    auto it = before.find(role);
    const double us = (cpu - (it == before.end() ? 0 : it->second)) * 1e6 / calls;
    total += us;
    std::printf("  %-24s %8.2f us CPU per call\n", role.c_str(), us);
    out->rows.push_back({std::string(name) + "_cpu_us_" + role, us});
  }
  std::printf("  %-24s %8.2f us CPU per call\n", "all", total);
  out->rows.push_back({std::string(name) + "_cpu_us_all", total});
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char **argv) {
  long calls = 20000;
  std::string json;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--calls") && i + 1 < argc) {
      calls = std::atol(argv[++i]);
    } else if (!std::strcmp(argv[i], "--json") && i + 1 < argc) {
      json = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--calls N] [--json PATH]\n", argv[0]);
      return 2;
    }
  }
  const char *events = std::getenv("LUMEN_TASK_EVENTS");
  std::printf("task events %s, %ld calls each\n", events && !std::strcmp(events, "0") ? "off" : "on", calls);
  ray::Init();
  Figures figures;
  {
    auto actor = ray::Actor(Echo::Create).Remote();
    Measure(
        "sync_actor_call", calls, [&] { (void)*actor.Task(&Echo::Small).Remote().Get(); }, &figures);
    Measure(
        "sync_task", calls / 2, [] { (void)*ray::Task(SmallTask).Remote().Get(); }, &figures);
  }
  ray::Shutdown();
  if (!json.empty()) {
    std::ofstream f(json);
    f << "{";
    for (size_t i = 0; i < figures.rows.size(); ++i)
      f << (i ? ", " : "") << '"' << figures.rows[i].first << "\": " << figures.rows[i].second;
    f << "}\n";
  }
  return 0;
}
