#include "dashboard/cluster_metrics.h"

#include <gtest/gtest.h>

#include <regex>

namespace lumen::dashboard {
namespace {

TEST(ClusterMetricsTest, RaysNamesFromTheTables) {
  proto::GetAllNodesReply nodes;
  for (int i = 0; i < 3; ++i) {
    proto::NodeInfo *n = nodes.add_nodes();
    n->set_node_id(std::string(16, static_cast<char>(i + 1)));
    n->set_node_ip("127.0.0.1");
    n->set_alive(i < 2);
    (*n->mutable_usage()->mutable_total()->mutable_amounts())["CPU"] = 2;
    (*n->mutable_usage()->mutable_available()->mutable_amounts())["CPU"] = i == 0 ? 0.5 : 2;
  }
  proto::GetAllActorsReply actors;
  for (int i = 0; i < 5; ++i) {
    proto::ActorInfo *a = actors.add_actors();
    a->set_class_name(i < 4 ? "Counter" : "Cache");
    a->set_state(i < 3 ? proto::ALIVE : proto::DEAD);
  }
  proto::GetAllPlacementGroupsReply groups;
  groups.add_groups()->set_state(proto::PG_CREATED);
  groups.add_groups()->set_state(proto::PG_PENDING);
  groups.add_groups()->set_state(proto::PG_CREATED);

  // The control service's summary: tasks by their latest attempt
  // (control/task_event_store.h), one retried task RUNNING again.
  proto::GetTaskEventsReply tasks;
  auto add_count = [&](proto::TaskState state, const std::string &name, int64_t n) {
    proto::TaskCount *c = tasks.add_counts();
    c->set_function_name(name);
    c->set_name(name);
    c->set_state(state);
    c->set_count(n);
  };
  add_count(proto::FINISHED, "Plus", 2);
  add_count(proto::RUNNING, "Plus", 1);
  add_count(proto::FAILED, "Boom", 1);

  const std::string text = ClusterMetricsText(nodes, actors, groups, tasks, "session_x");
  auto has = [&](const std::string &pattern) { return std::regex_search(text, std::regex(pattern)); };
  EXPECT_TRUE(has("# TYPE ray_cluster_active_nodes gauge\n")) << text;
  EXPECT_TRUE(has("\nray_cluster_active_nodes\\{SessionName=\"session_x\"\\} 2\n")) << text;
  EXPECT_TRUE(has("\nray_cluster_failed_nodes\\{SessionName=\"session_x\"\\} 1\n")) << text;
  // Node 1: 1.5 of 2 CPUs used; only alive nodes' resources.
  EXPECT_TRUE(
      has("\nray_resources\\{[^}]*Name=\"CPU\"[^}]*NodeId=\"(01){16}\"[^}]*State=\"USED\"[^}]*\\} 1.5\n"))
      << text;
  EXPECT_TRUE(has("\nray_resources\\{[^}]*NodeId=\"(01){16}\"[^}]*State=\"AVAILABLE\"[^}]*\\} 0.5\n"))
      << text;
  EXPECT_FALSE(has("NodeId=\"(03){16}\"")) << text;
  EXPECT_TRUE(has("\nray_actors\\{SessionName=\"session_x\",Name=\"Counter\",State=\"ALIVE\"\\} 3\n"))
      << text;
  EXPECT_TRUE(has("\nray_actors\\{SessionName=\"session_x\",Name=\"Counter\",State=\"DEAD\"\\} 1\n")) << text;
  EXPECT_TRUE(has("\nray_actors\\{SessionName=\"session_x\",Name=\"Cache\",State=\"DEAD\"\\} 1\n")) << text;
  EXPECT_TRUE(has("\nray_placement_groups\\{SessionName=\"session_x\",State=\"CREATED\"\\} 2\n")) << text;
  EXPECT_TRUE(has("\nray_placement_groups\\{SessionName=\"session_x\",State=\"PENDING\"\\} 1\n")) << text;
  EXPECT_TRUE(has("# TYPE ray_tasks gauge\n")) << text;
  EXPECT_TRUE(has("\nray_tasks\\{SessionName=\"session_x\",Name=\"Plus\",State=\"FINISHED\"\\} 2\n")) << text;
  EXPECT_TRUE(has("\nray_tasks\\{SessionName=\"session_x\",Name=\"Plus\",State=\"RUNNING\"\\} 1\n")) << text;
  EXPECT_TRUE(has("\nray_tasks\\{SessionName=\"session_x\",Name=\"Boom\",State=\"FAILED\"\\} 1\n")) << text;
  EXPECT_FALSE(has("Name=\"Plus\",State=\"FAILED\"")) << text;
}

TEST(ClusterMetricsTest, EachNodesMachineAndObjectStore) {
  proto::GetAllNodesReply nodes;
  for (int i = 0; i < 3; ++i) {
    proto::NodeInfo *n = nodes.add_nodes();
    n->set_node_id(std::string(16, static_cast<char>(i + 1)));
    n->set_node_ip("10.0.0." + std::to_string(i + 1));
    n->set_alive(i != 2);
    proto::NodeUsage *u = n->mutable_usage();
    u->set_store_capacity(1000);
    u->set_store_used(250 * (i + 1));
    u->set_store_objects(3 * (i + 1));
    if (i == 1) continue;  // node 2 reported no machine (an older node, or /proc unreadable)
    proto::MachineStats *m = u->mutable_machine();
    m->set_cpu_percent(37.5);
    m->set_cpu_count(8);
    m->set_mem_total_bytes(16000);
    m->set_mem_available_bytes(12000);
    m->set_mem_shared_bytes(500);
    m->set_disk_total_bytes(90000);
    m->set_disk_free_bytes(60000);
    m->set_net_received_bytes(7000);
    m->set_net_sent_bytes(3000);
    m->set_net_receive_speed(125.5);
    m->set_disk_read_bytes(4096);
    m->set_disk_writes(12);
    m->set_disk_write_speed(2048);
    m->set_disk_read_iops(3.5);
  }
  const std::string text = ClusterMetricsText(nodes, {}, {}, {}, "s");
  auto value = [&](const std::string &metric, const std::string &node_ip) -> std::string {
    std::smatch m;
    const std::regex re("\n" + metric + "\\{[^}]*instance=\"" + node_ip + "\"[^}]*\\} ([0-9.e+]+)\n");
    return std::regex_search(text, m, re) ? m[1].str() : "absent";
  };
  EXPECT_EQ(value("ray_node_cpu_utilization", "10.0.0.1"), "37.5") << text;
  EXPECT_EQ(value("ray_node_cpu_count", "10.0.0.1"), "8");
  EXPECT_EQ(value("ray_node_mem_used", "10.0.0.1"), "4000");
  EXPECT_EQ(value("ray_node_mem_total", "10.0.0.1"), "16000");
  EXPECT_EQ(value("ray_node_mem_available", "10.0.0.1"), "12000");
  EXPECT_EQ(value("ray_node_mem_shared_bytes", "10.0.0.1"), "500");
  EXPECT_EQ(value("ray_node_disk_usage", "10.0.0.1"), "30000");
  EXPECT_EQ(value("ray_node_disk_free", "10.0.0.1"), "60000");
  EXPECT_EQ(value("ray_node_network_received", "10.0.0.1"), "7000");
  EXPECT_EQ(value("ray_node_network_sent", "10.0.0.1"), "3000");
  EXPECT_EQ(value("ray_node_network_receive_speed", "10.0.0.1"), "125.5");
  EXPECT_EQ(value("ray_node_network_send_speed", "10.0.0.1"), "0");
  EXPECT_EQ(value("ray_node_disk_io_read", "10.0.0.1"), "4096");
  EXPECT_EQ(value("ray_node_disk_io_write_count", "10.0.0.1"), "12");
  EXPECT_EQ(value("ray_node_disk_io_write_speed", "10.0.0.1"), "2048");
  EXPECT_EQ(value("ray_node_disk_read_iops", "10.0.0.1"), "3.5");
  EXPECT_EQ(value("ray_node_network_received", "10.0.0.2"), "absent") << "no machine reported";
  EXPECT_EQ(value("ray_object_store_memory", "10.0.0.1"), "250");
  EXPECT_NE(text.find("Location=\"MMAP_SHM\""), std::string::npos) << text;
  EXPECT_EQ(value("ray_object_store_used_memory", "10.0.0.2"), "500");
  EXPECT_EQ(value("ray_object_store_available_memory", "10.0.0.2"), "500");
  EXPECT_EQ(value("ray_object_store_num_local_objects", "10.0.0.2"), "6");
  EXPECT_EQ(value("ray_node_cpu_utilization", "10.0.0.2"), "absent") << "no machine reported";
  EXPECT_EQ(value("ray_object_store_used_memory", "10.0.0.3"), "absent") << "a dead node";
}

TEST(ClusterMetricsTest, LabelValuesAreEscaped) {
  proto::GetAllActorsReply actors;
  actors.add_actors()->set_class_name("Odd\"Name\\\n");
  const std::string text = ClusterMetricsText({}, actors, {}, {}, "s");
  EXPECT_NE(text.find("Name=\"Odd\\\"Name\\\\\\n\""), std::string::npos) << text;
}

}  // namespace
}  // namespace lumen::dashboard
