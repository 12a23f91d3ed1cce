// Unit tests of the public C++ API headers against an in-process fake runtime.
#include <gtest/gtest.h>
#include <ray/api.h>
#include <ray/api/metric.h>

#include <cstddef>

#include "fake_runtime.h"

using lumen_test::FakeRuntime;
using ray::internal::ArgView;
using ray::internal::FunctionManager;
using ray::internal::RayException;
using ray::internal::Serializer;

// ---- remote functions ----

int Return1() { return 1; }
int Plus1(int x) { return x + 1; }
int Plus(int a, int b) { return a + b; }
double Half(double x) { return x / 2; }
std::string ConcatRvalue(std::string &&a, std::string &&b) { return a + b; }
std::string ConcatConstRef(const std::string &a, const std::string &b) { return a + b; }
std::string ConcatRef(std::string &a, std::string &b) {
  a += "!";
  return a + b;
}
int g_void_calls = 0;
void VoidFunc() { ++g_void_calls; }
int OverloadFunc() { return 100; }
int OverloadFunc(int x) { return x + 100; }
int OverloadFunc(int x, int y) { return x + y + 100; }
int ThrowTask() { throw std::logic_error("boom from task"); }
int GetVal(ray::ObjectRef<int> ref) { return *ref.Get() * 10; }
int SumRefs(std::vector<ray::ObjectRef<int>> refs) {
  int sum = 0;
  for (auto &ref : refs) sum += *ref.Get();
  return sum;
}
int NotRegistered(int x) { return x; }
int DupFunc() { return 0; }

struct Student {
  std::string name;
  int age;
  MSGPACK_DEFINE(name, age);
};
Student Older(Student s) {
  s.age += 1;
  return s;
}
size_t CountAny(std::vector<std::any> items) { return items.size(); }

class Counter {
 public:
  explicit Counter(int init) : count_(init) {}
  static Counter *FactoryCreate() { return new Counter(0); }
  static Counter *FactoryCreate(int init) { return new Counter(init); }
  static Counter *NotRegisteredFactory() { return new Counter(0); }
  int Add(int x) {
    count_ += x;
    return count_;
  }
  int Get() const { return count_; }
  std::string Concat(const std::string &a, std::string &&b) { return a + b; }
  int Unregistered() { return 0; }

 private:
  int count_;
};

class Base {
 public:
  virtual ~Base() = default;
  static Base *FactoryCreate() { return new Base(); }
  virtual int Foo() { return 1; }
};

class Derived : public Base {
 public:
  static Derived *FactoryCreate() { return new Derived(); }
  int Foo() override { return 10; }
};

RAY_REMOTE(Return1, Plus1, Plus, Half, ConcatRvalue, ConcatConstRef, ConcatRef, VoidFunc);
RAY_REMOTE(RAY_FUNC(OverloadFunc), RAY_FUNC(OverloadFunc, int), RAY_FUNC(OverloadFunc, int, int));
RAY_REMOTE(ThrowTask, GetVal, SumRefs, Older, CountAny);
RAY_REMOTE(RAY_FUNC(Counter::FactoryCreate), RAY_FUNC(Counter::FactoryCreate, int), &Counter::Add,
           &Counter::Get, &Counter::Concat)
RAY_REMOTE(Base::FactoryCreate, Derived::FactoryCreate, &Base::Foo);

namespace {

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    runtime_ = std::make_shared<FakeRuntime>();
    lumen_test::SetRuntime(runtime_);
  }
  void TearDown() override { lumen_test::SetRuntime(nullptr); }

  std::shared_ptr<FakeRuntime> runtime_;
};

template <typename T>
msgpack::sbuffer Pack(const T &value) {
  return Serializer::Serialize(value);
}

// ---- registration ----

TEST(RegistrationTest, KeysAreTheMacroArgumentText) {
  auto names = FunctionManager::Instance().GetFunctionNames();
  auto has = [&](const std::string &n) { return std::find(names.begin(), names.end(), n) != names.end(); };
  EXPECT_TRUE(has("Return1"));
  EXPECT_TRUE(has("Plus"));
  EXPECT_TRUE(has("RAY_FUNC(OverloadFunc)"));
  EXPECT_TRUE(has("RAY_FUNC(OverloadFunc, int)"));
  EXPECT_TRUE(has("RAY_FUNC(OverloadFunc, int, int)"));
  EXPECT_TRUE(has("RAY_FUNC(Counter::FactoryCreate, int)"));
  EXPECT_TRUE(has("Derived::FactoryCreate"));
  auto members = FunctionManager::Instance().GetMemberFunctionNames();
  EXPECT_NE(std::find(members.begin(), members.end(), "&Counter::Add"), members.end());
  EXPECT_NE(std::find(members.begin(), members.end(), "&Base::Foo"), members.end());

  EXPECT_EQ(FunctionManager::Instance().GetFunctionName(Plus1), "Plus1");
  EXPECT_EQ(FunctionManager::Instance().GetFunctionName(&Plus1), "Plus1");
  EXPECT_EQ(FunctionManager::Instance().GetFunctionName(RAY_FUNC(OverloadFunc, int)),
            "RAY_FUNC(OverloadFunc, int)");
  EXPECT_EQ(FunctionManager::Instance().GetFunctionName(&Counter::Add), "&Counter::Add");
  EXPECT_EQ(FunctionManager::Instance().GetFunctionName(NotRegistered), "");
}

