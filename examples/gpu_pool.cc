// gpu_pool: an elastic pool of GPU actors, the way Ray's users serve batches
// on GPUs.
//
// Each actor asks for one whole GPU (SetResource("GPU", 1)), so it runs with
// exactly one device in CUDA_VISIBLE_DEVICES and ray::GetGpuIds(), and holds
// it while it lives. It keeps a "model" buffer in device memory. The driver
// feeds batches from a queue whose arrival rate rises and falls:
//
//   - when the queue grows beyond what the current actors absorb, it adds an
//     actor (up to --max-actors, by default the cluster's GPU count);
//   - when demand falls and an actor has been idle for a while, it asks the
//     actor to free its device memory first and only then kills it, so the
//     device is handed back clean.
//
// It prints each actor's GPU ids and the pool size over time, and checks every
// batch's result. Built with -DLUMEN_EXAMPLES_CUDA=ON on a machine with the
// CUDA toolkit, the actors make real cudaMalloc/cudaMemcpy/cudaFree calls on
// their device; otherwise host memory stands in for device memory. The cluster
// is started with --num-gpus=N (default 2): virtual devices 0..N-1 on a
// machine without GPUs, the first N real ones otherwise.
//
//   gpu_pool [--small] [--gpus N|auto] [--max-actors N] [--ticks N] [--tick-ms MS]
#include <ray/api.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#ifdef LUMEN_GPU_POOL_CUDA
#include <cuda_runtime_api.h>
#endif

namespace {

struct Batch {
  int id = 0;
  std::vector<float> values;
  int work_ms = 0;  // how long the "inference" takes
  MSGPACK_DEFINE(id, values, work_ms);
};

struct BatchResult {
  int batch_id = 0;
  double sum_of_squares = 0;
  int actor = 0;
  std::string gpus;  // the device(s) it ran on
  MSGPACK_DEFINE(batch_id, sum_of_squares, actor, gpus);
};

struct ActorInfo {
  int pid = 0;
  std::vector<int> gpu_ids;          // ray::GetGpuIds()
  std::string cuda_visible_devices;  // what CUDA sees
  std::string memory;                // where the model buffer lives
  MSGPACK_DEFINE(pid, gpu_ids, cuda_visible_devices, memory);
};

std::string Join(const std::vector<int> &ids) {
  std::string out;
  for (int id : ids) out += (out.empty() ? "" : ",") + std::to_string(id);
  return out;
}

double SumOfSquares(const std::vector<float> &v) {
  double s = 0;
  for (float x : v) s += static_cast<double>(x) * x;
  return s;
}

}  // namespace

// One GPU's worth of work. Its "model" lives in device memory from
// construction until ReleaseMemory().
class GpuWorker {
 public:
  GpuWorker(int index, int64_t model_bytes) : index_(index), bytes_(model_bytes) {
#ifdef LUMEN_GPU_POOL_CUDA
    // CUDA_VISIBLE_DEVICES holds exactly this actor's device: it is device 0 here.
    cudaError_t err = cudaSetDevice(0);
    if (err == cudaSuccess) err = cudaMalloc(&device_, static_cast<size_t>(bytes_));
    if (err == cudaSuccess) err = cudaMemset(device_, 0, static_cast<size_t>(bytes_));
    if (err != cudaSuccess) throw std::runtime_error(std::string("cudaMalloc: ") + cudaGetErrorString(err));
    where_ = "cuda device memory";
#else
    host_.assign(static_cast<size_t>(bytes_), 0);  // stands in for device memory
    where_ = "host memory (standing in for device memory)";
#endif
  }
  static GpuWorker *Create(int index, int64_t model_bytes) { return new GpuWorker(index, model_bytes); }

  ActorInfo Info() {
    const char *v = std::getenv("CUDA_VISIBLE_DEVICES");
    return {static_cast<int>(getpid()), ray::GetGpuIds(), v ? v : "(unset)",
            std::to_string(bytes_ >> 20) + " MiB of " + where_};
  }

