#include "dashboard/working_dir_package.h"

#include <archive.h>
#include <archive_entry.h>
#include <fnmatch.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>

#include "base/encoding.h"
#include "base/sha256.h"

namespace lumen::dashboard {
namespace {

namespace fs = std::filesystem;

struct ReadFree {
  void operator()(archive *a) const { archive_read_free(a); }
};
struct WriteFree {
  void operator()(archive *a) const { archive_write_free(a); }
};
struct EntryFree {
  void operator()(archive_entry *e) const { archive_entry_free(e); }
};
using ReadArchive = std::unique_ptr<archive, ReadFree>;
using WriteArchive = std::unique_ptr<archive, WriteFree>;
using Entry = std::unique_ptr<archive_entry, EntryFree>;

std::string ArchiveError(archive *a) {
  const char *e = archive_error_string(a);
  return e ? e : "unknown libarchive error";
}

// Files travel with one of two modes: what matters to a job is whether a
// file can be run, not who else may read it on the submitting machine.
mode_t TravelMode(const fs::file_status &st) {
  return (st.permissions() & fs::perms::owner_exec) != fs::perms::none ? 0755 : 0644;
}

bool Excluded(const std::vector<std::string> &patterns, const std::string &rel, bool is_dir) {
  const size_t slash = rel.rfind('/');
  const std::string name = slash == std::string::npos ? rel : rel.substr(slash + 1);
  for (std::string pattern : patterns) {
    const bool dirs_only = !pattern.empty() && pattern.back() == '/';
    if (dirs_only) pattern.pop_back();
    if (pattern.empty() || (dirs_only && !is_dir)) continue;
    const bool anchored = pattern.front() == '/';
    if (anchored) pattern.erase(0, 1);
    if (anchored || pattern.find('/') != std::string::npos) {
      if (fnmatch(pattern.c_str(), rel.c_str(), FNM_PATHNAME) == 0) return true;
    } else if (fnmatch(pattern.c_str(), name.c_str(), 0) == 0) {
      return true;
    }
  }
  return false;
}

// The patterns of the .gitignore in `dir`, if it has one: one a line, less
// blank lines, comments and trailing blanks. A "!" line (git's re-include) is
// left out: what an earlier pattern excludes stays excluded.
std::vector<std::string> ReadGitignore(const fs::path &dir) {
  std::vector<std::string> patterns;
  std::ifstream in(dir / ".gitignore");
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r'))
      line.pop_back();
    if (line.empty() || line[0] == '#' || line[0] == '!') continue;
    patterns.push_back(line);
  }
  return patterns;
}

// Patterns by the folder they apply under ("" the root): `excludes` and each
// folder's .gitignore, whose patterns are relative to its own folder.
class Ignores {
 public:
  Ignores(const std::vector<std::string> &excludes, const fs::path &root) {
    by_folder_[""] = excludes;
    Read(root, "");
  }
  void Read(const fs::path &dir, const std::string &rel) {
    for (std::string &p : ReadGitignore(dir)) by_folder_[rel].push_back(std::move(p));
  }
  bool Match(const std::string &rel, bool is_dir) const {
    for (const auto &[base, patterns] : by_folder_) {
      if (base.empty()) {
        if (Excluded(patterns, rel, is_dir)) return true;
      } else if (rel.size() > base.size() && rel.compare(0, base.size(), base) == 0 &&
                 rel[base.size()] == '/') {
        if (Excluded(patterns, rel.substr(base.size() + 1), is_dir)) return true;
      }
    }
    return false;
  }

 private:
  std::map<std::string, std::vector<std::string>> by_folder_;
};

struct Item {
  std::string rel;  // from the folder, '/'-separated
  fs::path path;
  bool is_dir = false;
  mode_t mode = 0644;
  uint64_t size = 0;
};

// What PackDirectory takes: the folder's entries, sorted, excludes applied.
StatusOr<std::vector<Item>> ListFolder(const fs::path &root, const std::vector<std::string> &excludes) {
  std::vector<Item> items;
  Ignores ignores(excludes, root);
  std::error_code ec;
  fs::recursive_directory_iterator it(root, ec), end;
  if (ec) return Status::InvalidArgument("cannot read " + root.string() + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) return Status::InvalidArgument("cannot read " + root.string() + ": " + ec.message());
    const fs::path path = it->path();
    Item item;
    item.rel = path.lexically_relative(root).generic_string();
    item.path = path;
    const fs::file_status link = it->symlink_status(ec);
    const fs::file_status target = it->status(ec);  // what a symlink leads to
    if (fs::is_directory(link)) {
      item.is_dir = true;
      if (ignores.Match(item.rel, true)) {
        it.disable_recursion_pending();
        continue;
      }
      ignores.Read(path, item.rel);  // before its contents, which the iterator visits next
      item.mode = 0755;
    } else if (fs::is_regular_file(target)) {
      if (ignores.Match(item.rel, false)) continue;
      item.mode = TravelMode(target);
      item.size = fs::file_size(path, ec);
      if (ec) return Status::InvalidArgument("cannot read " + path.string() + ": " + ec.message());
    } else {
      continue;  // a link to a folder (not followed: it could loop), a dangling one, a socket, a fifo
    }
    items.push_back(std::move(item));
  }
  std::sort(items.begin(), items.end(), [](const Item &a, const Item &b) { return a.rel < b.rel; });
  return items;
}

