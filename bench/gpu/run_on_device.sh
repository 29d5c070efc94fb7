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
python3 bench/gpu/build_mmcv_cpu_ops.py .devkit/src/onedl_mmcv-2.3.6.tar.gz /tmp/mmcv-src 2>&1 | tail -15
echo "mmcv ready after $(( $(date +%s) - T0 )) s"
python3 bench/bench_gpu.py --out "$OUT/results_gpu.json" "$@" 2>&1 | grep -v -i -E "warn|init_weights|^ *$|-  *torch.Size" | tee "$OUT/bench_gpu.log"
echo "all done after $(( $(date +%s) - T0 )) s"
