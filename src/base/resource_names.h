// Names of the resources a placement group's bundles add to a node, shared by
// the node (which creates them) and submitters (which ask for them), spelled
// as Ray spells them: <name>_group_<bundle index>_<group id> for one bundle,
// <name>_group_<group id> for any bundle of the group.
#pragma once

#include <string>

namespace lumen {

inline std::string GroupResourceName(const std::string &name, int bundle_index, const std::string &group) {
  if (bundle_index < 0) return name + "_group_" + group;
  return name + "_group_" + std::to_string(bundle_index) + "_" + group;
}

}  // namespace lumen
