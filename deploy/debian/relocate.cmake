# CPack pre-build script (CPACK_PRE_BUILD_SCRIPTS): runs after the install into the staging
# folder and before the .deb is made. The package installs under /usr, but Debian keeps
# configuration in /etc and (Debian 12) systemd units in /lib/systemd/system; move them there.
# `cmake --install` never runs this, so a plain install keeps <prefix>/etc.
if(NOT CPACK_TEMPORARY_INSTALL_DIRECTORY)
  message(FATAL_ERROR "relocate.cmake: CPACK_TEMPORARY_INSTALL_DIRECTORY is not set")
endif()
set(root "${CPACK_TEMPORARY_INSTALL_DIRECTORY}")
set(prefix "${CPACK_PACKAGING_INSTALL_PREFIX}")   # /usr

function(vnetdns_move from to)
  if(EXISTS "${root}${from}")
    get_filename_component(parent "${root}${to}" DIRECTORY)
    file(MAKE_DIRECTORY "${parent}")
    if(EXISTS "${root}${to}")
      message(FATAL_ERROR "relocate.cmake: ${to} already exists in the staging folder")
    endif()
    file(RENAME "${root}${from}" "${root}${to}")
  endif()
endfunction()

vnetdns_move("${prefix}/etc" "/etc")
vnetdns_move("${prefix}/lib/systemd" "/lib/systemd")
# Leave no empty <prefix>/lib behind.
file(GLOB left "${root}${prefix}/lib/*")
if(EXISTS "${root}${prefix}/lib" AND NOT left)
  file(REMOVE_RECURSE "${root}${prefix}/lib")
endif()
foreach(f /etc/vnetdns/vnetdns.toml /etc/vnetdns/zones/privatelink.azurecr.io.zone
          /lib/systemd/system/vnetdns.service)
  if(NOT EXISTS "${root}${f}")
    message(FATAL_ERROR "relocate.cmake: ${f} is missing from the staging folder ${root}")
  endif()
endforeach()