  BatchResult Process(Batch batch) {
    if (bytes_ == 0) throw std::runtime_error("the model's memory was already released");
    size_t n = std::min(batch.values.size() * sizeof(float), static_cast<size_t>(bytes_));
    std::vector<float> back(batch.values.size());
#ifdef LUMEN_GPU_POOL_CUDA
    // Through the device and back.
    cudaMemcpy(device_, batch.values.data(), n, cudaMemcpyHostToDevice);
    cudaMemcpy(back.data(), device_, n, cudaMemcpyDeviceToHost);
#else
    std::memcpy(host_.data(), batch.values.data(), n);
    std::memcpy(back.data(), host_.data(), n);
#endif
    std::this_thread::sleep_for(std::chrono::milliseconds(batch.work_ms));
    return {batch.id, SumOfSquares(back), index_, Join(ray::GetGpuIds())};
  }

  // Frees the model's memory; the driver calls this before Kill so the device
  // is left clean. Returns the bytes freed.
  int64_t ReleaseMemory() {
    int64_t freed = bytes_;
#ifdef LUMEN_GPU_POOL_CUDA
    if (device_) cudaFree(device_);
    device_ = nullptr;
#else
    std::vector<uint8_t>().swap(host_);
#endif
    bytes_ = 0;
    return freed;
  }

 private:
  int index_;
  int64_t bytes_;
  std::string where_;
#ifdef LUMEN_GPU_POOL_CUDA
  void *device_ = nullptr;
#else
  std::vector<uint8_t> host_;
#endif
};
RAY_REMOTE(GpuWorker::Create, &GpuWorker::Info, &GpuWorker::Process, &GpuWorker::ReleaseMemory);

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Options {
  int gpus = 2;
  int max_actors = 0;  // 0: the GPU count
  int ticks = 40;
  int tick_ms = 100;
  int work_ms = 150;
  int values = 4096;
  int64_t model_bytes = 64 << 20;
};

struct Member {
  int index;
  ray::ActorHandle<GpuWorker> handle;
  std::string gpus;
  std::map<std::string, ray::ObjectRef<BatchResult>> in_flight;  // by object id
  int idle_ticks = 0;
  int done = 0;
};

// Batches arriving at tick t: low, a burst, then low again.
int Arrivals(int t, int ticks) {
  if (t < ticks / 5) return t % 2;  // a trickle: one every other tick
  if (t < ticks / 2) return 2;      // the burst: more than one actor absorbs
  if (t < ticks * 3 / 5) return t % 2;
  return 0;  // drained
}

