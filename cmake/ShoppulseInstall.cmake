# cmake --install: the executable, the default config, the man page, the
# public headers and the static libraries with a CMake package config, so
# another project writes
#   find_package(shoppulse 0.1 REQUIRED)
#   target_link_libraries(app PRIVATE shoppulse::shoppulse)
# Each module is exported as shoppulse::<module>; shoppulse::shoppulse is all
# of them. Third-party libraries stay private: the exported targets carry
# them as link-only dependencies, found again by shoppulseConfig.cmake the
# same way the build finds them; their headers are never needed.
include_guard(GLOBAL)
include(CMakePackageConfigHelpers)

set(SHOPPULSE_MODULES core config eventlog sources ingest windows range recommend importer auth redis kafka mongodb api http cluster app)

# The public surface is include/shoppulse/ as it is: what an embedder needs
# (Application and its config, in-process ingest, snapshots, the window
# engine, event types) and what those headers include. Headers only this
# build shares live in src/<module>/internal/ and are not installed. No
# RocksDB, Beast or simdjson type appears in the public ones; the
# installed_tree test checks that and that every header they include is
# installed.
add_library(shoppulse_embed INTERFACE)
target_link_libraries(shoppulse_embed INTERFACE shoppulse_app)
set_target_properties(shoppulse_embed PROPERTIES EXPORT_NAME shoppulse)
add_library(shoppulse::shoppulse ALIAS shoppulse_embed)

set(_targets shoppulse_embed)
foreach(m IN LISTS SHOPPULSE_MODULES)
  set_target_properties(shoppulse_${m} PROPERTIES EXPORT_NAME ${m})
  add_library(shoppulse::${m} ALIAS shoppulse_${m})
  list(APPEND _targets shoppulse_${m})
endforeach()

install(TARGETS shoppulse RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
install(TARGETS ${_targets} EXPORT shoppulseTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/shoppulse DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  COMPONENT development FILES_MATCHING PATTERN "*.hpp")

set(SHOPPULSE_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/shoppulse)
install(EXPORT shoppulseTargets NAMESPACE shoppulse:: DESTINATION ${SHOPPULSE_CMAKE_DIR} COMPONENT development)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/shoppulseConfig.cmake.in
  ${PROJECT_BINARY_DIR}/shoppulseConfig.cmake INSTALL_DESTINATION ${SHOPPULSE_CMAKE_DIR})
# 0.x: a minor version may change the API.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/shoppulseConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/shoppulseConfig.cmake ${PROJECT_BINARY_DIR}/shoppulseConfigVersion.cmake
  DESTINATION ${SHOPPULSE_CMAKE_DIR} COMPONENT development)

# The configuration reference (every key, meaning, unit, default) and the
# man page.
install(FILES ${PROJECT_SOURCE_DIR}/config/shoppulse.conf
  DESTINATION ${CMAKE_INSTALL_DATADIR}/shoppulse COMPONENT runtime)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/shoppulse.1
  DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT runtime)
