"""A light IoU tracker: gives detections of the same class that overlap across frames the same id."""
from __future__ import annotations

import numpy as np

from vad_ros.reasoning.kernels import TRACK_COLUMNS, as_rows, update_tracks


class IouTracker:
    """Greedy matching by highest IoU, same class only: the pair with the highest IoU is matched first, ties
    in the order of the detections. A pair needs IoU >= iou_threshold (and > 0). Ids start at 1 and are
    never reused. A track keeps its last box and survives `max_missed` frames without a match; both
    parameters may be changed between frames.

    The live tracks are one (T, 8) table (box, area, label, id, frames missed; float64, exact for ids below
    2**53), matched by one compiled call per frame (vad_ros/reasoning/kernels.py)."""

    def __init__(self, iou_threshold: float = 0.3, max_missed: int = 5):
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed
        self._tracks = np.zeros((0, TRACK_COLUMNS))
        self._next_id = 1

    def update(self, boxes: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Track ids (N,) for this frame's boxes (N, 4) and labels (N,)."""
        boxes, labels = as_rows(boxes, np.float64, 4), as_rows(labels, np.int64, None)
        ids, self._tracks, self._next_id = update_tracks(boxes, labels, self._tracks, float(self.iou_threshold),
                                                         int(self.max_missed), self._next_id)
        return ids

    @property
    def active_tracks(self) -> int:
        return len(self._tracks)

    def clear(self) -> None:
        """Forget every track; new tracks get fresh ids (ids are never reused)."""
        next_id = self._next_id
        self.reset()
        self._next_id = next_id

    def reset(self) -> None:
        """Back to the initial state: no tracks, the next id is 1."""
        self.__init__(self.iou_threshold, self.max_missed)
