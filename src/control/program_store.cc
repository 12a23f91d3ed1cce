#include "control/program_store.h"

#include "base/encoding.h"

namespace lumen::control {

void ProgramStore::Retain(const std::string &sha256, uint64_t size) {
  auto &p = programs_[sha256];
  if (p.jobs == 0 && !p.complete) p.size = size;
  p.jobs++;
}

void ProgramStore::Release(const std::string &sha256) {
  auto it = programs_.find(sha256);
  if (it == programs_.end()) return;
  if (--it->second.jobs <= 0) programs_.erase(it);
}

bool ProgramStore::Has(const std::string &sha256) const {
  auto it = programs_.find(sha256);
  return it != programs_.end() && it->second.complete;
}

uint64_t ProgramStore::SizeOf(const std::string &sha256) const {
  return Has(sha256) ? programs_.at(sha256).size : 0;
}

StatusOr<bool> ProgramStore::Put(const std::string &sha256, uint64_t size, uint64_t offset,
                                 std::string_view data) {
  auto it = programs_.find(sha256);
  if (it == programs_.end()) return Status::NotFound("no running job names the program " + ToHex(sha256));
  auto &p = it->second;
  if (p.complete) return true;  // another job of the same program uploaded it meanwhile
  if (size != p.size) return Status::InvalidArgument("the program's size does not match its job's");
  if (offset != p.bytes.size())
    return Status::InvalidArgument("a piece of the program at " + std::to_string(offset) + ", expected " +
                                   std::to_string(p.bytes.size()));
  if (data.size() > p.size - p.bytes.size()) return Status::InvalidArgument("a piece past the program's end");
  p.bytes.append(data);
  p.digest.Update(data);
  if (p.bytes.size() < p.size) return false;
  if (p.digest.Finish() != sha256) {
    p.bytes.clear();  // Finish() started the digest over
    return Status::InvalidArgument("the uploaded program does not match its SHA-256 " + ToHex(sha256));
  }
  p.complete = true;
  return true;
}

StatusOr<std::string> ProgramStore::Read(const std::string &sha256, uint64_t offset,
                                         uint32_t max_bytes) const {
  auto it = programs_.find(sha256);
  if (it == programs_.end() || !it->second.complete)
    return Status::NotFound("the control service does not hold the program " + ToHex(sha256) +
                            " (its driver did not upload it, or its job ended)");
  const auto &bytes = it->second.bytes;
  if (offset > bytes.size()) return Status::InvalidArgument("an offset past the program's end");
  return bytes.substr(offset, max_bytes);
}

}  // namespace lumen::control
