// Lumen extension, not part of Ray's C++ API: the cluster's key-value store,
// as Ray Python's ray.experimental.internal_kv offers it. Libraries built on
// the public API use it to meet (Lumen's collectives keep their rendezvous
// here); it is small-value metadata, not a data path.
//
// Keys live in the control service (GCS role), so every process of the
// cluster sees the same store, and it outlives the job that wrote it; in
// local mode it is a table in this process. `ns` keeps users' keys apart from
// each other and from Lumen's own (which never share a namespace with these).
//
// Thread-safe once ray::Init has returned; each call is one round trip to the
// control service. A call the control service cannot answer throws
// ray::internal::RayException.
//
// Public header: must stay valid C++17.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace ray {
namespace experimental {

/// Stores `value` under `key`; with overwrite false an existing value stays.
/// Returns true when the key was new.
bool InternalKvPut(const std::string &key, const std::string &value, bool overwrite = true,
                   const std::string &ns = "");
/// The value under `key`, or nothing when there is none.
std::optional<std::string> InternalKvGet(const std::string &key, const std::string &ns = "");
bool InternalKvExists(const std::string &key, const std::string &ns = "");
/// Removes `key`; returns how many keys went (0 or 1).
int InternalKvDel(const std::string &key, const std::string &ns = "");
/// The keys that start with `prefix`, in no particular order.
std::vector<std::string> InternalKvList(const std::string &prefix, const std::string &ns = "");

}  // namespace experimental
}  // namespace ray
