"""Speed of the built-in HOG people detector on vtest.avi, for the settings a user would try.

For each setting (upscale, pyramid scale, window stride) the detector runs on the same real frames of
vtest.avi (768x576, every 10th frame) and on those frames resized to 640x480; reported: mean and p90
milliseconds per frame, and mean people found per frame at score >= 0.3 (the pipeline's threshold).
The demo's setting is upscale 1.5, scale 1.1, stride 8 (config/demo_vtest.yaml).

    python bench/bench_hog.py [--frames 30] [--out bench/results_hog.md]
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vad_ros.perception.hog import HogPeopleDetector  # noqa: E402

SETTINGS = [  # (upscale, scale, win_stride)
    (1.0, 1.05, 8),
    (1.0, 1.1, 8),
    (1.5, 1.05, 8),
    (1.5, 1.1, 8),       # the demo's
    (1.5, 1.1, 16),
]


def vtest_frames(n: int) -> list[np.ndarray]:
    path = REPO / 'data' / 'vtest.avi'
    if not path.exists():
        sys.exit(f'{path} is missing: run `tools/setup.sh data` first')
    cap = cv2.VideoCapture(str(path))
    frames, index = [], 0
    while len(frames) < n:
        ok, frame = cap.read()
        if not ok:
            break
        if index % 10 == 0:
            frames.append(frame)
        index += 1
    return frames


def time_setting(frames: list[np.ndarray], upscale: float, scale: float, stride: int) -> dict:
    detector = HogPeopleDetector(win_stride=stride, scale=scale, upscale=upscale)
    detector.detect(frames[0])                       # warm-up
    times, people = [], []
    for frame in frames:
        start = time.perf_counter()
        found = detector.detect(frame)
        times.append((time.perf_counter() - start) * 1000.0)
        people.append(int((found.scores >= 0.3).sum()))
    return {'mean_ms': statistics.fmean(times), 'p90_ms': float(np.percentile(times, 90)),
            'people': statistics.fmean(people)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--frames', type=int, default=30)
    ap.add_argument('--out', default=str(REPO / 'bench' / 'results_hog.md'))
    args = ap.parse_args(argv)
    cv2.setNumThreads(cv2.getNumberOfCPUs())
    native = vtest_frames(args.frames)
    sizes = {'768x576': native, '640x480': [cv2.resize(f, (640, 480)) for f in native]}
    lines = [f'HOG people detector on {len(native)} frames of vtest.avi; {platform.processor() or platform.machine()}, '
             f'{cv2.getNumberOfCPUs()} CPUs, OpenCV {cv2.__version__}',
             '', '| size | upscale | scale | stride | mean ms | p90 ms | people/frame |', '|---|---|---|---|---|---|---|']
    for size, frames in sizes.items():
        for upscale, scale, stride in SETTINGS:
            r = time_setting(frames, upscale, scale, stride)
            lines.append(f'| {size} | {upscale} | {scale} | {stride} | {r["mean_ms"]:.1f} | {r["p90_ms"]:.1f} | '
                         f'{r["people"]:.2f} |')
            print(lines[-1], flush=True)
    Path(args.out).write_text('\n'.join(lines) + '\n')
    print(f'written: {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