std::string FormatMiB(uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return text;
}

la_ssize_t AppendToString(archive *, void *out, const void *buffer, size_t length) {
  static_cast<std::string *>(out)->append(static_cast<const char *>(buffer), length);
  return static_cast<la_ssize_t>(length);
}

// One file's bytes into the archive and the hash; its size must not have
// changed since it was listed (the entry's header holds it).
Status AddFileData(archive *zip, const Item &item, Sha256 *hash) {
  std::ifstream in(item.path, std::ios::binary);
  if (!in) return Status::InvalidArgument("cannot read " + item.path.string());
  std::string buffer(1 << 20, '\0');
  uint64_t copied = 0;
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const size_t n = static_cast<size_t>(in.gcount());
    if (n == 0) break;
    copied += n;
    if (copied > item.size) break;
    hash->Update(std::string_view(buffer.data(), n));
    if (archive_write_data(zip, buffer.data(), n) < 0)
      return Status::Internal("zipping " + item.rel + ": " + ArchiveError(zip));
  }
  if (copied != item.size)
    return Status::InvalidArgument(item.path.string() + " changed while it was being packed");
  return Status::OK();
}

// A zip entry's path, checked: relative, no "..", nothing empty.
Status CheckEntryPath(const char *raw) {
  if (!raw || !*raw) return Status::InvalidArgument("the package holds an entry without a name");
  const std::string path = raw;
  if (path.front() == '/')
    return Status::InvalidArgument("the package's entry '" + path + "' is an absolute path");
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (path.compare(start, end - start, "..") == 0 && end - start == 2)
      return Status::InvalidArgument("the package's entry '" + path + "' reaches outside its folder");
    start = end + 1;
  }
  return Status::OK();
}

Status CopyEntryData(archive *in, archive *out, const std::string &name, uint64_t max_bytes,
                     uint64_t *total) {
  const void *block;
  size_t size;
  la_int64_t offset;
  int r;
  while ((r = archive_read_data_block(in, &block, &size, &offset)) == ARCHIVE_OK) {
    *total += size;
    if (*total > max_bytes)
      return Status::InvalidArgument("the package unpacks to over " + FormatMiB(max_bytes) + " (at '" + name +
                                     "')");
    if (archive_write_data_block(out, block, size, offset) < ARCHIVE_OK)
      return Status::IoError("unpacking '" + name + "': " + ArchiveError(out));
  }
  if (r != ARCHIVE_EOF)
    return Status::InvalidArgument("the package's entry '" + name + "': " + ArchiveError(in));
  return Status::OK();
}

Status UnpackInto(archive *in, const fs::path &dest, uint64_t max_bytes) {
  WriteArchive out(archive_write_disk_new());
  // Our own checks come first (CheckEntryPath, files and folders only);
  // these are libarchive's of the same, and no entry may replace another.
  archive_write_disk_set_options(out.get(), ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                                ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                                ARCHIVE_EXTRACT_NO_OVERWRITE);
  uint64_t total = 0;
  std::set<std::string> seen;
  archive_entry *entry;
  int r;
  while ((r = archive_read_next_header(in, &entry)) == ARCHIVE_OK) {
    const char *raw = archive_entry_pathname(entry);
    LUMEN_RETURN_IF_ERROR(CheckEntryPath(raw));
    const std::string name = raw;
    if (!seen.insert(fs::path(name).lexically_normal().generic_string()).second)
      return Status::InvalidArgument("the package holds '" + name + "' twice");
    const auto type = archive_entry_filetype(entry);
    if (type != AE_IFREG && type != AE_IFDIR)
      return Status::InvalidArgument("the package's entry '" + name + "' is not a file or a folder");
    archive_entry_set_pathname(entry, (dest / name).c_str());
    archive_entry_set_perm(entry, type == AE_IFDIR || (archive_entry_perm(entry) & 0100) ? 0755 : 0644);
    if (archive_write_header(out.get(), entry) < ARCHIVE_OK)
      return Status::InvalidArgument("unpacking '" + name + "': " + ArchiveError(out.get()));
    if (type == AE_IFREG) LUMEN_RETURN_IF_ERROR(CopyEntryData(in, out.get(), name, max_bytes, &total));
    if (archive_write_finish_entry(out.get()) < ARCHIVE_OK)
      return Status::IoError("unpacking '" + name + "': " + ArchiveError(out.get()));
  }
  if (r != ARCHIVE_EOF)
    return Status::InvalidArgument("the package is not a readable zip: " + ArchiveError(in));
  if (archive_write_close(out.get()) < ARCHIVE_OK)
    return Status::IoError("unpacking: " + ArchiveError(out.get()));
  return Status::OK();
}

}  // namespace

