"""Tripwire crossings of tracks' ground points.

Each (track, tripwire) keeps an anchor: the track's latest ground point that was more than the tripwire's
tolerance away from the line. Points within the tolerance ("on the line") are ignored, so a track that
stands on the line and jitters across it crosses nothing, and a track that steps onto the line and back
crosses nothing. When a point beyond the tolerance arrives, the move from the anchor to it is tested against
the polyline: crossing from its right to its left side is "in" (+1), the other way "out" (-1), walking along
the line from its first point to its last as seen in the image (scene_map.Tripwire); the point
becomes the new anchor. A track that vanishes and comes back with the same id is tested from its last anchor,
so a crossing during the gap counts when it reappears. Track id 0 (untracked) never crosses.

in_arrow gives the direction of an "in" crossing for drawing it (the arrows of `vad-scene show`, the debug
image and, computed alike in JavaScript, the editor).
"""
from __future__ import annotations

import numpy as np

from vad_ros.reasoning.geometry import cross2
from vad_ros.reasoning.track_arrays import track_rows

IN, OUT = 1, -1


def in_arrow(points) -> tuple[np.ndarray, np.ndarray] | None:
    """Where and which way to draw a tripwire's "in": (middle of its first segment of non-zero length, (2,)
    unit vector of a move that crosses the wire "in" there), in the points' pixels (x right, y down); None when
    the line has no length. The vector is square to that segment, towards the line's left-hand side walking
    from its first point to its last as seen in the image: a wire drawn left to right gives (0, -1) (up the
    image), one drawn top to bottom (1, 0) (to the right), one drawn right to left (0, 1).
    The one source of the arrows that rendering draws (vad-scene show, the debug image); the editor's
    inArrow (scene_tools/web/editor.js) is the same formula, and test/scene_tools/test_editor_browser.py
    checks the page against this function."""
    points = np.asarray(points, np.float64).reshape(-1, 2)
    for a, b in zip(points[:-1], points[1:]):
        dx, dy = b - a
        length = float(np.hypot(dx, dy))
        if length > 0:
            # to the left of (dx, dy) on the screen: cross2((dx, dy), (dy, -dx)) = -length**2 < 0 (geometry.cross2)
            return (a + b) / 2, np.array([dy, -dx]) / length
    return None


class CrossingDetector:
    """The anchors of all tracks in arrays (ids sorted), so that a frame costs a few numpy calls over all
    objects and all segments of all tripwires at once."""

    def __init__(self, forget_after_frames: int = 300):
        self.forget_after_frames = forget_after_frames
        self.clear()

    def clear(self) -> None:
        self._ids = np.zeros(0, np.int64)              # sorted track ids
        self._anchors = np.zeros((0, 0, 2))             # (T, L, 2), nan = no anchor yet
        self._last_seen = np.zeros(0, np.int64)
        self._frames = 0
        self._wires_key = None

    def update(self, track_ids, points: np.ndarray, tripwires) -> np.ndarray:
        """(N, L) int8 for this frame's ground points (N, 2) and the tripwires (each with .points in frame
        pixels and .tolerance): +1 crossed in, -1 crossed out, 0 not crossed."""
        n, count = len(points), len(tripwires)
        self._frames += 1
        if n == 0 or count == 0:
            return np.zeros((n, count), np.int8)
        self._layout(tripwires)
        ids = np.asarray(track_ids, np.int64).reshape(-1)
        tracked = ids != 0
        rows = self._rows(ids[tracked])
        anchors = np.full((n, count, 2), np.nan)
        anchors[tracked] = self._anchors[rows]
        seg_a, seg_b, wire_of, starts, tolerance = self._segments
        # distance of each point to each segment, then to each wire (the nearest of its segments)
        ab = seg_b - seg_a
        t = np.clip(((points[:, None, :] - seg_a) * ab).sum(-1) / np.maximum((ab ** 2).sum(-1), 1e-12), 0, 1)
        gap = points[:, None, :] - (seg_a + t[..., None] * ab)
        distance = np.minimum.reduceat(np.hypot(gap[..., 0], gap[..., 1]), starts, axis=1)
        clear_of_line = distance > tolerance                                  # (N, L)
        start = anchors[:, wire_of, :]                                        # (N, S, 2)
        sides = _segment_sides(start, points, seg_a, seg_b)                   # (N, S): +1 to the right, -1, 0
        right = np.logical_or.reduceat(sides > 0, starts, axis=1)
        left = np.logical_or.reduceat(sides < 0, starts, axis=1)
        test = clear_of_line & tracked[:, None] & ~np.isnan(anchors[..., 0])
        crossed = np.where(test, left.astype(np.int8) - right.astype(np.int8), 0).astype(np.int8)
        anchors = np.where(clear_of_line[..., None], points[:, None, :], anchors)
        self._anchors[rows] = anchors[tracked]
        self._last_seen[rows] = self._frames
        self._forget()
        return crossed

    # ---------------------------------------------------------------- helpers
    def _layout(self, tripwires) -> None:
        if tripwires is self._wires_key:           # the scene geometry is cached: the same tuple every frame
            return
        self._wires_key = tripwires
        seg_a = np.concatenate([w.points[:-1] for w in tripwires])
        seg_b = np.concatenate([w.points[1:] for w in tripwires])
        lengths = [len(w.points) - 1 for w in tripwires]
        wire_of = np.repeat(np.arange(len(tripwires)), lengths)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        tolerance = np.array([w.tolerance for w in tripwires])
        self._segments = (seg_a, seg_b, wire_of, starts, tolerance)
        if self._anchors.shape[1] != len(tripwires):
            self._anchors = np.full((len(self._ids), len(tripwires), 2), np.nan)

    def _rows(self, ids: np.ndarray) -> np.ndarray:
        """Rows of these track ids in the arrays, adding rows for new ids (kept sorted)."""
        rows, self._ids, (self._anchors, self._last_seen) = track_rows(
            self._ids, ids, (self._anchors, self._last_seen), (np.nan, 0))
        return rows

    def _forget(self) -> None:
        if self._frames % 50:
            return
        keep = self._frames - self._last_seen <= self.forget_after_frames
        self._ids, self._anchors, self._last_seen = self._ids[keep], self._anchors[keep], self._last_seen[keep]


def _segment_sides(start: np.ndarray, end: np.ndarray, seg_a: np.ndarray, seg_b: np.ndarray) -> np.ndarray:
    """(N, S): for the move start[n, s] -> end[n] and segment s: +1 when it crosses the segment to its right
    side (as seen in the image, walking from seg_a to seg_b), -1 to its left side, 0 when it does not cross
    (nan starts never cross)."""
    e = end[:, None, :]
    abx, aby = (seg_b - seg_a)[..., 0], (seg_b - seg_a)[..., 1]
    d_start = cross2(abx, aby, start[..., 0] - seg_a[..., 0], start[..., 1] - seg_a[..., 1])
    d_end = cross2(abx, aby, e[..., 0] - seg_a[..., 0], e[..., 1] - seg_a[..., 1])
    mx, my = e[..., 0] - start[..., 0], e[..., 1] - start[..., 1]
    d_a = cross2(mx, my, seg_a[..., 0] - start[..., 0], seg_a[..., 1] - start[..., 1])
    d_b = cross2(mx, my, seg_b[..., 0] - start[..., 0], seg_b[..., 1] - start[..., 1])
    with np.errstate(invalid='ignore'):
        crosses = (d_start * d_end < 0) & (d_a * d_b <= 0)
    return np.where(crosses, np.sign(d_end), 0.0)
