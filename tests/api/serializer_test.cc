// The serializer: typed arrays as one block (msgpack_arrays.h), references
// into the caller's buffer, ray::Buffer<T> views, and clear errors for
// malformed or truncated payloads (run under ASan by scripts/sanitize.sh).
#include <gtest/gtest.h>
#include <ray/api.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

using ray::internal::Serializer;

template <typename T>
T RoundTrip(const T &value) {
  msgpack::sbuffer b = Serializer::Serialize(value);
  return Serializer::Deserialize<T>(b.data(), b.size());
}

template <typename T>
std::vector<T> Sample(size_t n) {
  std::vector<T> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = static_cast<T>(i * 37 % 1000) - static_cast<T>(std::is_signed<T>::value ? 500 : 0);
  return v;
}

template <typename T>
class TypedArrayTest : public ::testing::Test {};
using ArrayTypes = ::testing::Types<double, float, int8_t, int16_t, uint16_t, int32_t, uint32_t, int64_t,
                                    uint64_t, long long, unsigned long long>;
TYPED_TEST_SUITE(TypedArrayTest, ArrayTypes);

TYPED_TEST(TypedArrayTest, RoundTripsEverySize) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{4096}, size_t{1} << 20}) {
    std::vector<TypeParam> v = Sample<TypeParam>(n);
    EXPECT_EQ(RoundTrip(v), v) << n;
  }
}

TYPED_TEST(TypedArrayTest, IsOneBlockWithAnEightByteHeader) {
  std::vector<TypeParam> v = Sample<TypeParam>(1000);
  msgpack::sbuffer b = Serializer::Serialize(v);
  ASSERT_EQ(b.size(), ray::internal::kTypedArrayHeader + v.size() * sizeof(TypeParam));
  EXPECT_EQ(std::memcmp(b.data() + ray::internal::kTypedArrayHeader, v.data(), v.size() * sizeof(TypeParam)),
            0);
}

TYPED_TEST(TypedArrayTest, StdArrayRoundTrips) {
  std::array<TypeParam, 5> a{1, 2, 3, 4, 5};
  EXPECT_EQ(RoundTrip(a), a);
  std::array<TypeParam, 0> empty{};
  EXPECT_EQ(RoundTrip(empty), empty);
}

TEST(SerializerTest, DoublesKeepSpecialValues) {
  std::vector<double> v = {0.0,
                           -0.0,
                           1e308,
                           -1e-308,
                           std::numeric_limits<double>::infinity(),
                           std::numeric_limits<double>::denorm_min()};
  std::vector<double> back = RoundTrip(v);
  ASSERT_EQ(back.size(), v.size());
  EXPECT_EQ(std::memcmp(back.data(), v.data(), v.size() * sizeof(double)), 0);
  std::vector<double> nan = {std::numeric_limits<double>::quiet_NaN()};
  EXPECT_TRUE(std::isnan(RoundTrip(nan)[0]));
}

TEST(SerializerTest, ReadsMsgpacksOwnArrayForm) {
  // Another msgpack producer (or an older Lumen) writes arrays element by element.
  msgpack::sbuffer b;
  msgpack::packer<msgpack::sbuffer> p(b);
  p.pack_array(3);
  p.pack(1.5);
  p.pack(2);
  p.pack(-3);
  EXPECT_EQ(Serializer::Deserialize<std::vector<double>>(b.data(), b.size()),
            (std::vector<double>{1.5, 2, -3}));
  msgpack::sbuffer ints;
  msgpack::pack(ints, std::vector<std::string>{});  // an empty array
  EXPECT_TRUE(Serializer::Deserialize<std::vector<int32_t>>(ints.data(), ints.size()).empty());
}

TEST(SerializerTest, ABlockOfAnotherElementTypeIsATypeError) {
  msgpack::sbuffer b = Serializer::Serialize(std::vector<double>{1, 2});
  EXPECT_THROW(Serializer::Deserialize<std::vector<float>>(b.data(), b.size()), msgpack::type_error);
  EXPECT_THROW(Serializer::Deserialize<std::vector<int64_t>>(b.data(), b.size()), msgpack::type_error);
  EXPECT_THROW((Serializer::Deserialize<std::array<double, 3>>(b.data(), b.size())), msgpack::type_error);
}

struct Row {
  std::string name;
  std::vector<double> values;
  std::map<std::string, std::vector<int32_t>> groups;
  std::vector<std::vector<float>> nested;
  bool operator==(const Row &o) const {
    return name == o.name && values == o.values && groups == o.groups && nested == o.nested;
  }
  MSGPACK_DEFINE(name, values, groups, nested);
};

