// Where a cluster's dashboard serves: lumen_dashboard publishes its
// "host:port" in the control service's KV store once it listens, so that the
// state CLI (`lumen list --address=<cluster>`) finds it from the cluster's
// address alone, as Ray's state CLI finds its API server through the GCS.
//
// Threading: constants only.
#pragma once

namespace lumen::dashboard {

inline constexpr const char *kDashboardKvNamespace = "lumen";
inline constexpr const char *kDashboardKvKey = "dashboard_address";

}  // namespace lumen::dashboard
