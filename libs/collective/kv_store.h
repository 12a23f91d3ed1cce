// Gloo's rendezvous store on the cluster's key-value store
// (ray::experimental::InternalKv*): where a group's members publish their
// listening addresses and find each other's. Every key is under one prefix
// per group, so groups never see each other's keys.
//
// Threading: as Gloo uses it, from the one thread that connects a member.
#pragma once

#include <gloo/rendezvous/store.h>

#include <chrono>
#include <string>
#include <vector>

namespace lumen::collective {

/// The KV namespace of every collective key (not a user's namespace).
inline constexpr char kCollectiveKvNamespace[] = "_lumen_collective";

class KvStore : public gloo::rendezvous::Store {
 public:
  KvStore(std::string prefix, std::chrono::milliseconds default_timeout);

  void set(const std::string &key, const std::vector<char> &data) override;
  std::vector<char> get(const std::string &key) override;
  void wait(const std::vector<std::string> &keys) override;
  /// Polls until every key exists (there is no watch on the KV store; this
  /// runs once per member when a group is made); throws gloo::IoException
  /// naming the missing keys when `timeout` passes.
  void wait(const std::vector<std::string> &keys, const std::chrono::milliseconds &timeout) override;

  /// Removes the keys this store set.
  void DeleteOwnKeys();

 private:
  const std::string prefix_;
  const std::chrono::milliseconds default_timeout_;
  std::vector<std::string> own_keys_;
};

}  // namespace lumen::collective
