// NodeService: jobs whose driver runs on another node. A lease for a job
// this node does not know makes it ask the control service for the job
// (GET_JOB, once); the lease waits meanwhile. A job that sets a
// code_search_path gets the generic worker program, as on its driver's
// node. Otherwise the node fetches the driver's program (ProgramCache, once
// per content) and starts it with LUMEN_NODE_FORK_SERVER set: ray::Init in
// it becomes the job's fork server on this node instead of a driver, and
// the job's workers here are forks of it. What cannot be done refuses the
// job's waiting leases with the reason (an actor's creation fails with it).
// The control service's JOB_ENDED stops the fork server and the workers.

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "base/encoding.h"
#include "base/logging.h"
#include "base/settings.h"
#include "base/timeouts.h"
#include "scheduler/node_service.h"
#include "scheduler/node_service_job.h"

namespace lumen::scheduler {
namespace {

// How much of a program one GET_PROGRAM_CHUNK asks for (the control service
// answers with at most its own limit, 1 MiB).
constexpr uint32_t kProgramPiece = 1u << 20;

// Forks and execs `path` with `argv` and this process's environment plus
// `vars`, output to `<log_prefix>.out/.err`. Everything the child needs is
// built before fork: this process has threads.
StatusOr<pid_t> SpawnProgram(const std::string &path, std::vector<std::string> args,
                             const std::map<std::string, std::string> &vars, const std::string &log_prefix) {
  if (args.empty()) args.push_back(path);
  std::vector<std::string> environment;
  for (char **e = environ; *e; ++e) {
    std::string_view entry(*e);
    if (!vars.count(std::string(entry.substr(0, entry.find('='))))) environment.emplace_back(entry);
  }
  for (auto &[k, v] : vars) environment.push_back(k + "=" + v);
  std::vector<char *> argv, envp;
  for (auto &a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto &e : environment) envp.push_back(e.data());
  envp.push_back(nullptr);
  const std::string out_name = log_prefix + ".out", err_name = log_prefix + ".err";
  pid_t pid = fork();
  if (pid == 0) {
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int out = open(out_name.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int err = open(err_name.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (in >= 0) dup2(in, STDIN_FILENO);
    if (out >= 0) dup2(out, STDOUT_FILENO);
    if (err >= 0) dup2(err, STDERR_FILENO);
    // The program starts as a program would: no signal blocked (execve keeps
    // the mask of the node's thread).
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    // A backstop: the node closes its connection when it stops, which ends
    // the fork server in order; should the node die first, so does it.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execve(path.c_str(), argv.data(), envp.data());
    static constexpr char kFailed[] = "lumen_node: could not execute the job's program\n";
    (void)!write(STDERR_FILENO, kFailed, sizeof(kFailed) - 1);
    _exit(127);
  }
  if (pid < 0) return Status::IoError(std::string("fork: ") + std::strerror(errno));
  return pid;
}

}  // namespace

void NodeService::RegisterJobHandlers() {
  dispatcher_.Register(proto::JOB_ENDED, [this](const rpc::ConnectionPtr &, uint64_t, proto::JobEnded &req) {
    OnJobEnded(req.job_id());
  });
}

void NodeService::LearnJob(uint32_t job_id) {
  Job &job = JobFor(job_id);
  job.learned = true;
  job.workers.expects_fork_server = true;  // its leases wait for workers until we know more
  LUMEN_LOG_INFO("a lease for job {}, whose driver is elsewhere: asking the control service for it", job_id);
  proto::GetJobRequest req;
  req.set_job_id(job_id);
  control_->Call(proto::GET_JOB, req, [this, job_id](Status st, std::string_view body) {
    proto::GetJobReply reply;
    if (st.ok() && !rpc::ParseBody(body, &reply)) st = Status::Internal("malformed GET_JOB reply");
    OnJobLearned(job_id, st, reply);
  });
}

void NodeService::OnJobLearned(uint32_t job_id, Status st, const proto::GetJobReply &reply) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end() || !it->second->learned) return;  // ended meanwhile
  Job &job = *it->second;
  const std::string name = "job " + std::to_string(job_id);
  if (!st.ok())
    return JobCannotStart(job_id, "could not learn " + name + " from the control service: " + st.ToString());
  if (!reply.found()) return JobCannotStart(job_id, "the control service does not know " + name);
  const proto::JobInfo &info = reply.job();
  if (info.finished()) {
    JobCannotStart(job_id, name + " has finished");
    jobs_.erase(job_id);  // its leases were refused; nothing of it runs here
    return;
  }
  job.workers.ray_namespace = info.ray_namespace();
  job.workers.runtime_env = info.runtime_env();
  job.default_detached = info.default_detached();
  if (info.code_search_path_size() > 0) {
    // Workers load the job's libraries, as on the driver's node.
    job.workers.code_search_path.assign(info.code_search_path().begin(), info.code_search_path().end());
    job.workers.expects_fork_server = false;
    if (!pool_.can_exec())
      return JobCannotStart(job_id, name + " sets code_search_path, and this node has no worker program");
    TryDispatch();
    return;
  }
  if (!info.has_program() || info.program().sha256().size() != Sha256::kSize)
    return JobCannotStart(job_id,
                          name +
                              "'s driver did not ship its program to the cluster (a driver ships it when "
                              "it joins a cluster by address), and the job sets no code_search_path: its "
                              "code runs only on its driver's node");
  const proto::JobProgram program = info.program();
  job.portable = true;
  auto read = [this, sha = program.sha256()](uint64_t offset, ProgramCache::PieceCallback done) {
    if (!control_) return done(Status::Disconnected("the node has no control service connection"));
    proto::GetProgramChunkRequest req;
    req.set_sha256(sha);
    req.set_offset(offset);
    req.set_max_bytes(kProgramPiece);
    control_->Call(proto::GET_PROGRAM_CHUNK, req, [done](Status st, std::string_view body) {
      proto::ProgramChunk chunk;
      if (st.ok() && !rpc::ParseBody(body, &chunk)) st = Status::Internal("malformed program chunk");
      if (!st.ok()) return done(st);
      done(std::move(*chunk.mutable_data()));
    });
  };
  programs_.Get(program.sha256(), program.size(), std::move(read),
                [this, job_id, program](StatusOr<std::string> path) {
                  if (!path.ok())
                    return JobCannotStart(job_id, "cannot get the program of job " + std::to_string(job_id) +
                                                      ": " + path.status().message());
                  StartJobProgram(job_id, *path, program);
                });
}

void NodeService::StartJobProgram(uint32_t job_id, const std::string &path,
                                  const proto::JobProgram &program) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end() || !it->second->learned) return;  // ended while its program was fetched
  Job &job = *it->second;
  proto::ForkServerSettings settings;
  settings.set_node_socket(options_.unix_path);
  settings.set_session_dir(options_.session_dir);
  settings.set_job_id(job_id);
  settings.set_ray_namespace(job.workers.ray_namespace);
  settings.set_runtime_env(job.workers.runtime_env);
  settings.set_default_detached(job.default_detached);
  std::map<std::string, std::string> vars = {
      {kClusterTokenVariable, options_.token},
      {kNodeForkServerVariable, ToHex(settings.SerializeAsString())},
  };
  const std::string logs = options_.session_dir + "/logs/job-" + std::to_string(job_id) + "-program";
  auto pid = SpawnProgram(path, {program.argv().begin(), program.argv().end()}, vars, logs);
  if (!pid.ok())
    return JobCannotStart(
        job_id, "cannot start the program of job " + std::to_string(job_id) + ": " + pid.status().message());
  job.program_pid = *pid;
  program_pids_[*pid] = job_id;
  LUMEN_LOG_INFO("started {} (pid {}) as the fork server of job {}", path, *pid, job_id);
}

