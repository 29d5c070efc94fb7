"""Motion of tracks from their ground points over the last seconds: speed (px/s, and m/s with a ground-plane
calibration) and heading.

A track's speed is its ground point's displacement between the oldest sample of the last `window` seconds and
now, divided by the time between them; it is known once that time is at least `min_span` seconds (before, the
speed and heading are nan and motion conditions do not hold). A heading needs a displacement of at least
`min_move` px. Headings are compass-like, clockwise: in the image 0 = up, 90 = right, 180 = down, 270 = left;
on a calibrated ground plane 0 = +y, 90 = +x. Samples older than the window are dropped, tracks not seen for
`forget_after` seconds are forgotten. Track id 0 (untracked) has no motion.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from vad_ros.reasoning.geometry import apply_homography


@dataclass(frozen=True)
class Motion:
    """Per object of one frame (arrays of length N); nan where unknown."""
    speed_px: np.ndarray             # px/s
    speed_m: np.ndarray              # m/s (nan without calibration)
    heading: np.ndarray              # degrees [0, 360)
    start: np.ndarray                # (N, 2) ground point at the start of the window (nan unknown)

    @classmethod
    def unknown(cls, n: int) -> 'Motion':
        nan = np.full(n, np.nan)
        return cls(nan, nan.copy(), nan.copy(), np.full((n, 2), np.nan))


def compass(dx: np.ndarray, dy_up: np.ndarray) -> np.ndarray:
    """Clockwise angle from 'up' (dy_up > 0) in degrees [0, 360)."""
    return np.degrees(np.arctan2(dx, dy_up)) % 360.0


class MotionHistory:
    def __init__(self, window: float = 1.0, min_span: float = 0.3, min_move: float = 3.0,
                 forget_after: float = 5.0):
        self.window, self.min_span, self.min_move, self.forget_after = window, min_span, min_move, forget_after
        self._samples: dict[int, deque] = {}

    def clear(self) -> None:
        self._samples.clear()

    def update(self, track_ids, points: np.ndarray, stamp: float | None,
               to_ground: np.ndarray | None = None) -> Motion:
        """Adds this frame's ground points (N, 2) of the tracks and returns their motion."""
        n = len(points)
        motion = Motion.unknown(n)
        if stamp is None:
            return motion
        start, span = motion.start, np.full(n, np.nan)
        for i, tid in enumerate(track_ids):
            tid = int(tid)
            if tid == 0:
                continue
            samples = self._samples.get(tid)
            if samples is None:
                samples = self._samples[tid] = deque()
            samples.append((stamp, points[i, 0], points[i, 1]))
            while len(samples) > 1 and samples[1][0] <= stamp - self.window:
                samples.popleft()
            t0, x0, y0 = samples[0]
            if stamp - t0 >= self.min_span:
                start[i] = (x0, y0)
                span[i] = stamp - t0
        self._forget(stamp)
        d = points - start
        motion.speed_px[:] = np.hypot(d[:, 0], d[:, 1]) / span
        moving = np.hypot(d[:, 0], d[:, 1]) >= self.min_move
        if to_ground is not None:
            g = apply_homography(to_ground, points) - apply_homography(to_ground, start)
            motion.speed_m[:] = np.hypot(g[:, 0], g[:, 1]) / span
            heading = compass(g[:, 0], g[:, 1])
        else:
            heading = compass(d[:, 0], -d[:, 1])
        motion.heading[:] = np.where(moving, heading, np.nan)
        return motion

    def _forget(self, stamp: float) -> None:
        old = [tid for tid, s in self._samples.items() if s[-1][0] < stamp - self.forget_after]
        for tid in old:
            del self._samples[tid]