TEST(RegistrationTest, SplitsOnTopLevelCommasOnly) {
  auto names =
      ray::internal::SplitRemoteNames(" Plus1,  &Counter::Add ,RAY_FUNC(Counter::FactoryCreate, int, int)");
  ASSERT_EQ(names.size(), 3u);
  EXPECT_EQ(names[0], "Plus1");
  EXPECT_EQ(names[1], "&Counter::Add");
  EXPECT_EQ(names[2], "RAY_FUNC(Counter::FactoryCreate, int, int)");
}

TEST(RegistrationTest, DuplicateRegisterThrows) {
  auto &manager = FunctionManager::Instance();
  EXPECT_TRUE(manager.RegisterRemoteFunction("DupFunc", DupFunc));
  EXPECT_THROW(manager.RegisterRemoteFunction("DupFunc", Return1), RayException);   // name
  EXPECT_THROW(manager.RegisterRemoteFunction("DupFunc2", DupFunc), RayException);  // pointer
  EXPECT_THROW(manager.RegisterRemoteFunction("&Counter::Add", &Counter::Add), RayException);
  EXPECT_THROW(manager.RegisterRemoteFunction("AddAgain", &Counter::Add), RayException);
}

TEST(RegistrationTest, ClassNameByFuncName) {
  using FM = FunctionManager;
  EXPECT_EQ(FM::GetClassNameByFuncName("RAY_FUNC(Counter::FactoryCreate)"), "Counter");
  EXPECT_EQ(FM::GetClassNameByFuncName("RAY_FUNC(Counter::FactoryCreate, int)"), "Counter");
  EXPECT_EQ(FM::GetClassNameByFuncName("Counter::FactoryCreate"), "Counter");
  EXPECT_EQ(FM::GetClassNameByFuncName("&Counter::Add"), "Counter");
  EXPECT_EQ(FM::GetClassNameByFuncName("ns::Counter::Add"), "ns::Counter");
  EXPECT_EQ(FM::GetClassNameByFuncName("Plus1"), "");
  EXPECT_EQ(FM::GetClassNameByFuncName(""), "");
}

TEST_F(ApiTest, UnregisteredFunctionThrowsAtTask) {
  try {
    ray::Task(NotRegistered);
    FAIL() << "expected RayException";
  } catch (const RayException &e) {
    EXPECT_NE(std::string(e.what()).find("RAY_REMOTE"), std::string::npos);
  }
  EXPECT_THROW(ray::Actor(Counter::NotRegisteredFactory), RayException);
  auto counter = ray::Actor(RAY_FUNC(Counter::FactoryCreate)).Remote();
  EXPECT_THROW(counter.Task(&Counter::Unregistered), RayException);
}

// ---- invokers (the worker contract) ----

TEST(InvokerTest, ConvertsArgumentsAndEncodesResult) {
  auto &manager = FunctionManager::Instance();
  const auto *concat = manager.GetFunction("ConcatConstRef");
  ASSERT_NE(concat, nullptr);
  auto a = Pack("a");  // a string literal, as passed
  auto b = Pack(std::string("b"));
  auto result = (*concat)({{a.data(), a.size()}, {b.data(), b.size()}});
  EXPECT_EQ(Serializer::Deserialize<std::string>(result.data(), result.size()), "ab");

  const auto *half = manager.GetFunction("Half");
  auto three = Pack(3);  // int for a double parameter
  result = (*half)({{three.data(), three.size()}});
  EXPECT_DOUBLE_EQ(Serializer::Deserialize<double>(result.data(), result.size()), 1.5);

  for (const char *name : {"ConcatRvalue", "ConcatRef"}) {
    const auto *fn = manager.GetFunction(name);
    ASSERT_NE(fn, nullptr) << name;
    result = (*fn)({{a.data(), a.size()}, {b.data(), b.size()}});
    std::string out = Serializer::Deserialize<std::string>(result.data(), result.size());
    EXPECT_EQ(out.substr(0, 1), "a");
    EXPECT_EQ(out.back(), 'b');
  }
  EXPECT_EQ(manager.GetFunction("Missing"), nullptr);
  EXPECT_EQ(manager.GetMemberFunction("Plus1"), nullptr);
}

TEST(InvokerTest, VoidResultIsNil) {
  const auto *fn = FunctionManager::Instance().GetFunction("VoidFunc");
  ASSERT_NE(fn, nullptr);
  auto result = (*fn)({});
  ASSERT_EQ(result.size(), 1u);
  EXPECT_EQ(static_cast<unsigned char>(result.data()[0]), 0xc0);
}

TEST(InvokerTest, ArgumentCountMismatchThrows) {
  const auto *fn = FunctionManager::Instance().GetFunction("Plus");
  auto one = Pack(1);
  try {
    (*fn)({{one.data(), one.size()}});
    FAIL();
  } catch (const std::invalid_argument &e) {
    EXPECT_STREQ(e.what(), "Arguments number not match");
  }
  auto text = Pack(std::string("x"));
  EXPECT_THROW((*fn)({{one.data(), one.size()}, {text.data(), text.size()}}), std::invalid_argument);
}

