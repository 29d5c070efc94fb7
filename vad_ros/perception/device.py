"""Which torch device a backend runs on."""
from __future__ import annotations

import logging

from vad_ros.perception.base import PerceptionError

log = logging.getLogger('vad_ros.perception')


def select_device(requested: str, allow_cpu_fallback: bool = False) -> str:
    """'auto' -> cuda:0 when a GPU is visible, else cpu. 'cuda' / 'cuda:N' without that GPU is an error
    unless allow_cpu_fallback, which logs a warning and returns 'cpu'."""
    import torch

    available = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if requested == 'auto':
        return 'cuda:0' if available else 'cpu'
    if requested == 'cpu':
        return 'cpu'
    if requested == 'cuda' or requested.startswith('cuda:'):
        index = int(requested.partition(':')[2] or 0)
        if index < available:
            return f'cuda:{index}'
        reason = (f"device '{requested}' was asked for but " +
                  ('no CUDA GPU is visible to torch' if not available else f'only {available} GPU(s) are visible'))
        if allow_cpu_fallback:
            log.warning('%s; running on cpu because allow_cpu_fallback is true', reason)
            return 'cpu'
        raise PerceptionError(f'{reason}: set detector.device / segmenter.device to auto or cpu, or set '
                              'allow_cpu_fallback: true')
    raise PerceptionError(f"device '{requested}' is not one of auto, cpu, cuda, cuda:N")


def apply_torch_threads(count: int) -> None:
    """The CPU threads torch uses in this process (count > 0; 0 leaves torch's default, one per core). With the
    networks on a GPU, torch's CPU work per frame (input packing, decoding on the host) is small and a full thread
    pool only adds wake-up latency (bench/RESULTS.md, "GPU"); on a CPU-only machine the networks need every core."""
    if count > 0:
        import torch
        if torch.get_num_threads() != count:
            torch.set_num_threads(count)
            log.info('torch uses %d CPU thread(s) (torch_threads)', count)
