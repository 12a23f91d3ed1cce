// See gloo_group.h.
#include "gloo_group.h"

#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/common/error.h>
#include <gloo/math.h>
#include <gloo/reduce.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/prefix_store.h>
#include <gloo/transport/tcp/device.h>
#include <gloo/types.h>
#include <ray/api/ray_exception.h>

#include <csignal>
#include <cstring>
#include <exception>
#include <functional>

namespace lumen::collective {
namespace {

using ray::internal::RayException;
using ReduceFn = std::function<void(void *, const void *, const void *, size_t)>;

// Send/Recv messages use their own slot space, apart from the prefixes Gloo's
// collectives use (gloo/types.h, 0x01..0x08).
constexpr uint8_t kSendRecvSlotPrefix = 0x40;

// Calls `f.template operator()<T>()` with T the C++ type of `type`.
template <class F>
auto Dispatch(DataType type, F &&f) {
  switch (type) {
    case DataType::kInt8:
      return f(int8_t{});
    case DataType::kUint8:
      return f(uint8_t{});
    case DataType::kInt32:
      return f(int32_t{});
    case DataType::kUint32:
      return f(uint32_t{});
    case DataType::kInt64:
      return f(int64_t{});
    case DataType::kUint64:
      return f(uint64_t{});
    case DataType::kFloat32:
      return f(float{});
    case DataType::kFloat64:
      return f(double{});
  }
  throw RayException("collective: unknown data type");
}

template <typename T>
ReduceFn ReduceFunction(ReduceOp op) {
  using Raw = void (*)(void *, const void *, const void *, size_t);
  switch (op) {
    case ReduceOp::kSum:
    case ReduceOp::kMean:
      return static_cast<Raw>(&gloo::sum<T>);
    case ReduceOp::kProduct:
      return static_cast<Raw>(&gloo::product<T>);
    case ReduceOp::kMin:
      return static_cast<Raw>(&gloo::min<T>);
    case ReduceOp::kMax:
      return static_cast<Raw>(&gloo::max<T>);
  }
  throw RayException("collective: unknown reduce op");
}

template <typename T>
void DivideBy(T *data, size_t count, int n) {
  for (size_t i = 0; i < count; ++i) data[i] = static_cast<T>(data[i] / static_cast<T>(n));
}

}  // namespace

size_t SizeOf(DataType type) {
  return Dispatch(type, [](auto v) { return sizeof(v); });
}

const char *Name(DataType type) {
  switch (type) {
    case DataType::kInt8:
      return "int8";
    case DataType::kUint8:
      return "uint8";
    case DataType::kInt32:
      return "int32";
    case DataType::kUint32:
      return "uint32";
    case DataType::kInt64:
      return "int64";
    case DataType::kUint64:
      return "uint64";
    case DataType::kFloat32:
      return "float32";
    case DataType::kFloat64:
      return "float64";
  }
  return "?";
}

const char *Name(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
      return "sum";
    case ReduceOp::kProduct:
      return "product";
    case ReduceOp::kMin:
      return "min";
    case ReduceOp::kMax:
      return "max";
    case ReduceOp::kMean:
      return "mean";
  }
  return "?";
}

// Gloo writes to its sockets with writev(2), which raises SIGPIPE when the
// member at the other end has gone; by default that kills this process
// instead of failing the operation. Like Python (torch.distributed's usual
// host), the process then ignores SIGPIPE, unless someone installed a handler.
namespace {
void IgnoreSigpipeUnlessHandled() {
  struct sigaction current {};
  if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) signal(SIGPIPE, SIG_IGN);
}
}  // namespace