TEST(InvokerTest, UserExceptionsPropagate) {
  const auto *fn = FunctionManager::Instance().GetFunction("ThrowTask");
  EXPECT_THROW((*fn)({}), std::logic_error);
}

TEST(InvokerTest, FactoryReturnsPointerAndMembersUseIt) {
  auto &manager = FunctionManager::Instance();
  auto seven = Pack(7);
  auto created =
      (*manager.GetFunction("RAY_FUNC(Counter::FactoryCreate, int)"))({{seven.data(), seven.size()}});
  auto ptr = Serializer::Deserialize<uint64_t>(created.data(), created.size());
  ASSERT_NE(ptr, 0u);
  auto three = Pack(3);
  auto added = (*manager.GetMemberFunction("&Counter::Add"))(ptr, {{three.data(), three.size()}});
  EXPECT_EQ(Serializer::Deserialize<int>(added.data(), added.size()), 10);
  auto got = (*manager.GetMemberFunction("&Counter::Get"))(ptr, {});
  EXPECT_EQ(Serializer::Deserialize<int>(got.data(), got.size()), 10);
  delete reinterpret_cast<Counter *>(static_cast<uintptr_t>(ptr));
}

// ---- tasks through the fake runtime ----

TEST_F(ApiTest, NormalTasks) {
  EXPECT_EQ(*ray::Task(Return1).Remote().Get(), 1);
  EXPECT_EQ(*ray::Task(Plus1).Remote(1).Get(), 2);
  auto r = ray::Task(Plus).Remote(1, 2);
  EXPECT_EQ(*ray::Get(r), 3);
  EXPECT_EQ(*ray::Task(Half).Remote(5).Get(), 2.5);
  EXPECT_EQ(*ray::Task(ConcatRvalue).Remote("a", "b").Get(), "ab");
  EXPECT_EQ(*ray::Task(ConcatConstRef).Remote(std::string("c"), "d").Get(), "cd");
  std::string x = "x", y = "y";
  EXPECT_EQ(*ray::Task(ConcatRef).Remote(x, y).Get(), "x!y");
  EXPECT_EQ(x, "x");  // the callee got a decoded copy
  EXPECT_EQ(runtime_->last_function.function_name, "ConcatRef");
  EXPECT_EQ(runtime_->last_function.lang_type, ray::internal::LangType::CPP);
}

TEST_F(ApiTest, OverloadsThroughRayFunc) {
  EXPECT_EQ(*ray::Task(RAY_FUNC(OverloadFunc)).Remote().Get(), 100);
  EXPECT_EQ(*ray::Task(RAY_FUNC(OverloadFunc, int)).Remote(1).Get(), 101);
  EXPECT_EQ(*ray::Task(RAY_FUNC(OverloadFunc, int, int)).Remote(1, 2).Get(), 103);
}

TEST_F(ApiTest, VoidTask) {
  int before = g_void_calls;
  ray::ObjectRef<void> r = ray::Task(VoidFunc).Remote();
  r.Get();
  ray::Get(r);
  EXPECT_EQ(g_void_calls, before + 1);
}

TEST_F(ApiTest, ObjectRefArgumentsAreByReference) {
  auto r1 = ray::Task(Plus1).Remote(1);
  auto r2 = ray::Task(Plus).Remote(r1, 10);
  ASSERT_EQ(runtime_->last_args.size(), 2u);
  EXPECT_EQ(runtime_->last_args[0].object_id, r1.ID());
  EXPECT_EQ(runtime_->last_args[0].value, nullptr);
  EXPECT_TRUE(runtime_->last_args[1].object_id.empty());
  EXPECT_EQ(*r2.Get(), 12);
  auto r3 = ray::Task(Plus).Remote(r2, r1);
  EXPECT_EQ(*r3.Get(), 14);
}

TEST_F(ApiTest, ObjectRefParametersOnlyInLocalMode) {
  auto ref = ray::Put(4);
  EXPECT_EQ(*ray::Task(GetVal).Remote(ref).Get(), 40);
  ASSERT_EQ(runtime_->last_args.size(), 1u);
  EXPECT_TRUE(runtime_->last_args[0].object_id.empty());
  EXPECT_EQ(runtime_->last_args[0].nested_ids, std::vector<std::string>{ref.ID()});
  std::vector<ray::ObjectRef<int>> refs{ray::Put(1), ray::Put(2)};
  EXPECT_EQ(*ray::Task(SumRefs).Remote(refs).Get(), 3);
  EXPECT_EQ(runtime_->last_args[0].nested_ids.size(), 2u);

  runtime_->local_mode = false;
  EXPECT_THROW(ray::Task(GetVal).Remote(ref), std::invalid_argument);
  // A ref nested in a value is fine in cluster mode.
  EXPECT_NO_THROW(ray::Task(SumRefs).Remote(refs));
}

TEST_F(ApiTest, TaskExceptionsSurfaceAtGet) {
  auto r = ray::Task(ThrowTask).Remote();
  try {
    r.Get();
    FAIL();
  } catch (const ray::internal::RayTaskException &e) {
    EXPECT_NE(std::string(e.what()).find("boom from task"), std::string::npos);
  }
}

