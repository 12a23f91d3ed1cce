// The head's uploaded working-dir packages (Ray keeps them in the GCS; here
// they are files of the session): each zip in <root>/packages/, unpacked once,
// for the first job that runs in it, into <root>/working_dir_files/<name
// without .zip>/, where every later job of the same package runs too. They
// last as long as the session's folder.
//
// Threading: thread-safe, without a lock: an upload is written to a file of
// its own and renamed into place, and so is an unpacking (into a folder of its
// own), so that uploads and jobs of one package racing end with one copy.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "dashboard/working_dir_package.h"

namespace lumen::dashboard {

/// Feeds a body to `sink` piece by piece; false if the body could not be read
/// whole or `sink` refused a piece (cpp-httplib's ContentReader has this shape).
using ByteSource = std::function<bool(const std::function<bool(const char *data, size_t size)> &sink)>;

class PackageStore {
 public:
  /// `root`: the session's runtime_resources folder (made when first needed).
  explicit PackageStore(std::string root, uint64_t max_bytes = kMaxPackageBytes);

  /// Whether package `name` has been uploaded.
  bool Has(std::string_view name) const;
  /// Stores package `name` from `body`. InvalidArgument for a bad name or a
  /// body over the limit (nothing is kept then); IoError if it cannot be
  /// written. A second upload of a name replaces the first.
  Status Put(std::string_view name, const ByteSource &body);
  /// The folder to run a job whose working_dir is `uri` ("gcs://<name>"),
  /// unpacked on first use. NotFound if the package was never uploaded;
  /// InvalidArgument for another scheme, a bad name or a bad package.
  StatusOr<std::string> WorkingDirOf(std::string_view uri) const;

  uint64_t max_bytes() const { return max_bytes_; }

 private:
  std::string PackagePath(std::string_view name) const;
  std::string UniqueSuffix() const;  // for files and folders still being written

  const std::string root_;
  const uint64_t max_bytes_;
};

}  // namespace lumen::dashboard
