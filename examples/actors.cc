// actors: Lumen's actors in three short scenes.
//
//   1. A counter actor: state that lives in its own process; calls from one
//      caller run in the order they were submitted.
//   2. A named, detached actor shared between drivers: this program starts
//      itself again (--second-driver) as other driver processes, which join the
//      running cluster by address, create or find the actor by name and call it.
//   3. A pool of worker actors fed by a driver loop: ray::Wait hands the next
//      work item to whichever actor finished first.
//
//   actors [--small] [--items N] [--workers W]
#include <ray/api.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;

static const char kNamespace[] = "actors_example";
static const char kGuestbookName[] = "guestbook";

// ---- scene 1: a counter ----

class Counter {
 public:
  explicit Counter(int start) : value_(start) {}
  static Counter *Create(int start) { return new Counter(start); }

  int Add(int x) {
    value_ += x;
    return value_;
  }
  int Read() { return value_; }
  int Pid() { return static_cast<int>(getpid()); }

 private:
  int value_;
};
RAY_REMOTE(Counter::Create, &Counter::Add, &Counter::Read, &Counter::Pid);

// ---- scene 2: a guestbook shared between drivers ----

class Guestbook {
 public:
  static Guestbook *Create() { return new Guestbook(); }

  // Adds an entry and returns how many there are now.
  int Sign(std::string who) {
    entries_.push_back(std::move(who));
    return static_cast<int>(entries_.size());
  }
  std::vector<std::string> Entries() { return entries_; }
  int Pid() { return static_cast<int>(getpid()); }

 private:
  std::vector<std::string> entries_;
};
RAY_REMOTE(Guestbook::Create, &Guestbook::Sign, &Guestbook::Entries, &Guestbook::Pid);

// ---- scene 3: a pool of workers ----

struct WorkItem {
  int id = 0;
  int64_t lo = 0;  // count the primes in [lo, hi)
  int64_t hi = 0;
  MSGPACK_DEFINE(id, lo, hi);
};

struct WorkResult {
  int item_id = 0;
  int worker_id = 0;
  int64_t primes = 0;
  int items_done_by_worker = 0;  // including this one
  double ms = 0;
  MSGPACK_DEFINE(item_id, worker_id, primes, items_done_by_worker, ms);
};

static int64_t CountPrimes(int64_t lo, int64_t hi) {
  int64_t count = 0;
  for (int64_t n = std::max<int64_t>(lo, 2); n < hi; ++n) {
    bool prime = n == 2 || n % 2 != 0;
    for (int64_t d = 3; prime && d * d <= n; d += 2) {
      if (n % d == 0) prime = false;
    }
    if (prime) ++count;
  }
  return count;
}

class PrimeWorker {
 public:
  explicit PrimeWorker(int id) : id_(id) {}
  static PrimeWorker *Create(int id) { return new PrimeWorker(id); }

  WorkResult Process(WorkItem item) {
    auto t0 = std::chrono::steady_clock::now();
    WorkResult r;
    r.item_id = item.id;
    r.worker_id = id_;
    r.primes = CountPrimes(item.lo, item.hi);
    r.items_done_by_worker = ++done_;
    r.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return r;
  }
  int Pid() { return static_cast<int>(getpid()); }

 private:
  int id_;
  int done_ = 0;
};
RAY_REMOTE(PrimeWorker::Create, &PrimeWorker::Process, &PrimeWorker::Pid);

// ---- helpers ----

static double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Where this user's sessions live: LUMEN_TMPDIR, else a private folder on the
// tmpfs (where a driver's cluster keeps it unless someone else took that name).
static fs::path SessionRoot() {
  const char *tmp = std::getenv("LUMEN_TMPDIR");
  return tmp ? fs::path(tmp) : fs::path("/dev/shm/lumen-" + std::to_string(geteuid()));
}

static std::string ReadFirstWord(const fs::path &path) {
  std::ifstream in(path);
  std::string word;
  in >> word;
  return word;
}

