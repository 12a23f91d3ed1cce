// Lumen Tune: Ray Tune's hyperparameter search in C++. A Lumen extension:
// Ray's C++ API has no Tune; names, defaults and rules follow Ray Tune's
// Python API (see docs/tune.md). Link lumen::tune.
//
//   #include <ray/api.h>
//   #include <ray/tune.h>
//   namespace tune = ray::tune;
//
//   void Train(const tune::Json &config) {
//     for (int i = 1; i <= 100; ++i) tune::Report({{"loss", config["x"].get<double>() / i}});
//   }
//
//   int main() {
//     ray::Init();
//     tune::TuneConfig tc;
//     tc.metric = "loss";
//     tc.mode = "min";
//     tc.num_samples = 20;
//     tc.scheduler = std::make_shared<tune::AsyncHyperBandScheduler>();
//     tune::ResultGrid grid = tune::Tuner(Train, {{"x", tune::Uniform(0, 1)}}, tc).Fit();
//     std::cout << grid.GetBestResult().config << "\n";
//     ray::Shutdown();
//   }
//
// Public header: must stay valid C++17.
#pragma once

#include "ray/tune/plot.h"
#include "ray/tune/resources.h"
#include "ray/tune/result_grid.h"
#include "ray/tune/schedulers.h"
#include "ray/tune/search_space.h"
#include "ray/tune/searcher.h"
#include "ray/tune/stoppers.h"
#include "ray/tune/tpe_search.h"
#include "ray/tune/trainable.h"
#include "ray/tune/tuner.h"
#include "ray/tune/types.h"
