// The experiment's writer thread: jobs run in the order posted, Flush waits
// for them, and a failing job stops the writer and is reported to the loop.
#include "file_writer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "ray/tune/types.h"

namespace ray {
namespace tune {
namespace {

using internal::FileWriter;

TEST(FileWriterTest, JobsRunInOrderAndFlushWaitsForThem) {
  std::vector<int> ran;  // touched by the writer's thread only until Flush returns
  FileWriter writer;
  for (int i = 0; i < 1000; ++i) writer.Post([&ran, i] { ran.push_back(i); });
  writer.Flush();
  ASSERT_EQ(ran.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(ran[i], i);
}

TEST(FileWriterTest, AFailureStopsLaterJobsAndReachesTheLoop) {
  std::atomic<int> after{0};
  FileWriter writer;
  writer.Post([] { throw TuneError("cannot write /nowhere/result.json"); });
  // Posted before or after the failure ran: either way they never run.
  try {
    for (int i = 0; i < 100; ++i) writer.Post([&after] { after++; });
    writer.Flush();
    ADD_FAILURE() << "the failure was not reported";
  } catch (const TuneError &e) {
    EXPECT_STREQ(e.what(), "cannot write /nowhere/result.json");
  }
  EXPECT_THROW(writer.Flush(), TuneError);
  EXPECT_THROW(writer.Post([] {}), TuneError);
  EXPECT_EQ(after.load(), 0);
}

TEST(FileWriterTest, TheDestructorRunsWhatIsQueued) {
  std::atomic<int> ran{0};
  {
    FileWriter writer;
    for (int i = 0; i < 100; ++i) writer.Post([&ran] { ran++; });
  }
  EXPECT_EQ(ran.load(), 100);
}

}  // namespace
}  // namespace tune
}  // namespace ray
