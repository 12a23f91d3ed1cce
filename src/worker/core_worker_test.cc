// Pieces of the core worker that stand on their own, without a cluster (the
// core worker as a whole is tested against real processes in tests/cluster).
#include <gtest/gtest.h>

#include "worker/core_worker_internal.h"

namespace lumen::worker {
namespace {

// A result that could not be stored reaches its caller as what went wrong,
// not always as a full object store.
TEST(StoreFailureTypeTest, EachFailureKeepsItsOwnType) {
  EXPECT_EQ(StoreFailureType(Status::ObjectStoreFull("full")), proto::OBJECT_STORE_FULL);
  EXPECT_EQ(StoreFailureType(Status::InvalidArgument("serializing the value failed")),
            proto::TASK_EXECUTION_EXCEPTION);
  EXPECT_EQ(StoreFailureType(Status(StatusCode::kWorkerDied, "the node service died")), proto::WORKER_DIED);
  EXPECT_EQ(StoreFailureType(Status::Disconnected("connection to the node closed")), proto::OBJECT_LOST);
  EXPECT_EQ(StoreFailureType(Status::TimedOut("call timed out")), proto::OBJECT_LOST);
}

}  // namespace
}  // namespace lumen::worker
