# The dashboard's web UI in a real browser (issue 18): a head started with
# `lumen start`, a driver (dashboard_ui_driver) with actors, one of them named,
# and a failing task, and Debian's chromium driven by playwright-core
# (dashboard/client/tests/e2e.test.mjs, node's test runner). Skipped (exit 77)
# when chromium is not installed; only where the UI is built.
if(NOT TARGET dashboard_ui)
  return()
endif()
add_executable(dashboard_ui_driver dashboard_ui_driver.cc)
target_link_libraries(dashboard_ui_driver PRIVATE ray_api)
set_target_properties(dashboard_ui_driver PROPERTIES CXX_STANDARD 17)
add_dependencies(dashboard_ui_driver lumen_programs lumen_cli dashboard_ui)

add_test(NAME dashboard_ui_e2e
  COMMAND ${LUMEN_NODE} ${CMAKE_SOURCE_DIR}/dashboard/client/tests/e2e.test.mjs)
set_tests_properties(dashboard_ui_e2e PROPERTIES LABELS cluster TIMEOUT 300 RUN_SERIAL TRUE SKIP_RETURN_CODE 77
  ENVIRONMENT "LUMEN_CLI=$<TARGET_FILE:lumen_cli>;LUMEN_UI_DRIVER=$<TARGET_FILE:dashboard_ui_driver>;LUMEN_UI_ARTIFACTS=${CMAKE_BINARY_DIR}/test-output/dashboard_ui")
