# The Debian package (`make package`, or `cpack -G DEB` in the build tree):
# shoppulse_<version>_<arch>.deb with the executable, the man page, the config
# reference, /etc/shoppulse/shoppulse.conf (a conffile: kept on upgrade), the
# systemd unit, and maintainer scripts that create the shoppulse system user
# and /var/lib/shoppulse. Library dependencies come from dpkg-shlibdeps.
# The service files use absolute paths and belong to the "service" component,
# which `cmake --install` leaves out (EXCLUDE_FROM_ALL): only the package has
# them.
include_guard(GLOBAL)

install(FILES ${PROJECT_SOURCE_DIR}/packaging/shoppulse.service
  DESTINATION /lib/systemd/system COMPONENT service EXCLUDE_FROM_ALL)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/shoppulse.conf
  DESTINATION /etc/shoppulse COMPONENT service EXCLUDE_FROM_ALL)

find_program(SHOPPULSE_DPKG dpkg)
set(_arch amd64)
if(SHOPPULSE_DPKG)
  execute_process(COMMAND ${SHOPPULSE_DPKG} --print-architecture OUTPUT_VARIABLE _arch
    OUTPUT_STRIP_TRAILING_WHITESPACE)
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME shoppulse)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR shoppulse)
set(CPACK_PACKAGE_CONTACT "shoppulse maintainers <shoppulse@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "real-time e-commerce analytics in one process")
set(CPACK_PACKAGE_DESCRIPTION "Ingests shop events over HTTP into an embedded durable event log, keeps \
sliding windows, learns recommendations and serves a REST/WebSocket API and a built-in dashboard. \
Runs as the shoppulse systemd service.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
# The package carries the program, not the library: runtime and service.
set(CPACK_COMPONENTS_ALL runtime service)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_DEBIAN_FILE_NAME ${CPACK_PACKAGE_NAME}_${PROJECT_VERSION}_${_arch}.deb)
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE ${_arch})
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "passwd")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "systemd")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/packaging/conffiles
  ${PROJECT_SOURCE_DIR}/packaging/postinst
  ${PROJECT_SOURCE_DIR}/packaging/prerm
  ${PROJECT_SOURCE_DIR}/packaging/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
