"""Process memory setting for steady frame times: memory freed after a frame stays for the next one.

PyTorch allocates every activation tensor with malloc and frees it when the frame is done. glibc serves
blocks of 32 MB and more with fresh pages from the kernel (mmap) and gives them back on free (also any block
over 64 MB in a thread's secondary arena, whatever the threshold), so the next frame's tensors fault in
freshly zeroed pages again. Measured on 2 CPU cores with SegFormer-B0 at 640x480 (a 90 MB feature
concatenation per frame): 22 000-91 000 page faults per frame and 172-241 ms per segment(), against no page
faults and 151 ms with this setting; RTMDet-tiny does not change (79 ms; its tensors are smaller). The peak
memory did not grow (VmHWM 955-973 MB against 966-1147 MB, detector and segmenter in one process).

keep_freed_memory() tells glibc to serve large blocks from the heap too (M_MMAP_MAX 0), to keep freed memory
instead of trimming it (M_TRIM_THRESHOLD 2 GB) and to use one arena for all threads (M_ARENA_MAX 1), so the
inference worker's tensors come from the same reused heap whichever thread allocates them. The process then
holds on to its peak heap, as ONNX Runtime's own arena does for its tensors. It has to run before the
process starts its threads: the node, vad-video and vad-eval call it first thing. VAD_ROS_KEEP_FREED_MEMORY=0
keeps glibc's defaults. Other C libraries (musl, macOS): nothing is changed.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import platform

ENV = 'VAD_ROS_KEEP_FREED_MEMORY'

# mallopt parameters (glibc malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
M_ARENA_MAX = -8
SETTINGS = ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, 2 ** 31 - 1), (M_ARENA_MAX, 1))

log = logging.getLogger('vad_ros.host_memory')
_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Apply the settings above once per process; True when they are in effect."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if os.environ.get(ENV, '1').strip().lower() in ('0', 'false', 'no', 'off'):
        log.debug('%s=0: glibc malloc defaults kept', ENV)
        return False
    if platform.libc_ver()[0] != 'glibc':
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        _applied = all(libc.mallopt(param, value) == 1 for param, value in SETTINGS)
    except (OSError, AttributeError) as e:
        log.debug('mallopt not available (%s): glibc malloc defaults kept', e)
    return _applied