void NodeService::JobCannotStart(uint32_t job_id, const std::string &why) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return;
  LUMEN_LOG_ERROR("no worker can start here for job {}: {}", job_id, why);
  it->second->workers.cannot_start = why;
  AnswerWorkerWaiters(*it->second);
  TryDispatch();  // refuses its waiting leases, naming why
}

void NodeService::OnJobEnded(uint32_t job_id) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end() || !it->second->learned) return;  // a driver here ends it by leaving
  auto job = it->second;
  LUMEN_LOG_INFO("job {} ended; stopping its fork server and workers here", job_id);
  if (job->workers.fork_server) {
    job->workers.fork_server->Close();  // it kills its workers and exits
  } else if (job->program_pid > 0) {
    kill(job->program_pid, SIGKILL);  // still starting: it has no workers yet
  }
  KillJobWorkers(job_id);
  jobs_.erase(job_id);
  TryDispatch();
}

void NodeService::OnOtherChildExited(pid_t pid, const std::string &why) {
  auto it = program_pids_.find(pid);
  if (it == program_pids_.end()) return;
  const uint32_t job_id = it->second;
  program_pids_.erase(it);
  auto job = jobs_.find(job_id);
  if (job == jobs_.end() || job->second->program_pid != pid) return;
  job->second->program_pid = 0;
  // Once registered, its connection's end says the same (OnClientClosed).
  if (job->second->workers.fork_server || !job->second->workers.cannot_start.empty()) return;
  JobCannotStart(job_id, "the program of job " + std::to_string(job_id) + " (pid " + std::to_string(pid) +
                             ") " + why + " before it became the job's fork server (see " +
                             options_.session_dir + "/logs/job-" + std::to_string(job_id) + "-program.err)");
}

}  // namespace lumen::scheduler
