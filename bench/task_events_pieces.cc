// The pieces of a task event's cost, one process, no cluster (Google
// Benchmark): recording an actor call's events on the per-call path (the
// submitter's three and the executor's one), building and serialising a batch
// of them (each process's helper thread, once a second), and the control
// service parsing and merging it into its table. task_events_bench measures the
// whole on a cluster; this says which piece the time goes to.
//
//   task_events_pieces [--benchmark_filter=REGEX] [--benchmark_repetitions=N]
#include <benchmark/benchmark.h>
#include <google/protobuf/arena.h>

#include <memory>
#include <string>
#include <vector>

#include "control/task_event_store.h"
#include "worker/task_event_recorder.h"

namespace lumen {
namespace {

constexpr size_t kBatch = 4096;  // actor calls per batch: a second of a busy caller is ~60k

proto::TaskSpec ActorCallSpec(const WorkerID &submitter, uint64_t seq, const ActorID &actor) {
  proto::TaskSpec spec;
  spec.set_task_id(TaskID::Of(submitter, seq).Binary());
  spec.set_job_id(1);
  spec.set_type(proto::ACTOR_TASK);
  spec.set_actor_id(actor.Binary());
  spec.mutable_function()->set_function_name("BenchActor::SmallValue");
  return spec;
}

// The five events of one actor call, as the submitter (three) and the executor (two) record them.
void RecordCall(worker::TaskEventRecorder &submitter, worker::TaskEventRecorder &executor,
                const proto::TaskSpec &spec, const worker::TaskPlace &place) {
  const bool kept = submitter.RecordWithFacts(spec, proto::PENDING_ARGS_AVAIL, TaskID());
  submitter.RecordAt(spec, proto::SUBMITTED_TO_WORKER, place, kept);
  const bool ran_kept = executor.RecordHere(spec, proto::RUNNING);
  executor.RecordHereEnd(spec, proto::NO_ERROR, {}, ran_kept);
  submitter.RecordEnd(spec, proto::NO_ERROR, {}, kept);
}

std::vector<proto::TaskSpec> Specs(size_t n) {
  const WorkerID submitter = WorkerID::FromRandom();
  const ActorID actor = ActorID::FromRandom();
  std::vector<proto::TaskSpec> specs;
  for (size_t i = 0; i < n; ++i) specs.push_back(ActorCallSpec(submitter, i + 1, actor));
  return specs;
}

// A batch as the core worker takes it: on an arena, like FlushTaskEvents.
struct Taken {
  google::protobuf::Arena arena;
  proto::TaskEventBatch *batch = google::protobuf::Arena::CreateMessage<proto::TaskEventBatch>(&arena);
  void SerializeToString(std::string *out) const { batch->SerializeToString(out); }
};
std::unique_ptr<Taken> Take(worker::TaskEventRecorder &recorder) {
  auto t = std::make_unique<Taken>();
  recorder.TakeBatch(t->batch);
  return t;
}

const worker::TaskPlace &Place() {
  static const worker::TaskPlace place{NodeID::FromRandom(), WorkerID::FromRandom(), 4242};
  return place;
}

// The per-call path: ns per actor call (five events).
void BM_RecordActorCall(benchmark::State &state) {
  const auto specs = Specs(kBatch);
  worker::TaskEventRecorder submitter(true, kBatch * 4), executor(true, kBatch * 4);
  executor.SetSelfPlace(Place());
  size_t i = 0;
  for (auto _ : state) {
    RecordCall(submitter, executor, specs[i], Place());
    if (++i == kBatch) {
      state.PauseTiming();
      Take(submitter);
      Take(executor);
      i = 0;
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RecordActorCall);

// The per-call path once the buffer is full (a caller past 10,000 events in
// a second): ns per actor call whose five events are dropped and counted.
void BM_RecordActorCallBufferFull(benchmark::State &state) {
  const auto specs = Specs(kBatch);
  worker::TaskEventRecorder submitter(true, 1), executor(true, 1);
  executor.SetSelfPlace(Place());
  RecordCall(submitter, executor, specs[0], Place());  // fills both
  size_t i = 0;
  for (auto _ : state) {
    RecordCall(submitter, executor, specs[i], Place());
    if (++i == kBatch) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RecordActorCallBufferFull);

// Off the per-call path, in each process: ns per actor call to build and
// serialise the batches its events are in.
void BM_BatchActorCalls(benchmark::State &state) {
  const auto specs = Specs(kBatch);
  worker::TaskEventRecorder submitter(true, kBatch * 4), executor(true, kBatch * 4);
  executor.SetSelfPlace(Place());
  std::string wire;
  for (auto _ : state) {
    state.PauseTiming();
    for (const auto &spec : specs) RecordCall(submitter, executor, spec, Place());
    state.ResumeTiming();
    Take(submitter)->SerializeToString(&wire);
    Take(executor)->SerializeToString(&wire);
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_BatchActorCalls);

// In the control service: ns per actor call to parse both processes' batches
// and merge them into its table (bounded at 100k attempts, so a long run
// also pays for dropping the oldest).
void BM_MergeActorCalls(benchmark::State &state) {
  control::TaskEventStore store;
  size_t round = 0;
  std::string submitter_wire, executor_wire;
  for (auto _ : state) {
    state.PauseTiming();
    {
      const auto specs = Specs(kBatch);
      worker::TaskEventRecorder submitter(true, kBatch * 4), executor(true, kBatch * 4);
      executor.SetSelfPlace(Place());
      for (const auto &spec : specs) RecordCall(submitter, executor, spec, Place());
      Take(submitter)->SerializeToString(&submitter_wire);
      Take(executor)->SerializeToString(&executor_wire);
    }
    ++round;
    state.ResumeTiming();
    for (const std::string *wire : {&submitter_wire, &executor_wire}) {
      google::protobuf::Arena arena;  // as the control service parses it
      auto *batch = google::protobuf::Arena::CreateMessage<proto::TaskEventBatch>(&arena);
      batch->ParseFromString(*wire);
      store.Add(*batch);
    }
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["attempts_kept"] = static_cast<double>(store.size());
}
BENCHMARK(BM_MergeActorCalls);

}  // namespace
}  // namespace lumen

BENCHMARK_MAIN();
