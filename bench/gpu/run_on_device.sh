#!/bin/bash
# One call on a lent GPU machine (the `device` tool; see bench/RESULTS.md, GPU): installs what the machine lacks
# from .devkit (carried; made by bench/gpu/make_devkit.sh), builds mmcv's CPU ops, runs bench/bench_gpu.py; with
# onnxruntime-gpu where the parts of .ortkit are all there (bench/gpu/make_ortkit.sh says how they travel).
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
# onnxruntime-gpu from the parts that earlier calls carried (bench/gpu/make_ortkit.sh), when all are here
if [ -f .ortkit/p0/parts ]; then
    parts=$(cat .ortkit/p0/parts)
    have=$(ls .ortkit/p*/part.* 2>/dev/null | wc -l)
    if [ "$have" = "$parts" ] && cat .ortkit/p*/part.* | sha256sum | grep -q "$(cat .ortkit/p0/ort.tar.xz.sha256)"; then
        mkdir -p /tmp/ortsite && cat .ortkit/p*/part.* | xz -d | tar -x -C /tmp/ortsite && \
            export PYTHONPATH=/tmp/ortsite:$PYTHONPATH
        # its CUDA provider finds cuBLAS, cuDNN, cuRAND, ... in torch's nvidia packages
        nvlibs=$(python3 -c "import glob, os, nvidia; print(':'.join(sorted({os.path.dirname(p) for d in nvidia.__path__ for p in glob.glob(os.path.join(d, '**', 'lib*.so*'), recursive=True)})))" 2>/dev/null)
        [ -n "$nvlibs" ] && export LD_LIBRARY_PATH=${nvlibs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
        echo "onnxruntime-gpu unpacked from $parts part(s)"
    else
        echo "onnxruntime-gpu: $have of $parts parts here (or a bad checksum): the machine's own onnxruntime is used"
    fi
fi
export VAD_ROS_MODEL_CACHE=$PWD/.devkit/models
# an _ext.so that an earlier call built on the same image (brought back from $OUT) saves the build
python3 bench/gpu/build_mmcv_cpu_ops.py .devkit/src/onedl_mmcv-2.3.6.tar.gz /tmp/mmcv-src .devkit/prebuilt/_ext.so 2>&1 | tail -15
cp /tmp/mmcv-src/onedl_mmcv-*/mmcv/_ext.so "$OUT/" 2>/dev/null
echo "mmcv ready after $(( $(date +%s) - T0 )) s"
if [ "${GPU_TESTS:-1}" = 1 ]; then
    python3 -m pytest -q -p no:randomly test/perception/test_cuda_graphs.py test/perception/test_gpu_paths.py 2>&1 | tail -15 | tee "$OUT/gpu_tests.log"
    echo "GPU tests done after $(( $(date +%s) - T0 )) s"
fi
python3 bench/bench_gpu.py --out "$OUT/results_gpu.json" "$@" 2>&1 | grep -v -i -E "warn|init_weights|^ *$|-  *torch.Size" | tee "$OUT/bench_gpu.log"
if [ -n "${VAD_ROS_MODEL_CACHE:-}" ] && [ -s "$VAD_ROS_MODEL_CACHE/human-models-3.0.4/nanodet.json" ]; then
    # NanoDet on the GPU (issue 25): the carried model folder holds the ONNX files made here (onnx/), so the
    # device needs no export; the onnx rows run where .ortkit's onnxruntime-gpu is unpacked.
    python3 bench/bench_nanodet_runners.py --device cuda:0 --frames 200 --out "$OUT/results_nanodet_runners_gpu" 2>&1 \
        | tail -20 | tee "$OUT/bench_nanodet.log"
fi
echo "all done after $(( $(date +%s) - T0 )) s"
