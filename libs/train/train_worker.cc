// See train_worker.h; also ray::train::Report, GetCheckpoint and GetContext.
#include "train_worker.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <ray/api.h>
#include <ray/collective.h>
#include <ray/train.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>

#include "run_storage.h"

namespace ray {
namespace train {
namespace internal {
namespace {

using ray::internal::RayException;

// What a worker's training function reports through.
struct Session {
  TrainContext context;
  std::unique_ptr<RunStorage> storage;
  int iteration = 0;                      // reports in the run so far
  std::optional<std::string> checkpoint;  // where to resume from
  int num_to_keep = 0;
};

std::mutex &ServicesMutex() {
  static std::mutex mu;
  return mu;
}
std::map<std::string, WorkerService> &Services() {
  static std::map<std::string, WorkerService> services;
  return services;
}

Session *g_session = nullptr;               // the worker's, between Start and its end
thread_local Session *t_session = nullptr;  // set while the training function runs

Session &Current(const char *what) {
  if (!t_session)
    throw RayException(std::string("ray::train::") + what + " must be called from a training function");
  return *t_session;
}

void ReportImpl(const Json &metrics, const Checkpoint *checkpoint) {
  Session &s = Current("Report");
  if (!metrics.is_object()) throw RayException("ray::train::Report: metrics must be a JSON object");
  const std::string &group = s.context.collective_group;
  // Every rank arrives before rank 0 writes, and nobody leaves before it has
  // written: a failure after Report returns finds the checkpoint in place.
  ray::collective::Barrier(group);
  int32_t saved = 0;
  if (s.context.world_rank == 0) {
    Json row = metrics;
    row["training_iteration"] = s.iteration + 1;
    if (checkpoint) {
      s.storage->PersistCheckpoint(checkpoint->path(), s.iteration);
      s.storage->Prune(s.num_to_keep);
      row["checkpoint_dir_name"] =
          std::filesystem::path(s.storage->CheckpointPath(s.iteration)).filename().string();
      saved = 1;
    }
    s.storage->AppendResult(row);
  }
  ray::collective::Broadcast(&saved, 1, 0, group);
  if (saved) s.checkpoint = s.storage->CheckpointPath(s.iteration);
  ++s.iteration;
}

void SetEnv(const char *name, const std::string &value) { setenv(name, value.c_str(), 1); }

}  // namespace

TrainWorker *TrainWorker::Create() { return new TrainWorker(); }

std::string TrainWorker::Where() {
  const std::string me = ray::GetRuntimeContext().GetNodeId();
  std::string address = "127.0.0.1";
  for (const auto &node : ray::Nodes())
    if (node.node_id == me && !node.address.empty()) address = node.address;
  return Json{{"node_id", me}, {"address", address}}.dump();
}

int TrainWorker::FreePort() {
  // The port is free when asked; the user's own rendezvous (MASTER_PORT, as
  // torch.distributed uses it) binds it soon after. Ray Train does the same.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

bool TrainWorker::Start(std::string setup_text) {
  const Json setup = Json::parse(setup_text);
  auto session = std::make_unique<Session>();
  TrainContext &c = session->context;
  const Json &rank = setup.at("rank");
  c.world_rank = rank.at("world_rank");
  c.local_rank = rank.at("local_rank");
  c.local_world_size = rank.at("local_world_size");
  c.node_rank = rank.at("node_rank");
  c.world_size = setup.at("world_size");
  c.experiment_name = setup.at("name");
  c.storage_path = setup.at("run_dir");
  c.collective_group = setup.at("group");
  session->storage = std::make_unique<RunStorage>(c.storage_path);
  session->iteration = setup.at("iteration");
  if (!setup.at("checkpoint").is_null()) session->checkpoint = setup.at("checkpoint").get<std::string>();
  session->num_to_keep = setup.at("num_to_keep");

  SetEnv("RANK", std::to_string(c.world_rank));
  SetEnv("LOCAL_RANK", std::to_string(c.local_rank));
  SetEnv("WORLD_SIZE", std::to_string(c.world_size));
  SetEnv("LOCAL_WORLD_SIZE", std::to_string(c.local_world_size));
  SetEnv("NODE_RANK", std::to_string(c.node_rank));
  SetEnv("MASTER_ADDR", setup.at("master_addr").get<std::string>());
  SetEnv("MASTER_PORT", std::to_string(setup.at("master_port").get<int>()));

  ray::collective::GroupOptions options;
  if (setup.contains("collective_timeout_ms"))
    options.timeout = std::chrono::milliseconds(setup.at("collective_timeout_ms").get<int64_t>());
  ray::collective::InitCollectiveGroup(c.world_size, c.world_rank, options, c.collective_group);
  delete g_session;
  g_session = session.release();
  return true;
}

std::string TrainWorker::Run(std::string loop, std::string config) {
  if (!g_session) return "the worker was not started";
  try {
    auto fn = TrainLoopRef::FromJson(Json::parse(loop)).ResolveFunction();
    t_session = g_session;
    struct Clear {
      ~Clear() { t_session = nullptr; }
    } clear;
    fn(Json::parse(config));
    return "";
  } catch (const std::exception &e) {
    return "rank " + std::to_string(g_session->context.world_rank) + ": " + e.what();
  }
}

std::string TrainWorker::Call(std::string service, std::string request) {
  if (!g_session) return "ethe worker was not started";
  WorkerService fn = nullptr;
  {
    std::lock_guard<std::mutex> lock(ServicesMutex());
    auto it = Services().find(service);
    if (it != Services().end()) fn = it->second;
  }
  if (!fn)
    return "eno worker service '" + service + "' in this process (is its library linked into the program?)";
  try {
    t_session = g_session;
    struct Clear {
      ~Clear() { t_session = nullptr; }
    } clear;
    return "o" + fn(request);
  } catch (const std::exception &e) {
    return "erank " + std::to_string(g_session->context.world_rank) + ": " + e.what();
  } catch (...) {
    return "erank " + std::to_string(g_session->context.world_rank) +
           ": an exception that is no std::exception";
  }
}

bool RegisterWorkerService(const std::string &name, WorkerService service) {
  std::lock_guard<std::mutex> lock(ServicesMutex());
  Services()[name] = service;
  return true;
}

int TrainWorker::Pid() { return static_cast<int>(getpid()); }

}  // namespace internal

void Report(const Json &metrics) { internal::ReportImpl(metrics, nullptr); }
void Report(const Json &metrics, const Checkpoint &checkpoint) { internal::ReportImpl(metrics, &checkpoint); }

std::optional<Checkpoint> GetCheckpoint() {
  auto &s = internal::Current("GetCheckpoint");
  if (!s.checkpoint) return std::nullopt;
  return Checkpoint::FromDirectory(*s.checkpoint);
}

TrainContext GetContext() { return internal::Current("GetContext").context; }

}  // namespace train
}  // namespace ray

RAY_REMOTE(ray::train::internal::TrainWorker::Create, &ray::train::internal::TrainWorker::Where,
           &ray::train::internal::TrainWorker::FreePort, &ray::train::internal::TrainWorker::Start,
           &ray::train::internal::TrainWorker::Run, &ray::train::internal::TrainWorker::Call,
           &ray::train::internal::TrainWorker::Pid);
