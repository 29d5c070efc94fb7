"""Geometry that only tests need: how far points lie from a polyline (to generate wires and to read drawn
arrows back from pixels). The product decides crossings per segment (vad_ros.reasoning.tripwires)."""
import numpy as np


def polyline_distance(points: np.ndarray, line: np.ndarray) -> np.ndarray:
    """(N,) distance of each point to the polyline `line` (M >= 2 vertices)."""
    p = points[:, None, :]
    a, b = line[None, :-1, :], line[None, 1:, :]
    ab = b - a
    length2 = np.maximum((ab ** 2).sum(-1), 1e-12)
    t = np.clip(((p - a) * ab).sum(-1) / length2, 0.0, 1.0)
    nearest = a + t[..., None] * ab
    return np.sqrt(((p - nearest) ** 2).sum(-1)).min(axis=1)
