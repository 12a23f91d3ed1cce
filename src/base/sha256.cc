#include "base/sha256.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace lumen {

Sha256::Sha256() { sha256_init(&ctx_); }

void Sha256::Update(std::string_view bytes) {
  sha256_update(&ctx_, bytes.size(), reinterpret_cast<const uint8_t *>(bytes.data()));
}

std::string Sha256::Finish() {
  std::string digest(kSize, '\0');
  sha256_digest(&ctx_, kSize, reinterpret_cast<uint8_t *>(digest.data()));  // also re-inits ctx_
  return digest;
}

StatusOr<FileDigest> DigestFile(const std::string &path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::IoError("open " + path + ": " + std::strerror(errno));
  Sha256 sha;
  FileDigest out;
  std::vector<char> buf(1 << 20);
  for (;;) {
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      return Status::IoError("read " + path + ": " + std::strerror(err));
    }
    if (n == 0) break;
    sha.Update(std::string_view(buf.data(), static_cast<size_t>(n)));
    out.size += static_cast<uint64_t>(n);
  }
  close(fd);
  out.sha256 = sha.Finish();
  return out;
}

}  // namespace lumen