std::unique_ptr<GlooGroup> GlooGroup::Connect(const Options &options, gloo::rendezvous::Store &store) {
  IgnoreSigpipeUnlessHandled();
  if (options.world_size < 1)
    throw RayException("collective group '" + options.name + "': world size must be >= 1");
  if (options.rank < 0 || options.rank >= options.world_size)
    throw RayException("collective group '" + options.name + "': rank " + std::to_string(options.rank) +
                       " is outside [0, " + std::to_string(options.world_size) + ")");
  try {
    gloo::transport::tcp::attr attr;
    attr.hostname = options.host;
    auto device = gloo::transport::tcp::CreateDevice(attr);
    auto context = std::make_shared<gloo::rendezvous::Context>(options.rank, options.world_size);
    context->setTimeout(options.rendezvous_timeout);
    context->connectFullMesh(store, device);
    context->setTimeout(options.timeout);
    return std::unique_ptr<GlooGroup>(new GlooGroup(options, std::move(context)));
  } catch (const RayException &) {
    throw;
  } catch (const std::exception &e) {
    throw RayException("collective group '" + options.name + "': rank " + std::to_string(options.rank) +
                       " could not connect to the other members: " + e.what());
  }
}

GlooGroup::GlooGroup(const Options &options, std::shared_ptr<gloo::Context> context)
    : options_(options),
      context_(std::move(context)),
      sent_(options.world_size, 0),
      received_(options.world_size, 0) {}

template <class F>
void GlooGroup::Run(const char *what, F &&body) {
  RunOp(what, true, std::forward<F>(body));
}

template <class F>
void GlooGroup::RunOp(const char *what, bool collective, F &&body) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!broken_.empty())
    throw RayException("collective " + std::string(what) + " in group '" + options_.name +
                       "': the group is broken (" + broken_ + "); destroy it and create it again");
  try {
    // Every member runs the same collectives in the same order, so their
    // counts agree; point-to-point messages involve two members only and
    // must not advance it.
    body(collective ? next_tag_++ : 0);
  } catch (const RayException &) {
    throw;
  } catch (const std::exception &e) {
    // Gloo's IoException (a member went away, or the timeout passed) and
    // EnforceNotMet (mismatched calls) both leave the pairs mid-message.
    broken_ = std::string(what) + " failed: " + e.what();
    throw RayException("collective " + std::string(what) + " in group '" + options_.name + "' (rank " +
                       std::to_string(options_.rank) + " of " + std::to_string(options_.world_size) +
                       ") failed: " + e.what());
  }
}

void GlooGroup::CheckRank(int rank, const char *role) const {
  if (rank < 0 || rank >= options_.world_size)
    throw RayException("collective group '" + options_.name + "': " + role + " rank " + std::to_string(rank) +
                       " is outside [0, " + std::to_string(options_.world_size) + ")");
}

void GlooGroup::AllReduce(void *data, size_t count, DataType type, ReduceOp op) {
  if (count == 0) return;
  Run("AllReduce", [&](uint32_t tag) {
    Dispatch(type, [&](auto v) {
      using T = decltype(v);
      auto *p = static_cast<T *>(data);
      gloo::AllreduceOptions opts(context_);
      opts.setOutput(p, count);
      opts.setReduceFunction(ReduceFunction<T>(op));
      opts.setTag(tag);
      opts.setTimeout(options_.timeout);
      gloo::allreduce(opts);
      if (op == ReduceOp::kMean) DivideBy(p, count, options_.world_size);
    });
  });
}

void GlooGroup::Reduce(void *data, size_t count, DataType type, int dst_rank, ReduceOp op) {
  CheckRank(dst_rank, "destination");
  if (count == 0) return;
  Run("Reduce", [&](uint32_t tag) {
    Dispatch(type, [&](auto v) {
      using T = decltype(v);
      auto *p = static_cast<T *>(data);
      // Gloo writes partial results into every member's output: the others
      // get a scratch buffer, so their own data is left as it was.
      std::vector<T> scratch;
      T *out = p;
      if (options_.rank != dst_rank) {
        scratch.resize(count);
        out = scratch.data();
      }
      gloo::ReduceOptions opts(context_);
      opts.setInput(p, count);
      opts.setOutput(out, count);
      opts.setRoot(dst_rank);
      opts.setReduceFunction(ReduceFunction<T>(op));
      opts.setTag(tag);
      opts.setTimeout(options_.timeout);
      gloo::reduce(opts);
      if (op == ReduceOp::kMean && options_.rank == dst_rank) DivideBy(p, count, options_.world_size);
    });
  });
}

