// Source-compatibility compile test: snippet shapes from Ray's C++ API docs
// and tests, built as C++17 with warnings as errors. It also runs the shapes
// that make sense against the fake runtime.
#include <ray/api.h>

#include <cassert>
#include <chrono>
#include <iostream>
#include <thread>

#include "compile_test_shared.h"

int CallSharedFromSecondUnit();  // compile_test_macros.cc

using namespace ray;

// A user class named Counter must not clash with anything under `using
// namespace ray` (metric.h stays out of api.h).
class Counter {
 public:
  explicit Counter(int init) : count_(init) {}
  static Counter *FactoryCreate() { return new Counter(0); }
  static Counter *FactoryCreate(int init) { return new Counter(init); }
  static Counter *FactoryCreate(int a, int b) { return new Counter(a + b); }
  int Add(int x) {
    count_ += x;
    return count_;
  }
  int Add(int x, int y) { return Add(x + y); }
  int Get() const { return count_; }
  int Qualified() const & { return count_; }
  std::string Echo(const std::string &s) { return s; }
  ActorHandle<Counter> Self(ActorHandle<Counter> h) { return h; }

 private:
  int count_;
};

struct Student {
  std::string name;
  int age;
  MSGPACK_DEFINE(name, age);
};

struct Point {
  double x = 0;
  double y = 0;
  MSGPACK_DEFINE_MAP(x, y);
};

int Plus(int x, int y) { return x + y; }
int Plus1(int x) { return x + 1; }
void Nothing() {}
int Overloaded() { return 0; }
int Overloaded(int x) { return x; }
Student MakeStudent(std::string name, int age) { return Student{name, age}; }
double Norm(Point p) { return p.x * p.x + p.y * p.y; }
std::vector<std::byte> Bytes(std::vector<std::byte> b) { return b; }
std::map<std::string, int> Map(std::map<std::string, int> m) { return m; }
std::tuple<int, std::string> Tuple(std::tuple<int, std::string> t) { return t; }
std::array<int, 4> Array(std::array<int, 4> a) { return a; }
std::vector<std::any> AnyArray(std::vector<std::any> a) { return a; }
int ByRef(ObjectRef<int> r) { return *r.Get(); }

RAY_REMOTE(Plus, Plus1, Nothing, MakeStudent, Norm, Bytes, Map, Tuple, Array, AnyArray, ByRef);
RAY_REMOTE(RAY_FUNC(Overloaded), RAY_FUNC(Overloaded, int));
RAY_REMOTE(RAY_FUNC(Counter::FactoryCreate), RAY_FUNC(Counter::FactoryCreate, int),
           RAY_FUNC(Counter::FactoryCreate, int, int), RAY_FUNC(&Counter::Add, int),
           RAY_FUNC(&Counter::Add, int, int), &Counter::Get, &Counter::Qualified, &Counter::Echo,
           &Counter::Self);

namespace user_namespace {
int Triple(int x) { return 3 * x; }
RAY_REMOTE(Triple);
}  // namespace user_namespace

