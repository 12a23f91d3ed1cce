// ReferenceCounter without a process around it: each kind of reference keeps
// an object in scope, freeing cascades through nested refs, borrowed objects
// are announced to their owner once, and the core worker's veto holds.
#include "worker/reference_counter.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>
#include <vector>

namespace lumen::worker {
namespace {

class ReferenceCounterTest : public ::testing::Test {
 protected:
  ObjectID Mine(uint64_t seq) { return ObjectID::ForTaskReturn(TaskID::Of(self_, seq), 1); }
  ObjectID Theirs(uint64_t seq) { return ObjectID::ForTaskReturn(TaskID::Of(other_, seq), 1); }

  /// Frees what `id` lets go, recording each freed object and its refs.
  void Free(const ObjectID &id) {
    refs_.FreeIfUnused(
        id, [this](const ObjectID &x) { return !vetoed_.count(x); },
        [this](const ObjectID &x, const ReferenceCounter::Refs &r) {
          order_.push_back(x);
          freed_[x] = r;
        });
  }

  WorkerID self_ = WorkerID::FromRandom();
  WorkerID other_ = WorkerID::FromRandom();
  ReferenceCounter refs_{self_};
  std::set<ObjectID> vetoed_;
  std::vector<ObjectID> order_;
  std::map<ObjectID, ReferenceCounter::Refs> freed_;
};

TEST_F(ReferenceCounterTest, EachKindOfReferenceKeepsAnObjectInScope) {
  const ObjectID id = Mine(1);
  refs_.Track(id);
  EXPECT_TRUE(refs_.IsTracked(id));
  EXPECT_FALSE(refs_.InScope(id));

  EXPECT_FALSE(refs_.AddLocal(id));  // owned: no owner to tell
  refs_.AddLocal(id);
  refs_.AddSubmitted(id);
  refs_.AddBorrower(id, "unix:/b1");
  refs_.AddBorrower(id, "unix:/b1");  // a set: the same borrower once
  refs_.AddBorrower(id, "unix:/b2");
  const ReferenceCounter::Refs *r = refs_.Find(id);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->local, 2);
  EXPECT_EQ(r->submitted, 1);
  EXPECT_EQ(r->borrowers.size(), 2u);

  // Taken away one at a time: in scope until the last goes.
  auto release = std::vector<std::function<void()>>{
      [&] { refs_.RemoveLocal(id); },
      [&] { refs_.RemoveLocal(id); },
      [&] { refs_.RemoveSubmitted(id); },
      [&] { refs_.RemoveBorrower(id, "unix:/b1"); },
      [&] { refs_.RemoveBorrower(id, "unix:/b2"); },
  };
  for (size_t i = 0; i < release.size(); i++) {
    EXPECT_TRUE(refs_.InScope(id)) << "before release " << i;
    Free(id);
    EXPECT_TRUE(freed_.empty()) << "freed while held, before release " << i;
    release[i]();
  }
  EXPECT_FALSE(refs_.InScope(id));
  Free(id);
  EXPECT_EQ(order_, std::vector<ObjectID>{id});
  EXPECT_FALSE(refs_.IsTracked(id));
  EXPECT_EQ(refs_.size(), 0u);
}

TEST_F(ReferenceCounterTest, CountsNeverGoBelowZeroAndUntrackedObjectsAreIgnored) {
  const ObjectID id = Mine(2), unknown = Mine(3);
  refs_.AddLocal(id);
  refs_.RemoveLocal(id);
  refs_.RemoveLocal(id);  // one too many: stays at 0
  refs_.RemoveSubmitted(id);
  refs_.RemoveContained(id);
  const ReferenceCounter::Refs *r = refs_.Find(id);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->local, 0);
  EXPECT_EQ(r->submitted, 0);
  EXPECT_EQ(r->contained, 0);

  // Nothing is made up for an object that is not tracked.
  refs_.RemoveLocal(unknown);
  refs_.RemoveSubmitted(unknown);
  refs_.AddBorrower(unknown, "unix:/b");
  refs_.RemoveBorrower(unknown, "unix:/b");
  refs_.RemoveContained(unknown);
  EXPECT_TRUE(refs_.TakeNested(unknown).empty());
  Free(unknown);
  EXPECT_FALSE(refs_.IsTracked(unknown));
  EXPECT_TRUE(freed_.empty());
}

