// PlotLearningCurves: a real PNG of the requested size from an experiment
// folder written by the trial logger, and clear errors when there is nothing
// to draw, the picture cannot be written, or gnuplot is missing.
#include "ray/tune/plot.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

#include "trial_logger.h"

namespace ray::tune {
namespace {

namespace fs = std::filesystem;

bool HaveGnuplot() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

class PlotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "lumen-plot-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    for (int t = 0; t < 3; ++t) {
      internal::TrialLogger log((dir_ / "exp" / ("trial_" + std::to_string(t))).string());
      log.WriteParams({{"lr", 0.1 * (t + 1)}});
      for (int i = 1; i <= 5; ++i)
        log.LogResult(
            {{"loss", 1.0 / (i + t)}, {"training_iteration", i}, {"trial_id", "t" + std::to_string(t)}});
    }
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path dir_;
};

// Width and height from a PNG's IHDR chunk (big-endian, bytes 16..23).
std::pair<int, int> PngSize(const fs::path &png) {
  std::ifstream in(png, std::ios::binary);
  std::vector<unsigned char> head(24);
  in.read(reinterpret_cast<char *>(head.data()), 24);
  const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (!in || !std::equal(sig, sig + 8, head.begin())) return {-1, -1};
  auto be = [&](int at) {
    return (head[at] << 24) | (head[at + 1] << 16) | (head[at + 2] << 8) | head[at + 3];
  };
  return {be(16), be(20)};
}

TEST_F(PlotTest, DrawsAPngOfTheRequestedSize) {
  if (!HaveGnuplot()) GTEST_SKIP() << "gnuplot is not installed (scripts/install-deps.sh installs it)";
  PlotOptions opts;
  opts.width_px = 640;
  opts.height_px = 400;
  opts.log_y = true;
  const fs::path png = dir_ / "it's curves.png";  // a quote in the path
  PlotLearningCurves((dir_ / "exp").string(), "loss", png.string(), opts);
  EXPECT_EQ(PngSize(png), std::make_pair(640, 400));
}

TEST_F(PlotTest, NothingToDrawIsAClearError) {
  try {
    PlotLearningCurves((dir_ / "exp").string(), "accuracy", (dir_ / "x.png").string());
    FAIL() << "no error";
  } catch (const TuneError &e) {
    EXPECT_NE(std::string(e.what()).find("accuracy"), std::string::npos) << e.what();
  }
  EXPECT_THROW(PlotLearningCurves((dir_ / "none").string(), "loss", (dir_ / "x.png").string()), TuneError);
  EXPECT_FALSE(fs::exists(dir_ / "x.png"));
}

TEST_F(PlotTest, AnUnwritablePictureGivesGnuplotsError) {
  if (!HaveGnuplot()) GTEST_SKIP() << "gnuplot is not installed (scripts/install-deps.sh installs it)";
  EXPECT_THROW(PlotLearningCurves((dir_ / "exp").string(), "loss", (dir_ / "no/such/dir/x.png").string()),
               TuneError);
}

TEST_F(PlotTest, MissingGnuplotSaysHowToInstallIt) {
  const char *old = std::getenv("PATH");
  const std::string saved = old ? old : "";
  setenv("PATH", (dir_ / "empty").c_str(), 1);
  try {
    PlotLearningCurves((dir_ / "exp").string(), "loss", (dir_ / "x.png").string());
    ADD_FAILURE() << "no error";
  } catch (const TuneError &e) {
    EXPECT_NE(std::string(e.what()).find("gnuplot"), std::string::npos) << e.what();
  }
  setenv("PATH", saved.c_str(), 1);
}

}  // namespace
}  // namespace ray::tune