// Shapes that only need to compile (they would talk to a real cluster).
void CompileOnlyShapes(int argc, char **argv) {
  RayConfig config;
  config.address = "127.0.0.1:6379";
  config.code_search_path = {"/tmp"};
  config.head_args = {"--num-cpus", "2"};
  config.default_actor_lifetime = ActorLifetime::DETACHED;
  config.redis_password_ = std::string("pw");
  config.ray_namespace = "ns";
  RuntimeEnv job_env;
  job_env.Set("env_vars", std::map<std::string, std::string>{{"K", "V"}});
  config.runtime_env = job_env;
  ray::Init(config, argc, argv);
  ray::Init(config);
  ray::Init();
  bool initialized = ray::IsInitialized();
  (void)initialized;

  ActorHandleXlang py = ray::Actor(PyActorClass{"mod", "Counter"}).Remote(1);
  ObjectRef<int> py_result = py.Task(PyActorMethod<int>{"increase"}).Remote(1);
  ObjectRef<std::string> java_result =
      ray::Task(JavaFunction<std::string>{"io.ray.Test", "echo"}).Remote("x");
  ActorHandleXlang java = ray::Actor(JavaActorClass{"io.ray.Outer$Inner"}).Remote();
  java.Task(JavaActorMethod<int>{"get"}).Remote();
  boost::optional<ActorHandleXlang> xlang = ray::GetActor("java_actor", "ns");
  ObjectRef<int> py_fn = ray::Task(PyFunction<int>{"mod", "fn"}).Remote(Student{"a", 1});
  (void)py_result;
  (void)java_result;
  (void)xlang;
  (void)py_fn;

  PlacementGroupCreationOptions options{"pg", {{{"CPU", 1}}}, PlacementStrategy::STRICT_PACK};
  PlacementGroup pg = ray::CreatePlacementGroup(options);
  if (pg.Wait(10) && pg.GetState() != PlacementGroupState::REMOVED && pg.GetState() != REMOVED) {
    auto actor = ray::Actor(RAY_FUNC(Counter::FactoryCreate)).SetPlacementGroup(pg, 0).Remote();
    ray::Task(Plus1).SetPlacementGroup(pg, 0).Remote(1);
    actor.Kill();
  }
  std::vector<PlacementGroup> all = ray::GetAllPlacementGroups();
  ray::GetPlacementGroupById(pg.GetID());
  ray::GetPlacementGroup("pg");
  ray::RemovePlacementGroup(pg.GetID());
  std::string ns = ray::GetNamespace();
  // Lumen extensions (<ray/api/runtime_context.h>, included by <ray/api.h>).
  const ray::RuntimeContext context = ray::GetRuntimeContext();
  std::string ids = context.GetJobId() + context.GetNodeId() + context.GetTaskId() + context.GetActorId() +
                    context.GetWorkerId() + context.GetNamespace();
  std::unordered_map<std::string, double> assigned = context.GetAssignedResources();
  for (const ray::NodeInfo &node : ray::Nodes()) {
    if (node.alive && !node.node_id.empty() && !node.address.empty())
      assigned.insert(node.resources.begin(), node.resources.end());
  }
  std::unordered_map<std::string, double> total = ray::ClusterResources();
  std::unordered_map<std::string, double> available = ray::AvailableResources();
  if (context.WasCurrentActorRestarted() || ids.empty() || total.size() < available.size()) {
    std::cout << assigned.size();
  }
  if (ray::WasCurrentActorRestarted()) {
    ray::ExitActor();
  }
  try {
    ray::Task(Plus1).Remote(1).Get(5);
  } catch (const ray::internal::RayTimeoutException &e) {
  } catch (const ray::internal::RayTaskException &e) {
  } catch (const ray::internal::RayActorException &e) {
  } catch (const ray::internal::RayWorkerException &e) {
  } catch (const ray::internal::UnreconstructableException &e) {
  } catch (const ray::internal::RayFunctionNotFound &e) {
  } catch (const ray::internal::RayRuntimeEnvException &e) {
  } catch (const ray::internal::RayException &e) {
    std::cout << e.what() << e.msg_;
  }
  bool local = ray::internal::GetRayRuntime()->IsLocalMode();
  (void)local;
  ray::Shutdown();
}

