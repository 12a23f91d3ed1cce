// See run_storage.h.
#include "run_storage.h"

#include <ray/api/ray_exception.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

namespace ray {
namespace train {
namespace internal {
namespace {

namespace fs = std::filesystem;
constexpr char kCheckpointPrefix[] = "checkpoint_";

std::string IndexName(int index) {
  char name[32];
  std::snprintf(name, sizeof(name), "%s%06d", kCheckpointPrefix, index);
  return name;
}

}  // namespace

void RunStorage::Create() const {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw ray::internal::RayException("cannot make the run folder " + dir_ + ": " + ec.message());
}

std::string RunStorage::CheckpointPath(int index) const {
  return (fs::path(dir_) / IndexName(index)).string();
}

std::string RunStorage::PersistCheckpoint(const std::string &source, int index) const {
  const fs::path target = CheckpointPath(index);
  const fs::path partial = target.string() + ".partial";
  std::error_code ec;
  fs::remove_all(partial, ec);
  fs::remove_all(target, ec);
  fs::copy(source, partial, fs::copy_options::recursive, ec);
  if (!ec) fs::rename(partial, target, ec);
  if (ec) {
    fs::remove_all(partial);
    throw ray::internal::RayException("cannot copy checkpoint " + source + " into " + target.string() + ": " +
                                      ec.message());
  }
  return target.string();
}

std::vector<std::pair<int, std::string>> RunStorage::Checkpoints() const {
  std::vector<std::pair<int, std::string>> out;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir_, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(kCheckpointPrefix, 0) != 0 || !it->is_directory()) continue;
    const std::string digits = name.substr(sizeof(kCheckpointPrefix) - 1);
    if (digits.empty() || !std::all_of(digits.begin(), digits.end(), ::isdigit)) continue;  // *.partial too
    out.emplace_back(std::stoi(digits), it->path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<std::string> RunStorage::LatestCheckpoint() const {
  auto all = Checkpoints();
  if (all.empty()) return std::nullopt;
  return all.back().second;
}

void RunStorage::Prune(int keep) const {
  if (keep <= 0) return;
  auto all = Checkpoints();
  for (size_t i = 0; i + keep < all.size(); ++i) fs::remove_all(all[i].second);
}

void RunStorage::AppendResult(const Json &metrics) const {
  std::ofstream out(fs::path(dir_) / "result.json", std::ios::app);
  out << metrics.dump() << "\n";
  if (!out) throw ray::internal::RayException("cannot write " + dir_ + "/result.json");
}

std::vector<Json> RunStorage::ReadResults() const {
  std::vector<Json> results;
  std::ifstream in(fs::path(dir_) / "result.json");
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    // A line cut short by a crash mid-write is not a result.
    auto j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_discarded()) results.push_back(std::move(j));
  }
  return results;
}

std::vector<WorkerRank> AssignRanks(const std::vector<std::string> &node_ids) {
  std::map<std::string, int> node_order;
  std::vector<int> per_node;
  for (auto &id : node_ids)
    if (node_order.emplace(id, static_cast<int>(node_order.size())).second) per_node.push_back(0);
  for (auto &id : node_ids) ++per_node[node_order[id]];
  std::vector<int> first_rank(per_node.size(), 0);
  for (size_t n = 1; n < per_node.size(); ++n) first_rank[n] = first_rank[n - 1] + per_node[n - 1];
  std::vector<int> seen(per_node.size(), 0);
  std::vector<WorkerRank> ranks(node_ids.size());
  for (size_t i = 0; i < node_ids.size(); ++i) {
    const int node = node_order[node_ids[i]];
    ranks[i].node_rank = node;
    ranks[i].local_rank = seen[node]++;
    ranks[i].local_world_size = per_node[node];
    ranks[i].world_rank = first_rank[node] + ranks[i].local_rank;
  }
  return ranks;
}

}  // namespace internal
}  // namespace train
}  // namespace ray
