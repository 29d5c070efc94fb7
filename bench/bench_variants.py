"""End-to-end gain of each load-time variant of the PyTorch backends (vad_ros/perception/openmmlab/backend.py PLAN):
whole detect() / segment() per frame with the defaults, and with one variant switched against its default.

RTMDet-tiny and SegFormer-B0 from the shipped configs with random weights (timing only), frames of vtest.avi at
640x480; every frame goes through every model in turn (starting one model further each frame), each run after
GAP_S of idle, so that other load on the machine hits them alike; medians in ms; the node's memory setting. A variant that is on by default earns its place with a gain of >= 5 % here.

    python bench/bench_variants.py [--frames 15] [--device cpu]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from bench_models import GAP_S, WARMUP, frames_of


def build(device: str) -> dict[tuple[str, str], object]:
    from vad_ros.devtools.random_checkpoints import make_random_checkpoint
    from vad_ros.perception.openmmlab.mmdet_detector import MMDetDetector
    from vad_ros.perception.openmmlab.mmseg_segmenter import MMSegSegmenter
    out = tempfile.mkdtemp()
    dc, dk = make_random_checkpoint('det', out)
    sc, sk = make_random_checkpoint('seg', out)
    return {
        ('RTMDet-tiny deploy', 'defaults'): MMDetDetector(dc, dk, device, min_score=0.3),
        ('RTMDet-tiny deploy', 'fold_norms off'): MMDetDetector(dc, dk, device, min_score=0.3, fold_norms=False),
        ('RTMDet-tiny deploy', 'channels_last off'): MMDetDetector(dc, dk, device, min_score=0.3,
                                                                   channels_last=False),
        ('RTMDet-tiny deploy', 'package_decode on'): MMDetDetector(dc, dk, device, min_score=0.3,
                                                                   package_decode=True),
        ('RTMDet-tiny config', 'defaults'): MMDetDetector(dc, dk, device),
        ('RTMDet-tiny config', 'package_decode off'): MMDetDetector(dc, dk, device, package_decode=False),
        ('SegFormer-B0', 'defaults'): MMSegSegmenter(sc, sk, device),
        ('SegFormer-B0', 'fold_norms off'): MMSegSegmenter(sc, sk, device, fold_norms=False),
        ('SegFormer-B0', 'channels_last off'): MMSegSegmenter(sc, sk, device, channels_last=False),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--frames', type=int, default=15)
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args()
    from vad_ros.host_memory import keep_freed_memory
    keep_freed_memory()                 # as the node and vad-video run (vad_ros/host_memory.py)
    models = build(args.device)
    frames = frames_of(args.frames + WARMUP, (640, 480))
    times: dict = {key: [] for key in models}
    keys = list(models)
    for i, frame in enumerate(frames):
        for key in keys[i % len(keys):] + keys[:i % len(keys)]:      # each model first in turn: no place bias
            model = models[key]
            time.sleep(GAP_S)
            start = time.perf_counter()
            model.detect(frame) if hasattr(model, 'detect') else model.segment(frame)
            if i >= WARMUP:
                times[key].append((time.perf_counter() - start) * 1e3)
    print('| model | variants | median ms | vs defaults | path |\n|---|---|---|---|---|')
    for (name, variant), values in times.items():
        median, base = statistics.median(values), statistics.median(times[(name, 'defaults')])
        change = '' if variant == 'defaults' else f'{(median / base - 1) * 100:+.1f} %'
        print(f'| {name} | {variant} | {median:.1f} | {change} | {models[(name, variant)].runtime_report().line()} |')


if __name__ == '__main__':
    main()
