"""A light IoU tracker: gives detections of the same class that overlap across frames the same id."""
from __future__ import annotations

import numpy as np

from vad_ros.boxes import areas, intersection_areas

# Columns of the track table (one row per live track; float64, ids and counts are exact up to 2**53).
_BOX, _AREA, _LABEL, _ID, _MISSED = slice(0, 4), 4, 5, 6, 7
_COLUMNS = 8


class IouTracker:
    """Greedy matching by highest IoU, same class only: the pair with the highest IoU is matched first, ties
    in the order of the detections. A pair needs IoU >= iou_threshold (and > 0). Ids start at 1 and are
    never reused. A track keeps its last box and survives `max_missed` frames without a match; both
    parameters may be changed between frames.

    The live tracks are one (T, 8) table (box, area, label, id, frames missed), so that a frame costs a handful of
    numpy calls whatever the number of objects: the tracker runs on every frame, right after the model."""

    def __init__(self, iou_threshold: float = 0.3, max_missed: int = 5):
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed
        self._tracks = np.zeros((0, _COLUMNS))
        self._next_id = 1

    def update(self, boxes: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Track ids (N,) for this frame's boxes (N, 4) and labels (N,)."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        n, tracks = len(boxes), self._tracks
        ids = [0] * n
        matched = np.zeros(len(tracks), bool)
        box_areas = areas(boxes)
        if n and len(tracks):
            inter = intersection_areas(boxes, tracks[:, _BOX])
            # the pairs that may match (same class, overlapping, IoU >= iou_threshold), best first, ties in
            # index order: the IoU of these pairs only, and sorting only these, not all N x T
            flat = np.flatnonzero((inter > 0) & (labels[:, None] == tracks[:, _LABEL]))
            union = (box_areas[:, None] + tracks[:, _AREA]).ravel()[flat] - inter.ravel()[flat]
            iou = inter.ravel()[flat] / union
            enough = iou >= self.iou_threshold
            flat, iou = flat[enough], iou[enough]
            if len(flat):
                order = flat[np.argsort(-iou, kind='stable')].tolist()
                track_ids, width, taken = tracks[:, _ID].tolist(), len(tracks), set()
                for flat_index in order:
                    d, t = divmod(flat_index, width)
                    if ids[d] or t in taken:
                        continue
                    ids[d] = int(track_ids[t])
                    taken.add(t)
                matched[list(taken)] = True
        for d in range(n):
            if not ids[d]:
                ids[d] = self._next_id
                self._next_id += 1
        new = np.empty((n, _COLUMNS))
        new[:, _BOX], new[:, _AREA], new[:, _LABEL], new[:, _ID], new[:, _MISSED] = boxes, box_areas, labels, ids, 0
        kept = tracks[~matched & (tracks[:, _MISSED] < self.max_missed)]
        kept[:, _MISSED] += 1
        self._tracks = np.concatenate([new, kept])
        return np.array(ids, np.int64)

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
