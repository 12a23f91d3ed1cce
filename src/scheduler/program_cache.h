// The node's cache of job programs: driver executables shipped through the
// control service so that a job's RAY_REMOTE functions run on this node too
// (see "User code on every node" in docs/architecture.md).
//
// Programs are kept by content, in <session>/programs/<sha256 hex> (folder
// and files 0700): a program is fetched once per node, whatever the number
// of jobs that run it. A fetch writes to a temporary name, checks the
// digest of what arrived and only then renames the file into place, so a
// file under its final name is always a whole, verified program; a cached
// file is verified again before each use. Concurrent requests for one
// program share one fetch.
//
// The pieces come from a caller-supplied reader (the node's calls to the
// control service, or a fake in tests), which may answer at once or later.
//
// Threading: not thread-safe; the node service calls it, and the reader
// answers, on the node's event-loop thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/sha256.h"
#include "base/status.h"

namespace lumen::scheduler {

class ProgramCache {
 public:
  /// Answers a read: the program's bytes from the offset asked (at least
  /// one), or why they cannot be had.
  using PieceCallback = std::function<void(StatusOr<std::string>)>;
  using ReadPiece = std::function<void(uint64_t offset, PieceCallback)>;
  /// The cached program's path, or why there is none.
  using Done = std::function<void(StatusOr<std::string>)>;

  /// `dir` is made (0700) on first use.
  explicit ProgramCache(std::string dir);
  ~ProgramCache();
  ProgramCache(const ProgramCache &) = delete;
  ProgramCache &operator=(const ProgramCache &) = delete;

  /// Calls `done` with the path of the program `sha256` (raw) of `size`
  /// bytes: at once if it is cached and verifies, else after fetching it
  /// with `read` (unless a fetch of it is under way: then after that one).
  void Get(const std::string &sha256, uint64_t size, ReadPiece read, Done done);

  /// Where the program `sha256` is (or would be) cached.
  std::string PathOf(const std::string &sha256) const;
  /// Fetches started since construction (for tests and the node's log).
  int fetches() const { return fetches_; }

 private:
  struct Fetch;
  void ReadNext(const std::string &sha256);
  void OnPiece(const std::string &sha256, StatusOr<std::string> piece);
  void Finish(const std::string &sha256, const StatusOr<std::string> &result);
  Status EnsureDir();

  std::string dir_;
  std::map<std::string, std::unique_ptr<Fetch>> fetching_;  // by raw SHA-256
  int fetches_ = 0;
  // Readers may answer after the cache is gone (a reply during shutdown).
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace lumen::scheduler