StatusOr<Package> PackDirectory(const std::string &dir, const std::vector<std::string> &excludes,
                                uint64_t max_bytes) {
  std::error_code ec;
  const fs::path root = fs::canonical(dir, ec);
  if (ec || !fs::is_directory(root))
    return Status::InvalidArgument("working_dir '" + dir + "' is not a folder");
  auto items = ListFolder(root, excludes);
  if (!items.ok()) return items.status();
  Package package;
  for (const Item &item : *items) {
    package.file_bytes += item.size;
    package.files += item.is_dir ? 0 : 1;
  }
  if (package.file_bytes > max_bytes)
    return Status::InvalidArgument("working_dir '" + dir + "' holds " + FormatMiB(package.file_bytes) +
                                   " of files, over the " + FormatMiB(max_bytes) +
                                   " a package may hold (leave some out with runtime_env excludes)");
  WriteArchive zip(archive_write_new());
  archive_write_set_format_zip(zip.get());
  if (archive_write_open(zip.get(), &package.zip, nullptr, AppendToString, nullptr) != ARCHIVE_OK)
    return Status::Internal("zip: " + ArchiveError(zip.get()));
  Sha256 hash;
  for (const Item &item : *items) {
    Entry entry(archive_entry_new());
    archive_entry_set_pathname(entry.get(), item.rel.c_str());
    archive_entry_set_filetype(entry.get(), item.is_dir ? AE_IFDIR : AE_IFREG);
    archive_entry_set_perm(entry.get(), item.mode);
    archive_entry_set_size(entry.get(), static_cast<la_int64_t>(item.size));
    // The hash: each entry's kind, path, mode and size, then its bytes.
    hash.Update(item.is_dir ? "d" : "f");
    hash.Update(item.rel);
    hash.Update(std::string(1, '\0') + std::to_string(item.mode) + ":" + std::to_string(item.size) + '\0');
    if (archive_write_header(zip.get(), entry.get()) != ARCHIVE_OK)
      return Status::Internal("zipping " + item.rel + ": " + ArchiveError(zip.get()));
    if (!item.is_dir) LUMEN_RETURN_IF_ERROR(AddFileData(zip.get(), item, &hash));
  }
  if (archive_write_close(zip.get()) != ARCHIVE_OK)
    return Status::Internal("zip: " + ArchiveError(zip.get()));
  package.name = "_ray_pkg_" + ToHex(hash.Finish().substr(0, 16)) + ".zip";
  return package;
}

bool ValidPackageName(std::string_view name) {
  constexpr std::string_view kPrefix = "_ray_pkg_", kSuffix = ".zip";
  if (name.size() <= kPrefix.size() + kSuffix.size() || name.substr(0, kPrefix.size()) != kPrefix ||
      name.substr(name.size() - kSuffix.size()) != kSuffix)
    return false;
  const std::string_view hex = name.substr(kPrefix.size(), name.size() - kPrefix.size() - kSuffix.size());
  return hex.size() <= 64 && std::all_of(hex.begin(), hex.end(),
                                         [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

Status UnpackPackage(const std::string &zip_path, const std::string &dest, uint64_t max_bytes) {
  ReadArchive in(archive_read_new());
  archive_read_support_format_zip(in.get());
  if (archive_read_open_filename(in.get(), zip_path.c_str(), 1 << 16) != ARCHIVE_OK)
    return Status::InvalidArgument("the package is not a readable zip: " + ArchiveError(in.get()));
  std::error_code ec;
  fs::create_directories(fs::path(dest).parent_path(), ec);
  if (::mkdir(dest.c_str(), 0755) != 0)
    return Status::IoError("cannot make " + dest + ": " + std::strerror(errno));
  Status st = UnpackInto(in.get(), dest, max_bytes);
  if (!st.ok()) fs::remove_all(dest, ec);
  return st;
}

}  // namespace lumen::dashboard
