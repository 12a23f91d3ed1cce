// See kv_store.h.
#include "kv_store.h"

#include <gloo/common/error.h>
#include <ray/api/internal_kv.h>

#include <algorithm>
#include <thread>

namespace lumen::collective {

KvStore::KvStore(std::string prefix, std::chrono::milliseconds default_timeout)
    : prefix_(std::move(prefix)), default_timeout_(default_timeout) {}

void KvStore::set(const std::string &key, const std::vector<char> &data) {
  ray::experimental::InternalKvPut(prefix_ + key, std::string(data.begin(), data.end()), true,
                                   kCollectiveKvNamespace);
  own_keys_.push_back(key);
}

std::vector<char> KvStore::get(const std::string &key) {
  wait({key});
  auto value = ray::experimental::InternalKvGet(prefix_ + key, kCollectiveKvNamespace);
  if (!value) throw gloo::IoException("rendezvous key " + prefix_ + key + " vanished");
  return std::vector<char>(value->begin(), value->end());
}

void KvStore::wait(const std::vector<std::string> &keys) { wait(keys, default_timeout_); }

void KvStore::wait(const std::vector<std::string> &keys, const std::chrono::milliseconds &timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::milliseconds(1);
  std::vector<std::string> missing = keys;
  for (;;) {
    missing.erase(std::remove_if(missing.begin(), missing.end(),
                                 [&](const std::string &k) {
                                   return ray::experimental::InternalKvExists(prefix_ + k,
                                                                              kCollectiveKvNamespace);
                                 }),
                  missing.end());
    if (missing.empty()) return;
    if (std::chrono::steady_clock::now() >= deadline) {
      std::string names;
      for (auto &k : missing) names += (names.empty() ? "" : ", ") + k;
      throw gloo::IoException("timed out after " + std::to_string(timeout.count()) +
                              " ms waiting for group members to arrive (missing rendezvous keys: " + names +
                              ")");
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

void KvStore::DeleteOwnKeys() {
  for (auto &k : own_keys_) ray::experimental::InternalKvDel(prefix_ + k, kCollectiveKvNamespace);
  own_keys_.clear();
}

}  // namespace lumen::collective
