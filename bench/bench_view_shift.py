"""The moved-camera check (vad_ros/media/view_shift.py) on real footage: how often a still camera's view reads as
moved (should be never), how well shifts of a bumped mount are found and measured, and what it costs.

    python bench/bench_view_shift.py [--bikes out/bikes/bikes.mp4]

- vtest.avi (768x576, 795 frames at 10 fps, a still camera over a busy campus): every check against frame 0.
- The same video shifted from frame 100 on by (dx, dy) px in eight directions and four sizes: whether it is
  reported (view_moved_fraction 0.03 = 23 px), after how many seconds, and the measured shift's error.
- bikes.mp4 (640x272, 25 fps; bench/bench_bikes.py fetches it): each of its two shots from its first frame
  (a hand-held street camera: it pans and sways).
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import cv2
import numpy as np

from vad_ros.media.sources import VideoSource
from vad_ros.media.view_shift import ViewShift, edges

REPO = Path(__file__).resolve().parents[1]
FRACTION = 0.03
SHOTS = {'street': (137, 186), 'pavement': (187, 241)}


def read(path: Path) -> tuple[list[np.ndarray], float]:
    """The video's frames and frame rate (the package's reader, as vad-video reads files)."""
    source = VideoSource(str(path))
    return [frame.image for frame in source], source.fps


def replay(frames, fps: float) -> tuple[list[str], list[str]]:
    """(messages, measured values at each check) of one ViewShift over the frames."""
    view, said, measured = ViewShift(), [], []
    for i, frame in enumerate(frames):
        due = view.next_check
        said.append(view.update(frame, i / fps, 'map', FRACTION))
        if view.next_check != due and view.reference is not None and i:       # a comparison was made
            measured.append(view.measured)
    return said, measured


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--bikes', default=str(REPO / 'out' / 'bikes' / 'bikes.mp4'))
    args = ap.parse_args()
    vtest, fps = read(REPO / 'data' / 'vtest.avi')
    said, measured = replay(vtest, fps)
    print(f'vtest.avi, still: {sum(bool(s) for s in said)} of {len(said)} frames reported; '
          f'{len(measured)} checks, the largest measured shift '
          f"{max(math.hypot(*map(float, m.split(')')[0][1:].split(','))) for m in measured):.1f} px")
    print('\n| shift (px) | directions reported | first report (s after the move), median | error of the last '
          'measure (px), max |')
    print('|---|---|---|---|')
    for size in (10, 23, 40, 80):
        reported, delays, errors = 0, [], []
        for angle in range(0, 360, 45):
            dx, dy = size * math.cos(math.radians(angle)), size * math.sin(math.radians(angle))
            warp = np.float32([[1, 0, dx], [0, 1, dy]])
            frames = vtest[:100] + [cv2.warpAffine(f, warp, (768, 576), borderMode=cv2.BORDER_REFLECT)
                                    for f in vtest[100:400]]
            said, _ = replay(frames, fps)
            hit = next((i for i, s in enumerate(said) if s), None)
            if hit is not None:
                reported += 1
                delays.append(hit / fps - 10.0)
                got = [float(v) for v in said[-1].split('(')[1].split(')')[0].split(',')] if said[-1] else None
                if got:
                    errors.append(math.hypot(got[0] - dx, got[1] - dy))
        delay = f'{np.median(delays):.1f}' if delays else '-'
        error = f'{max(errors):.1f}' if errors else '-'
        print(f'| {size} | {reported}/8 | {delay} | {error} |')
    bikes = Path(args.bikes)
    if bikes.is_file():
        frames, bfps = read(bikes)
        for name, (first, last) in SHOTS.items():
            said, measured = replay(frames[first:last + 1], bfps)
            print(f'bikes.mp4 {name} shot ({last - first + 1} frames): {sum(bool(s) for s in said)} reported; '
                  f'checks: {"; ".join(measured) or "none (shorter than 5 s)"}')
    start = time.perf_counter()
    for _ in range(100):
        edges(vtest[300])
    per_edges = (time.perf_counter() - start) / 100 * 1e3
    view = ViewShift()
    start = time.perf_counter()
    for i, frame in enumerate(vtest):
        view.update(frame, i / fps, 'map', FRACTION)
    per_frame = (time.perf_counter() - start) / len(vtest) * 1e3
    big = cv2.resize(vtest[300], (1920, 1080))
    start = time.perf_counter()
    for _ in range(50):
        edges(big)
    print(f'\ncost: a check {per_edges:.2f} ms at 768x576 ({(time.perf_counter() - start) / 50 * 1e3:.2f} ms for '
          f'the edges at 1080p), {per_frame:.3f} ms per frame on average at 10 fps (one check per 5 s)')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
