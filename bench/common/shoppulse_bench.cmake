# shoppulse_benchmark(<name> SOURCES ... DEPS ...) builds bench_<name> and, when
# tests are on, registers `bench_<name>_smoke` (the --quick run) with ctest
# under the label `bench`. Smoke runs check that the benchmark works, never
# how fast: no benchmark asserts on time.
include_guard(GLOBAL)

function(shoppulse_benchmark name)
  cmake_parse_arguments(B "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(bench_${name} ${B_SOURCES})
  target_link_libraries(bench_${name} PRIVATE shoppulse_bench_common ${B_DEPS})
  if(SHOPPULSE_TESTS)
    add_test(NAME bench_${name}_smoke COMMAND bench_${name} --quick)
    set_tests_properties(bench_${name}_smoke PROPERTIES LABELS bench TIMEOUT 120)
  endif()
endfunction()
