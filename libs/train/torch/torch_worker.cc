// The TorchTrainer's worker service ("lumen.torch_trainer"): what each Lumen
// Train worker does when the trainer calls it (TrainWorker::Call). A request
// is a JSON header, a newline, then binary bytes (a state, for "setup" and
// "load"); the reply is JSON text, or the state's bytes for "state".
//
// Threading: the worker's actor thread; one OperatorRunner per process.
#include <ray/api/ray_exception.h>
#include <ray/train.h>

#include <memory>

#include "../train_worker.h"
#include "operator_runner.h"

namespace ray {
namespace train {
namespace torch {
namespace {

using ray::internal::RayException;

std::unique_ptr<OperatorRunner> g_runner;  // the worker's, from "setup" to "shutdown"

OperatorRunner &Runner() {
  if (!g_runner) throw RayException("TorchTrainer: this worker's operator is not set up");
  return *g_runner;
}

std::string Serve(const std::string &request) {
  const size_t newline = request.find('\n');
  const Json header = Json::parse(request.substr(0, newline));
  const std::string payload = newline == std::string::npos ? std::string() : request.substr(newline + 1);
  const std::string cmd = header.at("cmd");
  if (cmd == "setup") {
    const TrainContext ctx = ray::train::GetContext();
    g_runner.reset();
    auto runner = std::make_unique<OperatorRunner>(
        header.at("settings"),
        RunnerPlace{ctx.world_rank, ctx.local_rank, ctx.world_size, ctx.collective_group});
    runner->Setup();
    if (!payload.empty()) runner->LoadState(payload);
    g_runner = std::move(runner);
    return "";
  }
  if (cmd == "train") return Runner().TrainEpoch(header.at("num_steps"), header.at("info")).dump();
  if (cmd == "validate") return Runner().Validate(header.at("num_steps"), header.at("info")).dump();
  if (cmd == "state") return Runner().State();
  if (cmd == "load") {
    Runner().LoadState(payload);
    return "";
  }
  if (cmd == "shutdown") {
    g_runner.reset();
    return "";
  }
  throw RayException("TorchTrainer: unknown worker command '" + cmd + "'");
}

[[maybe_unused]] const bool registered =
    ray::train::internal::RegisterWorkerService("lumen.torch_trainer", Serve);

}  // namespace
}  // namespace torch
}  // namespace train
}  // namespace ray
