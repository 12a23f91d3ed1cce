// ray_perf.py's shapes beyond plain tasks and actors, large values, idle
// worker memory and resource requests.
#include <ray/api.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <thread>

#include <algorithm>
#include <string>
#include <vector>

#include "micro_groups.h"
#include "micro_remote.h"

using micro::AnySelected;
using micro::Clock;
using micro::Durations;
using micro::Guarded;
using micro::Record;
using micro::Selected;
using micro::Since;
using micro::Timeit;

namespace {

// A number from a "Name:   value kB" line of a /proc file, in kB (-1 if absent).
long ProcKb(const std::string &path, const std::string &field) {
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    if (line.compare(0, field.size(), field) == 0 && line.size() > field.size() && line[field.size()] == ':')
      return std::strtol(line.c_str() + field.size() + 1, nullptr, 10);
  }
  return -1;
}

}  // namespace

// The ray_perf.py benchmarks beyond plain tasks, puts and actors: batches,
// several submitting clients, ray.wait, gets of objects holding refs, and puts
// from several tasks at once.
void RunRayShapeExtras(const ExtraSizes &z) {
  const std::string batch_note = "(" + std::to_string(z.batch) + " tasks per batch)";
  Timeit(
      "single_client_tasks_and_get_batch",
      [&] {
        std::vector<ray::ObjectRef<int>> refs;
        refs.reserve(z.batch);
        for (int i = 0; i < z.batch; ++i) refs.push_back(ray::Task(Noop).Remote());
        ray::Get(refs);
        return 1.0;
      },
      z.small, "batches/s", batch_note);

  // Submit a batch, then Wait for one ready ref at a time until none is left.
  Timeit(
      "single_client_wait_1k_refs",
      [&] {
        std::vector<ray::ObjectRef<int>> not_ready;
        not_ready.reserve(z.batch);
        for (int i = 0; i < z.batch; ++i) not_ready.push_back(ray::Task(Noop).Remote());
        while (!not_ready.empty()) {
          ray::WaitResult<int> r = ray::Wait(not_ready, 1, -1);
          not_ready.assign(r.unready.begin(), r.unready.end());
        }
        return 1.0;
      },
      z.small, "rounds/s", "(" + std::to_string(z.batch) + " refs, Wait for one at a time)");

  if (Selected("single_client_get_object_containing_10k_refs")) {
    Guarded("single_client_get_object_containing_10k_refs", [&] {
      ray::ObjectRef<std::vector<ray::ObjectRef<int>>> outer = ray::Task(MakeRefs).Remote(z.containing_refs);
      outer.Get();
      Timeit(
          "single_client_get_object_containing_10k_refs",
          [&] {
            ray::Get(outer);
            return 1.0;
          },
          z.small, "gets/s", "(" + std::to_string(z.containing_refs) + " refs in the object)");
    });
  }

  if (Selected("multi_client_put_calls")) {
    Guarded("multi_client_put_calls", [&] {
      Timeit(
          "multi_client_put_calls",
          [&] {
            std::vector<ray::ObjectRef<int>> refs;
            for (int i = 0; i < z.put_tasks; ++i) refs.push_back(ray::Task(PutSmallMany).Remote());
            ray::Get(refs);
            return 100.0 * z.put_tasks;
          },
          z.small, "calls/s", "(" + std::to_string(z.put_tasks) + " tasks x 100 puts)");
    });
  }

  if (Selected("multi_client_put_gigabytes")) {
    Guarded("multi_client_put_gigabytes", [&] {
      Timeit(
          "multi_client_put_gigabytes",
          [&] {
            std::vector<ray::ObjectRef<int>> refs;
            for (int i = 0; i < z.put_tasks; ++i)
              refs.push_back(ray::Task(PutLargeMany).Remote(z.large_bytes, z.large_puts));
            ray::Get(refs);
            return static_cast<double>(z.put_tasks) * z.large_puts * z.large_bytes / 1e9;
          },
          z.big, "GB/s",
          "(" + std::to_string(z.put_tasks) + " tasks x " + std::to_string(z.large_puts) + " puts of " +
              std::to_string(z.large_bytes >> 20) + " MiB)");
    });
  }
}