int main(int argc, char **argv) {
  if (argc > 100) {
    CompileOnlyShapes(argc, argv);
  }

  RayConfig config;
  config.local_mode = true;
  ray::Init(config);
  assert(ray::IsInitialized());

  // Put / Get.
  ObjectRef<int> obj = ray::Put(2);
  std::shared_ptr<int> value = ray::Get(obj);
  int direct = *obj.Get();
  std::shared_ptr<int> timed = ray::Get(obj, 5);

  // Tasks, RAY_FUNC at the call site, chained setters on the temporary.
  ObjectRef<int> task = ray::Task(Plus).Remote(1, 2);
  ObjectRef<int> overloaded = ray::Task(RAY_FUNC(Overloaded, int)).Remote(7);
  ObjectRef<int> chained = ray::Task(Plus1)
                               .SetName("plus1")
                               .SetResource("CPU", 1.0)
                               .SetResources({{"CPU", 1.0}, {"memory", 2.0}})
                               .SetRuntimeEnv(RuntimeEnv())
                               .Remote(obj);
  ObjectRef<int> nested = ray::Task(user_namespace::Triple).Remote(task);
  ObjectRef<void> nothing = ray::Task(Nothing).Remote();
  nothing.Get();
  ObjectRef<Student> student = ray::Task(MakeStudent).Remote("tom", 3);
  ObjectRef<double> norm = ray::Task(Norm).Remote(Point{3, 4});
  std::vector<std::byte> raw{std::byte{1}, std::byte{2}};
  auto bytes = ray::Task(Bytes).Remote(raw);
  auto map = ray::Task(Map).Remote(std::map<std::string, int>{{"a", 1}});
  auto tuple = ray::Task(Tuple).Remote(std::make_tuple(1, std::string("x")));
  auto array = ray::Task(Array).Remote(std::array<int, 4>{1, 2, 3, 4});
  std::vector<std::any> any_items{std::any(1), std::any(std::string("s"))};
  auto any = ray::Task(AnyArray).Remote(any_items);
  auto by_ref = ray::Task(ByRef).Remote(obj);

  // Wait with std::list results.
  std::vector<ObjectRef<int>> refs{task, overloaded, chained};
  WaitResult<int> waited = ray::Wait(refs, 3, 1000);
  assert(waited.ready.size() == 3 && waited.unready.empty());
  for (const ObjectRef<int> &ready : waited.ready) {
    (void)ready;
  }
  std::vector<std::shared_ptr<int>> results = ray::Get(refs);
  std::vector<std::shared_ptr<int>> results_timed = ray::Get(refs, 100);

  // Actors: overloaded factories, overloaded members, const members, named.
  ActorHandle<Counter> actor = ray::Actor(RAY_FUNC(Counter::FactoryCreate, int))
                                   .SetName("counter")
                                   .SetMaxRestarts(1)
                                   .SetMaxConcurrency(1)
                                   .SetResource("CPU", 1)
                                   .Remote(10);
  ActorHandle<Counter> actor2 = ray::Actor(RAY_FUNC(Counter::FactoryCreate, int, int)).Remote(1, 2);
  ray::Actor(RAY_FUNC(Counter::FactoryCreate)).SetName("counter2", "other_ns").Remote();
  ObjectRef<int> added = actor.Task(RAY_FUNC(&Counter::Add, int)).Remote(5);
  ObjectRef<int> added2 = actor.Task(RAY_FUNC(&Counter::Add, int, int)).SetName("add").Remote(added, 1);
  ObjectRef<int> count = actor2.Task(&Counter::Get).Remote();
  ObjectRef<int> qualified = actor2.Task(&Counter::Qualified).Remote();
  ObjectRef<std::string> echo = actor.Task(&Counter::Echo).Remote("hello");
  ObjectRef<ActorHandle<Counter>> self = actor.Task(&Counter::Self).Remote(actor);
  boost::optional<ray::ActorHandle<Counter>> named = ray::GetActor<Counter>("counter");
  boost::optional<ActorHandle<Counter>> other = ray::GetActor<Counter>("counter2", "other_ns");
  assert(named && other && !ray::GetActor<Counter>("nope"));
  assert(*added2.Get() == 31 && *count.Get() == 3 && *qualified.Get() == 3);
  assert(self.Get()->ID() == actor.ID());

  // Nested refs.
  ObjectRef<ObjectRef<int>> ref_of_ref = ray::Put(obj);
  assert(*ref_of_ref.Get()->Get() == 2);

  // Logging.
  RAYLOG(INFO) << "compile test ran: " << *value + direct + *timed;
  RAYLOG(DEBUG) << "debug";

  // nlohmann::json and the other transitive includes.
  nlohmann::json j = {{"a", 1}};
  boost::string_view sv("abc");
  std::string_view ssv("abc");
  std::list<int> l{1, 2};
  std::vector<int> copied;
  std::transform(l.begin(), l.end(), std::back_inserter(copied), [](int x) { return x; });
  (void)j;
  (void)sv;
  (void)ssv;
  (void)sleep;

  assert(*nested.Get() == 9 && *by_ref.Get() == 2 && student.Get()->age == 3);
  assert(*norm.Get() == 25 && bytes.Get()->size() == 2 && map.Get()->at("a") == 1);
  assert(std::get<1>(*tuple.Get()) == "x" && (*array.Get())[3] == 4 && any.Get()->size() == 2);
  assert(*echo.Get() == "hello" && results.size() == 3 && results_timed.size() == 3);

  assert(CallSharedFromSecondUnit() == 42);
  assert(*ray::Task(SharedHeaderFunction).Remote(1).Get() == 2);

  ray::Shutdown();
  ray::Shutdown();
  assert(!ray::IsInitialized());
  std::cout << "compile test OK" << std::endl;
  return 0;
}
