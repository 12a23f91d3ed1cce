// One process's membership in a collective group on Gloo (CPU memory over
// TCP): the connected Gloo context and the operations of <ray/collective.h>,
// typed at run time by DataType. It knows nothing of Lumen's runtime: it is
// handed a rendezvous store, so tests build groups of threads on Gloo's
// in-memory HashStore and production builds them on the cluster's KV store.
//
// Threading: operations are serialised by one mutex (a Gloo context runs one
// collective at a time here: each gets the next tag, and members must issue
// them in the same order anyway). A failed operation breaks the group: its
// connections are in an unknown state, so later operations throw at once.
#pragma once

#include <gloo/context.h>
#include <gloo/rendezvous/store.h>
#include <ray/collective.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace lumen::collective {

using ray::collective::DataType;
using ray::collective::ReduceOp;

size_t SizeOf(DataType type);
const char *Name(DataType type);
const char *Name(ReduceOp op);

class GlooGroup {
 public:
  struct Options {
    int world_size = 1;
    int rank = 0;
    std::string name;                // for messages
    std::string host = "127.0.0.1";  // the address this member listens on
    std::chrono::milliseconds timeout{30000};
    std::chrono::milliseconds rendezvous_timeout{180000};
  };

  /// Connects to every other member through `store` (every member must use
  /// the same store contents); throws ray::internal::RayException on failure.
  static std::unique_ptr<GlooGroup> Connect(const Options &options, gloo::rendezvous::Store &store);

  int rank() const { return options_.rank; }
  int world_size() const { return options_.world_size; }
  const std::string &name() const { return options_.name; }

  void AllReduce(void *data, size_t count, DataType type, ReduceOp op);
  void Reduce(void *data, size_t count, DataType type, int dst_rank, ReduceOp op);
  void Broadcast(void *data, size_t count, DataType type, int src_rank);
  void AllGather(const void *input, size_t count, DataType type, void *output);
  void ReduceScatter(const void *input, size_t count, DataType type, void *output, ReduceOp op);
  void Barrier();
  void Send(const void *data, size_t count, DataType type, int dst_rank);
  void Recv(void *data, size_t count, DataType type, int src_rank);

 private:
  GlooGroup(const Options &options, std::shared_ptr<gloo::Context> context);

  /// Runs `body` under the group's lock with the next tag; turns Gloo's
  /// exceptions into RayException naming the operation, and breaks the group.
  template <class F>
  void Run(const char *what, F &&body);  // a collective: takes the next tag
  template <class F>
  void RunOp(const char *what, bool collective, F &&body);
  void CheckRank(int rank, const char *role) const;

  const Options options_;
  const std::shared_ptr<gloo::Context> context_;
  std::mutex mu_;
  uint32_t next_tag_ = 0;           // mu_: collectives run so far (each one's tag)
  std::string broken_;              // mu_: why the group can no longer be used
  std::vector<uint64_t> sent_;      // mu_: messages sent to each rank (Send's slots)
  std::vector<uint64_t> received_;  // mu_: messages received from each rank
};

}  // namespace lumen::collective
