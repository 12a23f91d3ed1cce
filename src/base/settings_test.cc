// Unit tests for Settings: every variable parses to its meaning, unset or
// unparsable ones keep the documented defaults, and a reload hears a changed
// environment while references to earlier snapshots stay valid.
#include "base/settings.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <string>

namespace lumen {
namespace {

Settings ParseFrom(const std::map<std::string, std::string> &env) {
  return Settings::Parse([&](const char *name) -> const char * {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

TEST(SettingsTest, DefaultsWhenNothingIsSet) {
  Settings s = ParseFrom({});
  EXPECT_EQ(s.cluster_token, "");
  EXPECT_EQ(s.tmpdir, "");
  EXPECT_EQ(s.bin_dir, "");
  EXPECT_FALSE(s.exec_services);
  EXPECT_TRUE(s.lend_loop);
  EXPECT_EQ(s.get_spin_us, 100);
  EXPECT_EQ(s.log_level, "");
  EXPECT_EQ(s.node_fork_server, "");
  EXPECT_EQ(s.arg_cache_bytes, int64_t{256} << 20);
}

TEST(SettingsTest, EveryVariableIsRead) {
  Settings s = ParseFrom({{"LUMEN_CLUSTER_TOKEN", "tok"},
                          {"LUMEN_TMPDIR", "/x/y"},
                          {"LUMEN_BIN_DIR", "/opt/lumen/bin"},
                          {"LUMEN_EXEC_SERVICES", "1"},
                          {"LUMEN_LEND_LOOP", "0"},
                          {"LUMEN_GET_SPIN_US", "0"},
                          {"LUMEN_LOG_LEVEL", "debug"},
                          {"LUMEN_NODE_FORK_SERVER", "0a00"}});
  EXPECT_EQ(s.cluster_token, "tok");
  EXPECT_EQ(s.node_fork_server, "0a00");
  EXPECT_EQ(s.tmpdir, "/x/y");
  EXPECT_EQ(s.bin_dir, "/opt/lumen/bin");
  EXPECT_TRUE(s.exec_services);
  EXPECT_FALSE(s.lend_loop);
  EXPECT_EQ(s.get_spin_us, 0);
  EXPECT_EQ(s.log_level, "debug");
}

TEST(SettingsTest, SwitchesTakeOnlyTheirDocumentedValue) {
  // LUMEN_EXEC_SERVICES is on only for "1"; LUMEN_LEND_LOOP off only for "0".
  EXPECT_FALSE(ParseFrom({{"LUMEN_EXEC_SERVICES", "0"}}).exec_services);
  EXPECT_FALSE(ParseFrom({{"LUMEN_EXEC_SERVICES", "yes"}}).exec_services);
  EXPECT_TRUE(ParseFrom({{"LUMEN_LEND_LOOP", "1"}}).lend_loop);
  EXPECT_TRUE(ParseFrom({{"LUMEN_LEND_LOOP", ""}}).lend_loop);
}

TEST(SettingsTest, AnUnparsableSpinBudgetKeepsTheDefault) {
  for (const char *bad : {"", "abc", "12us", "-1", "100001", " 5", "99999999999999999999"})
    EXPECT_EQ(ParseFrom({{"LUMEN_GET_SPIN_US", bad}}).get_spin_us, 100) << "'" << bad << "'";
  EXPECT_EQ(ParseFrom({{"LUMEN_GET_SPIN_US", "100000"}}).get_spin_us, 100000);
  EXPECT_EQ(ParseFrom({{"LUMEN_GET_SPIN_US", "7"}}).get_spin_us, 7);
}

TEST(SettingsTest, TheSpreadThresholdTakesOnlyAFractionFromZeroToOne) {
  EXPECT_EQ(ParseFrom({}).spread_threshold, 0.5);
  EXPECT_EQ(ParseFrom({{"LUMEN_SCHEDULER_SPREAD_THRESHOLD", "0"}}).spread_threshold, 0);
  EXPECT_EQ(ParseFrom({{"LUMEN_SCHEDULER_SPREAD_THRESHOLD", "0.75"}}).spread_threshold, 0.75);
  EXPECT_EQ(ParseFrom({{"LUMEN_SCHEDULER_SPREAD_THRESHOLD", "1"}}).spread_threshold, 1);
  for (const char *bad : {"", "-0.1", "1.5", " 0.3", "0.3x", "nan", "half"})
    EXPECT_EQ(ParseFrom({{"LUMEN_SCHEDULER_SPREAD_THRESHOLD", bad}}).spread_threshold, 0.5)
        << "'" << bad << "'";
}

TEST(SettingsTest, TheNodeHealthCheckTimesTakeOnlyInRangeMilliseconds) {
  Settings d = ParseFrom({});
  EXPECT_EQ(d.node_death_timeout_ms, 10000);
  EXPECT_EQ(d.health_check_period_ms, 1000);
  Settings s = ParseFrom({{"LUMEN_NODE_DEATH_TIMEOUT_MS", "2500"}, {"LUMEN_HEALTH_CHECK_PERIOD_MS", "50"}});
  EXPECT_EQ(s.node_death_timeout_ms, 2500);
  EXPECT_EQ(s.health_check_period_ms, 50);
  for (const char *bad : {"99", "-1", "abc", "10s", ""}) {
    Settings b = ParseFrom({{"LUMEN_NODE_DEATH_TIMEOUT_MS", bad}, {"LUMEN_HEALTH_CHECK_PERIOD_MS", "9"}});
    EXPECT_EQ(b.node_death_timeout_ms, 10000) << bad;
    EXPECT_EQ(b.health_check_period_ms, 1000);
  }
}

TEST(SettingsTest, TaskEventsAreOnUnlessZeroAndTheBufferTakesOnlyInRangeCounts) {
  EXPECT_TRUE(ParseFrom({}).task_events);
  EXPECT_FALSE(ParseFrom({{"LUMEN_TASK_EVENTS", "0"}}).task_events);
  EXPECT_TRUE(ParseFrom({{"LUMEN_TASK_EVENTS", "1"}}).task_events);
  EXPECT_EQ(ParseFrom({}).task_events_buffer, 10000);
  EXPECT_EQ(ParseFrom({{"LUMEN_TASK_EVENTS_BUFFER", "5"}}).task_events_buffer, 5);
  for (const char *bad : {"", "0", "-1", "10000001", "5k"})
    EXPECT_EQ(ParseFrom({{"LUMEN_TASK_EVENTS_BUFFER", bad}}).task_events_buffer, 10000) << bad;
}

TEST(SettingsTest, TheControlServicesTaskBoundsTakeOnlyInRangeCounts) {
  EXPECT_EQ(ParseFrom({}).task_events_max, 200000);
  EXPECT_EQ(ParseFrom({}).task_events_max_per_job, 100000);
  EXPECT_EQ(ParseFrom({{"LUMEN_TASK_EVENTS_MAX", "1000000"}}).task_events_max, 1000000);
  EXPECT_EQ(ParseFrom({{"LUMEN_TASK_EVENTS_MAX_PER_JOB", "50"}}).task_events_max_per_job, 50);
  for (const char *bad : {"", "0", "-1", "100000001", "1e6"}) {
    EXPECT_EQ(ParseFrom({{"LUMEN_TASK_EVENTS_MAX", bad}}).task_events_max, 200000) << bad;
    EXPECT_EQ(ParseFrom({{"LUMEN_TASK_EVENTS_MAX_PER_JOB", bad}}).task_events_max_per_job, 100000) << bad;
  }
}

TEST(SettingsTest, ByteCountsTakeOnlyInRangeIntegers) {
  EXPECT_EQ(ParseFrom({{"LUMEN_ARG_CACHE_BYTES", "0"}}).arg_cache_bytes, 0);
  EXPECT_EQ(ParseFrom({{"LUMEN_ARG_CACHE_BYTES", "1048576"}}).arg_cache_bytes, 1 << 20);
  EXPECT_EQ(ParseFrom({{"LUMEN_ARG_CACHE_BYTES", "1099511627776"}}).arg_cache_bytes, int64_t{1} << 40);
  for (const char *bad : {"", "-1", "1M", " 5", "1099511627777", "99999999999999999999"})
    EXPECT_EQ(ParseFrom({{"LUMEN_ARG_CACHE_BYTES", bad}}).arg_cache_bytes, int64_t{256} << 20) << bad;
}

TEST(SettingsTest, ReloadHearsTheEnvironmentAndEarlierSnapshotsStayValid) {
  ASSERT_EQ(setenv("LUMEN_TMPDIR", "/first", 1), 0);
  ReloadSettings();
  const Settings &first = CurrentSettings();
  EXPECT_EQ(first.tmpdir, "/first");

  ASSERT_EQ(setenv("LUMEN_TMPDIR", "/second", 1), 0);
  // Not heard until a reload: the snapshot is what every call site sees.
  EXPECT_EQ(CurrentSettings().tmpdir, "/first");
  ReloadSettings();
  EXPECT_EQ(CurrentSettings().tmpdir, "/second");
  EXPECT_EQ(first.tmpdir, "/first");  // still readable

  ASSERT_EQ(unsetenv("LUMEN_TMPDIR"), 0);
  ReloadSettings();
  EXPECT_EQ(CurrentSettings().tmpdir, "");
}

}  // namespace
}  // namespace lumen