TEST_F(ApiTest, StructsAndAnyVectorsAsArguments) {
  auto older = ray::Task(Older).Remote(Student{"tom", 20}).Get();
  EXPECT_EQ(older->name, "tom");
  EXPECT_EQ(older->age, 21);
  std::vector<std::any> items{std::any(1), std::any(std::string("s")), std::any(2.5)};
  EXPECT_EQ(*ray::Task(CountAny).Remote(items).Get(), 3u);
}

// ---- options ----

TEST_F(ApiTest, ResourceValidationAtRemote) {
  EXPECT_THROW(ray::Task(Return1).SetResource("", 1).Remote(), RayException);
  EXPECT_THROW(ray::Task(Return1).SetResource("CPU", 0).Remote(), RayException);
  EXPECT_THROW(ray::Task(Return1).SetResource("CPU", 2.5).Remote(), RayException);
  EXPECT_NO_THROW(ray::Task(Return1).SetResource("CPU", 2.0).Remote());
  EXPECT_NO_THROW(ray::Task(Return1).SetResource("CPU", 0.5).Remote());
  EXPECT_THROW(ray::Actor(RAY_FUNC(Counter::FactoryCreate)).SetResource("GPU", 1.5).Remote(), RayException);
  auto counter = ray::Actor(RAY_FUNC(Counter::FactoryCreate)).Remote();
  EXPECT_THROW(counter.Task(&Counter::Get).SetResource("CPU", 0).Remote(), RayException);
  EXPECT_THROW(ray::internal::CheckTaskOptions({{"", 1}}), RayException);
}

TEST_F(ApiTest, SetterSemantics) {
  ray::RuntimeEnv env;
  env.Set("env_vars", std::map<std::string, std::string>{{"KEY1", "value1"}});
  ray::PlacementGroup group("pg-x", {"g", {{{"CPU", 1}}}, ray::PlacementStrategy::PACK});
  ray::Task(Return1)
      .SetName("named")
      .SetResource("CPU", 1)
      .SetResource("CPU", 2)  // emplace: the first value wins
      .SetPlacementGroup(group, 0)
      .SetRuntimeEnv(env)
      .Remote();
  EXPECT_EQ(runtime_->last_call_options.name, "named");
  EXPECT_EQ(runtime_->last_call_options.resources.at("CPU"), 1);
  EXPECT_EQ(runtime_->last_call_options.group.GetID(), "pg-x");
  EXPECT_EQ(runtime_->last_call_options.bundle_index, 0);
  EXPECT_EQ(runtime_->last_call_options.serialized_runtime_env, env.Serialize());

  ray::Task(Return1).SetResource("CPU", 1).SetResources({{"GPU", 1}}).Remote();
  EXPECT_EQ(runtime_->last_call_options.resources.size(), 1u);
  EXPECT_EQ(runtime_->last_call_options.resources.count("GPU"), 1u);

  ray::Actor(RAY_FUNC(Counter::FactoryCreate))
      .SetName("n", "ns")
      .SetMaxRestarts(-1)
      .SetMaxConcurrency(3)
      .SetResources({{"CPU", 1}})
      .Remote();
  EXPECT_EQ(runtime_->last_actor_options.name, "n");
  EXPECT_EQ(runtime_->last_actor_options.ray_namespace, "ns");
  EXPECT_EQ(runtime_->last_actor_options.max_restarts, -1);
  EXPECT_EQ(runtime_->last_actor_options.max_concurrency, 3);
  EXPECT_EQ(runtime_->last_function.function_name, "RAY_FUNC(Counter::FactoryCreate)");
  EXPECT_EQ(runtime_->last_function.class_name, "Counter");
}

// ---- actors ----

TEST_F(ApiTest, ActorCalls) {
  ray::ActorHandle<Counter> counter = ray::Actor(RAY_FUNC(Counter::FactoryCreate, int)).Remote(1);
  EXPECT_EQ(*counter.Task(&Counter::Add).Remote(2).Get(), 3);
  EXPECT_EQ(runtime_->last_function.function_name, "&Counter::Add");
  EXPECT_EQ(runtime_->last_function.class_name, "Counter");
  auto r = ray::Put(3);
  EXPECT_EQ(*counter.Task(&Counter::Add).Remote(r).Get(), 6);
  EXPECT_EQ(*counter.Task(&Counter::Get).Remote().Get(), 6);
  EXPECT_EQ(*counter.Task(&Counter::Concat).Remote("a", "b").Get(), "ab");
  auto ten = ray::Put(10);
  auto from_ref = ray::Actor(RAY_FUNC(Counter::FactoryCreate, int)).Remote(ten);
  EXPECT_EQ(*from_ref.Task(&Counter::Get).Remote().Get(), 10);
  counter.Kill();
  counter.Kill(false);
  ASSERT_EQ(runtime_->killed.size(), 2u);
  EXPECT_TRUE(runtime_->killed[0].second);
  EXPECT_FALSE(runtime_->killed[1].second);
}

TEST_F(ApiTest, VirtualDispatchThroughBaseMember) {
  auto base = ray::Actor(Base::FactoryCreate).Remote();
  auto derived = ray::Actor(Derived::FactoryCreate).Remote();
  EXPECT_EQ(*base.Task(&Base::Foo).Remote().Get(), 1);
  EXPECT_EQ(*derived.Task(&Base::Foo).Remote().Get(), 10);
}

