"""Plane geometry on image points, vectorised over objects: ground points, polygon rasters, cross
products, homographies. Points are (x, y) image pixels, x right, y down."""
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
