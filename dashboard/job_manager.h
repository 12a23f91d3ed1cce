// Submitted jobs (Ray's Job Submission API, its JobManager role): each job is
// a command run on the head by the dashboard process, straight from an argv
// with execve (no shell ever sees a user's string), in a process group of its
// own, with its working directory, the cluster's address and token in its
// environment (so a driver's ray::Init() joins this cluster), and its stdout
// and stderr in <logs>/job-driver-<submission_id>.log. Stopping a job sends
// SIGTERM to its whole process group and SIGKILL to what is left of the group
// after a grace period. Each submission is recorded with when and from where.
//
// Threading: every method may be called from any thread (the dashboard's
// request threads). Jobs are forked on a launcher thread of the manager's,
// which lives until every job has ended: a job's first process gets SIGKILL
// when the thread that forked it exits (PR_SET_PDEATHSIG, so that a
// dashboard killed outright takes its jobs with it), and a request thread may
// exit before a graceful stop. Each running job has a thread of its own that
// waits for its process; a stop has another that escalates to SIGKILL. The
// destructor stops every job still running (SIGTERM, then SIGKILL) and joins
// every thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"

namespace lumen::dashboard {

enum class JobStatus { kPending, kRunning, kStopped, kSucceeded, kFailed };

/// "PENDING", "RUNNING", "STOPPED", "SUCCEEDED", "FAILED" (Ray's names).
const char *JobStatusName(JobStatus status);
bool IsTerminal(JobStatus status);

/// What a submission asks for, already parsed (job_routes.cc parses Ray's
/// JSON body into it).
struct JobRequest {
  std::vector<std::string> argv;  // the command; argv[0] looked up in PATH unless it holds a '/'
  std::string entrypoint;         // as the submitter wrote it (shown, never run)
  std::string submission_id;      // empty: a fresh "raysubmit_<16 characters>"
  std::string working_dir;        // absolute; empty: the manager's default
  std::map<std::string, std::string> env_vars;
  std::map<std::string, std::string> metadata;
  std::string runtime_env_json;  // as given, echoed back by the API ("{}" if none)
  std::string submitter;         // where the request came from ("ip:port")
};

/// One job as the API shows it.
struct JobInfo {
  std::string submission_id;
  std::string entrypoint;
  std::vector<std::string> argv;
  JobStatus status = JobStatus::kPending;
  std::string message;
  int64_t submission_time_ms = 0;  // when it was submitted (Unix ms)
  int64_t start_time_ms = 0;       // when its process started; 0: never
  int64_t end_time_ms = 0;         // when it ended; 0: not yet
  std::optional<int> driver_exit_code;
  pid_t pid = 0;  // its process (and process group); 0: never started
  std::string working_dir;
  std::map<std::string, std::string> metadata;
  std::string runtime_env_json;
  std::string submitter;
  std::string log_path;
  // The cluster job its driver registered (found by the driver's process,
  // job_routes.cc), once known: Ray's job_id and driver_info.
  std::string driver_job_id;  // hex; empty: none seen yet
  int driver_pid = 0;
};

struct JobManagerOptions {
  std::string logs_dir;  // where job-driver-<id>.log files go
  std::string default_working_dir;
  std::string cluster_address;                 // RAY_ADDRESS for the job ("host:port")
  std::string token;                           // LUMEN_CLUSTER_TOKEN for the job
  std::chrono::milliseconds stop_grace{3000};  // SIGTERM to SIGKILL (Ray's 3 s)
  size_t max_finished_jobs = 1000;             // the oldest finished ones beyond this are forgotten
};

class JobManager {
 public:
  explicit JobManager(JobManagerOptions options);
  ~JobManager();
  JobManager(const JobManager &) = delete;
  JobManager &operator=(const JobManager &) = delete;

  /// Starts the job; its submission id. InvalidArgument for a bad request,
  /// AlreadyExists for a submission id in use. A command that cannot be
  /// started (not found, not executable) is accepted and ends FAILED, as Ray's
  /// does, with the reason as its message.
  StatusOr<std::string> Submit(JobRequest request);

