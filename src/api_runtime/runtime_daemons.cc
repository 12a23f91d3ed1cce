#include "api_runtime/runtime_daemons.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "api_runtime/runtime_head.h"
#include "base/timeouts.h"

namespace lumen::api {
namespace fs = std::filesystem;

namespace {

constexpr char kRecordFile[] = "lumen.json";

// Where the registry of started sessions lives: beside the default sessions
// of this user's (LUMEN_TMPDIR when set, so tests keep theirs apart).
StatusOr<fs::path> RegistryDir() {
  auto root = SessionRootFor(/*embedded=*/false, "");
  if (!root.ok()) return root.status();
  fs::path dir = fs::path(*root) / "started";
  std::error_code ec;
  fs::create_directory(dir, ec);
  if (ec) return Status::IoError("cannot create " + dir.string() + ": " + ec.message());
  return dir;
}

// Waits until none of `processes` runs; false at the deadline.
bool WaitGone(const std::vector<DaemonProcess> &processes, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (std::none_of(processes.begin(), processes.end(), DaemonRunning)) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace

unsigned long long ProcessStartTicks(int pid) {
  if (pid <= 0) return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // "pid (comm) state ppid ..."; comm may hold spaces and parentheses.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::string state, field;
  fields >> state;
  if (state == "Z" || state == "X") return 0;  // exited; its parent has not reaped it yet
  for (int i = 4; i < 22 && fields >> field; ++i) {
  }
  unsigned long long ticks = 0;
  fields >> ticks;
  return ticks;
}

bool DaemonRunning(const DaemonProcess &process) {
  return process.start_ticks != 0 && ProcessStartTicks(process.pid) == process.start_ticks;
}

Status RecordDaemons(const HeadProcesses &started, const std::string &kind, const std::string &address) {
  nlohmann::json record{{"kind", kind}, {"address", address}, {"processes", nlohmann::json::array()}};
  if (!started.dashboard_address.empty()) record["dashboard"] = started.dashboard_address;
  // The node first: stopping it first stops its workers before the control service goes.
  for (auto [name, pid] : {std::pair{"lumen_node", started.node_pid},
                           {"lumen_dashboard", started.dashboard_pid},
                           {"lumen_control", started.control_pid}}) {
    if (pid <= 0) continue;
    record["processes"].push_back({{"name", name}, {"pid", pid}, {"start_ticks", ProcessStartTicks(pid)}});
  }
  const fs::path session = started.session_dir;
  const fs::path tmp = session / (std::string(kRecordFile) + ".tmp");
  {
    std::ofstream out(tmp);
    out << record.dump(2) << "\n";
    if (!out) return Status::IoError("cannot write " + tmp.string());
  }
  std::error_code ec;
  fs::rename(tmp, session / kRecordFile, ec);
  if (ec) return Status::IoError("cannot write " + (session / kRecordFile).string() + ": " + ec.message());
  auto registry = RegistryDir();
  if (!registry.ok()) return registry.status();
  fs::create_directory_symlink(fs::absolute(session), *registry / session.filename(), ec);
  if (ec) return Status::IoError("cannot record the session in " + registry->string() + ": " + ec.message());
  return Status::OK();
}

StatusOr<DaemonRecord> ReadDaemonRecord(const std::string &session_dir) {
  std::ifstream in(fs::path(session_dir) / kRecordFile);
  if (!in) return Status::NotFound("no record of started services in " + session_dir);
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::IoError("unreadable record in " + session_dir);
  DaemonRecord record;
  record.session_dir = session_dir;
  record.kind = j.value("kind", "");
  record.address = j.value("address", "");
  record.dashboard = j.value("dashboard", "");
  for (auto &p : j.value("processes", nlohmann::json::array())) {
    DaemonProcess process;
    process.name = p.value("name", "");
    process.pid = p.value("pid", -1);
    process.start_ticks = p.value("start_ticks", 0ull);
    record.processes.push_back(process);
  }
  return record;
}

bool RecordedDaemonsRunning(const std::string &session_dir) {
  auto record = ReadDaemonRecord(session_dir);
  return record.ok() && std::any_of(record->processes.begin(), record->processes.end(), DaemonRunning);
}

std::vector<std::string> StartedSessions(const std::string &temp_dir) {
  std::vector<std::string> sessions;
  auto registry = RegistryDir();
  if (!registry.ok()) return sessions;
  std::error_code ec;
  const fs::path under = temp_dir.empty() ? fs::path() : fs::weakly_canonical(temp_dir, ec);
  for (auto it = fs::directory_iterator(*registry, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    std::error_code link_ec;
    const fs::path target = fs::read_symlink(it->path(), link_ec);
    if (link_ec) continue;
    if (!fs::exists(target / kRecordFile, link_ec)) {  // stopped by hand or removed: forget it
      fs::remove(it->path(), link_ec);
      continue;
    }
    if (!temp_dir.empty() && fs::weakly_canonical(target.parent_path(), link_ec) != under) continue;
    sessions.push_back(target.string());
  }
  // Names start with the start time; compare the names, not the folders.
  std::sort(sessions.begin(), sessions.end(), [](const std::string &a, const std::string &b) {
    return fs::path(a).filename() > fs::path(b).filename();
  });
  return sessions;
}

Status StopDaemons(const DaemonRecord &record, bool force) {
  for (const DaemonProcess &process : record.processes) {  // in order: node first
    if (!DaemonRunning(process)) continue;
    kill(process.pid, force ? SIGKILL : SIGTERM);
    if (!WaitGone({process}, force ? kDaemonGoneTimeout : kServiceStopGrace)) {
      kill(process.pid, SIGKILL);
      if (!WaitGone({process}, kDaemonGoneTimeout))
        return Status::IoError(process.name + " (pid " + std::to_string(process.pid) +
                               ") is still running after SIGKILL");
    }
  }
  std::error_code ec;
  const fs::path session = record.session_dir;
  fs::remove_all(session / "sockets", ec);
  for (const char *file : {"token", "node.ready", "control.port", kRecordFile})
    fs::remove(session / file, ec);
  if (auto registry = RegistryDir(); registry.ok()) fs::remove(*registry / session.filename(), ec);
  const fs::path latest = session.parent_path() / "session_latest";
  if (fs::read_symlink(latest, ec) == session) fs::remove(latest, ec);
  return Status::OK();
}

StatusOr<std::string> LocalClusterAddress() {
  for (const std::string &session : StartedSessions()) {
    auto record = ReadDaemonRecord(session);
    if (!record.ok() || record->kind != "head" || !RecordedDaemonsRunning(session)) continue;
    return record->address;
  }
  return Status::NotFound(
      "no cluster started with `lumen start --head` runs on this machine (address \"auto\"); start one, "
      "or give the cluster's address");
}

}  // namespace lumen::api
