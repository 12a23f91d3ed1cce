// The control service's store of the driver programs that running jobs ship
// to other nodes (see "User code on every node" in docs/architecture.md).
//
// A driver registers its job naming its program by content (SHA-256 and
// size) and uploads it, in order and in pieces, only when the store lacks
// it: jobs of the same program share one copy. A program is held in memory
// while a running job names it and dropped when the last such job ends, so
// the store never holds more than the running jobs' programs; pieces are
// accepted only for a program a running job names. A program becomes
// readable once all of it arrived and its digest matched.
//
// Threading: not thread-safe; the control service calls it on its loop thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "base/sha256.h"
#include "base/status.h"

namespace lumen::control {

/// The most bytes of a program one PUT_PROGRAM_CHUNK or GET_PROGRAM_CHUNK
/// carries: a call stays short, and a 100 MB program is a hundred calls.
inline constexpr uint32_t kMaxProgramChunk = 1u << 20;

class ProgramStore {
 public:
  /// A running job names the program `sha256` of `size` bytes.
  void Retain(const std::string &sha256, uint64_t size);
  /// That job ended; the program goes with the last job naming it.
  void Release(const std::string &sha256);

  /// Whether all of the program is here, verified.
  bool Has(const std::string &sha256) const;
  /// Appends `data` at `offset` (which must be where the upload stands).
  /// Returns whether the program is complete now; an error for a program no
  /// running job names, a piece out of order or past the size, or a digest
  /// that does not match (the upload starts over then).
  StatusOr<bool> Put(const std::string &sha256, uint64_t size, uint64_t offset, std::string_view data);
  /// Up to `max_bytes` of a complete program from `offset` (empty at its end).
  StatusOr<std::string> Read(const std::string &sha256, uint64_t offset, uint32_t max_bytes) const;
  /// The program's size; 0 if it is not complete here.
  uint64_t SizeOf(const std::string &sha256) const;
  /// Programs held, complete or not (for tests).
  size_t size() const { return programs_.size(); }

 private:
  struct Program {
    uint64_t size = 0;
    int jobs = 0;  // running jobs that name it
    std::string bytes;
    Sha256 digest;  // of `bytes` so far
    bool complete = false;
  };
  std::map<std::string, Program> programs_;  // by raw SHA-256
};

}  // namespace lumen::control
