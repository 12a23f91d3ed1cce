#include "dashboard/package_store.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace lumen::dashboard {
namespace {

namespace fs = std::filesystem;

std::atomic<uint64_t> next_suffix{0};

}  // namespace

PackageStore::PackageStore(std::string root, uint64_t max_bytes)
    : root_(std::move(root)), max_bytes_(max_bytes) {}

std::string PackageStore::PackagePath(std::string_view name) const {
  return root_ + "/packages/" + std::string(name);
}

std::string PackageStore::UniqueSuffix() const {
  return "." + std::to_string(getpid()) + "-" + std::to_string(next_suffix.fetch_add(1)) + ".part";
}

bool PackageStore::Has(std::string_view name) const {
  std::error_code ec;
  return ValidPackageName(name) && fs::is_regular_file(PackagePath(name), ec);
}

Status PackageStore::Put(std::string_view name, const ByteSource &body) {
  if (!ValidPackageName(name))
    return Status::InvalidArgument("'" + std::string(name) + "' is not a package name (_ray_pkg_<hex>.zip)");
  std::error_code ec;
  fs::create_directories(root_ + "/packages", ec);
  const std::string path = PackagePath(name);
  const std::string part = path + UniqueSuffix();
  Status st;
  {
    std::ofstream out(part, std::ios::binary | std::ios::trunc);
    if (!out) return Status::IoError("cannot write " + part + ": " + std::strerror(errno));
    uint64_t size = 0;
    const bool whole = body([&](const char *data, size_t n) {
      size += n;
      if (size > max_bytes_) {
        st = Status::InvalidArgument("the package is over the " + std::to_string(max_bytes_ >> 20) +
                                     " MiB a package may hold");
        return false;
      }
      out.write(data, static_cast<std::streamsize>(n));
      return static_cast<bool>(out);
    });
    out.close();
    if (st.ok() && (!whole || !out))
      st = Status::IoError("the upload of " + std::string(name) + " broke off");
  }
  if (st.ok() && std::rename(part.c_str(), path.c_str()) != 0)
    st = Status::IoError("cannot store " + path + ": " + std::strerror(errno));
  if (!st.ok()) fs::remove(part, ec);
  return st;
}

StatusOr<std::string> PackageStore::WorkingDirOf(std::string_view uri) const {
  if (uri.substr(0, kPackageScheme.size()) != kPackageScheme)
    return Status::InvalidArgument(
        "working_dir '" + std::string(uri) +
        "' is neither a folder on the head nor a package uploaded to it (gcs://...)");
  const std::string_view name = uri.substr(kPackageScheme.size());
  if (!ValidPackageName(name))
    return Status::InvalidArgument("'" + std::string(name) + "' is not a package name (_ray_pkg_<hex>.zip)");
  if (!Has(name))
    return Status::NotFound(
        "package " + std::string(name) +
        " was not uploaded to this head (lumen job submit --working-dir DIR uploads one)");
  const std::string dir = root_ + "/working_dir_files/" + std::string(name.substr(0, name.size() - 4));
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return dir;
  const std::string part = dir + UniqueSuffix();
  if (Status st = UnpackPackage(PackagePath(name), part, max_bytes_); !st.ok())
    return Status::InvalidArgument("package " + std::string(name) + ": " + st.message());
  if (std::rename(part.c_str(), dir.c_str()) != 0) {
    const int err = errno;
    fs::remove_all(part, ec);
    // Another job of the same package unpacked it first: that copy serves.
    if (err != EEXIST && err != ENOTEMPTY)
      return Status::IoError("cannot unpack into " + dir + ": " + std::strerror(err));
  }
  return dir;
}

}  // namespace lumen::dashboard
