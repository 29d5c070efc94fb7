"""Geometry of axis-aligned boxes (xyxy, pixels), shared by the detectors and the tracker."""
from __future__ import annotations

import numpy as np


def intersection_areas(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Area of the overlap of every box in a (N, 4) with every box in b (M, 4): (N, M)."""
    wh = np.minimum(a[:, None, 2:], b[None, :, 2:]) - np.maximum(a[:, None, :2], b[None, :, :2])
    np.maximum(wh, 0, out=wh)
    return wh[..., 0] * wh[..., 1]


def areas(boxes: np.ndarray) -> np.ndarray:
    """Area of every box in a (N, 4) (0 for a box without area)."""
    wh = np.maximum(boxes[:, 2:] - boxes[:, :2], 0)
    return wh[:, 0] * wh[:, 1]


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in a (N, 4) with every box in b (M, 4): (N, M); 0 where the union is empty."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    inter = intersection_areas(a, b)
    union = areas(a)[:, None] + areas(b)[None, :] - inter
    return np.divide(inter, union, out=np.zeros(union.shape), where=union > 0)