TEST_F(ApiTest, NamedActorsAndHandles) {
  ray::Actor(RAY_FUNC(Counter::FactoryCreate)).SetName("named_actor").Remote();
  boost::optional<ray::ActorHandle<Counter>> found = ray::GetActor<Counter>("named_actor");
  ASSERT_TRUE(found);
  EXPECT_EQ(*found->Task(&Counter::Add).Remote(5).Get(), 5);
  EXPECT_FALSE(ray::GetActor<Counter>("missing"));
  EXPECT_FALSE(ray::GetActor<Counter>(""));
  EXPECT_FALSE(ray::GetActor<Counter>("named_actor", "other_ns"));
  boost::optional<ray::ActorHandleXlang> xlang = ray::GetActor("named_actor");
  ASSERT_TRUE(xlang);
  EXPECT_EQ(xlang->ID(), found->ID());

  // Handles serialize through the runtime's handle bytes.
  auto stored = ray::Put(*found);
  auto handle = stored.Get();
  EXPECT_EQ(handle->ID(), found->ID());
  EXPECT_EQ(runtime_->deserialized_handles, 1);
  auto again = ray::ActorHandle<Counter>::FromBytes("handle:" + found->ID());
  EXPECT_EQ(again.ID(), found->ID());
}

TEST_F(ApiTest, CrossLanguageCallsAreSubmittedWithTheirLanguage) {
  ray::Task(ray::PyFunction<int>{"mod", "fn"}).Remote(1, "a");
  EXPECT_EQ(runtime_->last_function.lang_type, ray::internal::LangType::PYTHON);
  EXPECT_EQ(runtime_->last_function.function_name, "fn");
  EXPECT_EQ(runtime_->last_args.size(), 2u);
  ray::Task(ray::JavaFunction<std::string>{"io.X", "m"}).Remote();
  EXPECT_EQ(runtime_->last_function.lang_type, ray::internal::LangType::JAVA);
}

// ---- objects ----

TEST_F(ApiTest, PutGetWait) {
  auto r = ray::Put(std::string("hello"));
  auto value = r.Get();
  EXPECT_EQ(*value, "hello");
  *value = "changed";
  EXPECT_EQ(*ray::Get(r), "hello");  // each Get decodes a fresh copy
  EXPECT_EQ(*r.Get(5), "hello");

  std::vector<ray::ObjectRef<int>> refs{ray::Put(1), ray::ObjectRef<int>("not-ready"), ray::Put(3)};
  ray::WaitResult<int> result = ray::Wait(refs, 3, 100);
  ASSERT_EQ(result.ready.size(), 2u);
  ASSERT_EQ(result.unready.size(), 1u);
  EXPECT_EQ(result.ready.front().ID(), refs[0].ID());
  EXPECT_EQ(result.ready.back().ID(), refs[2].ID());
  EXPECT_EQ(result.unready.front().ID(), "not-ready");

  std::vector<ray::ObjectRef<int>> ready{refs[0], refs[2]};
  auto values = ray::Get(ready);
  ASSERT_EQ(values.size(), 2u);
  EXPECT_EQ(*values[0], 1);
  EXPECT_EQ(*values[1], 3);
  EXPECT_EQ(*ray::Get(ready, 10)[1], 3);
  EXPECT_EQ(*ray::Get<int>(std::vector<std::string>{refs[2].ID()})[0], 3);
  EXPECT_THROW(refs[1].Get(5), ray::internal::RayTimeoutException);
}

TEST_F(ApiTest, NestedRefsAreCapturedByPut) {
  auto inner = ray::Put(7);
  auto outer = ray::Put(inner);
  EXPECT_EQ(runtime_->put_nested_ids[outer.ID()], std::vector<std::string>{inner.ID()});
  EXPECT_TRUE(runtime_->put_nested_ids[inner.ID()].empty());
  std::shared_ptr<ray::ObjectRef<int>> decoded = outer.Get();
  EXPECT_EQ(decoded->ID(), inner.ID());
  EXPECT_EQ(*decoded->Get(), 7);

  std::vector<ray::ObjectRef<int>> list{inner, ray::Put(8)};
  auto both = ray::Put(list);
  EXPECT_EQ(runtime_->put_nested_ids[both.ID()].size(), 2u);
}

// Copies of an ObjectRef share one local reference in the runtime: copying is
// not a runtime call, and the reference goes with the last copy, whichever it is.
TEST_F(ApiTest, ObjectRefReferenceCounting) {
  std::string id;
  {
    auto r = ray::Put(1);
    id = r.ID();
    EXPECT_EQ(runtime_->ref_counts[id], 1);
    {
      auto copy = r;
      ray::ObjectRef<int> assigned;
      assigned = copy;
      assigned = assigned;  // self-assignment: no change
      auto moved = std::move(assigned);
      EXPECT_TRUE(assigned.ID().empty());
      EXPECT_EQ(moved.ID(), id);
      EXPECT_EQ(runtime_->ref_counts[id], 1);
      EXPECT_EQ(runtime_->add_ref_calls, 1);
    }
    EXPECT_EQ(runtime_->ref_counts[id], 1);
    auto decoded = ray::Put(r).Get();  // unpacking makes a handle of its own
    EXPECT_EQ(runtime_->ref_counts[id], 2);
    ray::ObjectRef<int> from_id(id);  // so does construction from an id
    EXPECT_EQ(runtime_->ref_counts[id], 3);
  }
  EXPECT_EQ(runtime_->ref_counts.count(id), 0u);
  EXPECT_EQ(runtime_->add_ref_calls, runtime_->remove_ref_calls);

  // The reference lives while any copy does, not only the first.
  {
    auto copy = std::make_unique<ray::ObjectRef<int>>();
    {
      auto original = ray::Put(3);
      id = original.ID();
      *copy = original;
    }
    EXPECT_EQ(runtime_->ref_counts[id], 1);
    copy.reset();
    EXPECT_EQ(runtime_->ref_counts.count(id), 0u);
  }

  // Refs outliving the runtime are dropped silently.
  auto survivor = std::make_unique<ray::ObjectRef<int>>(ray::Put(2));
  lumen_test::SetRuntime(nullptr);
  survivor.reset();
  ray::ObjectRef<int> from_id("some-id");
}