TEST(SerializerTest, StructsAndNestingRoundTrip) {
  Row r{"r", {1, 2, 3}, {{"a", {1}}, {"b", {}}}, {{}, {1.5f}, {2, 3}}};
  EXPECT_EQ(RoundTrip(r), r);
  std::vector<Row> rows(3, r);
  EXPECT_EQ(RoundTrip(rows), rows);
  std::vector<std::string> docs = {"", "one", std::string(1 << 20, 'x')};
  EXPECT_EQ(RoundTrip(docs), docs);
  std::vector<bool> bits = {true, false, true};  // msgpack's own adaptor
  EXPECT_EQ(RoundTrip(bits), bits);
  std::vector<char> bytes = {'a', 0, 'b'};  // msgpack's bin
  EXPECT_EQ(RoundTrip(bytes), bytes);
}

TEST(SerializerTest, ValuesDoNotPointIntoTheBufferAfterDecoding) {
  msgpack::sbuffer b = Serializer::Serialize(std::vector<std::string>{"alpha", std::string(1000, 'y')});
  std::vector<char> copy(b.data(), b.data() + b.size());
  auto docs = Serializer::Deserialize<std::vector<std::string>>(copy.data(), copy.size());
  std::fill(copy.begin(), copy.end(), 0);  // strings were referenced, then copied out
  EXPECT_EQ(docs[0], "alpha");
  EXPECT_EQ(docs[1], std::string(1000, 'y'));
}

// Every prefix of a valid payload is a clear error, never a crash or an
// over-read (ASan checks the latter).
TEST(SerializerTest, TruncatedPayloadsThrowRayException) {
  Row r{"name", std::vector<double>(100, 1.0), {{"g", {1, 2}}}, {{1.f}}};
  msgpack::sbuffer b = Serializer::Serialize(r);
  for (size_t n = 1; n < b.size(); ++n) {
    std::unique_ptr<char[]> exact(new char[n]);  // no slack after the prefix
    std::memcpy(exact.get(), b.data(), n);
    EXPECT_THROW(Serializer::DeserializeResult<Row>(exact.get(), n), ray::internal::RayException) << n;
  }
  EXPECT_EQ(*Serializer::DeserializeResult<Row>(b.data(), b.size()), r);
}

TEST(SerializerTest, MalformedTypedArraysThrowRayException) {
  msgpack::sbuffer b = Serializer::Serialize(std::vector<double>{1, 2, 3});
  std::string bad(b.data(), b.size());
  bad[6] = 0x11;  // element code of a one-byte float
  EXPECT_THROW(Serializer::DeserializeResult<std::vector<double>>(bad.data(), bad.size()),
               ray::internal::RayException);
  // A length that is not whole elements.
  msgpack::sbuffer odd;
  msgpack::packer<msgpack::sbuffer> p(odd);
  const char body[] = {static_cast<char>(ray::internal::TypedArrayCode<double>()), 0, 1, 2, 3};
  p.pack_ext(sizeof body, ray::internal::kTypedArrayExt);
  p.pack_ext_body(body, sizeof body);
  EXPECT_THROW(Serializer::DeserializeResult<std::vector<double>>(odd.data(), odd.size()),
               ray::internal::RayException);
  // A length far beyond the bytes there.
  std::string huge(b.data(), b.size());
  huge[1] = 0x7f;
  EXPECT_THROW(Serializer::DeserializeResult<std::vector<double>>(huge.data(), huge.size()),
               ray::internal::RayException);
  // A value of another type altogether.
  msgpack::sbuffer text = Serializer::Serialize(std::string("not numbers"));
  EXPECT_THROW(Serializer::DeserializeResult<std::vector<double>>(text.data(), text.size()),
               ray::internal::RayException);
  // Garbage: a map header claiming four billion entries.
  const char garbage[] = {static_cast<char>(0xdf), 0x7f, 0x7f, 0x7f, 0x7f};
  using Map = std::map<std::string, int>;
  EXPECT_THROW(Serializer::DeserializeResult<Map>(garbage, sizeof garbage), ray::internal::RayException);
}

TEST(BufferTest, WireFormatIsAVectors) {
  std::vector<double> v = {1, 2, 3};
  ray::Buffer<double> buf(v);
  msgpack::sbuffer a = Serializer::Serialize(v), b = Serializer::Serialize(buf);
  EXPECT_EQ(std::string(a.data(), a.size()), std::string(b.data(), b.size()));
  auto back = Serializer::Deserialize<ray::Buffer<double>>(a.data(), a.size());
  EXPECT_EQ(back.ToVector(), v);
  EXPECT_FALSE(back.IsView());  // no decode source: a copy
  EXPECT_EQ(Serializer::Deserialize<std::vector<double>>(b.data(), b.size()), v);
}

