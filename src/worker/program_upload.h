// A driver's own program (its executable), described by content and shipped
// to the control service, so that nodes other than the driver's can start
// it as the job's fork server there (see "User code on every node" in
// docs/architecture.md).
//
// Threading: blocking calls, for the thread that runs ray::Init (not the
// connection's loop thread).
#pragma once

#include <string>

#include "base/status.h"
#include "protocol/control.pb.h"
#include "rpc/rpc.h"

namespace lumen::worker {

/// The bytes of the program per PUT_PROGRAM_CHUNK (the control service's limit).
inline constexpr size_t kProgramUploadPiece = size_t{1} << 20;

/// This process's executable (/proc/self/exe): its SHA-256, its size and
/// the arguments it was started with (/proc/self/cmdline).
StatusOr<proto::JobProgram> DescribeOwnProgram();

/// Uploads the file at `path` (whose digest `program` names) unless the
/// control service holds that program already; in order, in pieces of
/// kProgramUploadPiece. The job that names it must be registered first.
Status UploadProgram(rpc::Connection &control, const proto::JobProgram &program,
                     const std::string &path = "/proc/self/exe");

}  // namespace lumen::worker