// The session folder of the cluster this driver started: normally what
// session_latest points at. Session folders carry the starting driver's pid, so
// when another cluster on this machine started meanwhile, look for ours.
static fs::path OwnSessionDir() {
  std::error_code ec;
  fs::path latest = fs::canonical(SessionRoot() / "session_latest", ec);
  const std::string tag = "_" + std::to_string(getpid()) + "_";
  if (!ec && latest.filename().string().find(tag) != std::string::npos) return latest;
  // Sessions may live elsewhere (an embedded cluster's on a tmpfs): look
  // beside the newest one.
  fs::path folder = ec ? SessionRoot() : latest.parent_path();
  ec.clear();
  for (const auto &entry : fs::directory_iterator(folder, ec)) {
    std::string name = entry.path().filename().string();
    if (name.rfind("session_", 0) == 0 && name.find(tag) != std::string::npos) return entry.path();
  }
  return ec ? fs::path() : latest;  // joined someone else's cluster (RAY_ADDRESS)
}

// Runs this program again as `--second-driver <role> <session dir>` and waits for it.
static bool RunSecondDriver(const std::string &role, const fs::path &session_dir) {
  std::string self = fs::read_symlink("/proc/self/exe").string();
  std::vector<std::string> args = {self, "--second-driver", role, session_dir.string()};
  std::vector<char *> argv;
  for (auto &a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    execv("/proc/self/exe", argv.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// ---- the second driver: a separate process joining the running cluster ----

// What the second driver does once it has joined: create or visit the guestbook.
static int SecondDriverScene(const std::string &role, const std::string &me) {
  int rc = 0;
  if (role == "create") {
    // default_actor_lifetime = DETACHED: the actor outlives this driver.
    ray::ActorHandle<Guestbook> book = ray::Actor(Guestbook::Create).SetName(kGuestbookName).Remote();
    int n = *book.Task(&Guestbook::Sign)
                 .Remote("the driver that created me (pid " + std::to_string(getpid()) + ")")
                 .Get();
    int pid = *book.Task(&Guestbook::Pid).Remote().Get();
    std::printf("    %s created detached actor \"%s\" (process %d) and signed it: %d entry\n", me.c_str(),
                kGuestbookName, pid, n);
    std::printf("    %s exits now, without killing it\n", me.c_str());
  } else {
    boost::optional<ray::ActorHandle<Guestbook>> book = ray::GetActor<Guestbook>(kGuestbookName);
    if (!book) {
      std::printf("    %s FAILED: no actor named \"%s\" in namespace \"%s\"\n", me.c_str(), kGuestbookName,
                  kNamespace);
      rc = 1;
    } else {
      int n = *book->Task(&Guestbook::Sign)
                   .Remote("a visiting driver (pid " + std::to_string(getpid()) + ")")
                   .Get();
      std::printf("    %s found \"%s\" with ray::GetActor and signed it: %d entries now\n", me.c_str(),
                  kGuestbookName, n);
    }
  }
  return rc;
}

static int SecondDriverMain(const std::string &role, const fs::path &session_dir) {
  const std::string me =
      std::string(role == "create" ? "[driver 2" : "[driver 3") + ", pid " + std::to_string(getpid()) + "]";
  std::string port = ReadFirstWord(session_dir / "control.port");
  if (port.empty()) {
    std::printf("    %s cannot read %s\n", me.c_str(), (session_dir / "control.port").c_str());
    return 1;
  }
  // Joining by address, the runtime finds the token in the session folder
  // of the cluster listening there.
  ray::RayConfig config;
  config.address = "127.0.0.1:" + port;
  config.ray_namespace = kNamespace;
  if (role == "create") config.default_actor_lifetime = ray::ActorLifetime::DETACHED;
  try {
    ray::Init(config);
  } catch (const std::exception &e) {
    std::printf("    %s cannot join the cluster: %s\n", me.c_str(), e.what());
    return 1;
  }
  std::printf("    %s joined the cluster at %s, namespace \"%s\"\n", me.c_str(), config.address.c_str(),
              ray::GetNamespace().c_str());

  int rc = 0;
  try {
    rc = SecondDriverScene(role, me);
  } catch (const std::exception &e) {
    std::printf("    %s FAILED: %s\n", me.c_str(), e.what());
    rc = 1;
  }
  ray::Shutdown();
  return rc;
}

// ---- the three scenes, in the first driver ----

static int CounterScene() {
  std::printf("\n== 1. A counter actor ==\n");
  ray::ActorHandle<Counter> counter = ray::Actor(Counter::Create).Remote(10);
  int pid = *counter.Task(&Counter::Pid).Remote().Get();
  std::printf("Created Counter(10); it lives in process %d (this driver is process %d).\n", pid,
              static_cast<int>(getpid()));

  const std::vector<int> adds = {5, 1, 3, 8};
  std::vector<ray::ObjectRef<int>> refs;
  for (int x : adds) refs.push_back(counter.Task(&Counter::Add).Remote(x));
  std::printf("Submitted Add(5), Add(1), Add(3), Add(8) without waiting; results, in order:\n");
  const std::vector<int> expected = {15, 16, 19, 27};
  int bad = 0;
  for (size_t i = 0; i < refs.size(); ++i) {
    int v = *ray::Get(refs[i]);
    std::printf("  Add(%d) -> %d%s\n", adds[i], v, v == expected[i] ? "" : "   <-- WRONG");
    if (v != expected[i]) ++bad;
  }

  // An argument that is the (not yet fetched) result of an earlier call.
  int doubled = *counter.Task(&Counter::Add).Remote(refs.back()).Get();
  std::printf("Add(<ObjectRef of the last result>) -> %d (the actor resolved its own earlier result)\n",
              doubled);
  if (doubled != 54) ++bad;
  int value = *counter.Task(&Counter::Read).Remote().Get();
  std::printf("Read() -> %d\n", value);
  if (value != 54) ++bad;

  counter.Kill();
  try {
    counter.Task(&Counter::Read).Remote().Get(10000);
    std::printf("  <-- WRONG: a call after Kill() still answered\n");
    ++bad;
  } catch (const ray::internal::RayActorException &e) {
    std::printf("Killed it; a later call raises RayActorException, as it should.\n");
  } catch (const ray::internal::RayException &e) {
    std::printf("  <-- WRONG: a call after Kill() raised: %s\n", e.what());
    ++bad;
  }
  return bad;
}

static int SharedActorScene() {
  std::printf("\n== 2. A named, detached actor shared between drivers ==\n");
  fs::path session_dir = OwnSessionDir();
  std::printf("This driver's namespace is \"%s\"; the cluster's session folder is %s.\n",
              ray::GetNamespace().c_str(), session_dir.c_str());
  int bad = 0;

  std::printf("Starting a second driver process that creates the actor with DETACHED lifetime:\n");
  if (!RunSecondDriver("create", session_dir)) {
    std::printf("  <-- WRONG: the second driver failed\n");
    return 1;
  }

  boost::optional<ray::ActorHandle<Guestbook>> book = ray::GetActor<Guestbook>(kGuestbookName);
  if (!book) {
    std::printf("  <-- WRONG: \"%s\" is gone with the driver that created it\n", kGuestbookName);
    return 1;
  }
  int n = *book->Task(&Guestbook::Sign).Remote(std::string("the first driver")).Get();
  std::printf("Its creator has exited, yet ray::GetActor found \"%s\" here too; signed it: %d entries.\n",
              kGuestbookName, n);

  std::printf("Starting another driver process that finds it by name:\n");
  if (!RunSecondDriver("visit", session_dir)) {
    std::printf("  <-- WRONG: the visiting driver failed\n");
    ++bad;
  }

  std::vector<std::string> entries = *book->Task(&Guestbook::Entries).Remote().Get();
  std::printf("The guestbook now holds:\n");
  for (size_t i = 0; i < entries.size(); ++i) std::printf("  %zu. %s\n", i + 1, entries[i].c_str());
  if (entries.size() != 3) ++bad;

  // Detached actors live until they are killed (or the cluster stops).
  book->Kill();
  bool released = false;
  for (int i = 0; i < 100 && !released; ++i) {
    released = !ray::GetActor<Guestbook>(kGuestbookName);
    if (!released) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::printf("Killed it; its name is %s.\n", released ? "free again" : "STILL TAKEN  <-- WRONG");
  if (!released) ++bad;
  return bad;
}

static int PoolScene(int num_workers, int num_items, int64_t item_size) {
  std::printf("\n== 3. A pool of %d worker actors fed by the driver ==\n", num_workers);
  std::vector<ray::ActorHandle<PrimeWorker>> workers;
  for (int w = 0; w < num_workers; ++w) workers.push_back(ray::Actor(PrimeWorker::Create).Remote(w));
  std::vector<ray::ObjectRef<int>> pids;
  for (auto &w : workers) pids.push_back(w.Task(&PrimeWorker::Pid).Remote());
  std::printf("Worker actors 0..%d are up, in processes", num_workers - 1);
  for (auto &pid : ray::Get(pids)) std::printf(" %d", *pid);
  std::printf(".\n");

  // Items of different sizes, so the workers finish at different times.
  std::deque<WorkItem> queue;
  int64_t lo = 10000000;
  for (int i = 0; i < num_items; ++i) {
    int64_t len = item_size * (1 + i % 4);
    queue.push_back({i, lo, lo + len});
    lo += len;
  }
  const int64_t range_lo = queue.front().lo, range_hi = lo;
  std::printf("%d work items: count the primes in [%lld, %lld), in slices of %lld to %lld numbers.\n",
              num_items, static_cast<long long>(range_lo), static_cast<long long>(range_hi),
              static_cast<long long>(item_size), static_cast<long long>(4 * item_size));

  auto t0 = std::chrono::steady_clock::now();
  std::vector<ray::ObjectRef<WorkResult>> pending;
  std::map<std::string, int> worker_of;  // object id -> worker index
  auto hand_out = [&](int w) {
    if (queue.empty()) return;
    WorkItem item = queue.front();
    queue.pop_front();
    ray::ObjectRef<WorkResult> ref = workers[w].Task(&PrimeWorker::Process).Remote(item);
    worker_of[ref.ID()] = w;
    pending.push_back(ref);
  };
  for (int w = 0; w < num_workers; ++w) hand_out(w);

  int64_t total = 0;
  std::vector<int> per_worker(num_workers, 0);
  int done = 0;
  while (!pending.empty()) {
    ray::WaitResult<WorkResult> wr = ray::Wait(pending, 1, -1);
    pending.assign(wr.unready.begin(), wr.unready.end());
    for (auto &ref : wr.ready) {
      WorkResult r = *ray::Get(ref);
      int w = worker_of.at(ref.ID());
      worker_of.erase(ref.ID());
      total += r.primes;
      ++per_worker[w];
      ++done;
      std::printf("  [%6.3f s] item %2d: %6lld primes, by worker %d (its item #%d, %.1f ms)%s\n", Seconds(t0),
                  r.item_id, static_cast<long long>(r.primes), r.worker_id, r.items_done_by_worker, r.ms,
                  queue.empty() ? "" : "; it gets the next item");
      hand_out(w);
    }
  }
  const double elapsed = Seconds(t0);
  std::printf("All %d items done in %.3f s. Items per worker:", done, elapsed);
  for (int w = 0; w < num_workers; ++w) std::printf(" w%d=%d", w, per_worker[w]);
  std::printf("\n");
  for (auto &w : workers) w.Kill();

  auto t1 = std::chrono::steady_clock::now();
  int64_t expected = CountPrimes(range_lo, range_hi);
  std::printf("%lld primes in total; counting them serially in the driver took %.3f s and gave %lld.\n",
              static_cast<long long>(total), Seconds(t1), static_cast<long long>(expected));
  return total == expected && done == num_items ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc == 4 && !std::strcmp(argv[1], "--second-driver")) return SecondDriverMain(argv[2], argv[3]);

  int num_items = 24, num_workers = 4;
  int64_t item_size = 50000;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--small")) {
      num_items = 8;
      item_size = 5000;
    } else if (!std::strcmp(argv[i], "--items") && i + 1 < argc) {
      num_items = std::max(1, std::atoi(argv[++i]));
    } else if (!std::strcmp(argv[i], "--workers") && i + 1 < argc) {
      num_workers = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: %s [--small] [--items N] [--workers W]\n", argv[0]);
      return 2;
    }
  }

  ray::RayConfig config;
  config.ray_namespace = kNamespace;  // the other drivers join this namespace
  ray::Init(config);
  std::printf("Started a local cluster (driver pid %d).\n", static_cast<int>(getpid()));

  int bad = 0;
  try {
    bad += CounterScene();
    bad += SharedActorScene();
    bad += PoolScene(num_workers, num_items, item_size);
  } catch (const std::exception &e) {
    std::printf("\nFAILED: %s\n", e.what());
    ray::Shutdown();
    return 1;
  }
  ray::Shutdown();
  if (bad) {
    std::printf("\nFAILED: %d check(s) did not hold.\n", bad);
    return 1;
  }
  std::printf("\nOK: every actor result was as expected.\n");
  return 0;
}
