// Lumen extension (not part of Ray's C++ API): Lumen Tune's trainables, the
// code a trial runs. Two flavours, as in Ray Tune 2.x:
//
// - the function API: `void Train(const ray::tune::Json &config)` that calls
//   ray::tune::Report(metrics) or Report(metrics, checkpoint) once per
//   iteration and ray::tune::GetCheckpoint() to resume;
// - the class API: a subclass of ray::tune::Trainable (Setup / Step /
//   SaveCheckpoint / LoadCheckpoint / ResetConfig / Cleanup), named with
//   TrainableRef::Class<MyTrainable>().
//
// Every trial runs in an actor, in a worker process that is a copy of the
// user's program (forked from the driver today, the same executable started
// on another node later). So a trainable travels as a reference to code both
// processes have -- the module (its build id and path) and the function's
// offset in it -- never as a pointer value or a closure: TrainableRef accepts
// only a plain function or a lambda without captures, and a capturing lambda
// or a std::function does not compile. Pass data through the config.
//
// GetContext() says which trial the code runs for: its id, folder, resources
// and placement group (where a trial that asked for bundles places its own
// tasks and actors), and the parameters bound to the trainable.
//
// A reference can carry what the trainable needs besides its config, as Ray's
// tune.with_parameters and tune.with_resources wrap a trainable:
// WithParameters binds JSON that every trial reads from GetContext(), and
// WithResources says what each trial holds when TuneConfig does not.
//
// Threading: the function API's function runs on a thread of its own in the
// trial's actor; Report and GetCheckpoint must be called from that thread.
// A class trainable's methods are called one at a time, never concurrently.
// See docs/tune-trainables.md.
//
// Public header: must stay valid C++17.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "ray/tune/resources.h"
#include "ray/tune/types.h"

namespace ray {
namespace tune {

/// A checkpoint is a directory, as in Ray 2.x. A checkpoint passed to Report
/// is copied into the trial's own storage folder (checkpoint_000000, ...)
/// before Report returns, so the user's directory may be deleted afterwards.
class Checkpoint {
 public:
  static Checkpoint FromDirectory(std::string path) { return Checkpoint(std::move(path)); }
  const std::string &path() const { return path_; }