TEST_F(ReferenceCounterTest, ABorrowedObjectIsAnnouncedToItsOwnerOnceAndWithdrawnWhenFreed) {
  const ObjectID id = Theirs(1);
  EXPECT_TRUE(refs_.AddLocal(id));  // first ref: tell the owner
  EXPECT_FALSE(refs_.AddLocal(id));
  refs_.RemoveLocal(id);
  refs_.RemoveLocal(id);
  Free(id);
  ASSERT_EQ(freed_.count(id), 1u);
  EXPECT_TRUE(freed_[id].borrow_registered);  // so the core worker tells the owner it is done

  // Tracked again later, it is announced again.
  EXPECT_TRUE(refs_.AddLocal(id));
}

TEST_F(ReferenceCounterTest, FreeingAnObjectReleasesItsNestedRefsInTurn) {
  // outer holds middle and a borrowed ref; middle holds inner; inner is
  // also held locally, so it outlives the others.
  const ObjectID outer = Mine(10), middle = Mine(11), inner = Mine(12), borrowed = Theirs(13);
  refs_.AddLocal(outer);
  refs_.AddNested(outer, {middle, borrowed});
  refs_.AddNested(middle, {inner});
  refs_.AddLocal(inner);
  EXPECT_EQ(refs_.Find(middle)->contained, 1);
  // The borrowed ref's owner was told of us by whoever made the value.
  EXPECT_TRUE(refs_.Find(borrowed)->borrow_registered);
  EXPECT_FALSE(refs_.AddLocal(borrowed));
  refs_.RemoveLocal(borrowed);

  Free(middle);  // contained in outer: stays
  EXPECT_TRUE(freed_.empty());

  refs_.RemoveLocal(outer);
  Free(outer);
  // outer, then what it held, depth first: middle (and its release of
  // inner, still held locally), then the borrowed ref.
  EXPECT_EQ(order_, (std::vector<ObjectID>{outer, middle, borrowed}));
  EXPECT_TRUE(refs_.IsTracked(inner));
  EXPECT_EQ(refs_.Find(inner)->contained, 0);
  EXPECT_EQ(freed_[middle].nested, std::vector<ObjectID>{inner});

  refs_.RemoveLocal(inner);
  Free(inner);
  EXPECT_FALSE(refs_.IsTracked(inner));
  EXPECT_EQ(refs_.size(), 0u);
}

TEST_F(ReferenceCounterTest, AnObjectHeldTwiceInsideAnotherIsCountedTwice) {
  const ObjectID outer = Mine(20), inner = Mine(21);
  refs_.AddLocal(outer);
  refs_.AddNested(outer, {inner, inner});
  EXPECT_EQ(refs_.Find(inner)->contained, 2);
  refs_.RemoveLocal(outer);
  Free(outer);
  EXPECT_EQ(order_, (std::vector<ObjectID>{outer, inner}));
}

TEST_F(ReferenceCounterTest, TheCoreWorkersVetoKeepsAnUnreferencedObjectUntilLifted) {
  // A value a dependent task waits for stays, though nothing references it.
  const ObjectID outer = Mine(30), inner = Mine(31);
  refs_.AddSubmitted(outer);
  refs_.AddNested(outer, {inner});
  vetoed_.insert(inner);
  refs_.RemoveSubmitted(outer);
  Free(outer);
  EXPECT_EQ(order_, std::vector<ObjectID>{outer});
  EXPECT_TRUE(refs_.IsTracked(inner));
  EXPECT_FALSE(refs_.InScope(inner));
  vetoed_.clear();
  Free(inner);
  EXPECT_EQ(order_, (std::vector<ObjectID>{outer, inner}));
}

TEST_F(ReferenceCounterTest, AValueMadeAgainGivesBackItsNestedRefs) {
  // A lost object made again: its old value's nested refs are released.
  const ObjectID id = Mine(40), a = Mine(41), b = Mine(42);
  refs_.AddLocal(id);
  refs_.AddNested(id, {a, b});
  refs_.AddLocal(b);
  std::vector<ObjectID> nested = refs_.TakeNested(id);
  EXPECT_EQ(nested, (std::vector<ObjectID>{a, b}));
  EXPECT_TRUE(refs_.Find(id)->nested.empty());
  for (const ObjectID &n : nested) {
    refs_.RemoveContained(n);
    Free(n);
  }
  EXPECT_EQ(order_, std::vector<ObjectID>{a});  // b is still held locally
  EXPECT_TRUE(refs_.InScope(id));
  // Freeing `id` now releases nothing more.
  refs_.RemoveLocal(id);
  Free(id);
  EXPECT_EQ(order_, (std::vector<ObjectID>{a, id}));
  EXPECT_EQ(refs_.Find(b)->contained, 0);
}

}  // namespace
}  // namespace lumen::worker