void GlooGroup::Broadcast(void *data, size_t count, DataType type, int src_rank) {
  CheckRank(src_rank, "source");
  if (count == 0) return;
  Run("Broadcast", [&](uint32_t tag) {
    Dispatch(type, [&](auto v) {
      using T = decltype(v);
      gloo::BroadcastOptions opts(context_);
      opts.setOutput(static_cast<T *>(data), count);
      opts.setRoot(src_rank);
      opts.setTag(tag);
      opts.setTimeout(options_.timeout);
      gloo::broadcast(opts);
    });
  });
}

void GlooGroup::AllGather(const void *input, size_t count, DataType type, void *output) {
  if (count == 0) return;
  Run("AllGather", [&](uint32_t tag) {
    Dispatch(type, [&](auto v) {
      using T = decltype(v);
      gloo::AllgatherOptions opts(context_);
      // Gloo reads the input from this member's block of the output.
      auto *out = static_cast<T *>(output);
      std::memmove(out + static_cast<size_t>(options_.rank) * count, input, count * sizeof(T));
      opts.setOutput(out, count * options_.world_size);
      opts.setTag(tag);
      opts.setTimeout(options_.timeout);
      gloo::allgather(opts);
    });
  });
}

// Gloo has no reduce-scatter in its options API (only the older
// halving-doubling algorithm class with its own buffer rules): the whole
// input is all-reduced in a scratch copy and this member keeps its block.
// That moves twice the bytes a ring reduce-scatter would.
void GlooGroup::ReduceScatter(const void *input, size_t count, DataType type, void *output, ReduceOp op) {
  if (count == 0) return;
  Dispatch(type, [&](auto v) {
    using T = decltype(v);
    const auto *in = static_cast<const T *>(input);
    std::vector<T> all(in, in + count * options_.world_size);
    AllReduce(all.data(), all.size(), type, op);
    std::memcpy(output, all.data() + static_cast<size_t>(options_.rank) * count, count * sizeof(T));
  });
}

void GlooGroup::Barrier() {
  Run("Barrier", [&](uint32_t tag) {
    gloo::BarrierOptions opts(context_);
    opts.setTag(tag);
    opts.setTimeout(options_.timeout);
    gloo::barrier(opts);
  });
}

void GlooGroup::Send(const void *data, size_t count, DataType type, int dst_rank) {
  CheckRank(dst_rank, "destination");
  if (dst_rank == options_.rank) throw RayException("collective Send: a member cannot send to itself");
  RunOp("Send", false, [&](uint32_t) {
    auto buf = context_->createUnboundBuffer(const_cast<void *>(data), count * SizeOf(type));
    buf->send(dst_rank, gloo::Slot::build(kSendRecvSlotPrefix, static_cast<uint32_t>(sent_[dst_rank]++)));
    if (!buf->waitSend(options_.timeout)) throw gloo::IoException("the send was aborted");
  });
}

void GlooGroup::Recv(void *data, size_t count, DataType type, int src_rank) {
  CheckRank(src_rank, "source");
  if (src_rank == options_.rank) throw RayException("collective Recv: a member cannot receive from itself");
  RunOp("Recv", false, [&](uint32_t) {
    auto buf = context_->createUnboundBuffer(data, count * SizeOf(type));
    buf->recv(src_rank, gloo::Slot::build(kSendRecvSlotPrefix, static_cast<uint32_t>(received_[src_rank]++)));
    if (!buf->waitRecv(options_.timeout)) throw gloo::IoException("the receive was aborted");
  });
}

}  // namespace lumen::collective
