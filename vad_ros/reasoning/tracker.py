"""A light IoU tracker: gives detections of the same class that overlap across frames the same id."""
from __future__ import annotations

import numpy as np


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in a (N, 4) with every box in b (M, 4), xyxy."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]).clip(0) * (a[:, 3] - a[:, 1]).clip(0)
    area_b = (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


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
        ids = np.zeros(len(boxes), np.int64)
        iou = iou_matrix(boxes, self._boxes)
        if iou.size:
            iou[labels[:, None] != self._labels[None, :]] = 0.0
        matched_tracks = set()
        if iou.size:
            order = np.argsort(-iou, axis=None, kind='stable')
            for flat in order:
                d, t = divmod(int(flat), iou.shape[1])
                if iou[d, t] < self.iou_threshold or iou[d, t] <= 0:
                    break
                if ids[d] or t in matched_tracks:
                    continue
                ids[d] = self._ids[t]
                matched_tracks.add(t)
        for d in np.flatnonzero(ids == 0):
            ids[d] = self._next_id
            self._next_id += 1
        keep = [t for t in range(len(self._ids)) if t not in matched_tracks and self._missed[t] < self.max_missed]
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