// ---- serialization ----

TEST(SerializationTest, AnyVectorRoundTrip) {
  std::vector<char> bytes{'a', 'b'};
  auto buffer =
      Serializer::Serialize(std::make_tuple(uint64_t{12}, std::string("hi"), 1.5f, int64_t{-3}, true, bytes));
  auto items = Serializer::Deserialize<std::vector<std::any>>(buffer.data(), buffer.size());
  ASSERT_EQ(items.size(), 6u);
  EXPECT_EQ(std::any_cast<uint64_t>(items[0]), 12u);
  EXPECT_EQ(std::any_cast<std::string>(items[1]), "hi");
  EXPECT_DOUBLE_EQ(std::any_cast<double>(items[2]), 1.5);
  EXPECT_EQ(std::any_cast<int64_t>(items[3]), -3);
  EXPECT_EQ(std::any_cast<bool>(items[4]), true);
  EXPECT_EQ(std::any_cast<std::vector<char>>(items[5]), bytes);

  auto again = Serializer::Serialize(items);
  auto tuple =
      Serializer::Deserialize<std::tuple<uint64_t, std::string, double, int64_t, bool, std::vector<char>>>(
          again.data(), again.size());
  EXPECT_EQ(std::get<0>(tuple), 12u);
  EXPECT_EQ(std::get<1>(tuple), "hi");
  EXPECT_EQ(std::get<5>(tuple), bytes);
}

TEST(SerializationTest, StructsAndBoundaries) {
  Student s{"ann", 30};
  auto buffer = Serializer::Serialize(s);
  auto back = Serializer::Deserialize<Student>(buffer.data(), buffer.size());
  EXPECT_EQ(back.name, "ann");
  EXPECT_EQ(back.age, 30);
  auto as_list = Serializer::Deserialize<std::tuple<std::string, int>>(buffer.data(), buffer.size());
  EXPECT_EQ(std::get<0>(as_list), "ann");

  auto empty = Serializer::Serialize(std::string());
  EXPECT_EQ(Serializer::Deserialize<std::string>(empty.data(), empty.size()), "");
  std::vector<std::byte> no_bytes;
  auto bytes = Serializer::Serialize(no_bytes);
  EXPECT_TRUE(Serializer::Deserialize<std::vector<std::byte>>(bytes.data(), bytes.size()).empty());
  auto raw = Serializer::Serialize(nullptr, 0);
  EXPECT_TRUE(Serializer::Deserialize<std::vector<char>>(raw.data(), raw.size()).empty());

  std::map<std::string, int> m{{"a", 1}};
  auto mb = Serializer::Serialize(m);
  EXPECT_EQ((Serializer::Deserialize<std::map<std::string, int>>(mb.data(), mb.size())), m);
}

TEST(SerializationTest, ErrorPayload) {
  auto error = Serializer::SerializeError(7, "bad thing");
  EXPECT_TRUE(Serializer::HasError(error.data(), error.size()));
  auto parts = Serializer::DeserializeError(error.data(), error.size());
  EXPECT_EQ(parts.first, 7);
  EXPECT_EQ(parts.second, "bad thing");
  EXPECT_THROW(Serializer::ThrowIfError(error.data(), error.size()), ray::internal::RayTaskException);
  auto nil = ray::internal::PackNil();
  EXPECT_FALSE(Serializer::HasError(nil.data(), nil.size()));
}

TEST(SerializationTest, ObjectRefWireShape) {
  // Without a runtime: no ref counting, same shape as MSGPACK_DEFINE(id_).
  ray::ObjectRef<int> ref("abc");
  ray::internal::BeginNestedRefCapture();
  auto buffer = Serializer::Serialize(ref);
  auto noted = ray::internal::EndNestedRefCapture();
  EXPECT_EQ(noted, std::vector<std::string>{"abc"});
  auto as_tuple = Serializer::Deserialize<std::tuple<std::string>>(buffer.data(), buffer.size());
  EXPECT_EQ(std::get<0>(as_tuple), "abc");
  msgpack::zone zone;
  msgpack::object obj(ref, zone);
  EXPECT_EQ(obj.as<ray::ObjectRef<int>>().ID(), "abc");
}

// ---- runtime env ----

struct Pip {
  std::vector<std::string> packages;
  bool pip_check = false;
};
void to_json(nlohmann::json &j, const Pip &pip) {
  j = nlohmann::json{{"packages", pip.packages}, {"pip_check", pip.pip_check}};
}
void from_json(const nlohmann::json &j, Pip &pip) {
  j.at("packages").get_to(pip.packages);
  j.at("pip_check").get_to(pip.pip_check);
}

