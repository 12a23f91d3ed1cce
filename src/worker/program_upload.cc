#include "worker/program_upload.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "base/sha256.h"

namespace lumen::worker {

StatusOr<proto::JobProgram> DescribeOwnProgram() {
  auto digest = DigestFile("/proc/self/exe");
  if (!digest.ok()) return digest.status();
  proto::JobProgram program;
  program.set_sha256(digest->sha256);
  program.set_size(digest->size);
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (size_t at = 0; at < cmdline.size();) {
    size_t end = cmdline.find('\0', at);
    if (end == std::string::npos) end = cmdline.size();
    program.add_argv(cmdline.substr(at, end - at));
    at = end + 1;
  }
  return program;
}

Status UploadProgram(rpc::Connection &control, const proto::JobProgram &program, const std::string &path) {
  proto::HasProgramReply has;
  LUMEN_RETURN_IF_ERROR(control.CallSync(proto::HAS_PROGRAM, program, &has));
  if (has.found()) return Status::OK();  // a job of the same program shipped it
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::IoError("open " + path + ": " + std::strerror(errno));
  proto::ProgramChunk chunk;
  chunk.set_sha256(program.sha256());
  chunk.set_size(program.size());
  std::string buf(kProgramUploadPiece, '\0');
  Status st;
  for (uint64_t offset = 0; offset < program.size() && st.ok();) {
    ssize_t n = pread(fd, buf.data(), std::min<uint64_t>(buf.size(), program.size() - offset),
                      static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      st = Status::IoError("read " + path + ": " + (n < 0 ? std::strerror(errno) : "shorter than its size"));
      break;
    }
    chunk.set_offset(offset);
    chunk.set_data(buf.data(), static_cast<size_t>(n));
    proto::PutProgramChunkReply reply;
    st = control.CallSync(proto::PUT_PROGRAM_CHUNK, chunk, &reply);
    offset += static_cast<uint64_t>(n);
    if (st.ok() && reply.complete()) break;  // whole (or another driver finished it meanwhile)
  }
  close(fd);
  return st;
}

}  // namespace lumen::worker
