// The progress table: what it shows (varying parameters, usual metrics, counts
// by status, truncation), its ordering, rate limiting, and in-place refresh on
// a terminal versus plain lines into a pipe.
#include "progress_reporter.h"

#include <gtest/gtest.h>

#include <sstream>

namespace ray::tune::internal {
namespace {

ProgressRow Row(const std::string &name, TrialStatus status, double lr, Json result = Json::object()) {
  ProgressRow r;
  r.name = name;
  r.status = status;
  r.location = status == TrialStatus::kRunning ? "pid=42" : "";
  r.config = {{"lr", lr}, {"batch", 64}, {"net", {{"layers", 2}}}};
  r.last_result = std::move(result);
  return r;
}

ProgressSnapshot Snapshot() {
  ProgressSnapshot s;
  s.elapsed_s = 3725.5;
  s.scheduler_line = "Using FIFO scheduling algorithm.";
  s.resources_line = "2.0/2 CPUs, 0/0 GPUs";
  s.logdir = "/tmp/exp";
  s.metric = "loss";
  s.total_trials = 10;
  s.rows = {Row("t_00000", TrialStatus::kTerminated, 0.1, {{"loss", 0.25}, {"training_iteration", 5}}),
            Row("t_00001", TrialStatus::kRunning, 0.01,
                {{"loss", 1.5}, {"accuracy", 0.5}, {"training_iteration", 2}, {"time_total_s", 1.25}}),
            Row("t_00002", TrialStatus::kPending, 0.001)};
  return s;
}

TEST(ProgressReporterTest, ShowsStatusCountsVaryingParamsAndMetrics) {
  std::ostringstream out;
  ProgressReporter reporter({}, out, /*in_place=*/false);
  const std::string text = reporter.Render(Snapshot());
  EXPECT_NE(text.find("Running for 01:02:05.50"), std::string::npos) << text;
  EXPECT_NE(text.find("Number of trials: 3/10 (1 PENDING, 1 RUNNING, 1 TERMINATED)"), std::string::npos)
      << text;
  EXPECT_NE(text.find("Logical resource usage: 2.0/2 CPUs"), std::string::npos) << text;
  EXPECT_NE(text.find("Result logdir: /tmp/exp"), std::string::npos) << text;
  // lr varies, batch and net/layers do not: only lr is a column.
  EXPECT_NE(text.find(" lr |"), std::string::npos) << text;
  EXPECT_EQ(text.find("batch"), std::string::npos) << text;
  EXPECT_NE(text.find(" loss |"), std::string::npos) << text;
  EXPECT_NE(text.find(" accuracy |"), std::string::npos) << text;
  // Running first, then pending, then terminated.
  const size_t running = text.find("t_00001"), pending = text.find("t_00002"), done = text.find("t_00000");
  EXPECT_LT(running, pending);
  EXPECT_LT(pending, done);
  EXPECT_NE(text.find("pid=42"), std::string::npos);
}

TEST(ProgressReporterTest, ExplicitColumnsSortingAndTruncation) {
  ProgressOptions opts;
  opts.parameter_columns = {"net/layers"};
  opts.metric_columns = {"accuracy"};
  opts.max_progress_rows = 2;
  opts.sort_by_metric = "loss";
  opts.mode = Mode::kMin;
  std::ostringstream out;
  ProgressReporter reporter(opts, out, false);
  const std::string text = reporter.Render(Snapshot());
  EXPECT_NE(text.find(" net/layers |"), std::string::npos) << text;
  EXPECT_EQ(text.find(" lr |"), std::string::npos) << text;
  // Best loss first; the trial without a loss is the one cut.
  EXPECT_LT(text.find("t_00000"), text.find("t_00001"));
  EXPECT_EQ(text.find("t_00002"), std::string::npos) << text;
  EXPECT_NE(text.find("... 1 more trials not shown (1 PENDING)"), std::string::npos) << text;
}

TEST(ProgressReporterTest, RateLimitedAndForced) {
  ProgressOptions opts;
  opts.max_report_frequency_s = 5;
  std::ostringstream out;
  ProgressReporter reporter(opts, out, false);
  reporter.Report(Snapshot(), 100.0);
  const size_t once = out.str().size();
  reporter.Report(Snapshot(), 102.0);  // too soon
  EXPECT_EQ(out.str().size(), once);
  reporter.Report(Snapshot(), 102.5, /*force=*/true);
  EXPECT_EQ(out.str().size(), 2 * once);
  reporter.Report(Snapshot(), 108.0);
  EXPECT_EQ(out.str().size(), 3 * once);
  EXPECT_EQ(out.str().find('\x1b'), std::string::npos) << "escape codes in plain output";
}

TEST(ProgressReporterTest, OnATerminalEachReportReplacesTheLast) {
  std::ostringstream out;
  ProgressReporter reporter({}, out, /*in_place=*/true);
  reporter.Report(Snapshot(), 0, true);
  const std::string first = out.str();
  EXPECT_EQ(first.find('\x1b'), std::string::npos);  // nothing to replace yet
  const size_t lines = static_cast<size_t>(std::count(first.begin(), first.end(), '\n'));
  reporter.Report(Snapshot(), 10, true);
  const std::string second = out.str().substr(first.size());
  EXPECT_EQ(second.rfind("\x1b[" + std::to_string(lines) + "F\x1b[J", 0), 0u) << second.substr(0, 12);
}

TEST(ProgressReporterTest, NoTrialsYet) {
  std::ostringstream out;
  ProgressReporter reporter({}, out, false);
  ProgressSnapshot s;
  const std::string text = reporter.Render(s);
  EXPECT_NE(text.find("Number of trials: 0\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("Trial name"), std::string::npos);
}

}  // namespace
}  // namespace ray::tune::internal
