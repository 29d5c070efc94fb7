"""Build mmcv's compiled ops (mmcv._ext) for the CPU only, from onedl-mmcv's source tarball, next to its Python code.

For a GPU machine that has torch but no mmcv and no registry to install one from (the `device` tool's machines):
mmdet / mmseg import mmcv.ops, so the models need mmcv._ext to load at all; a CPU-only build compiled in 51 s on
the H200 machine's 16 cores (344 s on this project's 2), where a CUDA build of all of mmcv's ops would take
several times that.
On such a build RTMDet is decoded by the package (MMDetDetector.package_decode: NMS on the host, no mmcv op);
heads the package does not decode use MMDetection's post-processing on the host (decode_on_host); the networks
run on the GPU.
Uses torch's own JIT extension builder (ninja, all cores) rather than mmcv's setup.py, so that no setuptools
version question arises there.

    python bench/gpu/build_mmcv_cpu_ops.py onedl_mmcv-2.3.6.tar.gz /tmp/mmcv-src [_ext.so built earlier there]
    # then PYTHONPATH=/tmp/mmcv-src
"""
from __future__ import annotations

import glob
import os
import shutil
import sys
import tarfile
import time


def main(argv: list[str]) -> int:
    tarball, dest = argv[1], argv[2]
    os.makedirs(dest, exist_ok=True)
    with tarfile.open(tarball) as tar:
        top = tar.getnames()[0].split('/')[0]
        tar.extractall(dest, filter='data')
    root = os.path.join(dest, top)
    csrc = os.path.join(root, 'mmcv', 'ops', 'csrc')
    sources = sorted(glob.glob(os.path.join(csrc, 'pytorch', '*.cpp')))
    for cpu_source in sorted(glob.glob(os.path.join(csrc, 'pytorch', 'cpu', '*.cpp'))):
        if os.path.basename(cpu_source).startswith('cpu_'):         # a copy made by an earlier run
            continue
        # torch's builder names objects by file name, and pytorch/x.cpp and pytorch/cpu/x.cpp share theirs
        renamed = os.path.join(os.path.dirname(cpu_source), 'cpu_' + os.path.basename(cpu_source))
        shutil.copy(cpu_source, renamed)
        sources.append(renamed)
    os.environ['CUDA_VISIBLE_DEVICES'] = ''           # a CPU-only extension even where torch sees a GPU
    os.environ.setdefault('MAX_JOBS', str(os.cpu_count() or 4))
    start = time.perf_counter()
    if len(argv) > 3 and os.path.isfile(argv[3]):      # the same machine image built it before
        built = argv[3]
    else:
        from torch.utils.cpp_extension import load
        build = os.path.join(dest, 'build')
        os.makedirs(build, exist_ok=True)
        load(name='_ext', sources=sources, extra_include_paths=[os.path.join(csrc, 'common')],
             extra_cflags=['-O2', '-std=c++17'], build_directory=build, with_cuda=False, verbose=False)
        built = glob.glob(os.path.join(build, '_ext*.so'))[0]
    shutil.copy(built, os.path.join(root, 'mmcv', '_ext' + os.path.splitext(built)[1]))
    # the package dir to put on PYTHONPATH
    link = os.path.join(dest, 'mmcv')
    if not os.path.exists(link):
        os.symlink(os.path.join(root, 'mmcv'), link)
    print(f'mmcv._ext (CPU ops, {len(sources)} sources) built in {time.perf_counter() - start:.0f} s: {root}')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
