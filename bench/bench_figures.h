// The figures a benchmark program reports (floors, metric_bench,
// cluster_bench): each printed as it is measured, then all written as the
// microbenchmarks' JSON (Ray's format), {key: [value, sd], "units": {key:
// unit}}, which bench/compare and bench/cluster_compare read.
//
// Threading: one thread (the program's main).
#pragma once

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace bench {

class Figures {
 public:
  void Report(const std::string &key, double value, double sd, const std::string &unit) {
    figures_.push_back({key, value, sd, unit});
    std::printf("%-34s %12.3f +- %-9.3f %s\n", key.c_str(), value, sd, unit.c_str());
    std::fflush(stdout);
  }

  /// False (and a line on stderr) if `path` cannot be written.
  bool WriteJson(const std::string &path) const {
    nlohmann::ordered_json out = nlohmann::ordered_json::object(), units = nlohmann::ordered_json::object();
    for (const Figure &f : figures_) {
      out[f.key] = {f.value, f.sd};
      units[f.key] = f.unit;
    }
    out["units"] = units;
    std::ofstream file(path);
    file << out.dump(1) << "\n";
    if (!file) std::fprintf(stderr, "could not write %s\n", path.c_str());
    return static_cast<bool>(file);
  }

 private:
  struct Figure {
    std::string key;
    double value, sd;
    std::string unit;
  };
  std::vector<Figure> figures_;
};

}  // namespace bench
