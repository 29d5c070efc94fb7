"""A light IoU tracker: gives detections of the same class that overlap across frames the same id."""
from __future__ import annotations

import numpy as np

from vad_ros.boxes import iou_matrix


class IouTracker:
    """Greedy matching by highest IoU, same class only: the pair with the highest IoU is matched first, ties
    in the order of the detections. A pair needs IoU >= iou_threshold (and > 0). Ids start at 1 and are
    never reused. A track keeps its last box and survives `max_missed` frames without a match; both
    parameters may be changed between frames."""

    def __init__(self, iou_threshold: float = 0.3, max_missed: int = 5):
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed
        self._boxes = np.zeros((0, 4))
        self._labels = np.zeros((0,), np.int64)
        self._ids = np.zeros((0,), np.int64)
        self._missed = np.zeros((0,), np.int64)
        self._next_id = 1

    def update(self, boxes: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Track ids (N,) for this frame's boxes (N, 4) and labels (N,)."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        ids = [0] * len(boxes)
        iou = iou_matrix(boxes, self._boxes)
        if iou.size:
            iou[labels[:, None] != self._labels[None, :]] = 0.0
        matched_tracks = set()
        if iou.size:
            # the pairs that may match, best first (ties in index order): sorting only these, not all N x T
            flat = np.flatnonzero((iou >= self.iou_threshold) & (iou > 0))
            order = flat[np.argsort(-iou.ravel()[flat], kind='stable')]
            track_ids, width = self._ids.tolist(), iou.shape[1]
            for flat_index in order.tolist():
                d, t = divmod(flat_index, width)
                if ids[d] or t in matched_tracks:
                    continue
                ids[d] = track_ids[t]
                matched_tracks.add(t)
        for d, value in enumerate(ids):
            if not value:
                ids[d] = self._next_id
                self._next_id += 1
        ids = np.array(ids, np.int64)
        missed = self._missed.tolist()
        keep = [t for t in range(len(missed)) if t not in matched_tracks and missed[t] < self.max_missed]
        self._boxes = np.concatenate([boxes, self._boxes[keep]])
        self._labels = np.concatenate([labels, self._labels[keep]])
        self._ids = np.concatenate([ids, self._ids[keep]])
        self._missed = np.concatenate([np.zeros(len(boxes), np.int64), self._missed[keep] + 1])
        return ids

    @property
    def active_tracks(self) -> int:
        return len(self._ids)

    def clear(self) -> None:
        """Forget every track; new tracks get fresh ids (ids are never reused)."""
        next_id = self._next_id
        self.reset()
        self._next_id = next_id

    def reset(self) -> None:
        """Back to the initial state: no tracks, the next id is 1."""
        self.__init__(self.iou_threshold, self.max_missed)
