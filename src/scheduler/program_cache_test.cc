// ProgramCache: a program is fetched once per content (concurrent and later
// requests share it), written under its final name only once whole and
// verified, and a failed or corrupt fetch leaves nothing behind.
#include "scheduler/program_cache.h"

#include <sys/stat.h>
#include <unistd.h>

#include <deque>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "base/encoding.h"
#include "base/sha256.h"

namespace lumen::scheduler {
namespace {

namespace fs = std::filesystem;

std::string DigestOf(const std::string &bytes) {
  Sha256 sha;
  sha.Update(bytes);
  return sha.Finish();
}

std::string Program(size_t size) {
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>((i * 31 + 3) % 253);
  return bytes;
}

// Serves `bytes` `piece` bytes at a time, answering later (as the control
// service does) when `deferred`: the test runs the answers.
struct FakeSource {
  explicit FakeSource(std::string b) : bytes(std::move(b)) {}
  std::string bytes;
  size_t piece = 1000;
  bool deferred = false;
  int reads = 0;
  std::deque<std::function<void()>> answers;
  ProgramCache::ReadPiece Reader() {
    return [this](uint64_t offset, ProgramCache::PieceCallback done) {
      ++reads;
      auto answer = [this, offset, done] { done(bytes.substr(offset, piece)); };
      if (deferred) {
        answers.push_back(answer);
      } else {
        answer();
      }
    };
  }
  void RunAnswers() {
    while (!answers.empty()) {
      auto a = std::move(answers.front());
      answers.pop_front();
      a();
    }
  }
};

class ProgramCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lumen-program-cache-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { fs::remove_all(root_); }
  std::string Dir() const { return root_ + "/programs"; }
  size_t FilesInDir() const {
    size_t n = 0;
    for (auto &e : fs::directory_iterator(Dir())) n += e.is_regular_file();
    return n;
  }
  std::string root_;
};

TEST_F(ProgramCacheTest, FetchesOnceVerifiesAndReuses) {
  FakeSource source{Program(3500)};
  const std::string sha = DigestOf(source.bytes);
  ProgramCache cache(Dir());
  StatusOr<std::string> got = Status::Internal("not called");
  cache.Get(sha, source.bytes.size(), source.Reader(), [&](StatusOr<std::string> p) { got = p; });
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, Dir() + "/" + ToHex(sha));
  EXPECT_EQ(source.reads, 4);
  std::ifstream in(*got, std::ios::binary);
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()),
            source.bytes);
  struct stat st;
  ASSERT_EQ(stat(Dir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(stat(got->c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  // A second job of the same program, even from a new cache over the same
  // folder (a restarted node keeps its session's files): nothing fetched.
  ProgramCache again(Dir());
  StatusOr<std::string> second = Status::Internal("not called");
  again.Get(sha, source.bytes.size(), source.Reader(), [&](StatusOr<std::string> p) { second = p; });
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, *got);
  EXPECT_EQ(source.reads, 4);
  EXPECT_EQ(again.fetches(), 0);
  EXPECT_EQ(FilesInDir(), 1u);
}

TEST_F(ProgramCacheTest, ConcurrentRequestsShareOneFetch) {
  FakeSource source{Program(2500)};
  source.deferred = true;
  const std::string sha = DigestOf(source.bytes);
  ProgramCache cache(Dir());
  std::vector<StatusOr<std::string>> results;
  for (int i = 0; i < 3; ++i)
    cache.Get(sha, source.bytes.size(), source.Reader(),
              [&](StatusOr<std::string> p) { results.push_back(p); });
  EXPECT_TRUE(results.empty());
  EXPECT_FALSE(fs::exists(cache.PathOf(sha))) << "not under its final name before it is whole";
  source.RunAnswers();
  ASSERT_EQ(results.size(), 3u);
  for (auto &r : results) EXPECT_TRUE(r.ok());
  EXPECT_EQ(cache.fetches(), 1);
  EXPECT_EQ(source.reads, 3);
  EXPECT_EQ(FilesInDir(), 1u);
}

TEST_F(ProgramCacheTest, ACorruptProgramIsRefusedAndLeavesNothing) {
  FakeSource source{Program(1500)};
  const std::string sha = DigestOf(source.bytes);
  source.bytes[1200] ^= 1;
  ProgramCache cache(Dir());
  StatusOr<std::string> got = std::string();
  cache.Get(sha, source.bytes.size(), source.Reader(), [&](StatusOr<std::string> p) { got = p; });
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("does not match"), std::string::npos) << got.status().ToString();
  EXPECT_EQ(FilesInDir(), 0u);
}

TEST_F(ProgramCacheTest, AFailedReadFailsEveryWaiterAndLeavesNothing) {
  ProgramCache cache(Dir());
  const std::string sha = DigestOf("x");
  int failures = 0;
  auto failing = [](uint64_t, ProgramCache::PieceCallback done) {
    done(Status::NotFound("the control service does not hold it"));
  };
  cache.Get(sha, 1, failing, [&](StatusOr<std::string> p) {
    EXPECT_FALSE(p.ok());
    EXPECT_NE(p.status().message().find("does not hold"), std::string::npos);
    ++failures;
  });
  EXPECT_EQ(failures, 1);
  EXPECT_EQ(FilesInDir(), 0u);
  // A short answer (nothing where bytes were due) fails too, never hangs.
  FakeSource empty{std::string()};
  cache.Get(DigestOf("abc"), 3, empty.Reader(), [&](StatusOr<std::string> p) {
    EXPECT_FALSE(p.ok());
    ++failures;
  });
  EXPECT_EQ(failures, 2);
  EXPECT_EQ(FilesInDir(), 0u);
}

TEST_F(ProgramCacheTest, ACachedFileThatNoLongerMatchesIsFetchedAgain) {
  FakeSource source{Program(800)};
  const std::string sha = DigestOf(source.bytes);
  ProgramCache cache(Dir());
  cache.Get(sha, source.bytes.size(), source.Reader(), [](StatusOr<std::string> p) { ASSERT_TRUE(p.ok()); });
  {
    std::ofstream out(cache.PathOf(sha), std::ios::binary | std::ios::trunc);
    out << "tampered";
  }
  StatusOr<std::string> got = Status::Internal("not called");
  cache.Get(sha, source.bytes.size(), source.Reader(), [&](StatusOr<std::string> p) { got = p; });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(cache.fetches(), 2);
  EXPECT_EQ(fs::file_size(*got), source.bytes.size());
}

}  // namespace
}  // namespace lumen::scheduler