// ray_perf.py's multi_client_tasks_async: client actors, each submitting a batch
// of tasks and getting them. Run last: after its client actors are killed, the
// node does not always grant new task leases (the leases those actors held are
// not reclaimed), so anything after it could wait forever.
void RunMultiClientTasks(const ExtraSizes &z) {
  // Client actors, each submitting a batch of tasks and getting them.
  if (Selected("multi_client_tasks_async")) {
    Guarded("multi_client_tasks_async", [&] {
      std::vector<ray::ActorHandle<TaskClient>> clients;
      for (int i = 0; i < z.multi_clients; ++i) clients.push_back(ray::Actor(TaskClient::Create).Remote());
      std::vector<ray::ObjectRef<int>> ready;
      for (auto &c : clients) ready.push_back(c.Task(&TaskClient::SmallValueBatch).Remote(1));
      ray::Get(ready);
      Timeit(
          "multi_client_tasks_async",
          [&] {
            std::vector<ray::ObjectRef<int>> refs;
            for (auto &c : clients)
              refs.push_back(c.Task(&TaskClient::SmallValueBatch).Remote(z.multi_client_tasks));
            ray::Get(refs);
            return static_cast<double>(z.multi_clients) * z.multi_client_tasks;
          },
          z.small, "tasks/s",
          "(" + std::to_string(z.multi_clients) + " client actors x " + std::to_string(z.multi_client_tasks) +
              " tasks)");
      KillAll(clients);
    });
  }
}

// A 1 GiB std::vector<double> (1.0 everywhere: written, so no page is the
// kernel's shared zero page) Put once, then:
//   task_arg_gigabytes           a task summing it as a ray::Buffer<double>
//   task_arg_gigabytes_vector    ... as a std::vector<double> taken by value
//   single_client_get_gigabytes  ray::Get of it as a ray::Buffer<double>
//   single_client_get_gigabytes_vector  ray::Get of it as a std::vector<double>
// GB/s = the object's bytes / the time of one task round trip (submit, run,
// Get the sum) or of one Get. The Buffer rows are numpy's counterparts in Ray
// Python (an array read in place from shared memory); the vector rows copy.
void RunLargeValueBenchmarks(const Durations &d, size_t bytes) {
#ifdef LUMEN_BENCH_HAS_BUFFER
  if (!AnySelected({"task_arg_gigabytes", "single_client_get_gigabytes"})) return;
  Guarded("task_arg_gigabytes", [&] {
    const size_t n = bytes / sizeof(double);
    const double gb = static_cast<double>(n * sizeof(double)) / 1e9;
    const std::string note = "(" + std::to_string((n * sizeof(double)) >> 20) + " MiB of doubles, Put once)";
    ray::ObjectRef<std::vector<double>> vec_ref = ray::Put(std::vector<double>(n, 1.0));
    auto check = [n](double sum) {
      if (sum != static_cast<double>(n)) throw std::runtime_error("a task summed the argument wrongly");
    };
    Timeit(
        "task_arg_gigabytes",
        [&] {
          check(*ray::Task(SumBuffer).Remote(vec_ref).Get());
          return gb;
        },
        d, "GB/s", "(task summing a ray::Buffer<double> argument) " + note);
    Timeit(
        "task_arg_gigabytes_vector",
        [&] {
          check(*ray::Task(SumVector).Remote(vec_ref).Get());
          return gb;
        },
        d, "GB/s", "(task summing a std::vector<double> argument taken by value) " + note);
    Timeit(
        "single_client_get_gigabytes_vector",
        [&] {
          if (ray::Get(vec_ref)->size() != n) throw std::runtime_error("Get returned a wrong size");
          return gb;
        },
        d, "GB/s", "(ray::Get as std::vector<double>) " + note);
    // The same bytes Put as a Buffer (on the wire a Buffer<T> is a
    // std::vector<T>), so that Get returns a view.
    ray::ObjectRef<ray::Buffer<double>> buf_ref = ray::Put(ray::Buffer<double>(std::vector<double>(n, 1.0)));
    Timeit(
        "single_client_get_gigabytes",
        [&] {
          if (ray::Get(buf_ref)->size() != n) throw std::runtime_error("Get returned a wrong size");
          return gb;
        },
        d, "GB/s", "(ray::Get as ray::Buffer<double>: a view) " + note);
  });
#else
  (void)d;
  (void)bytes;
#endif
}

