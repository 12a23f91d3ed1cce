// JobManager with real child processes: a command that succeeds, one that
// fails, one that cannot start, a process group that ignores SIGTERM (and a
// child of it) stopped with SIGKILL, bad input, and the shell-like splitter.
#include "dashboard/job_manager.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

namespace lumen::dashboard {
namespace {

namespace fs = std::filesystem;

// Only a real hang reaches it.
constexpr auto kDeadline = std::chrono::seconds(60);

std::string ReadFile(const std::string &path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// True while a process of group `pgid` lives (zombies do not count: they
// only wait for whoever reaps them).
bool GroupAlive(pid_t pgid) {
  for (const auto &entry : fs::directory_iterator("/proc")) {
    if (entry.path().filename().string().find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string stat = ReadFile(entry.path().string() + "/stat");
    const size_t close = stat.rfind(')');
    if (close == std::string::npos || close + 4 >= stat.size()) continue;
    char state = 0;
    int ppid = 0, pgrp = 0;
    if (std::sscanf(stat.c_str() + close + 2, "%c %d %d", &state, &ppid, &pgrp) == 3 && pgrp == pgid &&
        state != 'Z')
      return true;
  }
  return false;
}

template <class F>
bool PollUntil(F done) {
  const auto until = std::chrono::steady_clock::now() + kDeadline;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

class JobManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ljm-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ + "/logs");
    fs::create_directories(dir_ + "/work");
    JobManagerOptions options;
    options.logs_dir = dir_ + "/logs";
    options.default_working_dir = dir_;
    options.cluster_address = "127.0.0.1:6379";
    options.token = "cafe";
    options.stop_grace = std::chrono::milliseconds(300);
    options.max_finished_jobs = 3;
    jobs_ = std::make_unique<JobManager>(options);
  }
  void TearDown() override {
    jobs_.reset();
    fs::remove_all(dir_);
  }

  JobRequest Command(std::vector<std::string> argv) {
    JobRequest request;
    request.argv = std::move(argv);
    request.submitter = "127.0.0.1:5555";
    return request;
  }

  JobInfo Finished(const std::string &id) {
    auto job = jobs_->Wait(id, kDeadline);
    EXPECT_TRUE(job.ok()) << job.status().ToString();
    EXPECT_TRUE(IsTerminal(job->status)) << JobStatusName(job->status);
    return *job;
  }

  std::string dir_;
  std::unique_ptr<JobManager> jobs_;
};

TEST_F(JobManagerTest, ASucceedingCommandRunsInItsFolderWithTheClustersAddressAndItsOutputLogged) {
  JobRequest request = Command({"sh", "-c",
                                "pwd; echo \"$RAY_ADDRESS $LUMEN_CLUSTER_TOKEN $GREETING\"; "
                                "echo to-stderr >&2"});
  request.working_dir = dir_ + "/work";
  request.env_vars = {{"GREETING", "hello there"}};
  request.metadata = {{"owner", "me"}};
  request.submission_id = "my-job.1";
  auto id = jobs_->Submit(request);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(*id, "my-job.1");
  const JobInfo job = Finished(*id);
  EXPECT_EQ(job.status, JobStatus::kSucceeded) << job.message;
  ASSERT_TRUE(job.driver_exit_code.has_value());
  EXPECT_EQ(*job.driver_exit_code, 0);
  EXPECT_GT(job.pid, 0);
  EXPECT_GE(job.end_time_ms, job.start_time_ms);
  EXPECT_EQ(job.submitter, "127.0.0.1:5555");
  EXPECT_EQ(job.metadata.at("owner"), "me");
  EXPECT_EQ(job.log_path, dir_ + "/logs/job-driver-my-job.1.log");
  const std::string log = ReadFile(job.log_path);
  EXPECT_NE(log.find(fs::canonical(dir_ + "/work").string() + "\n"), std::string::npos) << log;
  EXPECT_NE(log.find("127.0.0.1:6379 cafe hello there\n"), std::string::npos) << log;
  EXPECT_NE(log.find("to-stderr\n"), std::string::npos) << log;
  EXPECT_EQ(job.entrypoint,
            "sh -c 'pwd; echo \"$RAY_ADDRESS $LUMEN_CLUSTER_TOKEN $GREETING\"; echo to-stderr >&2'");
}

TEST_F(JobManagerTest, AFailingCommandIsFailedWithItsExitCode) {
  auto id = jobs_->Submit(Command({"sh", "-c", "echo about to fail; exit 7"}));
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(id->rfind("raysubmit_", 0), 0u) << *id;
  EXPECT_EQ(id->size(), 26u) << *id;
  const JobInfo job = Finished(*id);
  EXPECT_EQ(job.status, JobStatus::kFailed);
  EXPECT_EQ(job.driver_exit_code.value_or(-1), 7);
  EXPECT_NE(job.message.find("exit code 7, last available logs"), std::string::npos) << job.message;
  EXPECT_NE(job.message.find("\nabout to fail\n"), std::string::npos) << job.message;
  EXPECT_NE(ReadFile(job.log_path).find("about to fail"), std::string::npos);
}

TEST_F(JobManagerTest, ACommandKilledByASignalIsFailed) {
  auto id = jobs_->Submit(Command({"sh", "-c", "kill -9 $$"}));
  ASSERT_TRUE(id.ok());
  const JobInfo job = Finished(*id);
  EXPECT_EQ(job.status, JobStatus::kFailed);
  EXPECT_EQ(job.driver_exit_code.value_or(0), -9);
  EXPECT_NE(job.message.find("signal 9"), std::string::npos) << job.message;
}

TEST_F(JobManagerTest, ACommandThatCannotStartIsFailedWithTheReason) {
  auto missing = jobs_->Submit(Command({"no-such-program-lumen"}));
  ASSERT_TRUE(missing.ok());
  JobInfo job = Finished(*missing);
  EXPECT_EQ(job.status, JobStatus::kFailed);
  EXPECT_EQ(job.pid, 0);
  EXPECT_FALSE(job.driver_exit_code.has_value());
  EXPECT_NE(job.message.find("'no-such-program-lumen' not found in PATH"), std::string::npos) << job.message;

  // A path that is not executable: execve itself refuses it.
  std::ofstream(dir_ + "/work/plain.txt") << "not a program\n";
  auto refused = jobs_->Submit(Command({dir_ + "/work/plain.txt"}));
  ASSERT_TRUE(refused.ok());
  job = Finished(*refused);
  EXPECT_EQ(job.status, JobStatus::kFailed);
  EXPECT_NE(job.message.find("Permission denied"), std::string::npos) << job.message;
}

TEST_F(JobManagerTest, StopKillsAProcessGroupThatIgnoresSigterm) {
  // The shell and its child both ignore SIGTERM (an ignored signal stays
  // ignored across exec): only the SIGKILL after the grace ends them.
  auto id = jobs_->Submit(Command({"sh", "-c", "trap '' TERM; sleep 1000 & echo started; wait; wait"}));
  ASSERT_TRUE(id.ok());
  const std::string log = dir_ + "/logs/job-driver-" + *id + ".log";
  ASSERT_TRUE(PollUntil([&] { return ReadFile(log).find("started") != std::string::npos; }));
  auto running = jobs_->Get(*id);
  ASSERT_TRUE(running.ok());
  EXPECT_EQ(running->status, JobStatus::kRunning);
  const pid_t pgid = running->pid;
  EXPECT_TRUE(GroupAlive(pgid));

  auto stopped = jobs_->Stop(*id);
  ASSERT_TRUE(stopped.ok());
  EXPECT_TRUE(*stopped);
  const JobInfo job = Finished(*id);
  EXPECT_EQ(job.status, JobStatus::kStopped);
  EXPECT_EQ(job.driver_exit_code.value_or(0), -SIGKILL);
  EXPECT_EQ(job.message, "Job was intentionally stopped.");
  EXPECT_TRUE(PollUntil([&] { return !GroupAlive(pgid); }));
  // Stopping what has ended says so.
  auto again = jobs_->Stop(*id);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
}

TEST_F(JobManagerTest, StopEndsAJobThatExitsOnSigterm) {
  auto id = jobs_->Submit(Command({"sleep", "1000"}));
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(jobs_->Stop(*id).ok());
  const JobInfo job = Finished(*id);
  EXPECT_EQ(job.status, JobStatus::kStopped);
  EXPECT_EQ(job.driver_exit_code.value_or(0), -SIGTERM);
}

TEST_F(JobManagerTest, BadRequestsAreRefused) {
  EXPECT_EQ(jobs_->Submit(Command({})).status().code(), StatusCode::kInvalidArgument);
  JobRequest bad_id = Command({"true"});
  bad_id.submission_id = "../../etc/passwd";
  EXPECT_EQ(jobs_->Submit(bad_id).status().code(), StatusCode::kInvalidArgument);
  JobRequest relative = Command({"true"});
  relative.working_dir = "work";
  EXPECT_EQ(jobs_->Submit(relative).status().code(), StatusCode::kInvalidArgument);
  JobRequest missing_dir = Command({"true"});
  missing_dir.working_dir = dir_ + "/nowhere";
  EXPECT_EQ(jobs_->Submit(missing_dir).status().code(), StatusCode::kInvalidArgument);
  JobRequest bad_env = Command({"true"});
  bad_env.env_vars = {{"A=B", "c"}};
  EXPECT_EQ(jobs_->Submit(bad_env).status().code(), StatusCode::kInvalidArgument);

  JobRequest first = Command({"true"});
  first.submission_id = "once";
  ASSERT_TRUE(jobs_->Submit(first).ok());
  EXPECT_EQ(jobs_->Submit(first).status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(jobs_->Get("never").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(jobs_->Stop("never").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(jobs_->Delete("never").code(), StatusCode::kNotFound);
}

TEST_F(JobManagerTest, OnlyEndedJobsAreDeletedAndTheOldestFinishedAreForgotten) {
  auto running = jobs_->Submit(Command({"sleep", "1000"}));
  ASSERT_TRUE(running.ok());
  EXPECT_EQ(jobs_->Delete(*running).code(), StatusCode::kInvalidArgument);
  std::vector<std::string> done;
  for (int i = 0; i < 5; ++i) {
    auto id = jobs_->Submit(Command({"true"}));
    ASSERT_TRUE(id.ok());
    Finished(*id);
    done.push_back(*id);
  }
  // Three finished ones are kept (the options' bound), the running one too.
  // The bound is applied at a submission: the last one was finished after it.
  ASSERT_TRUE(jobs_->Submit(Command({"true"})).ok());
  auto kept = jobs_->List();
  EXPECT_LE(kept.size(), 5u);
  EXPECT_EQ(kept.front().submission_id, *running);
  EXPECT_EQ(jobs_->Get(done[0]).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(jobs_->Get(done[4]).ok());
  ASSERT_TRUE(jobs_->Delete(done[4]).ok());
  EXPECT_EQ(jobs_->Get(done[4]).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(fs::exists(dir_ + "/logs/job-driver-" + done[4] + ".log"));  // its log stays
}

TEST_F(JobManagerTest, ShutdownStopsRunningJobsAndRefusesNewOnes) {
  auto id = jobs_->Submit(Command({"sh", "-c", "trap '' TERM; echo up; while :; do sleep 1; done"}));
  ASSERT_TRUE(id.ok());
  const std::string log = dir_ + "/logs/job-driver-" + *id + ".log";
  ASSERT_TRUE(PollUntil([&] { return ReadFile(log).find("up") != std::string::npos; }));
  const pid_t pgid = jobs_->Get(*id)->pid;
  jobs_->Shutdown();
  EXPECT_EQ(jobs_->Get(*id)->status, JobStatus::kStopped);
  EXPECT_TRUE(PollUntil([&] { return !GroupAlive(pgid); }));
  EXPECT_EQ(jobs_->Submit(Command({"true"})).status().code(), StatusCode::kCancelled);
}

TEST(SplitCommandLineTest, SplitsAsAShellWithoutExpandingAnything) {
  auto words = SplitCommandLine(R"(  ./driver --n=3 'a b' "c \"d\" $HOME" e\ f | g;h > out  )");
  ASSERT_TRUE(words.ok());
  EXPECT_EQ(*words, (std::vector<std::string>{"./driver", "--n=3", "a b", "c \"d\" $HOME", "e f", "|", "g;h",
                                              ">", "out"}));
  auto empty_words = SplitCommandLine("x''y \"\"");
  ASSERT_TRUE(empty_words.ok());
  EXPECT_EQ(*empty_words, (std::vector<std::string>{"xy", ""}));
  EXPECT_FALSE(SplitCommandLine("echo 'open").ok());
  EXPECT_FALSE(SplitCommandLine("echo \"open").ok());
  EXPECT_FALSE(SplitCommandLine("   ").ok());
  EXPECT_FALSE(SplitCommandLine("trailing\\").ok());
}

TEST(SplitCommandLineTest, JoinIsSplitBack) {
  const std::vector<std::string> argv{"prog", "two words", "it's", "", "$X", "plain-1.0=ok"};
  auto back = SplitCommandLine(JoinCommandLine(argv));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, argv);
}

TEST(SubmissionIdTest, OnlyFileNameSafeIds) {
  EXPECT_TRUE(ValidSubmissionId("raysubmit_ABCdef0123456789"));
  EXPECT_TRUE(ValidSubmissionId("a.b-c_d"));
  for (const char *bad : {"", ".", "..", "a/b", "a b", "x\n"}) EXPECT_FALSE(ValidSubmissionId(bad)) << bad;
  EXPECT_FALSE(ValidSubmissionId(std::string(129, 'a')));
}

}  // namespace
}  // namespace lumen::dashboard
