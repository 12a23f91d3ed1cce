#include "scheduler/program_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/encoding.h"
#include "base/logging.h"

namespace lumen::scheduler {

struct ProgramCache::Fetch {
  uint64_t size = 0;
  uint64_t got = 0;
  int fd = -1;
  std::string temp;
  Sha256 digest;
  ReadPiece read;
  std::vector<Done> waiters;
};

ProgramCache::ProgramCache(std::string dir) : dir_(std::move(dir)) {}

ProgramCache::~ProgramCache() {
  *alive_ = false;
  for (auto &[sha, f] : fetching_) {
    if (f->fd >= 0) close(f->fd);
    unlink(f->temp.c_str());
  }
}

std::string ProgramCache::PathOf(const std::string &sha256) const { return dir_ + "/" + ToHex(sha256); }

Status ProgramCache::EnsureDir() {
  if (mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST)
    return Status::IoError("mkdir " + dir_ + ": " + std::strerror(errno));
  struct stat st;
  if (lstat(dir_.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid())
    return Status::IoError(dir_ + " is not a folder of this user's");
  if ((st.st_mode & 0777) != 0700 && chmod(dir_.c_str(), 0700) != 0)
    return Status::IoError("chmod " + dir_ + ": " + std::strerror(errno));
  return Status::OK();
}

void ProgramCache::Get(const std::string &sha256, uint64_t size, ReadPiece read, Done done) {
  if (auto it = fetching_.find(sha256); it != fetching_.end()) {
    it->second->waiters.push_back(std::move(done));
    return;
  }
  const std::string path = PathOf(sha256);
  if (access(path.c_str(), F_OK) == 0) {
    auto digest = DigestFile(path);
    if (digest.ok() && digest->sha256 == sha256 && digest->size == size) {
      done(path);
      return;
    }
    LUMEN_LOG_WARN("cached program {} does not match its digest; fetching it again", path);
    unlink(path.c_str());
  }
  if (Status st = EnsureDir(); !st.ok()) {
    done(st);
    return;
  }
  auto f = std::make_unique<Fetch>();
  f->size = size;
  f->read = std::move(read);
  f->waiters.push_back(std::move(done));
  f->temp = path + ".part-" + std::to_string(getpid());
  f->fd = open(f->temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0700);
  if (f->fd < 0) {
    Status st = Status::IoError("open " + f->temp + ": " + std::strerror(errno));
    f->waiters.front()(st);
    return;
  }
  ++fetches_;
  LUMEN_LOG_INFO("fetching program {} ({} bytes) from the control service", ToHex(sha256), size);
  fetching_[sha256] = std::move(f);
  ReadNext(sha256);
}

void ProgramCache::ReadNext(const std::string &sha256) {
  auto &f = *fetching_.at(sha256);
  std::weak_ptr<bool> alive = alive_;
  f.read(f.got, [this, alive, sha256](StatusOr<std::string> piece) {
    if (auto a = alive.lock(); !a || !*a) return;
    OnPiece(sha256, std::move(piece));
  });
}

void ProgramCache::OnPiece(const std::string &sha256, StatusOr<std::string> piece) {
  auto it = fetching_.find(sha256);
  if (it == fetching_.end()) return;
  auto &f = *it->second;
  if (!piece.ok())
    return Finish(sha256, Status(piece.status().code(),
                                 "fetching program " + ToHex(sha256) + ": " + piece.status().message()));
  const std::string &bytes = *piece;
  if (bytes.empty() || bytes.size() > f.size - f.got)
    return Finish(sha256, Status::IoError("fetching program " + ToHex(sha256) + ": got " +
                                          std::to_string(bytes.size()) + " bytes at offset " +
                                          std::to_string(f.got) + " of " + std::to_string(f.size)));
  for (size_t done = 0; done < bytes.size();) {
    ssize_t n = write(f.fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Finish(sha256, Status::IoError("write " + f.temp + ": " + std::strerror(errno)));
    done += static_cast<size_t>(n);
  }
  f.digest.Update(bytes);
  f.got += bytes.size();
  if (f.got < f.size) return ReadNext(sha256);
  if (f.digest.Finish() != sha256)
    return Finish(sha256, Status::InvalidArgument("the program fetched as " + ToHex(sha256) +
                                                  " does not match that SHA-256"));
  Finish(sha256, PathOf(sha256));
}

void ProgramCache::Finish(const std::string &sha256, const StatusOr<std::string> &result) {
  auto it = fetching_.find(sha256);
  auto f = std::move(it->second);
  fetching_.erase(it);
  close(f->fd);
  StatusOr<std::string> outcome = result;
  if (outcome.ok() && rename(f->temp.c_str(), outcome->c_str()) != 0)
    outcome = Status::IoError("rename " + f->temp + ": " + std::strerror(errno));
  if (!outcome.ok()) unlink(f->temp.c_str());
  if (outcome.ok())
    LUMEN_LOG_INFO("fetched program {} into {}", ToHex(sha256), *outcome);
  else
    LUMEN_LOG_WARN("{}", outcome.status().ToString());
  for (auto &done : f->waiters) done(outcome);
}

}  // namespace lumen::scheduler
