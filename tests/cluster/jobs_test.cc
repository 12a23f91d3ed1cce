// Submitted jobs and log files, with real processes: a head started with
// the built `lumen start` (its dashboard on a free port), then `lumen job
// submit` of a C++ driver (cli_driver) that joins the cluster from the
// address and token the job is given and runs a task there: SUCCEEDED, its
// output in the job's log; a driver that fails: FAILED with its exit code;
// a long one (its tasks holding the cluster) stopped: STOPPED and its
// process group gone; a job's log followed until it ends. `lumen logs`,
// `lumen timeline` and `lumen memory` show what a job (events_driver) did,
// and every bad input is one line on stderr with its exit code.
#include <gtest/gtest.h>
#include <httplib.h>

#include <signal.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "lumen_cli_test_util.h"

namespace {
namespace fs = std::filesystem;
using lumen::testing::PollUntil;
using lumen::testing::ReadFile;
using lumen::testing::Result;
using Json = nlohmann::json;

size_t Lines(const std::string &text) {
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

// True while a live (not zombie) process is in group `pgid`.
bool GroupAlive(int pgid) {
  for (const auto &entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string stat = ReadFile(entry.path() / "stat");
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    char state = 0;
    int ppid = 0, pgrp = 0;
    if (std::sscanf(stat.c_str() + close + 1, " %c %d %d", &state, &ppid, &pgrp) == 3 && pgrp == pgid &&
        state != 'Z')
      return true;
  }
  return false;
}

class JobsTest : public lumen::testing::CliClusterTest {
 protected:
  JobsTest() : CliClusterTest("ljb") {}

  void SetUp() override {
    CliClusterTest::SetUp();
    Result started = Run(LUMEN_CLI, {"start", "--head", "--port=0", "--num-cpus=2", "--dashboard-port=0",
                                     "--object-store-memory=100000000", "--temp-dir=" + root_ + "/head"});
    ASSERT_EQ(started.rc, 0) << started.err;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(started.out, m, std::regex("Cluster address: (\\S+)"))) << started.out;
    address_ = m[1].str();
    session_ = fs::canonical(fs::path(root_) / "head" / "session_latest");
    token_ = ReadFile(session_ / "token");
    Json record = Json::parse(ReadFile(session_ / "lumen.json"), nullptr, false);
    ASSERT_TRUE(record.is_object());
    dashboard_ = record.value("dashboard", "");
    ASSERT_FALSE(dashboard_.empty());
  }

  // `lumen VERB... ARGS` with --address right after the verb (not after a `--`).
  Result Lumen(std::vector<std::string> args) {
    args.insert(args.begin() + (args[0] == "job" ? 2 : 1), "--address=" + address_);
    return Run(LUMEN_CLI, args);
  }

  Json Api(const std::string &path) {
    const size_t colon = dashboard_.rfind(':');
    httplib::Client client(dashboard_.substr(0, colon), std::stoi(dashboard_.substr(colon + 1)));
    auto res = client.Get(path.c_str(), {{"Authorization", "Bearer " + token_}});
    if (!res || res->status != 200) return Json();
    return Json::parse(res->body, nullptr, false);
  }

  std::string Status(const std::string &id) {
    Json job = Api("/api/jobs/" + id);
    return job.is_object() ? job.value("status", "") : "";
  }

  // A failed command: exit code `rc`, one line on stderr containing `text`.
  static void ExpectOneLineError(const Result &r, int rc, const std::string &text) {
    EXPECT_EQ(r.rc, rc) << r.out << r.err;
    EXPECT_EQ(Lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find(text), std::string::npos) << r.err;
  }

  std::string address_, token_, dashboard_;
  fs::path session_;
};

TEST_F(JobsTest, ASubmittedDriverRunsTasksOnTheClusterAndSucceeds) {
  Result submitted = Lumen({"job", "submit", "--submission-id=driver-ok", "--", LUMEN_CLI_DRIVER});
  EXPECT_EQ(submitted.rc, 0) << submitted.out << submitted.err;
  EXPECT_NE(submitted.out.find("Job 'driver-ok' submitted successfully"), std::string::npos) << submitted.out;
  EXPECT_NE(submitted.out.find("RESULT 49"), std::string::npos) << submitted.out;  // the log, tailed
  EXPECT_NE(submitted.out.find("Job 'driver-ok' succeeded"), std::string::npos) << submitted.out;

  Result status = Lumen({"job", "status", "driver-ok"});
  EXPECT_EQ(status.rc, 0) << status.err;
  EXPECT_NE(status.out.find("Status for job 'driver-ok': SUCCEEDED"), std::string::npos) << status.out;
  EXPECT_NE(ReadFile(session_ / "logs" / "job-driver-driver-ok.log").find("RESULT 49"), std::string::npos);
  Result logs = Lumen({"job", "logs", "driver-ok"});
  EXPECT_EQ(logs.rc, 0) << logs.err;
  EXPECT_NE(logs.out.find("RESULT 49"), std::string::npos) << logs.out;

  Json job = Api("/api/jobs/driver-ok");
  EXPECT_EQ(job["driver_exit_code"], 0) << job.dump();
  EXPECT_EQ(job["entrypoint_argv"], Json::array({LUMEN_CLI_DRIVER})) << job.dump();
  EXPECT_EQ(job["submitter_address"].get<std::string>().rfind("127.0.0.1:", 0), 0u) << job.dump();
  // Its driver was a job of the cluster's, which ran its task.
  EXPECT_EQ(job["job_id"], "01000000") << job.dump();
  EXPECT_EQ(job["driver_info"]["pid"], std::to_string(job["driver_pid"].get<int>())) << job.dump();
  EXPECT_TRUE(PollUntil([&] {
    Json tasks =
        Api("/api/v0/tasks?filter_keys=func_or_class_name&filter_predicates=%3D&filter_values=Square");
    return tasks.is_object() && tasks["data"]["result"]["num_filtered"] == 1;
  }));
  // The state API's jobs: its driver's row is the submission's.
  Result state = Lumen({"list", "jobs", "--filter", "type=SUBMISSION", "--format", "json"});
  EXPECT_EQ(state.rc, 0) << state.err;
  Json rows = Json::parse(state.out, nullptr, false);
  ASSERT_TRUE(rows.is_array() && rows.size() == 1) << state.out;
  EXPECT_EQ(rows[0]["submission_id"], "driver-ok") << state.out;
  EXPECT_EQ(rows[0]["job_id"], "01000000") << state.out;
  EXPECT_EQ(rows[0]["status"], "SUCCEEDED") << state.out;
  Result list = Lumen({"job", "list"});
  EXPECT_EQ(list.rc, 0) << list.err;
  EXPECT_TRUE(std::regex_search(list.out, std::regex("driver-ok\\s+SUCCEEDED"))) << list.out;
}

TEST_F(JobsTest, AFailingDriverFailsWithItsExitCode) {
  const std::string work = root_ + "/work";
  fs::create_directories(work);
  // The driver is given no cluster it can join: it fails, and says why.
  Result submitted = Lumen({"job", "submit", "--submission-id=driver-bad", "--working-dir=" + work,
                            "--runtime-env-json={\"env_vars\": {\"RAY_ADDRESS\": \"not-an-address\"}}", "--",
                            LUMEN_CLI_DRIVER});
  EXPECT_EQ(submitted.rc, 1) << submitted.out << submitted.err;
  EXPECT_NE(submitted.out.find("Job 'driver-bad' failed"), std::string::npos) << submitted.out;
  EXPECT_NE(submitted.out.find("exit code 1"), std::string::npos) << submitted.out;
  EXPECT_NE(submitted.out.find("not-an-address"), std::string::npos) << submitted.out;
  Json job = Api("/api/jobs/driver-bad");
  EXPECT_EQ(job["status"], "FAILED") << job.dump();
  EXPECT_EQ(job["driver_exit_code"], 1) << job.dump();
  // The folder traveled as a package; the job ran in the head's copy of it.
  EXPECT_EQ(job["runtime_env"].value("working_dir", "").rfind("gcs://_ray_pkg_", 0), 0u) << job.dump();
  EXPECT_EQ(fs::canonical(job.value("working_dir", "")).parent_path(),
            fs::canonical(session_ / "runtime_resources" / "working_dir_files"))
      << job.dump();
}

TEST_F(JobsTest, AWorkingDirIsUploadedOnceAndItsJobsRunInTheHeadsCopy) {
  const fs::path work = fs::path(root_) / "project";
  fs::create_directories(work / "conf");
  std::ofstream(work / "conf" / "settings.txt") << "alpha=1\n";
  std::ofstream(work / "run.sh") << "#!/bin/sh\ncat conf/settings.txt\nls\n";
  fs::permissions(work / "run.sh", fs::perms::owner_all, fs::perm_options::add);
  std::ofstream(work / "secret.key") << "not for the head\n";
  const std::string env = "--runtime-env-json={\"excludes\": [\"*.key\"]}";
  Result first = Lumen(
      {"job", "submit", "--submission-id=pkg-1", "--working-dir=" + work.string(), env, "--", "./run.sh"});
  EXPECT_EQ(first.rc, 0) << first.out << first.err;
  EXPECT_NE(first.out.find("Uploading package gcs://_ray_pkg_"), std::string::npos) << first.out;
  EXPECT_NE(first.out.find("alpha=1"), std::string::npos)
      << first.out;                                                     // run.sh ran, executable, in the copy
  EXPECT_NE(first.out.find("run.sh"), std::string::npos) << first.out;  // from its `ls`
  EXPECT_EQ(first.out.find("secret.key"), std::string::npos) << first.out;
  Json job = Api("/api/jobs/pkg-1");
  const std::string uri = job["runtime_env"].value("working_dir", "");
  ASSERT_EQ(uri.rfind("gcs://_ray_pkg_", 0), 0u) << job.dump();
  const std::string copy = job.value("working_dir", "");
  EXPECT_EQ(fs::canonical(copy).parent_path(),
            fs::canonical(session_ / "runtime_resources" / "working_dir_files"));
  EXPECT_FALSE(fs::exists(fs::path(copy) / "secret.key"));

  // The same folder again, its runtime_env from a YAML file (Ray's
  // --runtime-env): the head has the package, nothing is uploaded, and the job
  // runs in the same copy.
  const std::string yaml = root_ + "/runtime_env.yaml";
  std::ofstream(yaml) << "working_dir: " << work.string()
                      << "\nexcludes:\n  - \"*.key\"\nenv_vars:\n  LEVEL: 3\n";
  Result second =
      Lumen({"job", "submit", "--submission-id=pkg-2", "--runtime-env=" + yaml, "--", "./run.sh"});
  EXPECT_EQ(second.rc, 0) << second.out << second.err;
  EXPECT_NE(second.out.find("is on the head already"), std::string::npos) << second.out;
  Json second_job = Api("/api/jobs/pkg-2");
  EXPECT_EQ(second_job.value("working_dir", ""), copy);
  EXPECT_EQ(second_job["runtime_env"]["env_vars"]["LEVEL"], "3") << second_job.dump();

  // The package API needs the token, and takes package names only.
  const size_t colon = dashboard_.rfind(':');
  httplib::Client client(dashboard_.substr(0, colon), std::stoi(dashboard_.substr(colon + 1)));
  const std::string path = "/api/packages/gcs/" + uri.substr(6);
  const httplib::Headers auth = {{"Authorization", "Bearer " + token_}};
  auto anonymous_get = client.Get(path.c_str());
  ASSERT_TRUE(anonymous_get);
  EXPECT_EQ(anonymous_get->status, 401);
  auto anonymous_put = client.Put(path.c_str(), "PK", "application/zip");
  ASSERT_TRUE(anonymous_put);
  EXPECT_EQ(anonymous_put->status, 401);
  auto has = client.Get(path.c_str(), auth);
  ASSERT_TRUE(has);
  EXPECT_EQ(has->status, 200);
  auto bad_name = client.Put("/api/packages/gcs/evil.zip", auth, "PK", "application/zip");
  ASSERT_TRUE(bad_name);
  EXPECT_EQ(bad_name->status, 400);
  auto missing = client.Get("/api/packages/gcs/_ray_pkg_00.zip", auth);
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  ExpectOneLineError(Lumen({"job", "submit", "--working-dir=gcs://_ray_pkg_00.zip", "--", "true"}), 2,
                     "was not uploaded");
}

TEST_F(JobsTest, StoppingALongDriverEndsItsWholeProcessGroup) {
  const std::string release = root_ + "/never";  // its tasks hold until this exists: never
  Result submitted = Lumen({"job", "submit", "--no-wait", "--submission-id=driver-long", "--",
                            LUMEN_CLI_DRIVER, address_, "hold", release});
  ASSERT_EQ(submitted.rc, 0) << submitted.err;
  ASSERT_TRUE(PollUntil([&] { return Status("driver-long") == "RUNNING"; }));
  // Its tasks run on the cluster: the driver has joined.
  ASSERT_TRUE(PollUntil([&] {
    Json tasks =
        Api("/api/v0/tasks?filter_keys=func_or_class_name&filter_predicates=%3D&filter_values=HoldUntil");
    return tasks.is_object() && tasks["data"]["result"]["num_filtered"].get<int>() >= 1;
  }));
  const int pgid = Api("/api/jobs/driver-long")["driver_pid"].get<int>();
  EXPECT_TRUE(GroupAlive(pgid));

  Result stopped = Lumen({"job", "stop", "driver-long"});
  EXPECT_EQ(stopped.rc, 0) << stopped.err;
  EXPECT_NE(stopped.out.find("Job 'driver-long' was stopped"), std::string::npos) << stopped.out;
  EXPECT_EQ(Status("driver-long"), "STOPPED");
  EXPECT_TRUE(PollUntil([&] { return !GroupAlive(pgid); }));
  Result again = Lumen({"job", "stop", "driver-long"});
  EXPECT_EQ(again.rc, 0) << again.err;
  EXPECT_NE(again.out.find("had already ended (STOPPED)"), std::string::npos) << again.out;
  Result deleted = Lumen({"job", "delete", "driver-long"});
  EXPECT_EQ(deleted.rc, 0) << deleted.err;
  ExpectOneLineError(Lumen({"job", "status", "driver-long"}), 1, "Job driver-long does not exist");
}

TEST_F(JobsTest, FollowingPrintsWhatIsWrittenUntilTheJobEnds) {
  const std::string go = root_ + "/go";
  ASSERT_EQ(Lumen({"job", "submit", "--no-wait", "--submission-id=talker", "--", "sh", "-c",
                   "echo one; while [ ! -e " + go + " ]; do sleep 0.05; done; echo two"})
                .rc,
            0);
  // `lumen job logs --follow` and `lumen logs FILE --follow`, both running.
  const std::string job_out = root_ + "/job-follow.out", file_out = root_ + "/file-follow.out";
  const pid_t job_follow = Spawn(LUMEN_CLI, {"job", "logs", "talker", "--follow", "--address=" + address_},
                                 job_out, root_ + "/job-follow.err");
  const pid_t file_follow =
      Spawn(LUMEN_CLI, {"logs", "job-driver-talker.log", "--follow", "--address=" + address_}, file_out,
            root_ + "/file-follow.err");
  ASSERT_TRUE(PollUntil([&] { return ReadFile(job_out) == "one\n" && ReadFile(file_out) == "one\n"; }))
      << ReadFile(job_out) << ReadFile(file_out);
  std::ofstream(go) << "\n";
  // The job's follow ends with the job; the file's goes on until stopped.
  int status = -1;
  ASSERT_EQ(waitpid(job_follow, &status, 0), job_follow);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(ReadFile(job_out), "one\ntwo\n");
  ASSERT_TRUE(PollUntil([&] { return ReadFile(file_out) == "one\ntwo\n"; })) << ReadFile(file_out);
  EXPECT_EQ(waitpid(file_follow, &status, WNOHANG), 0);  // still following
  kill(file_follow, SIGTERM);
  EXPECT_EQ(waitpid(file_follow, &status, 0), file_follow);
  EXPECT_EQ(Status("talker"), "SUCCEEDED");
}

TEST_F(JobsTest, BadInputIsOneLineWithItsExitCode) {
  ExpectOneLineError(Lumen({"job", "status", "nope"}), 1, "Job nope does not exist");
  ExpectOneLineError(Lumen({"job", "logs", "nope"}), 1, "Job nope does not exist");
  ExpectOneLineError(Lumen({"job", "stop", "nope"}), 1, "Job nope does not exist");
  ExpectOneLineError(Lumen({"job", "submit"}), 2, "give the command after --");
  ExpectOneLineError(Lumen({"job", "submit", "--runtime-env-json={\"pip\": [\"x\"]}", "--", "true"}), 2,
                     "runtime_env.pip is not supported");
  ExpectOneLineError(Lumen({"job", "submit", "--runtime-env-json=[", "--", "true"}), 2, "JSON object");
  const std::string yaml = root_ + "/bad.yaml";
  std::ofstream(yaml) << "- a list\n- not a mapping\n";
  ExpectOneLineError(Lumen({"job", "submit", "--runtime-env=" + yaml, "--", "true"}), 2, "YAML mapping");
  ExpectOneLineError(Lumen({"job", "submit", "--runtime-env=" + root_ + "/none.yaml", "--", "true"}), 2,
                     "--runtime-env");
  ExpectOneLineError(Lumen({"job", "submit", "--runtime-env=" + yaml, "--runtime-env-json={}", "--", "true"}),
                     2, "excludes");
  ExpectOneLineError(Lumen({"job", "submit", "--submission-id=../x", "--", "true"}), 2, "submission_id");
  ExpectOneLineError(Lumen({"job", "submit", "--working-dir=" + root_ + "/none", "--", "true"}), 2,
                     "is not a folder");
  ASSERT_EQ(Lumen({"job", "submit", "--no-wait", "--submission-id=twice", "--", "true"}).rc, 0);
  ExpectOneLineError(Lumen({"job", "submit", "--submission-id=twice", "--", "true"}), 2, "already exists");
  ExpectOneLineError(Run(LUMEN_CLI, {"job", "list", "--address=http://127.0.0.1:1"}), 2, "--token");
  Result no_verb = Run(LUMEN_CLI, {"job"});
  EXPECT_EQ(no_verb.rc, 2);
  EXPECT_EQ(Lines(no_verb.err), 1u) << no_verb.err;
  // One line per verb in `lumen --help`.
  Result help = Run(LUMEN_CLI, {"--help"});
  EXPECT_EQ(help.rc, 0);
  for (const char *verb : {"job", "logs", "timeline", "memory"})
    EXPECT_TRUE(std::regex_search(help.out, std::regex(std::string("\n  ") + verb + " +\\S")))
        << verb << help.out;
  // A command that cannot run is a job that failed to start.
  Result missing = Lumen({"job", "submit", "--", "no-such-program-lumen"});
  EXPECT_EQ(missing.rc, 1) << missing.out << missing.err;
  EXPECT_NE(missing.out.find("not found in PATH"), std::string::npos) << missing.out;
}

TEST_F(JobsTest, LogsTimelineAndMemoryShowWhatAJobDid) {
  // events_driver as a job: 5 Square tasks, a failing Boom, an actor, and a
  // 2 MiB object it keeps until `release` exists.
  const std::string release = root_ + "/release";
  ASSERT_EQ(Lumen({"job", "submit", "--no-wait", "--submission-id=events", "--", LUMEN_EVENTS_DRIVER,
                   address_, release})
                .rc,
            0);
  ASSERT_TRUE(PollUntil([&] {
    Json logs = Api("/api/jobs/events/logs");
    return logs.is_object() && logs["logs"].get<std::string>().find("READY 3") != std::string::npos;
  }));

  Result listed = Lumen({"logs"});
  EXPECT_EQ(listed.rc, 0) << listed.err;
  EXPECT_NE(listed.out.find("job_driver:\n  job-driver-events.log\n"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("control.out"), std::string::npos) << listed.out;
  Result printed = Lumen({"logs", "job-driver-events.log", "--tail=-1"});
  EXPECT_EQ(printed.rc, 0) << printed.err;
  EXPECT_NE(printed.out.find("READY 3"), std::string::npos) << printed.out;
  ExpectOneLineError(Lumen({"logs", "../token"}), 2, "must be the name of a file in the logs folder");
  ExpectOneLineError(Lumen({"logs", "no-such-log"}), 1, "no log file matches 'no-such-log'");

  // The timeline: each task's run, once its events have arrived.
  const std::string trace_file = root_ + "/trace.json";
  Json trace;
  auto runs = [&](const std::string &name) {
    std::vector<Json> out;
    for (const Json &e : trace)
      if (e.value("ph", "") == "X" && e.value("name", "") == name) out.push_back(e);
    return out;
  };
  ASSERT_TRUE(PollUntil([&] {
    Result written = Lumen({"timeline", "--output=" + trace_file});
    if (written.rc != 0 || written.out.find("Trace file written to " + trace_file) == std::string::npos)
      return false;
    trace = Json::parse(ReadFile(trace_file), nullptr, false);
    return trace.is_array() && runs("Square").size() == 5 && runs("Boom").size() == 1;
  })) << trace.dump(1);
  EXPECT_EQ(runs("Boom")[0]["cname"], "terrible");
  EXPECT_NE(runs("Boom")[0]["args"]["error_message"].get<std::string>().find("boom: 7"), std::string::npos);
  size_t begins = 0, ends = 0, names = 0;
  for (const Json &e : trace) {
    ASSERT_TRUE(e.contains("ph") && e.contains("pid") && e["pid"].is_number_integer()) << e.dump();
    const std::string ph = e["ph"];
    if (ph == "X") {
      EXPECT_TRUE(e["ts"].is_number() && e["dur"].is_number() && e["dur"].get<double>() >= 0) << e.dump();
      EXPECT_TRUE(e["tid"].is_number_integer()) << e.dump();
      EXPECT_EQ(e["args"]["state"], e["name"] == "Boom" ? "FAILED" : "FINISHED") << e.dump();
    }
    begins += ph == "b";
    ends += ph == "e";
    // Attempts whose events have not all arrived yet may be "Not scheduled".
    names += ph == "M" && e["name"] == "process_name" &&
             e["args"]["name"].get<std::string>().rfind("Node ", 0) == 0;
  }
  EXPECT_GT(begins, 0u);
  EXPECT_EQ(begins, ends);
  EXPECT_EQ(names, 1u) << trace.dump(1);  // one node

  // The object, in `lumen memory`.
  Result memory = Lumen({"memory", "--units=MB"});
  EXPECT_EQ(memory.rc, 0) << memory.err;
  EXPECT_NE(memory.out.find("======== Object references status:"), std::string::npos) << memory.out;
  EXPECT_NE(memory.out.find("--- Summary for node address: 127.0.0.1"), std::string::npos) << memory.out;
  EXPECT_TRUE(std::regex_search(memory.out, std::regex("2\\.00 MB\\s+LOCAL_REFERENCE\\s+[0-9a-f]{56}")))
      << memory.out;
  EXPECT_NE(memory.out.find("Object store memory usage 2.00 MB, 1 objects"), std::string::npos) << memory.out;
  Result by_owner = Lumen({"memory", "--group-by=OWNER", "--stats-only"});
  EXPECT_EQ(by_owner.rc, 0) << by_owner.err;
  EXPECT_NE(by_owner.out.find("--- Summary for owner worker: "), std::string::npos) << by_owner.out;
  EXPECT_EQ(by_owner.out.find("Object Ref"), std::string::npos) << by_owner.out;
  Result bad_units = Lumen({"memory", "--units=TB"});
  EXPECT_EQ(bad_units.rc, 2);
  EXPECT_EQ(Lines(bad_units.err), 1u) << bad_units.err;

  std::ofstream(release) << "go\n";
  ASSERT_TRUE(PollUntil([&] { return Status("events") == "SUCCEEDED"; }));
}

// A node's log files reach the head, and stay readable there once the node
// is gone: a second node runs a task (spillback_driver's echo-anywhere: it prints
// "ECHO <node id>"), is killed, and its folder removed, as when its machine
// is lost; the task's output is still served by the head's log API and
// `lumen logs --node-id`.
TEST_F(JobsTest, ADeadNodesLogsStayReadableFromTheHead) {
  Result joined =
      Run(LUMEN_CLI, {"start", "--address=" + address_, "--num-cpus=1", "--resources={\"special\": 1}",
                      "--object-store-memory=100000000", "--temp-dir=" + root_ + "/far"});
  ASSERT_EQ(joined.rc, 0) << joined.err;
  fs::create_directories(root_ + "/work");
  const std::string out = root_ + "/echo.out", err = root_ + "/echo.err";
  pid_t driver = Spawn(LUMEN_SPILLBACK_DRIVER, {address_, "echo-anywhere", root_ + "/work"}, out, err);
  std::smatch m;
  std::string printed;
  ASSERT_TRUE(PollUntil([&] {
    printed = ReadFile(out);
    return std::regex_search(printed, m, std::regex("RAN (\\S+)"));
  })) << printed
      << ReadFile(err);
  const std::string node = m[1].str();

  // Which of the node's files has the task's line, once shipped (each
  // second): found through the head's listing of that node.
  auto file_with_echo = [&]() -> std::string {
    Json listing = Api("/api/v0/logs?node_id=" + node);
    if (!listing.is_object()) return "";
    for (const Json &name : listing["data"]["result"][node].value("worker_out", Json::array())) {
      Result text = Lumen({"logs", "--node-id", node, name.get<std::string>()});
      if (text.rc == 0 && text.out.find("ECHO " + node) != std::string::npos) return name.get<std::string>();
    }
    return "";
  };
  std::string file;
  ASSERT_TRUE(PollUntil([&] { return !(file = file_with_echo()).empty(); })) << Api("/api/v0/logs").dump(1);
  std::ofstream(root_ + "/work/stop");
  int status = 0;
  ASSERT_EQ(waitpid(driver, &status, 0), driver);

  // The node killed, its folder gone: the head still has its files.
  Result stopped = Run(LUMEN_CLI, {"stop", "--force", "--temp-dir=" + root_ + "/far"});
  ASSERT_EQ(stopped.rc, 0) << stopped.err;
  fs::remove_all(root_ + "/far");
  Result logs = Lumen({"logs", "--node-id", node, file});
  EXPECT_EQ(logs.rc, 0) << logs.err;
  EXPECT_NE(logs.out.find("ECHO " + node), std::string::npos) << logs.out;
  Result listed = Lumen({"logs"});
  EXPECT_EQ(listed.rc, 0) << listed.err;
  EXPECT_NE(listed.out.find("=== node_id: " + node + " ==="), std::string::npos) << listed.out;
  // Its own node log too, by a pattern on that node.
  Result own = Lumen({"logs", "--node-id", node, "node-*.log"});
  EXPECT_EQ(own.rc, 0) << own.err;
  EXPECT_NE(own.out.find("up: resources"), std::string::npos) << own.out;
}

}  // namespace
