#include "base/open_files.h"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace lumen {

StatusOr<unsigned long long> RaiseOpenFileLimit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0)
    return Status::IoError(std::string("getrlimit(RLIMIT_NOFILE): ") + std::strerror(errno));
  if (lim.rlim_cur == lim.rlim_max) return static_cast<unsigned long long>(lim.rlim_cur);
  rlimit raised = lim;
  raised.rlim_cur = lim.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &raised) != 0)
    return Status::IoError(fmt::format("setrlimit(RLIMIT_NOFILE) from {} to {}: {}", lim.rlim_cur,
                                       lim.rlim_max, std::strerror(errno)));
  return static_cast<unsigned long long>(raised.rlim_cur);
}

std::string DescribeOpenFileLimit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return "the open-file limit (RLIMIT_NOFILE)";
  auto show = [](rlim_t v) { return v == RLIM_INFINITY ? std::string("unlimited") : std::to_string(v); };
  return fmt::format("the open-file limit (RLIMIT_NOFILE) of {} descriptors per process (hard limit {})",
                     show(lim.rlim_cur), show(lim.rlim_max));
}

}  // namespace lumen
