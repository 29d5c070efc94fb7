"""Small polygon geometry for the scene tools: self-intersection, area, point placement."""
from __future__ import annotations

import numpy as np


def _orientation(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Sign of the turn a -> b -> c (broadcast over leading axes): +1 left, -1 right, 0 collinear."""
    cross = (b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (c[..., 0] - a[..., 0])
    return np.sign(cross)


def crossing_edges(points, closed: bool = True) -> tuple[int, int] | None:
    """The first pair of edges (i, j) that cross each other properly (each passes through the other's inside),
    or None. Edge i runs from vertex i to vertex i+1 (the last one back to vertex 0 when closed). Edges that
    only touch or overlap along a line are not crossings: a polygon traced around a one-pixel bridge stays
    valid."""
    p = np.asarray(points, dtype=np.float64)
    n = len(p)
    if n < 4:
        return None
    starts = p
    ends = np.roll(p, -1, axis=0)
    if not closed:
        starts, ends = p[:-1], p[1:]
    m = len(starts)
    i, j = np.triu_indices(m, k=2)
    if closed:
        keep = ~((i == 0) & (j == m - 1))            # the last edge is adjacent to the first
        i, j = i[keep], j[keep]
    a, b, c, d = starts[i], ends[i], starts[j], ends[j]
    proper = ((_orientation(a, b, c) * _orientation(a, b, d) < 0)
              & (_orientation(c, d, a) * _orientation(c, d, b) < 0))
    hits = np.flatnonzero(proper)
    return (int(i[hits[0]]), int(j[hits[0]])) if len(hits) else None


def polygon_area(points) -> float:
    """Unsigned area (shoelace)."""
    p = np.asarray(points, dtype=np.float64)
    x, y = p[:, 0], p[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)
