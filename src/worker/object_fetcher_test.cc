// ObjectFetcher without a node: which copies it tries and in what order,
// where it stops, what a failure means, and the owner's directory of copies.
#include "worker/object_fetcher.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace lumen::worker {
namespace {

proto::ObjectPayload Where(const std::string &sealed_on, const std::vector<std::string> &copies) {
  proto::ObjectPayload p;
  p.set_node_id(sealed_on);
  for (const auto &c : copies) p.add_copy_node_ids(c);
  return p;
}

// A node that answers each pull as `answers` says (OK when not listed) and
// records the sources it was asked to pull from.
struct FakeNode {
  std::map<std::string, Status> answers;
  std::vector<std::string> asked;
  ObjectFetcher Fetcher() {
    return ObjectFetcher([this](const ObjectID &, const std::string &source) {
      asked.push_back(source);
      auto it = answers.find(source);
      return it == answers.end() ? Status::OK() : it->second;
    });
  }
};

const ObjectID kId = ObjectID::FromRandom();

TEST(ObjectFetcherTest, TriesTheNodeItWasSealedOnFirstThenTheCopiesNeverItselfNorTwice) {
  EXPECT_EQ(ObjectFetcher::Sources(Where("A", {"B", "L", "A", "C", "B", ""}), "L"),
            (std::vector<std::string>{"A", "B", "C"}));
  EXPECT_EQ(ObjectFetcher::Sources(Where("", {"B"}), "L"), std::vector<std::string>{"B"});
  EXPECT_TRUE(ObjectFetcher::Sources(Where("L", {"L"}), "L").empty());
}

TEST(ObjectFetcherTest, StopsAtTheFirstCopyThatArrives) {
  FakeNode node;
  node.answers["A"] = Status::Disconnected("node A is dead");
  Status st = node.Fetcher().Fetch(kId, Where("A", {"B", "C"}), "L");
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(node.asked, (std::vector<std::string>{"A", "B"}));
}

TEST(ObjectFetcherTest, NoCopyOnAnotherNodeIsALostObject) {
  FakeNode node;
  Status st = node.Fetcher().Fetch(kId, Where("L", {}), "L");
  EXPECT_EQ(st.code(), StatusCode::kObjectLost);
  EXPECT_TRUE(node.asked.empty());
}

TEST(ObjectFetcherTest, AFullStoreStopsAtOnceSinceNoOtherCopyWouldFit) {
  FakeNode node;
  node.answers["A"] = Status(StatusCode::kObjectStoreFull, "no room");
  Status st = node.Fetcher().Fetch(kId, Where("A", {"B"}), "L");
  EXPECT_EQ(st.code(), StatusCode::kObjectStoreFull);
  EXPECT_EQ(node.asked, std::vector<std::string>{"A"});
}

TEST(ObjectFetcherTest, NodesThatNeverAnsweredReadAsUnreachableOneThatLacksItAsLost) {
  // Every holder unreachable: their nodes may be dead, which the caller
  // asks the control service about before calling the object lost.
  FakeNode dead;
  dead.answers["A"] = Status::Disconnected("A is gone");
  dead.answers["B"] = Status::Disconnected("B is gone");
  Status st = dead.Fetcher().Fetch(kId, Where("A", {"B"}), "L");
  EXPECT_EQ(st.code(), StatusCode::kDisconnected);
  EXPECT_NE(st.message().find("2 copies"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("B is gone"), std::string::npos) << st.message();  // the last failure
  // One holder said it does not have it: the copies are gone.
  FakeNode lacking;
  lacking.answers["A"] = Status::NotFound("not in this node's store");
  lacking.answers["B"] = Status::Disconnected("B is gone");
  EXPECT_EQ(lacking.Fetcher().Fetch(kId, Where("A", {"B"}), "L").code(), StatusCode::kObjectLost);
}

TEST(ObjectFetcherTest, TheOwnersDirectoryListsEachCopyOnceAndNamesTheOnesToDelete) {
  proto::ObjectPayload p = Where("A", {});
  EXPECT_TRUE(ObjectFetcher::HasCopy(p, "A"));
  EXPECT_FALSE(ObjectFetcher::HasCopy(p, "B"));
  ObjectFetcher::AddCopy(&p, "B");
  ObjectFetcher::AddCopy(&p, "B");
  ObjectFetcher::AddCopy(&p, "A");  // where it was sealed: not a second entry
  EXPECT_EQ(p.copy_node_ids_size(), 1);
  EXPECT_TRUE(ObjectFetcher::HasCopy(p, "B"));
  ObjectFetcher::AddCopy(&p, "C");
  // Freed on node A: B and C are told; A's copy goes with A's own delete.
  EXPECT_EQ(ObjectFetcher::RemoteCopies(p, "A"), (std::vector<std::string>{"B", "C"}));
  EXPECT_EQ(ObjectFetcher::RemoteCopies(p, "B"), (std::vector<std::string>{"A", "C"}));
  EXPECT_TRUE(ObjectFetcher::RemoteCopies(Where("", {}), "A").empty());
}

}  // namespace
}  // namespace lumen::worker
