// ResultGrid and the trial folder's files: what the trial logger writes reads
// back the same, and the best result follows Ray's metric/mode/scope rules.
#include "ray/tune/result_grid.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "flat_table.h"
#include "trial_logger.h"

namespace ray::tune {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "lumen-tune-test-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string &path() const { return path_; }

 private:
  std::string path_;
};

std::string ReadFile(const fs::path &p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result Trial(const std::string &id, std::vector<double> losses) {
  Result r;
  r.trial_id = id;
  r.config = {{"id", id}};
  int it = 0;
  for (double l : losses) r.metrics_history.push_back({{"loss", l}, {"training_iteration", ++it}});
  if (!r.metrics_history.empty()) r.metrics = r.metrics_history.back();
  return r;
}

TEST(FlatTableTest, FlattensNestedObjectsWithSlashes) {
  Json v = {{"a", {{"b", 1}, {"c", {{"d", "x"}}}}}, {"e", {1, 2}}, {"f", Json::object()}, {"g", nullptr}};
  Json flat = internal::Flatten(v);
  EXPECT_EQ(flat, (Json{{"a/b", 1}, {"a/c/d", "x"}, {"e", {1, 2}}, {"g", nullptr}}));
  EXPECT_EQ(internal::Flatten(Json(3)), Json::object());
}

TEST(FlatTableTest, CsvQuotesOnlyWhatNeedsIt) {
  EXPECT_EQ(internal::CsvField(Json("plain")), "plain");
  EXPECT_EQ(internal::CsvField(Json("a,b")), "\"a,b\"");
  EXPECT_EQ(internal::CsvField(Json("say \"hi\"")), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(internal::CsvField(Json("two\nlines")), "\"two\nlines\"");
  EXPECT_EQ(internal::CsvField(Json(nullptr)), "");
  EXPECT_EQ(internal::CsvField(Json(2.5)), "2.5");
  EXPECT_EQ(internal::CsvField(Json(true)), "true");
  EXPECT_EQ(internal::CsvField(Json({1, 2})), "\"[1,2]\"");
  EXPECT_EQ(internal::CsvRow(Json{{"a", 1}, {"c", "x"}}, {"a", "b", "c"}), "1,,x\n");
}

TEST(TrialLoggerTest, WritesRaysFilesAndReadsBack) {
  TempDir tmp;
  const std::string dir = tmp.path() + "/exp/trial_a";
  {
    internal::TrialLogger log(dir);
    log.WriteParams({{"lr", 0.1}, {"opt", {{"momentum", 0.9}}}});
    log.LogResult({{"loss", 3.0}, {"training_iteration", 1}, {"trial_id", "a"}, {"config", {{"lr", 0.1}}}});
    // A key first seen later reaches result.json, not progress.csv (as Ray).
    log.LogResult({{"loss", 2.0}, {"training_iteration", 2}, {"trial_id", "a"}, {"extra", {{"x", 1}}}});
  }
  EXPECT_EQ(Json::parse(ReadFile(dir + "/params.json")), (Json{{"lr", 0.1}, {"opt", {{"momentum", 0.9}}}}));
  EXPECT_EQ(ReadFile(dir + "/progress.csv"), "loss,training_iteration,trial_id\n3.0,1,a\n2.0,2,a\n");
  // A restored trial appends with the same columns.
  {
    internal::TrialLogger log(dir);
    log.LogResult({{"loss", 1.0}, {"training_iteration", 3}, {"trial_id", "a"}, {"new", 5}});
    log.WriteError("boom: it failed");
  }
  EXPECT_EQ(ReadFile(dir + "/progress.csv"), "loss,training_iteration,trial_id\n3.0,1,a\n2.0,2,a\n1.0,3,a\n");
  fs::create_directories(dir + "/checkpoint_000002");
  fs::create_directories(dir + "/checkpoint_000010");
  // A line cut short by a killed driver is skipped.
  std::ofstream(dir + "/result.json", std::ios::app) << "{\"loss\": 0.";

  ResultGrid grid = ResultGrid::Load(tmp.path() + "/exp");
  ASSERT_EQ(grid.size(), 1u);
  const Result &r = grid[0];
  EXPECT_EQ(r.trial_id, "a");
  EXPECT_EQ(r.config["lr"], 0.1);
  ASSERT_EQ(r.metrics_history.size(), 3u);
  EXPECT_EQ(r.metrics["loss"], 1.0);
  EXPECT_EQ(r.metrics_history[1]["extra"]["x"], 1);
  EXPECT_EQ(r.error.value_or(""), "boom: it failed");
  EXPECT_EQ(r.status, TrialStatus::kError);
  EXPECT_EQ(fs::path(r.checkpoint_path).filename(), "checkpoint_000010");
  EXPECT_EQ(grid.num_errors(), 1u);
  EXPECT_EQ(grid.num_terminated(), 0u);
}

size_t OpenFiles() {
  return static_cast<size_t>(
      std::distance(fs::directory_iterator("/proc/self/fd"), fs::directory_iterator()));
}

TEST(TrialLoggerTest, CloseFreesItsFilesAndTheNextWriteAppends) {
  TempDir tmp;
  const std::string dir = tmp.path() + "/trial_b";
  internal::TrialLogger log(dir);
  const size_t before = OpenFiles();
  log.LogResult({{"loss", 3.0}, {"training_iteration", 1}});
  EXPECT_EQ(OpenFiles(), before + 2);  // result.json and progress.csv, kept open while the trial runs
  log.Close();
  EXPECT_EQ(OpenFiles(), before);
  log.LogResult({{"loss", 2.0}, {"training_iteration", 2}});
  log.Close();
  EXPECT_EQ(ReadFile(dir + "/progress.csv"), "loss,training_iteration\n3.0,1\n2.0,2\n");
  EXPECT_EQ(ReadFile(dir + "/result.json"),
            "{\"loss\":3.0,\"training_iteration\":1}\n{\"loss\":2.0,\"training_iteration\":2}\n");
}

TEST(TrialLoggerTest, UnwritableFolderIsATuneError) {
  internal::TrialLogger log("/proc/lumen-cannot-be-here/trial");  // touches nothing yet
  EXPECT_THROW(log.WriteParams({{"x", 1}}), TuneError);
  EXPECT_THROW(ResultGrid::Load("/nonexistent/lumen/experiment"), TuneError);
}

TEST(ResultGridTest, BestResultFollowsScope) {
  // a: ends worst but was best once; b: best last; c: best on average.
  ResultGrid grid(
      {Trial("a", {0.5, 9, 9, 9}), Trial("b", {8, 8, 8, 1}), Trial("c", {2, 2, 2, 2}), Trial("d", {})});
  EXPECT_EQ(grid.GetBestResult("loss", "min").trial_id, "b");
  EXPECT_EQ(grid.GetBestResult("loss", "min", "last").trial_id, "b");
  EXPECT_EQ(grid.GetBestResult("loss", "min", "all").trial_id, "a");
  EXPECT_EQ(grid.GetBestResult("loss", "min", "avg").trial_id, "c");
  EXPECT_EQ(grid.GetBestResult("loss", "min", "last-5-avg").trial_id, "c");
  EXPECT_EQ(grid.GetBestResult("loss", "max", "last").trial_id, "a");
  EXPECT_EQ(grid.GetBestResult("loss", "max", "all").trial_id, "a");
  EXPECT_EQ(grid.GetBestResult("training_iteration", "max").trial_id, "a");  // first of the ties
}

TEST(ResultGridTest, LastTenAverageUsesOnlyTheLastTen) {
  std::vector<double> early_bad(20, 100.0), early_good(20, 0.0);
  for (int i = 0; i < 10; ++i) {
    early_bad.push_back(1.0);
    early_good.push_back(2.0);
  }
  ResultGrid grid({Trial("bad-start", early_bad), Trial("good-start", early_good)});
  EXPECT_EQ(grid.GetBestResult("loss", "min", "last-10-avg").trial_id, "bad-start");
  EXPECT_EQ(grid.GetBestResult("loss", "min", "avg").trial_id, "good-start");
}

TEST(ResultGridTest, NanAndInfAreSkippedUnlessAsked) {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  // Unfiltered, comparisons with NaN are false (as in Ray), so the NaN seen
  // after the others does not win.
  ResultGrid grid({Trial("ok", {5}), Trial("inf", {-inf}), Trial("nan", {nan})});
  EXPECT_EQ(grid.GetBestResult("loss", "min").trial_id, "ok");
  EXPECT_EQ(grid.GetBestResult("loss", "min", "last", /*filter_nan_and_inf=*/false).trial_id, "inf");
}

TEST(ResultGridTest, DefaultsAndClearErrors) {
  ResultGrid with_defaults({Trial("a", {3}), Trial("b", {1})}, "loss", Mode::kMin);
  EXPECT_EQ(with_defaults.GetBestResult().trial_id, "b");
  EXPECT_EQ(with_defaults.GetBestResult("", "max").trial_id, "a");
  ResultGrid bare({Trial("a", {3})});
  EXPECT_THROW(bare.GetBestResult(), TuneError);
  EXPECT_THROW(bare.GetBestResult("loss"), TuneError);  // no mode
  EXPECT_THROW(bare.GetBestResult("loss", "maximum"), TuneError);
  EXPECT_THROW(bare.GetBestResult("loss", "min", "best"), TuneError);
  EXPECT_THROW(bare.GetBestResult("accuracy", "max"), TuneError);  // nobody reported it
  try {
    bare.GetBestResult("accuracy", "max");
  } catch (const TuneError &e) {
    EXPECT_NE(std::string(e.what()).find("accuracy"), std::string::npos) << e.what();
  }
}

TEST(ResultGridTest, CsvHasOneRowPerTrialWithConfigColumns) {
  Result a = Trial("a", {3, 1, 2});
  a.config = {{"lr", 0.1}, {"net", {{"layers", 2}}}};
  a.path = "/x/a";
  Result b = Trial("b", {5});
  b.config = {{"lr", 0.2}, {"net", {{"layers", 3}}}};
  b.path = "/x/b";
  ResultGrid grid({a, b});
  EXPECT_EQ(grid.ToCsv(),
            "config/lr,config/net/layers,logdir,loss,training_iteration,trial_id\n"
            "0.1,2,/x/a,2.0,3,a\n"
            "0.2,3,/x/b,5.0,1,b\n");
  // Each trial's best row instead of its last.
  EXPECT_EQ(grid.ToCsv("loss", "min"),
            "config/lr,config/net/layers,logdir,loss,training_iteration,trial_id\n"
            "0.1,2,/x/a,1.0,2,a\n"
            "0.2,3,/x/b,5.0,1,b\n");
  EXPECT_THROW(grid.ToCsv("loss", ""), TuneError);
  TempDir tmp;
  grid.WriteCsv(tmp.path() + "/out.csv");
  EXPECT_EQ(ReadFile(tmp.path() + "/out.csv"), grid.ToCsv());
  EXPECT_THROW(grid.WriteCsv(tmp.path() + "/no/such/dir/out.csv"), TuneError);
}

}  // namespace
}  // namespace ray::tune
