// Large values on a real cluster: ray::Buffer<T> views of stored objects (in
// tasks and in the driver) and their lifetime, the worker's decoded-argument
// cache, and large results.
#include <atomic>
#include <numeric>
#include <stdexcept>

#include "cluster_test_util.h"

namespace {

std::vector<double> Ramp(size_t n, double start) {
  std::vector<double> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

struct ViewInfo {
  bool view = false;
  double sum = 0;
  uint64_t size = 0;
  MSGPACK_DEFINE(view, sum, size);
};

ViewInfo Inspect(ray::Buffer<double> b) {
  return ViewInfo{b.IsView(), std::accumulate(b.begin(), b.end(), 0.0), b.size()};
}

std::vector<double> MakeRamp(uint64_t n) { return Ramp(n, 1); }

// A value whose decoding this process counts (a user adaptor, as people write).
struct Counted {
  std::vector<double> values;
};
std::atomic<int> g_decodes{0};

int DecodesByRef(const Counted &c) { return c.values.empty() ? -1 : g_decodes.load(); }
int DecodesByValue(Counted c) { return c.values.empty() ? -1 : g_decodes.load(); }

// Counts its decodes in this process (packs as nil).
struct Tick {};
std::atomic<int> g_ticks{0};

// Holds a reference: never cached (the cache would keep the reference).
struct WithRef {
  ray::ObjectRef<int> ref;
  std::vector<double> values;
  Tick tick;
  MSGPACK_DEFINE(ref, values, tick);
};

class Reader {
 public:
  static Reader *Create() { return new Reader(); }
  int ByRef(const Counted &c) { return DecodesByRef(c); }
  int ByValue(Counted c) { return DecodesByValue(std::move(c)); }
  int WithReference(const WithRef &w) { return w.values.empty() ? -1 : g_ticks.load(); }
};

// Serializes once, then throws: a large result is sized in the task and
// written into the store afterwards, and that second pass fails.
struct SecondPackThrows {
  std::vector<double> values;
};
std::atomic<int> g_packs{0};
SecondPackThrows MakeSecondPackThrows() { return SecondPackThrows{Ramp(1 << 14, 0)}; }  // 128 KiB

RAY_REMOTE(MakeSecondPackThrows);
RAY_REMOTE(Inspect, MakeRamp, DecodesByRef, DecodesByValue, Reader::Create, &Reader::ByRef, &Reader::ByValue,
           &Reader::WithReference);

}  // namespace

namespace msgpack {
MSGPACK_API_VERSION_NAMESPACE(MSGPACK_DEFAULT_API_NS) {
  namespace adaptor {
  template <>
  struct pack<Counted> {
    template <typename Stream>
    packer<Stream> &operator()(packer<Stream> &o, const Counted &c) const {
      o.pack(c.values);
      return o;
    }
  };
  template <>
  struct convert<Counted> {
    const msgpack::object &operator()(const msgpack::object &o, Counted &c) const {
      ++g_decodes;
      o.convert(c.values);
      return o;
    }
  };
  template <>
  struct pack<SecondPackThrows> {
    template <typename Stream>
    packer<Stream> &operator()(packer<Stream> &o, const SecondPackThrows &v) const {
      if (++g_packs % 2 == 0) throw std::runtime_error("the second pass failed");
      o.pack(v.values);
      return o;
    }
  };
  template <>
  struct convert<SecondPackThrows> {
    const msgpack::object &operator()(const msgpack::object &o, SecondPackThrows &v) const {
      o.convert(v.values);
      return o;
    }
  };
  template <>
  struct pack<Tick> {
    template <typename Stream>
    packer<Stream> &operator()(packer<Stream> &o, const Tick &) const {
      o.pack_nil();
      return o;
    }
  };
  template <>
  struct convert<Tick> {
    const msgpack::object &operator()(const msgpack::object &o, Tick &) const {
      ++g_ticks;
      return o;
    }
  };
  }  // namespace adaptor
}
}  // namespace msgpack

namespace {

class DataTest : public lumen::testing::ClusterTest {};

TEST_F(DataTest, ATaskReadsALargeBufferArgumentInPlace) {
  StartCluster();
  const size_t n = 4 << 20;  // 32 MiB: in the store
  auto ref = ray::Put(Ramp(n, 1));
  ViewInfo info = *ray::Get(ray::Task(Inspect).Remote(ref));
  EXPECT_TRUE(info.view);
  EXPECT_EQ(info.size, n);
  EXPECT_EQ(info.sum, static_cast<double>(n) * (n + 1) / 2);
  // A small value rides in the task's message: the task gets a copy.
  ViewInfo small = *ray::Get(ray::Task(Inspect).Remote(ray::Buffer<double>(Ramp(10, 1))));
  EXPECT_FALSE(small.view);
  EXPECT_EQ(small.sum, 55);
}

TEST_F(DataTest, ALargeResultIsReadInPlaceByTheDriver) {
  StartCluster();
  const uint64_t n = 4 << 20;
  ray::ObjectRef<std::vector<double>> made = ray::Task(MakeRamp).Remote(n);
  ray::ObjectRef<ray::Buffer<double>> as_buffer(made.ID());
  std::shared_ptr<ray::Buffer<double>> b = ray::Get(as_buffer);
  EXPECT_TRUE(b->IsView());
  ASSERT_EQ(b->size(), n);
  EXPECT_EQ((*b)[0], 1);
  EXPECT_EQ((*b)[n - 1], static_cast<double>(n));
  EXPECT_EQ(*ray::Get(made), Ramp(n, 1));  // and as the type it was made as
}

// A view pins its object: with every ObjectRef gone the store keeps it (a
// second object that needs its room cannot be made) until the view goes.
TEST_F(DataTest, AViewKeepsItsObjectUntilItGoes) {
  StartCluster({"--num-cpus=2", "--object-store-memory=67108864"});  // 64 MiB
  const size_t n = 5 << 20;                                          // 40 MiB
  std::shared_ptr<ray::Buffer<double>> view;
  {
    ray::ObjectRef<ray::Buffer<double>> ref = ray::Put(ray::Buffer<double>(Ramp(n, 7)));
    view = ray::Get(ref);
  }
  ASSERT_TRUE(view->IsView());
  try {
    ray::Put(Ramp(n, 0));
    ADD_FAILURE() << "a second 40 MiB object fit beside a pinned one in a 64 MiB store";
  } catch (const ray::internal::RayException &e) {
    EXPECT_NE(std::string(e.what()).find("full"), std::string::npos) << e.what();
  }
  EXPECT_EQ((*view)[0], 7);  // still the object's bytes
  EXPECT_EQ((*view)[n - 1], 7.0 + n - 1);
  view.reset();  // the last view goes: the object is freed
  auto again = ray::Put(Ramp(n, 0));
  EXPECT_EQ((*ray::Get(again))[n - 1], n - 1.0);
}

TEST_F(DataTest, AResultThatFailsToSerializeIntoTheStoreIsATaskError) {
  StartCluster();
  try {
    ray::Get(ray::Task(MakeSecondPackThrows).Remote());
    ADD_FAILURE() << "a result whose serialization threw was stored";
  } catch (const ray::internal::RayTaskException &e) {
    EXPECT_NE(std::string(e.what()).find("Failed to store the result of"), std::string::npos) << e.what();
  }
  EXPECT_EQ(*ray::Get(ray::Task(MakeRamp).Remote(uint64_t{3})), Ramp(3, 1));  // the worker goes on
}

TEST_F(DataTest, AnActorDecodesAConstReferenceArgumentOnce) {
  StartCluster();
  auto reader = ray::Actor(Reader::Create).Remote();
  auto ref = ray::Put(Counted{Ramp(1 << 20, 0)});  // 8 MiB: in the store
  const int first = *ray::Get(reader.Task(&Reader::ByRef).Remote(ref));
  EXPECT_EQ(*ray::Get(reader.Task(&Reader::ByRef).Remote(ref)), first);  // shared, not decoded again
  EXPECT_EQ(*ray::Get(reader.Task(&Reader::ByRef).Remote(ref)), first);
  // A by-value parameter gets a value of its own: decoded each time.
  const int by_value = *ray::Get(reader.Task(&Reader::ByValue).Remote(ref));
  EXPECT_EQ(*ray::Get(reader.Task(&Reader::ByValue).Remote(ref)), by_value + 1);
  // Another object is decoded once more.
  auto other = ray::Put(Counted{Ramp(1 << 20, 1)});
  EXPECT_EQ(*ray::Get(reader.Task(&Reader::ByRef).Remote(other)), by_value + 2);
}

TEST_F(DataTest, AValueHoldingAReferenceIsNotShared) {
  StartCluster();
  auto reader = ray::Actor(Reader::Create).Remote();
  auto ref = ray::Put(WithRef{ray::Put(3), Ramp(1 << 20, 0)});
  EXPECT_EQ(*ray::Get(reader.Task(&Reader::WithReference).Remote(ref)), 1);
  EXPECT_EQ(*ray::Get(reader.Task(&Reader::WithReference).Remote(ref)), 2);
}

}  // namespace
