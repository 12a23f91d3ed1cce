// ProgramStore: a program is uploaded in order, verified against its digest,
// readable in pieces once whole, and held only while a running job names it.
#include "control/program_store.h"

#include <gtest/gtest.h>

#include "base/sha256.h"

namespace lumen::control {
namespace {

std::string DigestOf(const std::string &bytes) {
  Sha256 sha;
  sha.Update(bytes);
  return sha.Finish();
}

// True if the piece was taken and the program is whole now.
bool PutWhole(ProgramStore &store, const std::string &sha, uint64_t size, uint64_t offset,
              const std::string &data) {
  auto complete = store.Put(sha, size, offset, data);
  return complete.ok() && complete.value();
}

std::string Program(size_t size) {
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>((i * 131 + 7) % 251);
  return bytes;
}

TEST(ProgramStore, UploadedInPiecesThenReadInPieces) {
  ProgramStore store;
  const std::string bytes = Program(2500), sha = DigestOf(bytes);
  store.Retain(sha, bytes.size());
  EXPECT_FALSE(store.Has(sha));
  for (size_t at = 0; at < bytes.size(); at += 1000) {
    auto complete = store.Put(sha, bytes.size(), at, std::string_view(bytes).substr(at, 1000));
    ASSERT_TRUE(complete.ok()) << complete.status().ToString();
    EXPECT_EQ(*complete, at + 1000 >= bytes.size());
  }
  ASSERT_TRUE(store.Has(sha));
  EXPECT_EQ(store.SizeOf(sha), bytes.size());
  std::string read;
  for (uint64_t at = 0;;) {
    auto piece = store.Read(sha, at, 700);
    ASSERT_TRUE(piece.ok());
    if (piece->empty()) break;
    read += *piece;
    at += piece->size();
  }
  EXPECT_EQ(read, bytes);
}

TEST(ProgramStore, RefusesPiecesOutOfOrderOrPastTheEnd) {
  ProgramStore store;
  const std::string bytes = Program(100), sha = DigestOf(bytes);
  store.Retain(sha, bytes.size());
  EXPECT_FALSE(store.Put(sha, bytes.size(), 10, bytes.substr(10, 10)).ok());
  ASSERT_TRUE(store.Put(sha, bytes.size(), 0, bytes.substr(0, 50)).ok());
  EXPECT_FALSE(store.Put(sha, bytes.size(), 50, bytes.substr(50) + "extra").ok());
  EXPECT_FALSE(store.Put(sha, bytes.size() + 1, 50, bytes.substr(50)).ok());
  EXPECT_FALSE(store.Has(sha));
  EXPECT_TRUE(PutWhole(store, sha, bytes.size(), 50, bytes.substr(50)));
}

TEST(ProgramStore, ABadDigestIsRefusedAndTheUploadStartsOver) {
  ProgramStore store;
  const std::string bytes = Program(64), sha = DigestOf(bytes);
  store.Retain(sha, bytes.size());
  std::string corrupt = bytes;
  corrupt[10] ^= 1;
  auto bad = store.Put(sha, bytes.size(), 0, corrupt);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("does not match"), std::string::npos);
  EXPECT_FALSE(store.Has(sha));
  EXPECT_FALSE(store.Read(sha, 0, 10).ok());
  EXPECT_TRUE(PutWhole(store, sha, bytes.size(), 0, bytes));
  EXPECT_TRUE(store.Has(sha));
}

TEST(ProgramStore, HeldWhileARunningJobNamesIt) {
  ProgramStore store;
  const std::string bytes = Program(32), sha = DigestOf(bytes);
  EXPECT_FALSE(store.Put(sha, bytes.size(), 0, bytes).ok()) << "no job names it";
  store.Retain(sha, bytes.size());
  store.Retain(sha, bytes.size());  // a second job of the same program
  ASSERT_TRUE(PutWhole(store, sha, bytes.size(), 0, bytes));
  EXPECT_TRUE(PutWhole(store, sha, bytes.size(), 0, bytes)) << "whole already: nothing to add";
  store.Release(sha);
  EXPECT_TRUE(store.Has(sha));
  store.Release(sha);
  EXPECT_FALSE(store.Has(sha));
  EXPECT_EQ(store.size(), 0u);
  auto gone = store.Read(sha, 0, 10);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace lumen::control
