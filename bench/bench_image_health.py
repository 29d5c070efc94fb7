"""The image health check (vad_ros/media/image_health.py) on real footage: how often a real camera's frames look
frozen or blank to it (should be never), what it costs per frame, and how soon it says a frozen or blank image.

    python bench/bench_image_health.py [--bikes out/bikes/bikes.mp4]

vtest.avi (768x576, 795 frames; tools/setup.sh data) and bikes.mp4 (640x272, 250 frames, a street; fetched by
bench/bench_bikes.py) at their own frame rates; then a frozen stream (one vtest frame again and again) and a
blank one (a covered lens: grey 12 with sensor noise of +-2) at 10 fps; the time per call at 768x576 and at 1080p.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from vad_ros.media.image_health import ImageHealth
from vad_ros.media.sources import VideoSource

REPO = Path(__file__).resolve().parents[1]
HOLD_S = 10.0           # input.blind_seconds' default


def frames_of(path: Path) -> tuple[list[np.ndarray], float]:
    """The video's frames and frame rate (the package's reader, as vad-video reads files)."""
    source = VideoSource(str(path))
    return [frame.image for frame in source], source.fps


def flagged(frames: list[np.ndarray], fps: float, hold_s: float) -> tuple[int, int]:
    """(frames equal to the previous one in the sample or blank, frames reported with hold_s)."""
    health, alike, reported = ImageHealth(), 0, 0
    for i, frame in enumerate(frames):
        reported += bool(health.update(frame, i / fps, hold_s))
        alike += any(start is not None for start in health.since.values())
    return alike, reported


def first_report(frame_at, fps: float, hold_s: float) -> float:
    health = ImageHealth()
    for i in range(int(fps * hold_s * 3)):
        if health.update(frame_at(i), i / fps, hold_s):
            return i / fps
    return float('nan')


def per_call_ms(frame: np.ndarray, calls: int = 300) -> float:
    health = ImageHealth()
    start = time.perf_counter()
    for i in range(calls):
        health.update(frame, i * 0.1, HOLD_S)
    return (time.perf_counter() - start) / calls * 1e3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--bikes', default=str(REPO / 'out' / 'bikes' / 'bikes.mp4'))
    args = ap.parse_args()
    rows = []
    for name, path in (('vtest.avi', REPO / 'data' / 'vtest.avi'), ('bikes.mp4', Path(args.bikes))):
        if not path.is_file():
            print(f'{name}: {path} is missing, skipped')
            continue
        frames, fps = frames_of(path)
        alike, reported = flagged(frames, fps, HOLD_S)
        rows.append(f'| {name} | {len(frames)} at {fps:g} fps | {alike} | {reported} |')
    print('| footage | frames | frames frozen or blank in the sample | frames reported (hold 10 s) |')
    print('|---|---|---|---|')
    print('\n'.join(rows))
    vtest, _ = frames_of(REPO / 'data' / 'vtest.avi')
    rng = np.random.default_rng(0)
    covered = lambda i: np.full((576, 768, 3), 12, np.uint8) + rng.integers(0, 5, (576, 768, 3), np.uint8)  # noqa: E731
    print(f'\nfrozen stream at 10 fps: reported after {first_report(lambda i: vtest[300], 10.0, HOLD_S):.1f} s')
    print(f'covered lens at 10 fps: reported after {first_report(covered, 10.0, HOLD_S):.1f} s')
    print(f'per call: {per_call_ms(vtest[300]):.3f} ms at 768x576, '
          f'{per_call_ms(cv2.resize(vtest[300], (1920, 1080))):.3f} ms at 1920x1080')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