  /// NotFound for an unknown id.
  StatusOr<JobInfo> Get(const std::string &submission_id) const;
  /// Every job, oldest submission first.
  std::vector<JobInfo> List() const;
  /// True if the job was running or pending and is now being stopped; false
  /// if it had already ended. NotFound for an unknown id.
  StatusOr<bool> Stop(const std::string &submission_id);
  /// Forgets a job that has ended (its log file stays). InvalidArgument if it
  /// still runs, NotFound for an unknown id.
  Status Delete(const std::string &submission_id);
  /// Records that the job's driver registered cluster job `job_id_hex` from
  /// process `driver_pid`; the first one recorded stays.
  void NoteDriver(const std::string &submission_id, const std::string &job_id_hex, int driver_pid);
  /// Blocks until the job has ended or `timeout` passed; the job as it then is.
  StatusOr<JobInfo> Wait(const std::string &submission_id, std::chrono::milliseconds timeout) const;

  /// Stops every running job (the destructor does it too) and refuses new
  /// ones; returns once all have ended. Idempotent.
  void Shutdown();

 private:
  struct Job {
    JobInfo info;
    bool stop_requested = false;
    bool killed = false;                  // the stop's escalation is over (its SIGKILL sent if one was due)
    std::unique_ptr<JobRequest> request;  // until the launcher has started it
    bool launched = false;
    // Neither thread touches the job after it is terminal, so a terminal
    // job's threads can be joined with mu_ held.
    std::thread waiter;  // waits for the process; sets the terminal status
    std::thread killer;  // after a Stop: SIGKILL once the grace has passed
  };

  /// Joins a terminal job's threads and forgets it.
  void Erase(const std::string &submission_id) REQUIRES(mu_);

  /// The launcher thread: launches the submitted jobs, in turn.
  void LaunchLoop();
  /// Forks and execs the job's process; fills `job.info` with the outcome.
  void Launch(Job &job, const JobRequest &request) REQUIRES(mu_);
  void WaitForExit(const std::string &submission_id, pid_t pid);
  /// SIGTERM to the group; SIGKILL to what remains of it after the grace.
  void Escalate(const std::string &submission_id, pid_t pgid);
  /// Marks the job stopping and starts its escalation; false if it had ended.
  bool StopLocked(Job &job) REQUIRES(mu_);
  void ForgetOldFinished() REQUIRES(mu_);

  const JobManagerOptions options_;
  mutable Mutex mu_;
  mutable std::condition_variable changed_;  // a job's status changed, or shutting down
  bool shutting_down_ GUARDED_BY(mu_) = false;
  std::map<std::string, std::unique_ptr<Job>> jobs_ GUARDED_BY(mu_);
  std::vector<std::string> order_ GUARDED_BY(mu_);  // submission order
  std::vector<Job *> to_launch_ GUARDED_BY(mu_);    // submitted, for the launcher
  bool launcher_done_ GUARDED_BY(mu_) = false;      // every job has ended: the launcher returns
  std::thread launcher_;
};

/// Splits an entrypoint string into an argv the way a POSIX shell splits
/// words (blanks; single quotes; double quotes with \" \\ \$ \` escapes;
/// backslash escapes), with no expansion of any kind and no operators: `|`,
/// `;`, `>` and `$HOME` are plain characters. InvalidArgument for an
/// unterminated quote or an empty command.
StatusOr<std::vector<std::string>> SplitCommandLine(const std::string &text);

/// The argv as one line a shell would split back into it (for display).
std::string JoinCommandLine(const std::vector<std::string> &argv);

/// True if `id` may name a job: 1 to 128 of [A-Za-z0-9_.-], not "." or ".."
/// (it becomes part of a file name).
bool ValidSubmissionId(const std::string &id);

}  // namespace lumen::dashboard
