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

from dataclasses import dataclass

import numpy as np

from vad_ros.reasoning.geometry import apply_homography
from vad_ros.reasoning.track_arrays import track_rows


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
    """The last `samples` ground points of every track in arrays (ids sorted), so that a frame costs a few
    numpy calls for all objects. The window is `window` seconds or the last `samples` frames, whichever is
    shorter (32 samples: 3.2 s at 10 fps, 1.07 s at 30 fps)."""

    def __init__(self, window: float = 1.0, min_span: float = 0.3, min_move: float = 3.0,
                 forget_after: float = 5.0, samples: int = 32):
        self.window, self.min_span, self.min_move, self.forget_after = window, min_span, min_move, forget_after
        self.samples = samples
        self.clear()

    def clear(self) -> None:
        self._ids = np.zeros(0, np.int64)
        self._stamps = np.zeros((0, self.samples))              # nan = empty slot
        self._points = np.zeros((0, self.samples, 2))
        self._head = np.zeros(0, np.int64)                       # next slot to write
        self._frames = 0

    def update(self, track_ids, points: np.ndarray, stamp: float | None,
               to_ground: np.ndarray | None = None) -> Motion:
        """Adds this frame's ground points (N, 2) of the tracks and returns their motion."""
        n = len(points)
        motion = Motion.unknown(n)
        ids = np.asarray(track_ids, np.int64).reshape(-1)
        tracked = np.flatnonzero(ids != 0)
        if stamp is None or not len(tracked):
            return motion
        rows = self._rows(ids[tracked])
        slot = self._head[rows]
        self._stamps[rows, slot] = stamp
        self._points[rows, slot] = points[tracked]
        self._head[rows] = (slot + 1) % self.samples
        stamps = self._stamps[rows]                                          # (M, K)
        with np.errstate(invalid='ignore'):
            usable = stamps >= stamp - self.window - 1e-6
            usable[np.arange(len(rows)), slot] = True
        oldest = np.argmin(np.where(usable, stamps, np.inf), axis=1)
        span = stamp - stamps[np.arange(len(rows)), oldest]
        known = span >= self.min_span
        start = motion.start
        start[tracked[known]] = self._points[rows[known], oldest[known]]
        spans = np.full(n, np.nan)
        spans[tracked[known]] = span[known]
        self._forget(stamp)
        d = points - start
        moved = np.hypot(d[:, 0], d[:, 1])
        motion.speed_px[:] = moved / spans
        if to_ground is not None:
            both = apply_homography(to_ground, np.concatenate([points, start]))
            g = both[:n] - both[n:]
            motion.speed_m[:] = np.hypot(g[:, 0], g[:, 1]) / spans
            heading = compass(g[:, 0], g[:, 1])
        else:
            heading = compass(d[:, 0], -d[:, 1])
        with np.errstate(invalid='ignore'):
            motion.heading[:] = np.where(moved >= self.min_move, heading, np.nan)
        return motion

    def _rows(self, ids: np.ndarray) -> np.ndarray:
        """Rows of these track ids in the history arrays, adding empty histories for new ids."""
        rows, self._ids, (self._stamps, self._points, self._head) = track_rows(
            self._ids, ids, (self._stamps, self._points, self._head), (np.nan, 0.0, 0))
        return rows

    def _forget(self, stamp: float) -> None:
        self._frames += 1
        if self._frames % 50:
            return
        with np.errstate(invalid='ignore'):
            stale = ~(np.nanmax(np.where(np.isnan(self._stamps), -np.inf, self._stamps), axis=1)
                      >= stamp - self.forget_after)
        if stale.any():
            keep = ~stale
            self._ids, self._stamps = self._ids[keep], self._stamps[keep]
            self._points, self._head = self._points[keep], self._head[keep]
