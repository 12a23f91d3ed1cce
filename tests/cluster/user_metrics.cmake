# User metrics and per-process metrics on the head's /metrics (issue 18): a
# head started with `lumen start`, a driver (metrics_driver) recording a
# Counter, a Gauge and a Histogram itself and in a task.
add_executable(metrics_driver metrics_driver.cc)
target_link_libraries(metrics_driver PRIVATE ray_api)
set_target_properties(metrics_driver PROPERTIES CXX_STANDARD 17)
add_dependencies(metrics_driver lumen_programs)

add_executable(cluster_user_metrics_test user_metrics_test.cc)
target_link_libraries(cluster_user_metrics_test PRIVATE GTest::gtest GTest::gtest_main PkgConfig::HTTPLIB
  nlohmann_json::nlohmann_json)
set_target_properties(cluster_user_metrics_test PROPERTIES CXX_STANDARD 17)
target_compile_definitions(cluster_user_metrics_test PRIVATE
  LUMEN_CLI="$<TARGET_FILE:lumen_cli>" LUMEN_METRICS_DRIVER="$<TARGET_FILE:metrics_driver>")
add_dependencies(cluster_user_metrics_test lumen_programs metrics_driver lumen_cli)
gtest_discover_tests(cluster_user_metrics_test DISCOVERY_TIMEOUT 60
  PROPERTIES LABELS cluster TIMEOUT 300 RUN_SERIAL TRUE)