 private:
  explicit Checkpoint(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

/// Reports one iteration's metrics from a function trainable and waits until
/// the driver has taken the result and decided what the trial does next (Ray's
/// semantics: one iteration per Report). When the decision is to stop the
/// trial (a scheduler's STOP, a stopper, PAUSE), Report throws an exception
/// private to Lumen Tune that ends the function; do not swallow it with
/// `catch (...)` (it does not derive from std::exception). Throws TuneError
/// when called outside a trial's function thread.
void Report(const Json &metrics);
void Report(const Json &metrics, const Checkpoint &checkpoint);

/// The checkpoint to resume from: the latest one this trial reported, else
/// the one the trial was started or restored from; none on a fresh start.
std::optional<Checkpoint> GetCheckpoint();

/// Who the running trial is and what it holds (Ray's tune.get_context()).
struct TrialContext {
  std::string trial_id;
  /// The trial's own folder: its result files and checkpoints.
  std::string trial_dir;
  /// What the experiment gave each trial (TuneConfig::resources_per_trial,
  /// or the trainable's WithResources).
  Resources resources;
  /// The trial's placement group when its resources name bundles; Empty()
  /// otherwise. Bundle 0 holds the trial's actor; the trainable places its
  /// own tasks and actors in the others with SetPlacementGroup(group, i).
  /// The group is removed, ending what still runs in it, when the trial ends.
  ray::PlacementGroup placement_group;
  /// What TrainableRef::WithParameters bound (null when nothing).
  Json parameters;
};

/// The running trial's context, from a function trainable's thread or a
/// Trainable's methods; TuneError anywhere else.
TrialContext GetContext();

/// The class API (Ray's tune.Trainable). The runtime constructs it in the
/// trial's actor with the default constructor, then calls Setup once.
class Trainable {
 public:
  virtual ~Trainable() = default;
  /// Once, before anything else, with the trial's config.
  virtual void Setup(const Json &config) { (void)config; }
  /// One iteration; returns its metrics. A result with "done": true ends the
  /// trial.
  virtual Json Step() = 0;
  /// Writes the trainable's state into `dir` (an empty directory the runtime
  /// made in the trial's folder).
  virtual void SaveCheckpoint(const std::string &dir) { (void)dir; }
  /// Reads back what SaveCheckpoint wrote, possibly in another process.
  virtual void LoadCheckpoint(const std::string &dir) { (void)dir; }
  /// Takes a new config without a restart (PBT's exploit); false: not
  /// supported, and the runtime restarts the trial with the new config.
  virtual bool ResetConfig(const Json &new_config) {
    (void)new_config;
    return false;
  }
  /// Once, when the trial ends for any reason but a crash.
  virtual void Cleanup() {}
};

/// The factory a class trainable travels as: instantiated in the user's
/// program, so the worker resolves it like a function.
template <class T>
Trainable *NewTrainable() {
  static_assert(std::is_base_of<Trainable, T>::value,
                "a class trainable must derive from ray::tune::Trainable");
  return new T();
}

using TrainFunction = void (*)(const Json &config);
using TrainableFactory = Trainable *(*)();

/// A trainable as it travels to the trial's worker: which module (build id
/// and path) and what offset in it, with what checks the worker can make that
/// it found the same code (the symbol name when the module exports one, and a
/// hash of the function's first bytes). Construct it from a function or with
/// Class<T>(); construction fails with TuneError, in the driver, for code that
/// is in no loaded module.
class TrainableRef {
 public:
  /// A plain function, or a lambda without captures, taking the config.
  template <class F, typename std::enable_if<!std::is_same<typename std::decay<F>::type, TrainableRef>::value,
                                             int>::type = 0>
  TrainableRef(const F &function) {  // NOLINT(google-explicit-constructor): Run(Train, ...) reads naturally
    static_assert(std::is_convertible<typename std::decay<F>::type, TrainFunction>::value,
                  "a Lumen Tune trainable must be a plain function `void(const ray::tune::Json &)` or a "
                  "lambda without captures: the trial runs in another process, where a closure's captures "
                  "and a std::function do not exist. Pass data through the config.");
    TrainFunction fn = function;
    *this = FromAddress(kFunction, reinterpret_cast<std::uintptr_t>(fn));
  }

  /// The class API: `TrainableRef::Class<MyTrainable>()`.
  template <class T>
  static TrainableRef Class() {
    TrainableFactory factory = &NewTrainable<T>;
    return FromAddress(kClass, reinterpret_cast<std::uintptr_t>(factory));
  }

  bool is_class() const { return kind_ == kClass; }

  /// Lumen's tune.with_parameters: a copy carrying `parameters`, which every
  /// trial reads as GetContext().parameters (Ray passes them as arguments; a
  /// C++ trainable's signature is fixed). They travel with the reference.
  TrainableRef WithParameters(Json parameters) const {
    TrainableRef copy = *this;
    copy.parameters_ = std::move(parameters);
    return copy;
  }
  const Json &parameters() const { return parameters_; }
  /// Lumen's tune.with_resources: a copy saying what each trial holds. The
  /// Tuner uses it when TuneConfig::resources_per_trial is left at its
  /// default, and refuses a TuneConfig that says otherwise (as Ray does).
  TrainableRef WithResources(Resources resources) const {
    TrainableRef copy = *this;
    copy.resources_ = std::move(resources);
    copy.has_resources_ = true;
    return copy;
  }
  /// The resources WithResources set, if any.
  const Resources *resources() const { return has_resources_ ? &resources_ : nullptr; }
  /// What travels (plain JSON) and its inverse; FromJson throws TuneError on
  /// a malformed reference.
  Json ToJson() const;
  static TrainableRef FromJson(const Json &json);
  /// "function Train in /path/prog" or similar, for errors and logs.
  std::string Describe() const;
  /// A short name for trial and experiment folders: the function's or the
  /// class's name when the module exports its symbol, else "trainable".
  std::string Name() const;

  /// In the worker: the function or factory this reference names in the
  /// calling process. Throws TuneError when the module is not loaded here or
  /// the code at the offset is not the code the driver named.
  TrainFunction ResolveFunction() const;
  TrainableFactory ResolveFactory() const;

 private:
  enum Kind { kFunction, kClass };
  TrainableRef() = default;
  static TrainableRef FromAddress(Kind kind, std::uintptr_t address);
  std::uintptr_t Resolve(Kind kind) const;

  Kind kind_ = kFunction;
  std::string module_path_;
  std::string build_id_;  // hex; empty when the module has none
  std::uint64_t offset_ = 0;
  std::string symbol_;  // empty when the module does not export one
  std::uint64_t code_hash_ = 0;
  Json parameters_;      // WithParameters; travels in ToJson
  Resources resources_;  // WithResources; the driver's only
  bool has_resources_ = false;
};

}  // namespace tune
}  // namespace ray