TEST(RuntimeEnvTest, Api) {
  ray::RuntimeEnv env;
  EXPECT_TRUE(env.Empty());
  Pip pip{{"requests", "tensorflow"}, true};
  env.Set("pip", pip);
  env.Set("working_dir", std::string("https://x/y.zip"));
  env.Set("env_vars", std::map<std::string, std::string>{{"A", "1"}});
  EXPECT_FALSE(env.Empty());
  EXPECT_EQ(env.Get<Pip>("pip").packages, pip.packages);
  EXPECT_EQ(env.Get<std::string>("working_dir"), "https://x/y.zip");
  auto restored = ray::RuntimeEnv::Deserialize(env.Serialize());
  EXPECT_EQ(restored.Get<Pip>("pip").pip_check, true);
  EXPECT_EQ((restored.Get<std::map<std::string, std::string>>("env_vars").at("A")), "1");

  std::string text = R"({"packages":["requests","tensorflow"],"pip_check":false})";
  env.SetJsonStr("pip", text);
  EXPECT_EQ(env.GetJsonStr("pip"), text);
  EXPECT_EQ(env.Get<Pip>("pip").pip_check, false);
  EXPECT_TRUE(env.Contains("pip"));
  EXPECT_TRUE(env.Remove("pip"));
  EXPECT_FALSE(env.Remove("pip"));
  EXPECT_FALSE(env.Contains("pip"));
  auto info = nlohmann::json::parse(env.SerializeToRuntimeEnvInfo());
  EXPECT_EQ(info["serializedRuntimeEnv"].get<std::string>(), env.Serialize());
}

TEST(RuntimeEnvTest, Exceptions) {
  using ray::internal::RayRuntimeEnvException;
  ray::RuntimeEnv env;
  EXPECT_THROW(env.Get<std::string>("missing"), RayRuntimeEnvException);
  EXPECT_THROW(env.GetJsonStr("missing"), RayRuntimeEnvException);
  env.Set("n", 5);
  EXPECT_THROW(env.Get<std::string>("n"), RayRuntimeEnvException);
  EXPECT_THROW(env.SetJsonStr("bad", "{not json"), RayRuntimeEnvException);
  EXPECT_THROW(ray::RuntimeEnv::Deserialize("{not json"), RayRuntimeEnvException);
  EXPECT_THROW(env.Get<Pip>("n"), RayException);
}

// ---- placement groups, context, config ----

TEST_F(ApiTest, PlacementGroups) {
  ray::PlacementGroupCreationOptions options{
      "group", {{{"CPU", 1}}, {{"CPU", 1}}}, ray::PlacementStrategy::SPREAD};
  ray::PlacementGroup group = ray::CreatePlacementGroup(options);
  EXPECT_FALSE(group.Empty());
  EXPECT_EQ(group.GetName(), "group");
  EXPECT_EQ(group.GetBundles().size(), 2u);
  EXPECT_EQ(group.GetStrategy(), ray::PlacementStrategy::SPREAD);
  EXPECT_EQ(group.GetState(), ray::PlacementGroupState::CREATED);
  EXPECT_TRUE(group.Wait(1));  // no callback: asks the runtime
  EXPECT_EQ(runtime_->pg_wait_calls, 1);
  int calls = 0;
  group.SetWaitCallbak([&](const std::string &id, int seconds) {
    ++calls;
    return id == group.GetID() && seconds == 10;
  });
  EXPECT_TRUE(group.Wait(10));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(ray::GetAllPlacementGroups().size(), 1u);
  EXPECT_EQ(ray::GetPlacementGroup("group").GetID(), group.GetID());
  EXPECT_EQ(ray::GetPlacementGroupById(group.GetID()).GetName(), "group");
  ray::RemovePlacementGroup(group.GetID());
  EXPECT_TRUE(ray::GetPlacementGroup("group").GetID().empty());
  EXPECT_EQ(ray::PlacementGroupState::REMOVED, ray::REMOVED);
  EXPECT_EQ(ray::GetNamespace(), "fake_namespace");
  EXPECT_FALSE(ray::WasCurrentActorRestarted());
  EXPECT_THROW(ray::ExitActor(), std::logic_error);
}

// The Lumen extensions forward to the runtime: each accessor reports its own
// field, not another's.
TEST_F(ApiTest, RuntimeContextAndClusterViews) {
  runtime_->context_ids = {"job", "node", "task", "actor", "worker"};
  runtime_->assigned = {{"CPU", 2}};
  ray::NodeInfo node;
  node.node_id = "n1";
  node.alive = true;
  node.address = "127.0.0.1";
  node.resources = {{"CPU", 4}};
  runtime_->nodes = {node};
  runtime_->cluster_resources = {{"CPU", 4}};
  runtime_->available_resources = {{"CPU", 1.5}};
  ray::RuntimeContext context = ray::GetRuntimeContext();
  EXPECT_EQ(context.GetJobId(), "job");
  EXPECT_EQ(context.GetNodeId(), "node");
  EXPECT_EQ(context.GetTaskId(), "task");
  EXPECT_EQ(context.GetActorId(), "actor");
  EXPECT_EQ(context.GetWorkerId(), "worker");
  EXPECT_EQ(context.GetNamespace(), "fake_namespace");
  EXPECT_FALSE(context.WasCurrentActorRestarted());
  EXPECT_EQ(context.GetAssignedResources(), runtime_->assigned);
  ASSERT_EQ(ray::Nodes().size(), 1u);
  EXPECT_EQ(ray::Nodes()[0].node_id, "n1");
  EXPECT_EQ(ray::Nodes()[0].resources, node.resources);
  EXPECT_EQ(ray::ClusterResources(), runtime_->cluster_resources);
  EXPECT_EQ(ray::AvailableResources(), runtime_->available_resources);
}

