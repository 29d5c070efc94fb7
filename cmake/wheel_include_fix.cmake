# Passed as -DCMAKE_PROJECT_INCLUDE by tools/colcon_defaults.yaml.
#
# The ROS 2 wheels from PyPI export imported targets whose INTERFACE_INCLUDE_DIRECTORIES point at the
# Python of the machine that built them (/opt/python/cp311-cp311/...). At the end of configure this file
# replaces every such directory that does not exist here by the real Python / NumPy include directory.
# Installed files are not touched. On a normal ROS 2 install those directories exist or are absent from
# the targets, so nothing changes.
#
# Second rewrite: when the virtual environment lives inside the source tree (.venv/ in this repository),
# the package's own exported targets carry Python/NumPy include dirs under the source directory, which
# CMake refuses to export. Those are wrapped in $<BUILD_INTERFACE:...>: used for the build, not exported.

function(_vad_ros_fix_wheel_include_dirs)
  find_package(Python3 QUIET COMPONENTS Interpreter Development NumPy)
  get_property(_targets DIRECTORY "${CMAKE_SOURCE_DIR}" PROPERTY IMPORTED_TARGETS)
  foreach(_target IN LISTS _targets)
    get_target_property(_dirs ${_target} INTERFACE_INCLUDE_DIRECTORIES)
    if(NOT _dirs)
      continue()
    endif()
    set(_new_dirs "")
    set(_changed FALSE)
    foreach(_dir IN LISTS _dirs)
      if(_dir MATCHES "^/opt/python/" AND NOT EXISTS "${_dir}")
        set(_changed TRUE)
        if(_dir MATCHES "numpy")
          list(APPEND _new_dirs ${Python3_NumPy_INCLUDE_DIRS})
        else()
          list(APPEND _new_dirs ${Python3_INCLUDE_DIRS})
        endif()
      else()
        list(APPEND _new_dirs "${_dir}")
      endif()
    endforeach()
    if(_changed)
      list(REMOVE_DUPLICATES _new_dirs)
      set_target_properties(${_target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_new_dirs}")
    endif()
  endforeach()

  get_property(_own DIRECTORY "${CMAKE_SOURCE_DIR}" PROPERTY BUILDSYSTEM_TARGETS)
  foreach(_target IN LISTS _own)
    get_target_property(_type ${_target} TYPE)
    if(_type STREQUAL "UTILITY")
      continue()
    endif()
    get_target_property(_dirs ${_target} INTERFACE_INCLUDE_DIRECTORIES)
    if(NOT _dirs)
      continue()
    endif()
    set(_new_dirs "")
    set(_changed FALSE)
    foreach(_dir IN LISTS _dirs)
      string(FIND "${_dir}" "${CMAKE_SOURCE_DIR}/" _pos)
      if(_pos EQUAL 0 AND (_dir MATCHES "/site-packages/" OR _dir MATCHES "/include/python3"))
        list(APPEND _new_dirs "$<BUILD_INTERFACE:${_dir}>")
        set(_changed TRUE)
      else()
        list(APPEND _new_dirs "${_dir}")
      endif()
    endforeach()
    if(_changed)
      set_target_properties(${_target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_new_dirs}")
    endif()
  endforeach()
endfunction()

cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL _vad_ros_fix_wheel_include_dirs)
