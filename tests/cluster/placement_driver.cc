// A driver for placement_test: joins the cluster at the address it is given,
// creates placement groups with each strategy and prints where each bundle
// was reserved, read from ray::Nodes() (a node holding bundle i of group g
// lists the resource CPU_group_<i>_<g>). Public API only.
//
//   placement_driver <address>
//
// Prints, per group: "GROUP <label> <created 0/1> <node of bundle 0>,<node of
// bundle 1>,..." ("-" for a bundle on no node). Exit status: 0 done, 1 any
// error (its message on stderr).
#include <ray/api.h>

#include <iostream>
#include <string>
#include <vector>

namespace {

// Generous: only a group that can never be created waits this long.
constexpr int kWaitSeconds = 60;

std::string BundleNodes(const ray::PlacementGroup &group, size_t bundles) {
  std::string out;
  for (size_t i = 0; i < bundles; ++i) {
    std::string where = "-";
    const std::string name = "CPU_group_" + std::to_string(i) + "_" + group.GetID();
    for (auto &node : ray::Nodes())
      if (node.alive && node.resources.count(name)) where = node.node_id;
    out += (i ? "," : "") + where;
  }
  return out;
}

void Place(const std::string &label, ray::PlacementStrategy strategy, std::vector<double> cpus,
           int wait_seconds = kWaitSeconds) {
  ray::PlacementGroupCreationOptions options{"", {}, strategy};
  for (double c : cpus) options.bundles.push_back({{"CPU", c}});
  ray::PlacementGroup group = ray::CreatePlacementGroup(options);
  bool created = group.Wait(wait_seconds);
  std::cout << "GROUP " << label << " " << created << " " << BundleNodes(group, cpus.size()) << std::endl;
  ray::RemovePlacementGroup(group.GetID());
}

}  // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    std::cerr << "usage: placement_driver <address>" << std::endl;
    return 1;
  }
  ray::RayConfig config;
  config.address = argv[1];
  try {
    ray::Init(config);
    std::cout << "NODES " << ray::Nodes().size() << std::endl;
    Place("strict_spread", ray::PlacementStrategy::STRICT_SPREAD, {1, 1, 1});
    Place("pack", ray::PlacementStrategy::PACK, {1, 1});
    Place("spread", ray::PlacementStrategy::SPREAD, {1, 1, 1});
    Place("pack_spans", ray::PlacementStrategy::PACK, {2, 2});  // no node has 4 CPUs
    Place("strict_pack", ray::PlacementStrategy::STRICT_PACK, {1, 1});
    // Four bundles on three nodes: never created (it stays pending).
    Place("strict_spread_4", ray::PlacementStrategy::STRICT_SPREAD, {1, 1, 1, 1}, 1);
    ray::Shutdown();
  } catch (const std::exception &e) {
    std::cerr << "placement_driver: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
