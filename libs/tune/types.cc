#include "ray/tune/types.h"

namespace ray {
namespace tune {

Mode ParseMode(const std::string &mode) {
  if (mode == "min") return Mode::kMin;
  if (mode == "max") return Mode::kMax;
  throw TuneError("mode must be \"min\" or \"max\", not \"" + mode + "\"");
}

const char *ModeName(Mode mode) { return mode == Mode::kMax ? "max" : "min"; }

const char *TrialStatusName(TrialStatus status) {
  switch (status) {
    case TrialStatus::kPending:
      return "PENDING";
    case TrialStatus::kRunning:
      return "RUNNING";
    case TrialStatus::kPaused:
      return "PAUSED";
    case TrialStatus::kTerminated:
      return "TERMINATED";
    case TrialStatus::kError:
      return "ERROR";
  }
  return "UNKNOWN";
}

const char *ActionName(Action action) {
  switch (action) {
    case Action::kContinue:
      return "CONTINUE";
    case Action::kPause:
      return "PAUSE";
    case Action::kStop:
      return "STOP";
  }
  return "UNKNOWN";
}

}  // namespace tune
}  // namespace ray
