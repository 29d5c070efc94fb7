"""Plane geometry on image points, vectorised over objects: ground points, polygon rasters, polylines,
homographies. Points are (x, y) image pixels, x right, y down."""
from __future__ import annotations

import cv2
import numpy as np

SHIFT = 4          # fractional bits of the vertex coordinates given to cv2.fillPoly (1/16 px)


def ground_points(boxes: np.ndarray) -> np.ndarray:
    """(N, 2): the bottom centre of each (x_min, y_min, x_max, y_max) box, where an object meets the ground."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.column_stack([(boxes[:, 0] + boxes[:, 2]) * 0.5, boxes[:, 3]])


def fill_polygon(mask: np.ndarray, polygon: np.ndarray, value: int) -> None:
    """Sets the pixels of `mask` inside the polygon or on its outline to `value` (in place)."""
    points = np.round(np.asarray(polygon, np.float64) * (1 << SHIFT)).astype(np.int32)
    cv2.fillPoly(mask, [points], int(value), lineType=cv2.LINE_8, shift=SHIFT)


def polygon_mask(polygons, width: int, height: int) -> np.ndarray:
    """(H, W) bool: inside any of the polygons."""
    mask = np.zeros((height, width), np.uint8)
    for polygon in polygons:
        fill_polygon(mask, polygon, 1)
    return mask.astype(bool)


def lookup(raster: np.ndarray, points: np.ndarray) -> np.ndarray:
    """raster[y, x] at each point, rounded and clipped into the image (a point below the frame reads its
    bottom row)."""
    height, width = raster.shape[:2]
    if len(points) == 0:
        return raster[np.zeros(0, np.int64), np.zeros(0, np.int64)]
    xs = np.clip(np.round(points[:, 0]), 0, width - 1).astype(np.int64)
    ys = np.clip(np.round(points[:, 1]), 0, height - 1).astype(np.int64)
    return raster[ys, xs]


def cross2(ax, ay, bx, by):
    """z of the cross product (a x b) of 2-D vectors, element-wise. In image coordinates (y down) a positive
    value means b points to the right of a, as seen on the screen."""
    return ax * by - ay * bx


def polyline_distance(points: np.ndarray, line: np.ndarray) -> np.ndarray:
    """(N,) distance of each point to the polyline `line` (M >= 2 vertices)."""
    p = points[:, None, :]
    a, b = line[None, :-1, :], line[None, 1:, :]
    ab = b - a
    length2 = np.maximum((ab ** 2).sum(-1), 1e-12)
    t = np.clip(((p - a) * ab).sum(-1) / length2, 0.0, 1.0)
    nearest = a + t[..., None] * ab
    return np.sqrt(((p - nearest) ** 2).sum(-1)).min(axis=1)


def crossing_sides(start: np.ndarray, end: np.ndarray, line: np.ndarray) -> np.ndarray:
    """(N,) int: +1 where the move start -> end crosses the polyline from its left to its right side (walking
    along the line from its first vertex to its last, as seen in the image), -1 for right to left, 0 when it
    does not cross (or crosses it as often each way). A move that starts or ends exactly on the infinite
    extension of a segment does not cross that segment; one through a vertex counts once."""
    a, b = line[None, :-1, :], line[None, 1:, :]
    s, e = start[:, None, :], end[:, None, :]
    abx, aby = (b - a)[..., 0], (b - a)[..., 1]
    d_start = cross2(abx, aby, s[..., 0] - a[..., 0], s[..., 1] - a[..., 1])
    d_end = cross2(abx, aby, e[..., 0] - a[..., 0], e[..., 1] - a[..., 1])
    mx, my = (e - s)[..., 0], (e - s)[..., 1]
    d_a = cross2(mx, my, a[..., 0] - s[..., 0], a[..., 1] - s[..., 1])
    d_b = cross2(mx, my, b[..., 0] - s[..., 0], b[..., 1] - s[..., 1])
    crosses = (d_start * d_end < 0) & (d_a * d_b <= 0)
    # through a shared vertex both segments report the crossing: count each direction once
    right = (crosses & (d_end > 0)).any(axis=1)
    left = (crosses & (d_end < 0)).any(axis=1)
    return right.astype(np.int64) - left.astype(np.int64)


def homography(image_points: np.ndarray, ground_points: np.ndarray) -> np.ndarray | None:
    """3x3 least-squares homography from image points to ground points (>= 4 pairs), None when degenerate
    (e.g. three of four points on one line)."""
    h, _ = cv2.findHomography(np.asarray(image_points, np.float64), np.asarray(ground_points, np.float64), 0)
    if h is None or not np.isfinite(h).all() or abs(np.linalg.det(h)) < 1e-12:
        return None
    return h


def apply_homography(h: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 2) points mapped through the 3x3 homography h (points at infinity become nan)."""
    if len(points) == 0:
        return np.zeros((0, 2))
    ph = np.column_stack([points, np.ones(len(points))]) @ h.T
    w = ph[:, 2:3]
    with np.errstate(divide='ignore', invalid='ignore'):
        out = ph[:, :2] / w
    out[np.abs(w[:, 0]) < 1e-12] = np.nan
    return out
