#!/bin/bash
# One call on a lent GPU machine (the `device` tool; see bench/RESULTS.md, GPU): installs what the machine lacks
# from .devkit (carried; made by bench/gpu/make_devkit.sh), builds mmcv's CPU ops, runs bench/bench_gpu.py.
# Run from the repository root; extra arguments go to bench_gpu.py. Results land in $OUT.
set -u
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu_out}
mkdir -p "$OUT"
T0=$(date +%s)
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader
python3 -c "import sys, sysconfig, os; print(sys.version.split()[0], 'Python.h:', os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))"
python3 -m pip install -q --upgrade --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .devkit/whl/*.whl || exit 1
export PYTHONPATH=/tmp/mmcv-src:$PWD/.devkit/site:/tmp/site
export VAD_ROS_MODEL_CACHE=$PWD/.devkit/models
# an _ext.so that an earlier call built on the same image (brought back from $OUT) saves the build
python3 bench/gpu/build_mmcv_cpu_ops.py .devkit/src/onedl_mmcv-2.3.6.tar.gz /tmp/mmcv-src .devkit/prebuilt/_ext.so 2>&1 | tail -15
cp /tmp/mmcv-src/onedl_mmcv-*/mmcv/_ext.so "$OUT/" 2>/dev/null
echo "mmcv ready after $(( $(date +%s) - T0 )) s"
if [ "${GPU_TESTS:-1}" = 1 ]; then
    python3 -m pytest -q -p no:randomly test/perception/test_cuda_graphs.py 2>&1 | tail -15 | tee "$OUT/gpu_tests.log"
    echo "GPU tests done after $(( $(date +%s) - T0 )) s"
fi
python3 bench/bench_gpu.py --out "$OUT/results_gpu.json" "$@" 2>&1 | grep -v -i -E "warn|init_weights|^ *$|-  *torch.Size" | tee "$OUT/bench_gpu.log"
echo "all done after $(( $(date +%s) - T0 )) s"