int Run(const Options &o) {
  const int max_actors = o.max_actors > 0 ? o.max_actors : o.gpus;
  const size_t per_actor = 2;  // batches one actor keeps in flight
  std::printf("Driver GPU ids: [%s] (the driver holds no GPU)\n", Join(ray::GetGpuIds()).c_str());
  std::printf("Pool: 1 to %d actors, each SetResource(\"GPU\", 1) with a %lld MiB model; %d ms per batch.\n",
              max_actors, static_cast<long long>(o.model_bytes >> 20), o.work_ms);

  std::vector<Member> pool;
  int next_index = 0, bad = 0, peak = 0;
  std::map<std::string, int> owner;  // batch object id -> actor index
  std::map<int, double> expected;    // batch id -> sum of squares
  std::map<int, int> results;        // batch id -> times seen
  std::set<std::string> devices_in_use;
  std::string history;  // pool size per tick

  auto add_actor = [&](double now) {
    int index = next_index++;
    auto handle = ray::Actor(GpuWorker::Create).SetResource("GPU", 1).Remote(index, o.model_bytes);
    ActorInfo info = *handle.Task(&GpuWorker::Info).Remote().Get();
    std::string gpus = Join(info.gpu_ids);
    std::printf("  [%6.2f s] + actor %d (pid %d): GetGpuIds() = [%s], CUDA_VISIBLE_DEVICES=%s, %s\n", now,
                index, info.pid, gpus.c_str(), info.cuda_visible_devices.c_str(), info.memory.c_str());
    if (info.gpu_ids.size() != 1 || gpus != info.cuda_visible_devices || devices_in_use.count(gpus)) {
      std::printf("      <-- WRONG: expected one device of its own, the same in both views\n");
      ++bad;
    }
    devices_in_use.insert(gpus);
    pool.push_back({index, handle, gpus, {}, 0, 0});
  };

  auto remove_actor = [&](size_t i, double now) {
    Member m = pool[i];
    int64_t freed = *m.handle.Task(&GpuWorker::ReleaseMemory).Remote().Get();  // memory first
    m.handle.Kill();                                                           // then the device
    devices_in_use.erase(m.gpus);
    pool.erase(pool.begin() + static_cast<long>(i));
    std::printf("  [%6.2f s] - actor %d released %lld MiB on GPU %s and was killed (%d batches done)\n", now,
                m.index, static_cast<long long>(freed >> 20), m.gpus.c_str(), m.done);
    if (freed != o.model_bytes) ++bad;
  };

  auto t0 = Clock::now();
  add_actor(Seconds(t0));
  std::deque<Batch> queue;
  int next_batch = 0;
  for (int t = 0; t < o.ticks || !queue.empty() || !owner.empty(); ++t) {
    auto tick_end = Clock::now() + std::chrono::milliseconds(o.tick_ms);
    // New batches.
    for (int a = 0, n = t < o.ticks ? Arrivals(t, o.ticks) : 0; a < n; ++a) {
      Batch b{next_batch++, {}, o.work_ms};
      b.values.resize(static_cast<size_t>(o.values));
      for (int k = 0; k < o.values; ++k) b.values[k] = static_cast<float>((b.id * 31 + k) % 97) / 10.0f;
      expected[b.id] = SumOfSquares(b.values);
      queue.push_back(std::move(b));
    }
    // Collect what finished.
    std::vector<ray::ObjectRef<BatchResult>> flying;
    for (auto &m : pool)
      for (auto &[id, ref] : m.in_flight) flying.push_back(ref);
    if (!flying.empty()) {
      auto w = ray::Wait(flying, static_cast<int>(flying.size()), 0);
      for (auto &ref : w.ready) {
        BatchResult r = *ray::Get(ref);
        int index = owner.at(ref.ID());
        owner.erase(ref.ID());
        for (auto &m : pool) {
          if (m.index != index) continue;
          m.in_flight.erase(ref.ID());
          ++m.done;
          if (r.gpus != m.gpus) ++bad;
        }
        results[r.batch_id]++;
        if (std::fabs(r.sum_of_squares - expected.at(r.batch_id)) > 1e-6 * expected.at(r.batch_id)) ++bad;
      }
    }
    // Grow: more queued than the current actors absorb.
    int capacity = static_cast<int>(pool.size() * per_actor);
    int busy = static_cast<int>(owner.size());
    if (static_cast<int>(queue.size()) > capacity - busy && static_cast<int>(pool.size()) < max_actors) {
      std::printf("  [%6.2f s] queue %zu > free slots %d: adding an actor\n", Seconds(t0), queue.size(),
                  capacity - busy);
      add_actor(Seconds(t0));
    }
    // Feed: each actor keeps up to per_actor batches in flight, least loaded first.
    while (!queue.empty()) {
      Member *best = nullptr;
      for (auto &m : pool)
        if (m.in_flight.size() < per_actor && (!best || m.in_flight.size() < best->in_flight.size()))
          best = &m;
      if (!best) break;
      auto ref = best->handle.Task(&GpuWorker::Process).Remote(queue.front());
      queue.pop_front();
      best->in_flight.emplace(ref.ID(), ref);
      owner[ref.ID()] = best->index;
    }
    // Shrink: demand fell; an actor idle for 3 ticks with an empty queue goes.
    for (auto &m : pool) m.idle_ticks = m.in_flight.empty() ? m.idle_ticks + 1 : 0;
    if (queue.empty() && pool.size() > 1) {
      for (size_t i = pool.size(); i-- > 0;) {
        if (pool[i].idle_ticks >= 3) {
          std::printf("  [%6.2f s] demand fell (queue empty, actor %d idle): shrinking\n", Seconds(t0),
                      pool[i].index);
          remove_actor(i, Seconds(t0));
          break;
        }
      }
    }
    peak = std::max(peak, static_cast<int>(pool.size()));
    history += std::to_string(pool.size());
    if (t % 5 == 4) {
      std::printf("  [%6.2f s] tick %3d: pool %zu, queued %zu, in flight %zu, done %zu\n", Seconds(t0), t,
                  pool.size(), queue.size(), owner.size(), results.size());
    }
    std::this_thread::sleep_until(tick_end);
  }
  while (!pool.empty()) remove_actor(pool.size() - 1, Seconds(t0));

  std::printf("Pool size per tick: %s\n", history.c_str());
  int missing = 0, twice = 0;
  for (auto &[id, v] : expected) {
    auto it = results.find(id);
    if (it == results.end())
      ++missing;
    else if (it->second != 1)
      ++twice;
  }
  std::printf("%d batches in %.2f s; peak pool %d of %d; %d missing, %d seen twice, %d wrong.\n", next_batch,
              Seconds(t0), peak, max_actors, missing, twice, bad);
  if (max_actors > 1 && peak < 2) {
    std::printf("  <-- WRONG: the pool never grew\n");
    ++bad;
  }
  return bad + missing + twice;
}

}  // namespace

