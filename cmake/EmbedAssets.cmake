# shoppulse_embed_assets(<target> <dir> [FUNCTION <name>])
#
# Compiles every file under <dir> into <target> as a sorted
# shoppulse::http::AssetTable returned by shoppulse::http::<name>()
# (default: dashboard_assets). The table is generated at build time by the
# small host tool cmake/embed_assets.cpp; the custom command depends on every
# file, so editing one rebuilds the table, and the glob is re-checked on each
# build (CONFIGURE_DEPENDS) so added or removed files are picked up.
# A gzip variant (`gzip -9 -n`) is stored when it is smaller than the file.
include_guard(GLOBAL)

function(_shoppulse_embed_tool)
  if(TARGET shoppulse_embed_tool)
    return()
  endif()
  add_executable(shoppulse_embed_tool ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/embed_assets.cpp)
  target_include_directories(shoppulse_embed_tool PRIVATE ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/../src/http)
  target_compile_features(shoppulse_embed_tool PRIVATE cxx_std_20)
endfunction()

function(shoppulse_embed_assets target dir)
  cmake_parse_arguments(E "" "FUNCTION" "" ${ARGN})
  if(NOT E_FUNCTION)
    set(E_FUNCTION dashboard_assets)
  endif()
  _shoppulse_embed_tool()
  find_program(SHOPPULSE_GZIP gzip)
  set(gzip_program "${SHOPPULSE_GZIP}")
  if(NOT gzip_program)
    message(WARNING "gzip not found: embedded assets are stored uncompressed only")
    set(gzip_program "")
  endif()

  get_filename_component(root "${dir}" ABSOLUTE)
  file(GLOB_RECURSE files LIST_DIRECTORIES false CONFIGURE_DEPENDS "${root}/*")
  list(SORT files)
  set(list_file ${CMAKE_CURRENT_BINARY_DIR}/${target}_${E_FUNCTION}.files)
  string(REPLACE ";" "\n" list_text "${files}")
  file(CONFIGURE OUTPUT ${list_file} CONTENT "${list_text}\n")

  set(out ${CMAKE_CURRENT_BINARY_DIR}/${target}_${E_FUNCTION}.cpp)
  add_custom_command(
    OUTPUT ${out}
    COMMAND shoppulse_embed_tool ${out} ${E_FUNCTION} "${gzip_program}" ${root} ${list_file}
    DEPENDS shoppulse_embed_tool ${files} ${list_file}
    COMMENT "Embedding ${dir} as shoppulse::http::${E_FUNCTION}()"
    VERBATIM)
  target_sources(${target} PRIVATE ${out})
  get_filename_component(header_dir ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/../src/http ABSOLUTE)
  set_source_files_properties(${out} PROPERTIES INCLUDE_DIRECTORIES ${header_dir})
endfunction()
