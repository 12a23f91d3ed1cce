// What `lumen start` leaves running on this machine, and how `lumen stop`,
// `lumen status`, `lumen start --address` and a driver's `address = "auto"`
// find it again. Each started session holds a record (`lumen.json`: the kind,
// the cluster address, and for each daemon its pid and start time from
// /proc, so a recycled pid is never mistaken for it); a per-user registry
// folder (`<session root>/started`) links to every started session, wherever
// its --temp-dir put it. Processes are found from these records only, never
// by name.
//
// Threading: plain functions, any thread; no state of their own.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"

namespace lumen::api {

struct HeadProcesses;

struct DaemonProcess {
  std::string name;  // "lumen_control", "lumen_node"
  int pid = -1;
  unsigned long long start_ticks = 0;  // field 22 of /proc/<pid>/stat
};

struct DaemonRecord {
  std::string session_dir;
  std::string kind;       // "head" or "node"
  std::string address;    // the cluster's control service, "host:port"
  std::string dashboard;  // a head's dashboard, "host:port" (empty: none)
  std::vector<DaemonProcess> processes;
};

/// The start time of process `pid` (field 22 of /proc/<pid>/stat), or 0 if
/// it is gone or a zombie.
unsigned long long ProcessStartTicks(int pid);

/// True while the recorded process runs: same pid, same start time.
bool DaemonRunning(const DaemonProcess &process);

/// Writes `<session>/lumen.json` for the started services and links the
/// session into this user's registry.
Status RecordDaemons(const HeadProcesses &started, const std::string &kind, const std::string &address);

/// The record in `session_dir`, or NotFound if it has none.
StatusOr<DaemonRecord> ReadDaemonRecord(const std::string &session_dir);

/// True if `session_dir` has a record and one of its processes still runs.
bool RecordedDaemonsRunning(const std::string &session_dir);

/// The sessions `lumen start` recorded (newest first); with `temp_dir`, only
/// those under it.
std::vector<std::string> StartedSessions(const std::string &temp_dir = "");

/// Stops the record's processes (the node first, which stops its workers):
/// SIGTERM, SIGKILL after kServiceStopGrace, or SIGKILL at once with `force`;
/// waits until each is gone, then removes the session's sockets, token and
/// record and its registry link (its logs stay). An error names a process
/// that would not go.
Status StopDaemons(const DaemonRecord &record, bool force);

/// "auto": the address of the newest head `lumen start` started on this
/// machine that still runs, or NotFound saying there is none.
StatusOr<std::string> LocalClusterAddress();

}  // namespace lumen::api