int main(int argc, char **argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--small")) {
      o.ticks = 20;
      o.tick_ms = 60;
      o.work_ms = 80;
      o.values = 1024;
      o.model_bytes = 16 << 20;
    } else if (!std::strcmp(argv[i], "--gpus") && i + 1 < argc) {
      // "auto": the node detects the machine's GPUs (NVML, CUDA_VISIBLE_DEVICES).
      ++i;
      o.gpus = !std::strcmp(argv[i], "auto") ? 0 : std::max(1, std::atoi(argv[i]));
    } else if (!std::strcmp(argv[i], "--max-actors") && i + 1 < argc) {
      o.max_actors = std::max(1, std::atoi(argv[++i]));
    } else if (!std::strcmp(argv[i], "--ticks") && i + 1 < argc) {
      o.ticks = std::max(5, std::atoi(argv[++i]));
    } else if (!std::strcmp(argv[i], "--tick-ms") && i + 1 < argc) {
      o.tick_ms = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr,
                   "usage: %s [--small] [--gpus N|auto] [--max-actors N] [--ticks N] [--tick-ms MS]\n",
                   argv[0]);
      return 2;
    }
  }
  ray::RayConfig config;
  if (o.gpus > 0) config.head_args = {"--num-gpus=" + std::to_string(o.gpus)};
  ray::Init(config);
  // With detected GPUs the pool grows to --max-actors (default 1), one device each.
  if (o.gpus == 0 && o.max_actors <= 0) o.max_actors = 1;
  const std::string gpu_count = o.gpus > 0 ? std::to_string(o.gpus) : "the machine's";
#ifdef LUMEN_GPU_POOL_CUDA
  std::printf("Started a local cluster with %s GPU(s); actors use CUDA.\n", gpu_count.c_str());
#else
  std::printf(
      "Started a local cluster with %s GPU(s) (virtual unless the machine has them); actors use host "
      "memory for the model.\n",
      gpu_count.c_str());
#endif
  int bad = 0;
  try {
    bad = Run(o);
  } catch (const std::exception &e) {
    std::printf("\nFAILED: %s\n", e.what());
    ray::Shutdown();
    return 1;
  }
  ray::Shutdown();
  if (bad) {
    std::printf("\nFAILED: %d check(s) did not hold.\n", bad);
    return 1;
  }
  std::printf("\nOK: every batch was processed once, on its actor's own GPU.\n");
  return 0;
}
