// Definitions and RAY_REMOTE registrations of micro_remote.h.
#include "micro_remote.h"

#include <unistd.h>

int Noop() { return 0; }
RAY_REMOTE(Noop);

RAY_REMOTE(BenchActor::Create, &BenchActor::SmallValue, &BenchActor::SmallValueArg);

int BenchClient::SmallValueBatch(int n) {
  std::vector<ray::ObjectRef<int>> refs;
  refs.reserve(servers_.size() * n);
  for (auto &s : servers_) {
    for (int i = 0; i < n; ++i) refs.push_back(s.Task(&BenchActor::SmallValue).Remote());
  }
  ray::Get(refs);
  return static_cast<int>(refs.size());
}

int BenchClient::SmallValueBatchArg(int n) {
  ray::ObjectRef<int> x = ray::Put(0);
  std::vector<ray::ObjectRef<int>> refs;
  refs.reserve(servers_.size() * n);
  for (auto &s : servers_) {
    for (int i = 0; i < n; ++i) refs.push_back(s.Task(&BenchActor::SmallValueArg).Remote(x));
  }
  ray::Get(refs);
  return static_cast<int>(refs.size());
}
RAY_REMOTE(BenchClient::Create, &BenchClient::SmallValueBatch, &BenchClient::SmallValueBatchArg);

int TaskClient::SmallValueBatch(int n) {
  std::vector<ray::ObjectRef<int>> refs;
  refs.reserve(n);
  for (int i = 0; i < n; ++i) refs.push_back(ray::Task(Noop).Remote());
  ray::Get(refs);
  return n;
}
RAY_REMOTE(TaskClient::Create, &TaskClient::SmallValueBatch);

int ActorCallsWork(std::vector<ray::ActorHandle<BenchActor>> actors, int n) {
  std::vector<ray::ObjectRef<int>> refs;
  refs.reserve(n);
  for (int i = 0; i < n; ++i)
    refs.push_back(actors[i % actors.size()].Task(&BenchActor::SmallValue).Remote());
  ray::Get(refs);
  return n;
}
RAY_REMOTE(ActorCallsWork);

int PutSmallMany() {
  for (int i = 0; i < 100; ++i) ray::Put(0);
  return 100;
}
RAY_REMOTE(PutSmallMany);

// The buffer is made once per worker process, like the driver's
// single_client_put_gigabytes payload, so the timing is the put and not the
// allocation.
int PutLargeMany(int64_t bytes, int count) {
  static ZeroBytes payload;
  if (payload.size() != static_cast<size_t>(bytes)) ZeroBytes(static_cast<size_t>(bytes)).swap(payload);
  for (int i = 0; i < count; ++i) ray::Put(payload);
  return count;
}
RAY_REMOTE(PutLargeMany);

std::vector<ray::ObjectRef<int>> MakeRefs(int n) {
  std::vector<ray::ObjectRef<int>> refs;
  refs.reserve(n);
  for (int i = 0; i < n; ++i) refs.push_back(ray::Put(1));
  return refs;
}
RAY_REMOTE(MakeRefs);

int WorkerPid() { return static_cast<int>(getpid()); }
RAY_REMOTE(WorkerPid);

#ifdef LUMEN_BENCH_HAS_BUFFER
// Four partial sums, so that the adds keep up with memory, not their latency.
static double SumDoubles(const double *p, size_t n) {
  double s[4] = {0, 0, 0, 0};
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s[0] += p[i];
    s[1] += p[i + 1];
    s[2] += p[i + 2];
    s[3] += p[i + 3];
  }
  for (; i < n; ++i) s[0] += p[i];
  return (s[0] + s[1]) + (s[2] + s[3]);
}
double SumBuffer(ray::Buffer<double> a) { return SumDoubles(a.data(), a.size()); }
double SumVector(std::vector<double> a) { return SumDoubles(a.data(), a.size()); }
RAY_REMOTE(SumBuffer, SumVector);
#endif