// Memory of an idle worker: the resident set (and proportional set, which
// splits pages shared with other processes) of a worker that has run a task
// and now waits for the next, read from /proc.
void RunIdleWorkerMemory() {
  if (!AnySelected({"idle_worker_rss_mb", "idle_worker_pss_mb"})) return;
  Guarded("idle_worker_rss_mb", [&] {
    int pid = *ray::Task(WorkerPid).Remote().Get();
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const std::string dir = "/proc/" + std::to_string(pid);
    long rss = ProcKb(dir + "/status", "VmRSS");
    long pss = ProcKb(dir + "/smaps_rollup", "Pss");
    if (rss < 0) throw std::runtime_error("cannot read " + dir + "/status");
    Record("idle_worker_rss_mb", rss / 1024.0, 0, "MB", "(VmRSS of a task worker after one task)");
    if (pss >= 0 && Selected("idle_worker_pss_mb"))
      Record("idle_worker_pss_mb", pss / 1024.0, 0, "MB", "(Pss: shared pages split between sharers)");
  });
}

// Scheduling with resource requests, and Ray's placement_group_create/removal
// (groups of one small bundle of a custom resource: create, Wait, remove).
void RunResourceBenchmarks(const Durations &d, int batch, int groups) {
  auto async_tasks = [batch](const std::function<ray::ObjectRef<int>()> &submit) {
    return [batch, submit] {
      std::vector<ray::ObjectRef<int>> refs;
      refs.reserve(batch);
      for (int i = 0; i < batch; ++i) refs.push_back(submit());
      ray::Get(refs);
      return static_cast<double>(batch);
    };
  };
  auto fractional_cpu = [] { return ray::Task(Noop).SetResource("CPU", 0.5).Remote(); };
  auto custom_resource = [] { return ray::Task(Noop).SetResources({{"CPU", 1}, {"custom", 1}}).Remote(); };
  Guarded("single_client_tasks_async_*", [&] {
    Timeit("single_client_tasks_async_fractional_cpu", async_tasks(fractional_cpu), d, "tasks/s",
           "(each asks for CPU 0.5)");
    Timeit("single_client_tasks_async_custom_resource", async_tasks(custom_resource), d, "tasks/s",
           "(each asks for CPU 1 and custom 1 of 100)");
  });
  if (Selected("single_client_tasks_async_in_placement_group")) {
    Guarded("single_client_tasks_async_in_placement_group", [&] {
      ray::PlacementGroup pg =
          ray::CreatePlacementGroup({"bench_pg", {{{"CPU", 1}}}, ray::PlacementStrategy::PACK});
      if (!pg.Wait(30)) throw std::runtime_error("the benchmark's placement group was not created");
      Timeit("single_client_tasks_async_in_placement_group",
             async_tasks([&pg] { return ray::Task(Noop).SetPlacementGroup(pg, 0).Remote(); }), d, "tasks/s",
             "(bundle 0 of a {CPU: 1} group)");
      ray::RemovePlacementGroup(pg.GetID());
    });
  }
  if (Selected("placement_group_create/removal")) {
    Guarded("placement_group_create/removal", [&] {
      Timeit(
          "placement_group_create/removal",
          [groups] {
            std::vector<ray::PlacementGroup> pgs;
            pgs.reserve(groups);
            for (int i = 0; i < groups; ++i) {
              pgs.push_back(
                  ray::CreatePlacementGroup({"", {{{"custom", 0.001}}}, ray::PlacementStrategy::PACK}));
            }
            for (auto &pg : pgs) {
              if (!pg.Wait(30)) throw std::runtime_error("a placement group was not created");
            }
            for (auto &pg : pgs) ray::RemovePlacementGroup(pg.GetID());
            return static_cast<double>(groups);
          },
          d, "groups/s", "(" + std::to_string(groups) + " one-bundle groups: create, Wait, remove)");
    });
  }
}
