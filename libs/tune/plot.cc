#include "ray/tune/plot.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <vector>

#include "ray/tune/result_grid.h"

extern char **environ;

namespace ray {
namespace tune {
namespace {

namespace fs = std::filesystem;

// A gnuplot single-quoted string: a quote is written twice.
std::string Quote(const std::string &s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

// A folder of its own for the data and script, removed when done.
class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = (fs::temp_directory_path() / "lumen-plot-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr)
      throw TuneError(std::string("cannot make a temp folder: ") + strerror(errno));
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path &path() const { return path_; }

 private:
  fs::path path_;
};

// Runs `gnuplot script`, its stdout and stderr into `log`; its exit status,
// or -1 when it could not be started (ENOENT: not installed).
int RunGnuplot(const fs::path &script, const fs::path &log, int *spawn_errno) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  std::string prog = "gnuplot", arg = script.string();
  char *argv[] = {prog.data(), arg.data(), nullptr};
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, "gnuplot", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    *spawn_errno = rc;
    return -1;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

void PlotLearningCurves(const std::string &experiment_path, const std::string &metric,
                        const std::string &png_path, const PlotOptions &options) {
  ResultGrid grid = ResultGrid::Load(experiment_path);
  ScratchDir scratch;
  struct Series {
    std::string name;
    fs::path data;
  };
  std::vector<Series> series;
  for (const Result &r : grid) {
    std::ostringstream rows;
    size_t points = 0;
    for (const Json &row : r.metrics_history) {
      auto x = row.find(options.x), y = row.find(metric);
      if (x == row.end() || y == row.end() || !x->is_number() || !y->is_number()) continue;
      rows << x->get<double>() << ' ' << y->get<double>() << '\n';
      ++points;
    }
    if (points == 0) continue;
    Series s{r.trial_id, scratch.path() / ("trial" + std::to_string(series.size()) + ".dat")};
    std::ofstream(s.data) << rows.str();
    series.push_back(std::move(s));
  }
  if (series.empty()) {
    throw TuneError("no trial in " + experiment_path + " reported \"" + metric + "\" with \"" + options.x +
                    "\"");
  }
  const bool legend = static_cast<int>(series.size()) <= options.max_legend_entries;
  std::ostringstream gp;
  gp << "set terminal pngcairo size " << options.width_px << "," << options.height_px << " noenhanced\n"
     << "set output " << Quote(png_path) << "\n"
     << "set title " << Quote(options.title.empty() ? metric + " per trial" : options.title) << "\n"
     << "set xlabel " << Quote(options.x) << "\nset ylabel " << Quote(metric) << "\n"
     << "set grid\n"
     << (options.log_y ? "set logscale y\n" : "") << (legend ? "set key outside right\n" : "unset key\n")
     << "plot ";
  for (size_t i = 0; i < series.size(); ++i) {
    gp << (i ? ", \\\n     " : "") << Quote(series[i].data.string())
       << " using 1:2 with linespoints pt 7 ps 0.4"
       << (legend ? " title " + Quote(series[i].name) : " notitle");
  }
  gp << "\n";
  const fs::path script = scratch.path() / "plot.gp", log = scratch.path() / "gnuplot.log";
  std::ofstream(script) << gp.str();
  std::error_code ec;
  fs::remove(png_path, ec);  // so that a stale picture never passes for a new one
  int spawn_errno = 0;
  const int rc = RunGnuplot(script, log, &spawn_errno);
  if (rc == -1) {
    throw TuneError(std::string("cannot run gnuplot (") + strerror(spawn_errno) +
                    "); install it (Debian: gnuplot-nox; scripts/install-deps.sh does)");
  }
  if (rc != 0 || !fs::exists(png_path) || fs::file_size(png_path) == 0) {
    std::ifstream in(log);
    std::stringstream text;
    text << in.rdbuf();
    throw TuneError("gnuplot failed (exit " + std::to_string(rc) + ") drawing " + png_path + ": " +
                    text.str());
  }
}

}  // namespace tune
}  // namespace ray