TEST(BufferTest, ViewsTheSourceAndKeepsItsOwnerAlive) {
  std::vector<int32_t> v = Sample<int32_t>(1000);
  msgpack::sbuffer b = Serializer::Serialize(v);
  // An 8-byte aligned copy stands for a stored object; its owner counts holders.
  auto storage = std::make_shared<std::vector<uint64_t>>((b.size() + 7) / 8);
  char *bytes = reinterpret_cast<char *>(storage->data());
  std::memcpy(bytes, b.data(), b.size());
  ray::Buffer<int32_t> view;
  {
    ray::internal::DecodeSource source{bytes, b.size(), storage};
    ray::internal::ScopedDecodeSource scoped(&source);
    view = Serializer::Deserialize<ray::Buffer<int32_t>>(bytes, b.size());
  }
  ASSERT_TRUE(view.IsView());
  EXPECT_EQ(reinterpret_cast<const char *>(view.data()), bytes + ray::internal::kTypedArrayHeader);
  EXPECT_EQ(view.ToVector(), v);
  EXPECT_EQ(storage.use_count(), 2);  // the view holds the source
  std::weak_ptr<std::vector<uint64_t>> alive = storage;
  storage.reset();
  EXPECT_FALSE(alive.expired());
  ray::Buffer<int32_t> copy = view;
  view = ray::Buffer<int32_t>();
  EXPECT_FALSE(alive.expired());
  EXPECT_EQ(copy[999], v[999]);
  copy = ray::Buffer<int32_t>();
  EXPECT_TRUE(alive.expired());  // the last view gone releases the object
}

TEST(BufferTest, UnalignedOrOutsideTheSourceIsACopy) {
  std::vector<double> v = {1, 2, 3, 4};
  msgpack::sbuffer b = Serializer::Serialize(v);
  auto storage = std::make_shared<std::vector<uint64_t>>(b.size() / 8 + 2);
  char *bytes = reinterpret_cast<char *>(storage->data()) + 1;  // misaligned by one
  std::memcpy(bytes, b.data(), b.size());
  ray::internal::DecodeSource source{bytes, b.size(), storage};
  ray::internal::ScopedDecodeSource scoped(&source);
  auto got = Serializer::Deserialize<ray::Buffer<double>>(bytes, b.size());
  EXPECT_FALSE(got.IsView());
  EXPECT_EQ(got.ToVector(), v);
  auto other = Serializer::Deserialize<ray::Buffer<double>>(b.data(), b.size());  // not in the source
  EXPECT_FALSE(other.IsView());
  EXPECT_THROW(got.at(4), std::out_of_range);
}

// Results: a large one is sized, then written by the runtime straight where
// it is stored; the bytes are those Serialize would make.
TEST(SerializedResultTest, LargeResultsAreWrittenWhereTheyAreStored) {
  std::vector<double> big = Sample<double>(100000);
  ray::internal::SerializedResult deferred = ray::internal::PackResult(std::vector<double>(big));
  msgpack::sbuffer expected = Serializer::Serialize(big);
  ASSERT_EQ(deferred.size(), expected.size());
  std::vector<char> store(deferred.size());
  deferred.WriteTo(store.data());
  EXPECT_EQ(std::memcmp(store.data(), expected.data(), expected.size()), 0);
  EXPECT_EQ(std::memcmp(deferred.data(), expected.data(), expected.size()), 0);

  ray::internal::SerializedResult small = ray::internal::PackResult(std::string("small"));
  msgpack::sbuffer small_expected = Serializer::Serialize(std::string("small"));
  ASSERT_EQ(small.size(), small_expected.size());
  EXPECT_EQ(std::string(small.data(), small.size()),
            std::string(small_expected.data(), small_expected.size()));
}

TEST(SerializedResultTest, AReferenceResultIsCopiedWhenDeferred) {
  std::vector<double> member = Sample<double>(100000);
  const std::vector<double> &ref = member;
  ray::internal::SerializedResult deferred = ray::internal::PackResult(ref);
  member.assign(member.size(), 0);  // the actor changes its state after the call
  std::vector<char> store(deferred.size());
  deferred.WriteTo(store.data());
  EXPECT_EQ(Serializer::Deserialize<std::vector<double>>(store.data(), store.size()), Sample<double>(100000));
}

}  // namespace
