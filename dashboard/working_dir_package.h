// Working-dir packages: Ray's `working_dir` upload. `lumen job submit
// --working-dir DIR` zips DIR on the submitting machine (PackDirectory), names
// the zip by its content ("_ray_pkg_<hash>.zip", Ray's naming), uploads it to
// the head unless the head has it already (PUT /api/packages/gcs/<name>), and
// submits the job with working_dir "gcs://<name>"; the head unpacks it once
// (UnpackPackage) and runs the job's command in the unpacked folder.
//
// Only regular files and folders travel, with their executable bits. Unpacking
// trusts nothing in the zip: an entry that is a link or device, that climbs
// out of the folder ("..", an absolute path), or that takes the files over the
// size limit fails the whole unpacking with the reason.
//
// Threading: free functions on local data; safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace lumen::dashboard {

/// The most a package's files may hold in all (Ray's working_dir limit).
inline constexpr uint64_t kMaxPackageBytes = uint64_t{500} << 20;
/// The one package protocol: the head keeps the uploaded packages (Ray's GCS).
inline constexpr std::string_view kPackageScheme = "gcs://";

struct Package {
  std::string name;  // "_ray_pkg_<32 hex digits>.zip": the files' paths, modes and contents hashed
  std::string zip;   // the archive's bytes
  uint64_t files = 0;
  uint64_t file_bytes = 0;  // the files' bytes before compression
};

/// Zips the files under `dir` (following symlinks to files, not to folders),
/// leaving out those that `excludes` match, and those that the .gitignore
/// files in `dir` and its folders match (as Ray does): gitignore-style
/// patterns as in Ray's runtime_env `excludes` (a pattern without '/' matches
/// a name at any depth, one with '/' the path from `dir` or from its
/// .gitignore's folder; a trailing '/' matches folders only; '*', '?' and
/// [...] as in fnmatch; a .gitignore's "!" lines are not followed).
/// InvalidArgument if `dir` is not a folder or its files total over
/// `max_bytes`.
StatusOr<Package> PackDirectory(const std::string &dir, const std::vector<std::string> &excludes,
                                uint64_t max_bytes = kMaxPackageBytes);

/// Whether `name` is a package name the head accepts: "_ray_pkg_" then 1 to
/// 64 hex digits then ".zip" (it becomes a file name on the head).
bool ValidPackageName(std::string_view name);

/// Unpacks the zip at `zip_path` into the folder `dest`, which must not exist
/// yet (it is made; on failure nothing is left there). InvalidArgument, naming
/// the entry, for an archive that is not a zip, holds anything but files and
/// folders, reaches outside `dest`, or unpacks to over `max_bytes`.
Status UnpackPackage(const std::string &zip_path, const std::string &dest,
                     uint64_t max_bytes = kMaxPackageBytes);

}  // namespace lumen::dashboard
