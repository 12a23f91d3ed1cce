// Test-only: a TrialView the scheduler tests drive by hand, standing in for
// the trial runner (add trials, set their status, feed results), and a
// small numeric Domain for PBT (the real ones live in search_space.h).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ray/tune/trial_scheduler.h"

namespace ray {
namespace tune {
namespace testing {

class FakeTrialView : public TrialView {
 public:
  TrialInfo &Add(const std::string &id, Json config = Json::object()) {
    trials_.push_back(std::make_unique<TrialInfo>());
    trials_.back()->id = id;
    trials_.back()->config = std::move(config);
    return *trials_.back();
  }
  TrialInfo &Get(const std::string &id) {
    for (auto &trial : trials_) {
      if (trial->id == id) return *trial;
    }
    throw std::out_of_range("no trial " + id);
  }
  std::vector<const TrialInfo *> Trials() const override {
    std::vector<const TrialInfo *> out;
    for (const auto &trial : trials_) out.push_back(trial.get());
    return out;
  }
  const TrialInfo *Find(const std::string &trial_id) const override {
    for (const auto &trial : trials_) {
      if (trial->id == trial_id) return trial.get();
    }
    return nullptr;
  }

 private:
  std::vector<std::unique_ptr<TrialInfo>> trials_;
};

/// Uniform(lo, hi) of doubles, enough for PBT's resampling.
class TestUniform : public Domain {
 public:
  TestUniform(double lo, double hi) : lo_(lo), hi_(hi) {}
  Json Sample(const Json &, Rng &rng) const override {
    return lo_ + (hi_ - lo_) * (static_cast<double>(rng() >> 11) * 0x1.0p-53);
  }
  bool IsNumeric() const override { return true; }
  std::string ToString() const override { return "TestUniform"; }

 private:
  double lo_;
  double hi_;
};

/// A result as the runner reports it.
inline Json Result(double iteration, double metric, const std::string &metric_name = "loss") {
  return Json{{"training_iteration", iteration}, {metric_name, metric}};
}

}  // namespace testing
}  // namespace tune
}  // namespace ray
