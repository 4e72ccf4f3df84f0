# shoppulse_build_info(<target>)
#
# Adds a generated build_info_generated.cpp to <target>: the project version, the
# source commit, the build type, the compiler and the versions of the
# libraries the binary is built against (shoppulse::build_info()).
# The commit is read at build time by cmake/build_info_write.cmake, so a new
# commit changes the binary without re-running CMake; the file is rewritten
# only when its text changes, so an unchanged tree rebuilds nothing.
include_guard(GLOBAL)

function(shoppulse_build_info target)
  # The library packages are found here as in their modules (cached), only to
  # read their versions.
  find_package(Boost 1.81 QUIET)
  find_package(RocksDB CONFIG QUIET)
  find_package(simdjson QUIET)
  find_package(fmt QUIET)
  set(libraries "")
  foreach(pair "boost=${Boost_VERSION_STRING}" "rocksdb=${RocksDB_VERSION}"
               "simdjson=${simdjson_VERSION}" "fmt=${fmt_VERSION}")
    string(APPEND libraries "${pair};")
  endforeach()
  set(out ${CMAKE_CURRENT_BINARY_DIR}/build_info_generated.cpp)
  add_custom_target(${target}_build_info
    COMMAND ${CMAKE_COMMAND}
      -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
      -DTEMPLATE=${CMAKE_CURRENT_FUNCTION_LIST_DIR}/build_info.cpp.in
      -DOUT=${out}
      -DVERSION=${PROJECT_VERSION}
      -DBUILD_TYPE=${CMAKE_BUILD_TYPE}
      "-DCOMPILER=${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION}"
      "-DLIBRARIES=${libraries}"
      -P ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/build_info_write.cmake
    BYPRODUCTS ${out}
    COMMENT "" VERBATIM)
  target_sources(${target} PRIVATE ${out})
  add_dependencies(${target} ${target}_build_info)
endfunction()