TEST(ConfigTest, Defaults) {
  ray::RayConfig config;
  EXPECT_EQ(config.address, "");
  EXPECT_FALSE(config.local_mode);
  EXPECT_TRUE(config.code_search_path.empty());
  EXPECT_TRUE(config.head_args.empty());
  EXPECT_EQ(config.default_actor_lifetime, ray::ActorLifetime::NON_DETACHED);
  EXPECT_FALSE(config.runtime_env);
  EXPECT_FALSE(config.redis_password_);
  EXPECT_FALSE(config.is_worker_);
  EXPECT_EQ(config.ray_namespace, "");
}

TEST(ExceptionTest, Hierarchy) {
  ray::internal::RayTaskException e("message");
  const std::exception &base = e;
  EXPECT_STREQ(base.what(), "message");
  EXPECT_EQ(e.msg_, "message");
  EXPECT_TRUE((std::is_base_of<RayException, ray::internal::RayActorException>::value));
  EXPECT_TRUE((std::is_base_of<RayException, ray::internal::UnreconstructableException>::value));
  EXPECT_TRUE((std::is_base_of<RayException, ray::internal::RayTimeoutException>::value));
}

// ---- logging and metrics ----

TEST(LoggingTest, RaylogCompilesAndWrites) {
  testing::internal::CaptureStderr();
  RAYLOG(INFO) << "info line " << 42;
  RAYLOG(WARNING) << "warning line";
  RAYLOG(DEBUG) << "debug line";
  bool branch = false;
  if (branch)
    RAYLOG(ERROR) << "not printed";
  else
    branch = true;
  std::string out = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(branch);
  EXPECT_NE(out.find("INFO"), std::string::npos);
  EXPECT_NE(out.find("info line 42"), std::string::npos);
  EXPECT_NE(out.find("warning line"), std::string::npos);
  EXPECT_EQ(out.find("debug line"), std::string::npos);
  EXPECT_EQ(out.find("not printed"), std::string::npos);
  EXPECT_TRUE(ray::IsLevelEnabled(ray::RayLoggerLevel::ERROR));
  EXPECT_FALSE(ray::IsLevelEnabled(ray::RayLoggerLevel::DEBUG));
}

TEST(LoggingDeathTest, FatalAborts) {
  EXPECT_DEATH({ RAYLOG(FATAL) << "fatal line"; }, "fatal line");
}

TEST(MetricTest, RecordsInProcess) {
  ray::Gauge gauge("gauge", "a gauge", "unit", {"tag"});
  gauge.Set(1, {{"tag", "a"}});
  gauge.Set(5, {{"tag", "a"}});
  double value = 0;
  ASSERT_TRUE(gauge.GetRecordedValue({{"tag", "a"}}, &value));
  EXPECT_EQ(value, 5);
  EXPECT_FALSE(gauge.GetRecordedValue({{"tag", "b"}}, &value));
  EXPECT_EQ(gauge.GetName(), "gauge");

  ray::Counter counter("counter", "a counter", "unit");
  counter.Inc(2, {});
  counter.Inc(3, {});
  ASSERT_TRUE(counter.GetRecordedValue({}, &value));
  EXPECT_EQ(value, 5);

  ray::Histogram histogram("histogram", "h", "ms", {1, 10, 100}, {"k"});
  histogram.Observe(7, {{"k", "v"}});
  ASSERT_TRUE(histogram.GetRecordedValue({{"k", "v"}}, &value));
  EXPECT_EQ(value, 7);
  histogram.Observe(100, {{"k", "v"}});
  histogram.Observe(1000, {{"k", "v"}});
  std::vector<uint64_t> buckets;
  double total = 0;
  uint64_t count = 0;
  ASSERT_TRUE(histogram.GetRecordedCounts({{"k", "v"}}, &buckets, &total, &count));
  EXPECT_EQ(buckets, (std::vector<uint64_t>{0, 1, 1, 1}));  // le=1, le=10, le=100, above
  EXPECT_EQ(total, 1107);
  EXPECT_EQ(count, 3u);
  EXPECT_FALSE(histogram.GetRecordedCounts({{"k", "w"}}, &buckets, &total, &count));
  ASSERT_TRUE(histogram.GetRecordedValue({{"k", "v"}}, &value));
  EXPECT_EQ(value, 1000);
  ray::Sum sum("sum", "s", "u");
  sum.Record(1, {});
  sum.Record(1, {});
  EXPECT_EQ(sum.GetRecordedValues().begin()->second, 2);
  ray::Metric &as_metric = sum;
  EXPECT_EQ(as_metric.GetName(), "sum");
}

}  // namespace
