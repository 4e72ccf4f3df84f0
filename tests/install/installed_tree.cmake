# See CMakeLists.txt beside this file. Fails with a message at the first step
# that goes wrong.
function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
  message(STATUS "${what}: ok\n${out}")
endfunction()

file(REMOVE_RECURSE ${WORK})
set(prefix ${WORK}/prefix)
run("install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})

foreach(f bin/shoppulse share/man/man1/shoppulse.1 share/shoppulse/shoppulse.conf
          lib/cmake/shoppulse/shoppulseConfig.cmake include/shoppulse/app/application.hpp
          include/shoppulse/windows/window_engine.hpp)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()
# The service files belong to the Debian package only.
if(EXISTS ${prefix}/lib/systemd OR EXISTS /${prefix}/etc/shoppulse)
  message(FATAL_ERROR "cmake --install must not install the service files")
endif()

# The public surface names no RocksDB, Boost or simdjson header, and every
# shoppulse header it includes is installed too.
file(GLOB_RECURSE headers ${prefix}/include/*.hpp)
foreach(h IN LISTS headers)
  file(STRINGS ${h} includes REGEX "^#include <(rocksdb|boost|simdjson)")
  if(includes)
    message(FATAL_ERROR "${h} includes a private dependency: ${includes}")
  endif()
  file(STRINGS ${h} ours REGEX "^#include \"shoppulse/")
  foreach(line IN LISTS ours)
    string(REGEX REPLACE "^#include \"([^\"]+)\".*" "\\1" included "${line}")
    if(NOT EXISTS ${prefix}/include/${included})
      message(FATAL_ERROR "${h} includes ${included}, which is not installed")
    endif()
  endforeach()
endforeach()

run("configure examples" ${CMAKE_COMMAND} -S ${EXAMPLES} -B ${WORK}/build -G ${GENERATOR}
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_PREFIX_PATH=${prefix})
run("build examples" ${CMAKE_COMMAND} --build ${WORK}/build)
# Each example checks its own results and exits non-zero when they are wrong.
run("window_engine" ${WORK}/build/window_engine)
run("embed_app" ${WORK}/build/embed_app ${WORK}/embed-data 0)
run("snapshot_sign" ${WORK}/build/snapshot_sign ${WORK}/sign-data 3)
file(REMOVE_RECURSE ${WORK})
