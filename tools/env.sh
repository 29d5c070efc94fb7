# Source this file (bash) to use the package from this checkout:  source tools/env.sh
# Order matters: the venv's ROS 2 environment first, then the colcon install space on top of it.
_vad_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091
source "$_vad_root/.venv/bin/activate"
export AMENT_PREFIX_PATH="$_vad_root/.venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export CMAKE_PREFIX_PATH="$_vad_root/.venv${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
# setup.bash reads unset variables; relax -u while sourcing it.
case $- in *u*) _vad_u=1; set +u ;; *) _vad_u= ;; esac
# shellcheck disable=SC1091
source "$_vad_root/install/setup.bash"
[ -n "$_vad_u" ] && set -u
# Images are larger than Fast DDS's default 512 KB shared-memory segment: use a 16 MB one.
export FASTDDS_DEFAULT_PROFILES_FILE="${FASTDDS_DEFAULT_PROFILES_FILE:-$_vad_root/config/fastdds_large_shm.xml}"
unset _vad_root _vad_u
