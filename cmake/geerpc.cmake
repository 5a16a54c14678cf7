# Shared build setup: dependencies, language level, warnings and sanitizers.
# Included by the root CMakeLists.txt and by each day's CMakeLists.txt when that day is built alone.
include_guard(GLOBAL)

set(CMAKE_CXX_STANDARD 20)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_CXX_EXTENSIONS OFF)
if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
  set(CMAKE_BUILD_TYPE RelWithDebInfo CACHE STRING "Build type" FORCE)
endif()

# Unity builds: several .cpp files compiled as one, so Asio's, json's and gtest's templates are
# instantiated and optimised once per unit instead of once per file (about half the test build's
# time). The files stay as they are; GCC's -Wsubobject-linkage is off for these targets, because it
# takes a .cpp included into a unit for a header. Off for clang-tidy, which reads file by file.
option(GEERPC_UNITY_BUILD "Compile each day's core sources and tests as unity builds" ON)

set(GEERPC_SANITIZE "" CACHE STRING "Sanitizers for the whole tree: '', 'address,undefined' or 'thread'")

find_package(Threads REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(GTest REQUIRED)
find_path(ASIO_INCLUDE_DIR asio.hpp REQUIRED)

if(NOT TARGET geerpc_deps)
  # One interface target carries what every day needs, so the days stay short.
  add_library(geerpc_deps INTERFACE)
  target_include_directories(geerpc_deps SYSTEM INTERFACE ${ASIO_INCLUDE_DIR})
  # Asio's implementation is compiled once per day (src/asio.cpp) instead of in every file.
  # ASIO_DISABLE_STD_ALIGNED_ALLOC: Asio decides between aligned_alloc and operator new by whether a
  # standard header came before its own, so two files of one program could allocate with one and
  # free with the other. Fixed to operator new everywhere, whatever a user's file includes first.
  target_compile_definitions(geerpc_deps INTERFACE ASIO_STANDALONE ASIO_SEPARATE_COMPILATION ASIO_NO_DEPRECATED
                                                   ASIO_DISABLE_STD_ALIGNED_ALLOC)
  target_link_libraries(geerpc_deps INTERFACE nlohmann_json::nlohmann_json Threads::Threads)

  add_library(geerpc_warnings INTERFACE)
  # Designated initializers that leave members at their defaults are the point, not a slip.
  target_compile_options(geerpc_warnings INTERFACE -Wall -Wextra -Wpedantic -Werror -Wno-missing-field-initializers)

  if(GEERPC_SANITIZE)
    set(san_flags -fsanitize=${GEERPC_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
    target_compile_options(geerpc_deps INTERFACE ${san_flags})
    if(GEERPC_SANITIZE MATCHES "thread" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
      # GCC warns that TSan does not model std::atomic_thread_fence; Asio and the standard
      # library use fences only where a plain atomic operation already orders the accesses.
      target_compile_options(geerpc_deps INTERFACE -Wno-tsan)
    endif()
    # With sanitizer instrumentation GCC 12 reports uninitialised uses inside Asio's use_future that
    # the plain build does not see; the warning is noise there, not a finding.
    target_compile_options(geerpc_deps INTERFACE -Wno-maybe-uninitialized)
    target_link_options(geerpc_deps INTERFACE ${san_flags})
  endif()
endif()

# From day 5 on, HTTP is parsed by nodejs http-parser (Debian's libhttp-parser-dev). Only the days
# that use it look for it, so days 1-4 still build without it.
function(geerpc_use_http_parser target)
  find_path(HTTP_PARSER_INCLUDE_DIR http_parser.h REQUIRED)
  find_library(HTTP_PARSER_LIBRARY http_parser REQUIRED)
  target_include_directories(${target} SYSTEM PRIVATE ${HTTP_PARSER_INCLUDE_DIR})
  target_link_libraries(${target} PUBLIC ${HTTP_PARSER_LIBRARY})
endfunction()

# Gives the tests that gtest_discover_tests listed in the variable `test_list` (its TEST_LIST) the
# labels `labels`. Its PROPERTIES cannot: a list of labels reaches CTest as separate arguments
# (LABELS "a;b" sets label a and a property named b), so a script that CTest runs after reading
# the discovered tests sets them.
function(geerpc_label_discovered test_list labels)
  set(script ${CMAKE_CURRENT_BINARY_DIR}/${test_list}_labels.cmake)
  file(WRITE ${script} "foreach(test IN LISTS ${test_list})\n"
                       "  set_tests_properties(\"\${test}\" PROPERTIES LABELS \"${labels}\")\n"
                       "endforeach()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${script})
endfunction()

# geerpc_day(<day>) defines <day>_geerpc (the library), <day>_demo and <day>_tests for the calling folder:
# sources are src/**.cpp (features of days 6-7 in subfolders), main.cpp and tests/*_test.cpp; tests carry the CTest label <day>, and suites named Load* the label load too.
function(geerpc_day day)
  file(GLOB_RECURSE lib_sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/*.cpp)
  add_library(${day}_geerpc STATIC ${lib_sources})
  target_include_directories(${day}_geerpc PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
  target_link_libraries(${day}_geerpc PUBLIC geerpc_deps PRIVATE geerpc_warnings)
  # Parsing Asio and nlohmann/json dominates compile time; one precompiled header per day pays it once.
  target_precompile_headers(${day}_geerpc PRIVATE <asio.hpp> <nlohmann/json.hpp> <string> <vector> <memory>)
  if(GEERPC_UNITY_BUILD)
    # The core files (src/*.cpp) compile as one unit; the subfolders' files one by one, since
    # day 7's registry files each have their own anonymous State.
    file(GLOB core_sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/*.cpp)
    list(REMOVE_ITEM core_sources ${CMAKE_CURRENT_SOURCE_DIR}/src/asio.cpp)
    set_target_properties(${day}_geerpc PROPERTIES UNITY_BUILD ON UNITY_BUILD_MODE GROUP)
    set_source_files_properties(${core_sources} PROPERTIES UNITY_GROUP core)
    # XClient's fast paths (days 6-7) share its state with it: the two files are one unit too.
    set_source_files_properties(${CMAKE_CURRENT_SOURCE_DIR}/src/xclient/xclient.cpp
                                ${CMAKE_CURRENT_SOURCE_DIR}/src/xclient/fast_path.cpp PROPERTIES UNITY_GROUP xclient)
    target_compile_options(${day}_geerpc PRIVATE -Wno-subobject-linkage)
  endif()

  add_executable(${day}_demo ${CMAKE_CURRENT_SOURCE_DIR}/main.cpp)
  target_link_libraries(${day}_demo PRIVATE ${day}_geerpc geerpc_warnings)
  target_precompile_headers(${day}_demo REUSE_FROM ${day}_geerpc)

  file(GLOB test_sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/tests/*_test.cpp)
  add_executable(${day}_tests ${test_sources})
  target_include_directories(${day}_tests PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/tests)
  target_link_libraries(${day}_tests PRIVATE ${day}_geerpc geerpc_warnings GTest::gtest GTest::gtest_main)
  target_precompile_headers(${day}_tests REUSE_FROM ${day}_geerpc)
  if(GEERPC_UNITY_BUILD)
    set_target_properties(${day}_tests PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 6)
    target_compile_options(${day}_tests PRIVATE -Wno-subobject-linkage)
  endif()
  include(GoogleTest)
  # Suites named Load* (many connections, kills and restarts, sustained rates) also carry the
  # label `load`: `ctest -L load` runs just them, `ctest -LE load` everything else.
  gtest_discover_tests(${day}_tests TEST_PREFIX "${day}." TEST_FILTER "-Load*" PROPERTIES LABELS ${day} TIMEOUT 120
                       DISCOVERY_TIMEOUT 60)
  gtest_discover_tests(${day}_tests TEST_PREFIX "${day}." TEST_FILTER "Load*" TEST_LIST ${day}_load_tests
                       PROPERTIES LABELS ${day} TIMEOUT 120 DISCOVERY_TIMEOUT 60)
  geerpc_label_discovered(${day}_load_tests "${day};load")
  add_test(NAME ${day}.demo COMMAND ${day}_demo)
  set_tests_properties(${day}.demo PROPERTIES LABELS ${day} TIMEOUT 60)
endfunction()
