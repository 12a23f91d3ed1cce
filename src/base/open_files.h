// The process's open-file limit (RLIMIT_NOFILE). Many systems still start
// processes with a soft limit of 1024 while the hard limit is far higher; a
// node with a thousand actors needs more descriptors than that in the node,
// the control service and the driver alike. Every Lumen process raises its
// soft limit to the hard one at start (forked children inherit it), and an
// error caused by the limit names it.
//
// Threading: free functions, safe from any thread.
#pragma once

#include <cerrno>
#include <string>

#include "base/status.h"

namespace lumen {

/// Raises the soft RLIMIT_NOFILE to the hard limit. Returns the soft limit
/// now in force, or the error of getrlimit/setrlimit.
StatusOr<unsigned long long> RaiseOpenFileLimit();

/// "the open-file limit (RLIMIT_NOFILE) of N descriptors per process
/// (hard limit M)", for messages about EMFILE.
std::string DescribeOpenFileLimit();

/// Whether `err` (an errno value) means a descriptor limit was reached.
inline bool IsOpenFileLimitError(int err) { return err == EMFILE || err == ENFILE; }

}  // namespace lumen
