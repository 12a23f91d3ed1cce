// working_dir packages: what PackDirectory puts in (files, folders, modes,
// excludes) comes out of UnpackPackage the same; names follow content; zips
// made to attack the head (climbing out, absolute paths, links, bombs, junk)
// are refused whole. PackageStore: uploads, limits, and one unpacked copy
// however many jobs ask at once.
#include "dashboard/working_dir_package.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "dashboard/package_store.h"

namespace lumen::dashboard {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void WriteFile(const fs::path &path, const std::string &text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

bool Executable(const fs::path &path) {
  return (fs::status(path).permissions() & fs::perms::owner_exec) != fs::perms::none;
}

// Every path under `root`, '/'-separated, folders with a trailing '/'.
std::set<std::string> Tree(const fs::path &root) {
  std::set<std::string> out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it)
    out.insert(it->path().lexically_relative(root).generic_string() + (it->is_directory() ? "/" : ""));
  return out;
}

struct RawEntry {
  std::string path;
  mode_t type = AE_IFREG;
  std::string data;
  std::string link;  // for a symlink
};

// A zip as an attacker would write it: entries exactly as given.
std::string Zip(const std::vector<RawEntry> &entries) {
  std::string out;
  archive *a = archive_write_new();
  archive_write_set_format_zip(a);
  archive_write_open(
      a, &out, nullptr,
      [](archive *, void *o, const void *b, size_t n) -> la_ssize_t {
        static_cast<std::string *>(o)->append(static_cast<const char *>(b), n);
        return static_cast<la_ssize_t>(n);
      },
      nullptr);
  for (const RawEntry &e : entries) {
    archive_entry *entry = archive_entry_new();
    archive_entry_set_pathname(entry, e.path.c_str());
    archive_entry_set_filetype(entry, e.type);
    archive_entry_set_perm(entry, 0644);
    if (e.type == AE_IFLNK) archive_entry_set_symlink(entry, e.link.c_str());
    archive_entry_set_size(entry, static_cast<la_int64_t>(e.data.size()));
    archive_write_header(a, entry);
    if (!e.data.empty()) archive_write_data(a, e.data.data(), e.data.size());
    archive_entry_free(entry);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

class WorkingDirPackageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lumen-package-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { fs::remove_all(root_); }

  // A folder of the kinds a job's folder holds.
  fs::path MakeFolder() {
    const fs::path dir = root_ / "job";
    WriteFile(dir / "run.sh", "#!/bin/sh\necho hi\n");
    fs::permissions(dir / "run.sh", fs::perms::owner_all | fs::perms::group_read | fs::perms::others_read);
    WriteFile(dir / "data.txt", "data\n");
    WriteFile(dir / "sub/deeper/more.txt", std::string(300000, 'x'));  // bigger than a read
    fs::create_directories(dir / "empty");
    WriteFile(dir / "build/out.o", "object");
    WriteFile(dir / "sub/build", "a file named build");
    WriteFile(dir / "notes.log", "log");
    WriteFile(dir / "sub/x.log", "log");
    WriteFile(root_ / "outside.txt", "outside");
    fs::create_symlink(root_ / "outside.txt", dir / "linked.txt");  // a link to a file travels as the file
    fs::create_directory_symlink(root_, dir / "loop");              // a link to a folder does not
    return dir;
  }

  StatusOr<std::string> Unpack(const std::string &zip, uint64_t max = kMaxPackageBytes) {
    const fs::path file = root_ / "in.zip";
    std::ofstream(file, std::ios::binary) << zip;
    const fs::path dest = root_ / ("out" + std::to_string(++unpacks_));
    Status st = UnpackPackage(file, dest, max);
    if (!st.ok()) {
      EXPECT_FALSE(fs::exists(dest)) << "a failed unpacking left " << dest;
      return st;
    }
    return dest.string();
  }

  fs::path root_;
  int unpacks_ = 0;
};

TEST_F(WorkingDirPackageTest, WhatIsPackedUnpacksTheSameWithItsModes) {
  const fs::path dir = MakeFolder();
  auto package = PackDirectory(dir, {"*.log", "build/", "/data*"});
  ASSERT_TRUE(package.ok()) << package.status().ToString();
  EXPECT_TRUE(ValidPackageName(package->name)) << package->name;
  auto out = Unpack(package->zip);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  // *.log at any depth, the folder build/ (not the file sub/build), and
  // data* only at the top are left out.
  EXPECT_EQ(Tree(*out), (std::set<std::string>{"empty/", "linked.txt", "run.sh", "sub/", "sub/build",
                                               "sub/deeper/", "sub/deeper/more.txt"}));
  EXPECT_EQ(ReadFile(fs::path(*out) / "sub/deeper/more.txt"), std::string(300000, 'x'));
  EXPECT_EQ(ReadFile(fs::path(*out) / "linked.txt"), "outside");
  EXPECT_FALSE(fs::is_symlink(fs::path(*out) / "linked.txt"));
  EXPECT_TRUE(Executable(fs::path(*out) / "run.sh"));
  EXPECT_FALSE(Executable(fs::path(*out) / "sub/build"));
  EXPECT_EQ(package->files, 4u);
  EXPECT_EQ(package->file_bytes, 300000u + 18 + 7 + 18);
}

TEST_F(WorkingDirPackageTest, GitignoreFilesLeaveOutWhatTheyNameUnderTheirFolder) {
  const fs::path dir = root_ / "repo";
  WriteFile(dir / ".gitignore", "# build output\n*.o\n\nbuild/\n/top.txt   \n!keep.o\n");
  WriteFile(dir / "main.cc", "int main() {}");
  WriteFile(dir / "main.o", "obj");
  WriteFile(dir / "keep.o", "obj");  // "!" lines are not followed: still left out
  WriteFile(dir / "build/out", "x");
  WriteFile(dir / "top.txt", "x");
  WriteFile(dir / "sub/top.txt", "kept: /top.txt is the root's only");
  WriteFile(dir / "sub/.gitignore", "local.txt\n/only-here.txt\n");
  WriteFile(dir / "sub/local.txt", "x");
  WriteFile(dir / "sub/only-here.txt", "x");
  WriteFile(dir / "sub/deeper/local.txt", "x");
  WriteFile(dir / "sub/deeper/only-here.txt", "kept: anchored to sub/");
  WriteFile(dir / "local.txt", "kept: sub/.gitignore is sub's");
  auto package = PackDirectory(dir, {});
  ASSERT_TRUE(package.ok()) << package.status().ToString();
  auto out = Unpack(package->zip);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(Tree(*out), (std::set<std::string>{".gitignore", "local.txt", "main.cc", "sub/", "sub/.gitignore",
                                               "sub/deeper/", "sub/deeper/only-here.txt", "sub/top.txt"}));
}

TEST_F(WorkingDirPackageTest, TheNameFollowsTheContentAndTheModes) {
  const fs::path dir = MakeFolder();
  auto first = PackDirectory(dir, {});
  auto again = PackDirectory(dir, {});
  ASSERT_TRUE(first.ok() && again.ok());
  EXPECT_EQ(first->name, again->name);
  WriteFile(dir / "data.txt", "date\n");
  auto edited = PackDirectory(dir, {});
  ASSERT_TRUE(edited.ok());
  EXPECT_NE(edited->name, first->name);
  fs::permissions(dir / "data.txt", fs::perms::owner_exec, fs::perm_options::add);
  auto chmodded = PackDirectory(dir, {});
  ASSERT_TRUE(chmodded.ok());
  EXPECT_NE(chmodded->name, edited->name);
  auto fewer = PackDirectory(dir, {"data.txt"});
  ASSERT_TRUE(fewer.ok());
  EXPECT_NE(fewer->name, chmodded->name);
}

TEST_F(WorkingDirPackageTest, AFolderOverTheLimitOrNoFolderIsRefused) {
  const fs::path dir = MakeFolder();
  auto big = PackDirectory(dir, {}, 1000);
  EXPECT_EQ(big.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(big.status().message().find("excludes"), std::string::npos) << big.status().message();
  EXPECT_TRUE(PackDirectory(dir, {"sub/"}, 1000).ok());  // left out, it fits
  EXPECT_EQ(PackDirectory((root_ / "none").string(), {}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PackDirectory((root_ / "outside.txt").string(), {}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(WorkingDirPackageTest, HostileZipsAreRefusedWholeNamingTheEntry) {
  struct Case {
    std::vector<RawEntry> entries;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{{"ok.txt", AE_IFREG, "fine"}, {"../evil.txt", AE_IFREG, "x"}}, "'../evil.txt' reaches outside"},
      {{{"a/../../evil.txt", AE_IFREG, "x"}}, "reaches outside"},
      {{{(root_ / "abs.txt").string(), AE_IFREG, "x"}}, "is an absolute path"},
      {{{"link", AE_IFLNK, "", "/etc/passwd"}}, "'link' is not a file or a folder"},
      {{{"a.txt", AE_IFREG, std::string(600, 'a')}, {"b.txt", AE_IFREG, std::string(600, 'b')}},
       "unpacks to over"},
      {{{"same.txt", AE_IFREG, "one"}, {"same.txt", AE_IFREG, "two"}}, "same.txt"},
  };
  for (const Case &c : cases) {
    auto out = Unpack(Zip(c.entries), 1000);
    ASSERT_FALSE(out.ok()) << c.says;
    EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument) << out.status().ToString();
    EXPECT_NE(out.status().message().find(c.says), std::string::npos) << out.status().message();
  }
  EXPECT_FALSE(fs::exists(root_ / "evil.txt"));
  EXPECT_FALSE(fs::exists(root_ / "abs.txt"));
  auto junk = Unpack("this is not a zip at all");
  EXPECT_EQ(junk.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(junk.status().message().find("not a readable zip"), std::string::npos) << junk.status().message();
}

TEST_F(WorkingDirPackageTest, PackageNamesAreOnlyHashNames) {
  EXPECT_TRUE(ValidPackageName("_ray_pkg_0123456789abcdef.zip"));
  for (const char *bad : {"", "_ray_pkg_.zip", "_ray_pkg_xyz.zip", "_ray_pkg_../a.zip", "../_ray_pkg_ab.zip",
                          "_ray_pkg_ab.zip/..", "_ray_pkg_ab.tar", "ray_pkg_ab.zip"})
    EXPECT_FALSE(ValidPackageName(bad)) << bad;
  EXPECT_FALSE(ValidPackageName("_ray_pkg_" + std::string(65, 'a') + ".zip"));
}

ByteSource Body(const std::string &bytes, size_t piece = 7) {
  return [bytes, piece](const std::function<bool(const char *, size_t)> &sink) {
    for (size_t at = 0; at < bytes.size(); at += piece)
      if (!sink(bytes.data() + at, std::min(piece, bytes.size() - at))) return false;
    return true;
  };
}

TEST_F(WorkingDirPackageTest, TheStoreKeepsUploadsAndUnpacksEachOnceForAllItsJobs) {
  auto package = PackDirectory(MakeFolder(), {});
  ASSERT_TRUE(package.ok());
  PackageStore store((root_ / "runtime_resources").string());
  const std::string uri = "gcs://" + package->name;
  EXPECT_FALSE(store.Has(package->name));
  EXPECT_EQ(store.WorkingDirOf(uri).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(store.Put(package->name, Body(package->zip, 4096)).ok());
  EXPECT_TRUE(store.Has(package->name));

  // Jobs of the package starting at once share one copy.
  std::vector<std::string> dirs(4);
  std::vector<std::thread> jobs;
  for (auto &d : dirs)
    jobs.emplace_back([&] {
      auto dir = store.WorkingDirOf(uri);
      d = dir.ok() ? *dir : dir.status().ToString();
    });
  for (auto &t : jobs) t.join();
  for (const std::string &d : dirs) EXPECT_EQ(d, dirs[0]);
  EXPECT_EQ(ReadFile(fs::path(dirs[0]) / "data.txt"), "data\n");
  EXPECT_TRUE(Executable(fs::path(dirs[0]) / "run.sh"));
  const fs::path unpacked = root_ / "runtime_resources/working_dir_files";
  EXPECT_EQ(std::distance(fs::directory_iterator(unpacked), fs::directory_iterator()), 1);
  EXPECT_EQ(dirs[0], (unpacked / package->name.substr(0, package->name.size() - 4)).string());
  for (const auto &entry : fs::recursive_directory_iterator(root_ / "runtime_resources"))
    EXPECT_EQ(entry.path().string().find(".part"), std::string::npos) << entry.path();
}

TEST_F(WorkingDirPackageTest, TheStoreRefusesBadNamesBigBodiesAndOtherSchemes) {
  PackageStore store((root_ / "runtime_resources").string(), /*max_bytes=*/100);
  const std::string name = "_ray_pkg_00ff.zip";
  EXPECT_EQ(store.Put("../x.zip", Body("x")).code(), StatusCode::kInvalidArgument);
  Status big = store.Put(name, Body(std::string(101, 'z')));
  EXPECT_EQ(big.code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(store.Has(name));
  EXPECT_TRUE(fs::is_empty(root_ / "runtime_resources/packages"));  // no part left behind
  ByteSource broken = [](const std::function<bool(const char *, size_t)> &sink) {
    return sink("ab", 2) && false;
  };
  EXPECT_EQ(store.Put(name, broken).code(), StatusCode::kIoError);
  EXPECT_FALSE(store.Has(name));
  EXPECT_EQ(store.WorkingDirOf("https://example.com/x.zip").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store.WorkingDirOf("gcs://../../etc").status().code(), StatusCode::kInvalidArgument);
  // An upload that is no zip fails the job that would run in it, clearly.
  ASSERT_TRUE(store.Put(name, Body("not a zip")).ok());
  auto dir = store.WorkingDirOf("gcs://" + name);
  EXPECT_EQ(dir.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(dir.status().message().find("not a readable zip"), std::string::npos) << dir.status().message();
}

}  // namespace
}  // namespace lumen::dashboard
