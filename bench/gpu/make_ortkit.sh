#!/bin/bash
# Fills .ortkit/ (git-ignored through .git/info/exclude) with onnxruntime-gpu for a lent GPU machine (Python
# 3.12, CUDA 13 libraries from its torch, no registry) in parts that fit the device tool's carry: 64 MiB per call
# for the tree (2 MB), .devkit (33 MB) and the video (8 MB) together. The wheel's onnxruntime package, with its
# CUDA provider reduced to the sm_90 code of H100 / H200 (bench/gpu/keep_one_gpu_arch.py: 270 MiB of library,
# 209 MiB of it GPU code for six architectures), is one tar.xz of ~66 MB, split over .ortkit/p0 (56 MiB) and
# .ortkit/p1 (~10 MB), each folder with the archive's sha256.
#
#   bash bench/gpu/make_ortkit.sh [ARCH]         # here, once (ARCH default 90)
#   device call 1: carry [".ortkit/p0"], command `ls .ortkit`   (the machine keeps it while warm: 30 s idle)
#   device call 2, right after: carry [".devkit", "data/vtest.avi", ".ortkit/p1"], bash bench/gpu/run_on_device.sh
#   run_on_device.sh unpacks the parts when all of them are there and their checksum matches.
set -eu
ARCH=${1:-90}
VERSION=1.31.1
PART_MIB=56
grep -qx '/.ortkit/' .git/info/exclude || echo '/.ortkit/' >> .git/info/exclude
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d "$work" "onnxruntime-gpu==$VERSION"
python -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" "$work"/onnxruntime_gpu-*.whl "$work/site"
python bench/gpu/keep_one_gpu_arch.py "$work/site/onnxruntime/capi/libonnxruntime_providers_cuda.so" --arch "$ARCH"
find "$work/site" -name __pycache__ -prune -exec rm -rf {} +
tar -C "$work/site" -cf - . | xz -9 -T2 > "$work/ort.tar.xz"
rm -rf .ortkit && mkdir -p .ortkit
(cd "$work" && split -b "${PART_MIB}M" -d -a 1 ort.tar.xz part.)
sum=$(sha256sum "$work/ort.tar.xz" | cut -d' ' -f1)
n=0
for part in "$work"/part.*; do
    mkdir -p ".ortkit/p$n" && mv "$part" ".ortkit/p$n/" && echo "$sum" > ".ortkit/p$n/ort.tar.xz.sha256"
    n=$((n + 1))
done
echo "$n" > .ortkit/p0/parts
du -sh .ortkit/p*
echo "$n part(s): carry each of .ortkit/p0 .. p$((n - 1)) in its own device call, then run_on_device.sh"
