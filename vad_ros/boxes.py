"""Geometry of axis-aligned boxes (xyxy, pixels), shared by the detectors and the tracker."""
from __future__ import annotations

import numpy as np


def intersection_areas(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Area of the overlap of every box in a (N, 4) with every box in b (M, 4): (N, M)."""
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    return np.clip(w, 0, None) * np.clip(h, 0, None)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in a (N, 4) with every box in b (M, 4): (N, M); 0 where the union is empty."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    inter = intersection_areas(a, b)
    area_a = (a[:, 2] - a[:, 0]).clip(0) * (a[:, 3] - a[:, 1]).clip(0)
    area_b = (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
