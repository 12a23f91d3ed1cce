// Lumen extension (not part of Ray's C++ API): learning curves of a Tune
// experiment as a picture. Ray leaves this to TensorBoard or pandas; Lumen
// draws a PNG straight from an experiment's folder with gnuplot (installed by
// scripts/install-deps.sh), one line per trial.
//
//   ray::tune::PlotLearningCurves("/tmp/lumen_results/asha", "loss", "asha.png");
//
// Threading: a plain function; it runs gnuplot as a child process and waits.
#pragma once

#include <string>

#include "ray/tune/types.h"

namespace ray {
namespace tune {

struct PlotOptions {
  /// The x axis: a result field (training_iteration by default; time_total_s
  /// is the other common one).
  std::string x = fields::kTrainingIteration;
  std::string title;  // empty: "<metric> per trial"
  bool log_y = false;
  int width_px = 1000;
  int height_px = 600;
  /// A legend names each trial while there are at most this many.
  int max_legend_entries = 12;
};

/// Draws every trial's `metric` against `options.x` from the result.json
/// files of `experiment_path` into the PNG `png_path`. Throws TuneError when
/// the folder has no trial that reported `metric`, when gnuplot is missing,
/// or when it fails (its error output is in the message).
void PlotLearningCurves(const std::string &experiment_path, const std::string &metric,
                        const std::string &png_path, const PlotOptions &options = PlotOptions());

}  // namespace tune
}  // namespace ray
