"""Tripwire crossings of tracks' ground points.

Each (track, tripwire) keeps an anchor: the track's latest ground point that was more than the tripwire's
tolerance away from the line. Points within the tolerance ("on the line") are ignored, so a track that
stands on the line and jitters across it crosses nothing, and a track that steps onto the line and back
crosses nothing. When a point beyond the tolerance arrives, the move from the anchor to it is tested against
the polyline: crossing from its right to its left side is "in" (+1), the other way "out" (-1), walking along
the line from its first point to its last as seen in the image (scene_map.Tripwire); the point
becomes the new anchor. A track that vanishes and comes back with the same id is tested from its last anchor,
so a crossing during the gap counts when it reappears. Track id 0 (untracked) never crosses.
"""
from __future__ import annotations

import numpy as np

from vad_ros.reasoning.geometry import crossing_sides, polyline_distance

IN, OUT = 1, -1


class CrossingDetector:
    def __init__(self, forget_after_frames: int = 300):
        self.forget_after_frames = forget_after_frames
        self._anchors: dict[int, np.ndarray] = {}       # track id -> (L, 2), nan = no anchor yet
        self._last_seen: dict[int, int] = {}
        self._frames = 0

    def clear(self) -> None:
        self._anchors.clear()
        self._last_seen.clear()

    def update(self, track_ids, points: np.ndarray, tripwires) -> np.ndarray:
        """(N, L) int8 for this frame's ground points (N, 2) and the tripwires (each with .points in frame
        pixels and .tolerance): +1 crossed in, -1 crossed out, 0 not crossed."""
        n, count = len(points), len(tripwires)
        crossed = np.zeros((n, count), np.int8)
        self._frames += 1
        if n == 0 or count == 0:
            return crossed
        ids = [int(t) for t in track_ids]
        anchors = np.stack([self._anchors.get(t, np.full((count, 2), np.nan)) for t in ids])
        tracked = np.array([t != 0 for t in ids])
        for k, wire in enumerate(tripwires):
            clear_of_line = polyline_distance(points, wire.points) > wire.tolerance
            test = clear_of_line & tracked & ~np.isnan(anchors[:, k, 0])
            if test.any():
                crossed[test, k] = -crossing_sides(anchors[test, k], points[test], wire.points)
            anchors[clear_of_line, k] = points[clear_of_line]
        for i, t in enumerate(ids):
            if t:
                self._anchors[t] = anchors[i]
                self._last_seen[t] = self._frames
        self._forget()
        return crossed

    def _forget(self) -> None:
        if self._frames % 50:
            return
        old = [t for t, seen in self._last_seen.items() if self._frames - seen > self.forget_after_frames]
        for t in old:
            del self._anchors[t], self._last_seen[t]
