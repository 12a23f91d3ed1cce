// SHA-256 digests (Nettle's), of bytes fed in pieces or of a whole file: how
// a job's program is named when it is shipped to other nodes and cached there
// by content.
//
// Threading: a Sha256 object is used by one thread at a time; the free
// functions are safe from any thread.
#pragma once

#include <nettle/sha2.h>

#include <string>
#include <string_view>

#include "base/status.h"

namespace lumen {

class Sha256 {
 public:
  static constexpr size_t kSize = 32;  // bytes in a digest

  Sha256();
  void Update(std::string_view bytes);
  /// The digest of everything fed so far (raw bytes); the object starts over.
  std::string Finish();

 private:
  sha256_ctx ctx_;
};

/// The digest (raw bytes) of `path`'s content and its size in bytes.
struct FileDigest {
  std::string sha256;
  uint64_t size = 0;
};
StatusOr<FileDigest> DigestFile(const std::string &path);

}  // namespace lumen
