# lumen_component(NAME SOURCES...): an OBJECT library folded into libray_api.so.
function(lumen_component name)
  add_library(${name} OBJECT ${ARGN})
  target_include_directories(${name} PUBLIC ${CMAKE_SOURCE_DIR}/src ${CMAKE_BINARY_DIR}/src)
  target_link_libraries(${name} PUBLIC ray_headers protobuf::libprotobuf-lite spdlog::spdlog fmt::fmt Boost::headers)
  add_dependencies(${name} lumen_protocol_gen)
endfunction()

# lumen_unit_test(NAME SOURCES...): a gtest binary beside its code, linked to the runtime.
function(lumen_unit_test name)
  if(NOT LUMEN_BUILD_TESTS)
    return()
  endif()
  add_executable(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE lumen_internal GTest::gtest GTest::gtest_main GTest::gmock)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS unit)
endfunction()
