"""A label map -> scene-map regions: simplified polygons whose painting, in order, reproduces the map.

Scene-map regions are single polygons without holes, drawn in order, later ones over earlier ones
(vad_ros.reasoning.scene_map). A label map is turned into such a list like this:

1. pixels without a class take the class of the nearest pixel that has one;
2. islands smaller than `min_pixels` join the class that surrounds them most;
3. every connected piece of one class becomes a candidate region; pieces are ordered by the area inside
   their outline, largest first. A piece that lies in a hole of another piece is inside that piece's
   outline, so its outline encloses less: it comes later and is painted over the hole;
4. each piece's outline is traced around the piece together with the adjoining pieces painted after it
   (they cover that part again), which leaves no gaps between neighbours and gives simpler shapes; where
   that outline would enclose a piece painted earlier, the piece's own outline is used;
5. outlines are simplified (Douglas-Peucker, `tolerance` pixels, each edge then moved onto the mean of the
   contour points it replaces so that bends are not all cut inward); a simplification that makes the
   polygon cross itself is redone with half the tolerance. Vertices on the far image border move onto the border
   line (x = width, y = height), as the scene-map format wants for rescaling.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vad_ros.scene_tools.errors import SceneToolError
from vad_ros.scene_tools.geometry import crossing_edges
from vad_ros.types import NO_CLASS

DEFAULT_TOLERANCE = 1.0         # pixels of the label map
DEFAULT_MIN_AREA = 0.0005       # share of the frame below which an island is dropped


@dataclass
class _Piece:
    value: int                  # class index
    seed: tuple[int, int]       # (x, y) of one of its pixels
    pixels: np.ndarray          # (H, W) bool
    enclosed: int               # pixels inside its outline (itself and its holes)


def fill_unknown(labels: np.ndarray) -> np.ndarray:
    """labels with every NO_CLASS pixel set to the class of the nearest classified pixel."""
    unknown = labels == NO_CLASS
    if not unknown.any():
        return labels.copy()
    if unknown.all():
        raise SceneToolError('no pixel got a background class in any sampled frame (everything was a "thing" '
                             'class or under a detected object): sample more frames (--frames) or another '
                             'stretch of the input')
    _, nearest = cv2.distanceTransformWithLabels(unknown.astype(np.uint8), cv2.DIST_L2, 5,
                                                 labelType=cv2.DIST_LABEL_PIXEL)
    known_values = labels[~unknown]                 # row-major order, as the pixel labels count them
    return known_values[nearest - 1].astype(labels.dtype)


def _neighbour_majority(labels: np.ndarray, piece: np.ndarray, box: tuple[int, int, int, int]) -> int | None:
    x, y, w, h = box
    x0, y0 = max(x - 1, 0), max(y - 1, 0)
    x1, y1 = min(x + w + 1, labels.shape[1]), min(y + h + 1, labels.shape[0])
    crop = piece[y0:y1, x0:x1].astype(np.uint8)
    ring = cv2.dilate(crop, np.ones((3, 3), np.uint8)).astype(bool) & ~crop.astype(bool)
    around = labels[y0:y1, x0:x1][ring]
    if around.size == 0:
        return None
    values, counts = np.unique(around, return_counts=True)
    return int(values[np.argmax(counts)])


def absorb_islands(labels: np.ndarray, min_pixels: int) -> np.ndarray:
    """labels with every 8-connected piece smaller than min_pixels relabelled to the class most common
    around it (repeated until none is left; a class that is only small pieces disappears)."""
    out = labels.copy()
    for _ in range(10):
        changed = False
        for value in np.unique(out):
            count, pieces, stats, _ = cv2.connectedComponentsWithStats((out == value).astype(np.uint8), 8)
            for k in range(1, count):
                if stats[k, cv2.CC_STAT_AREA] >= min_pixels:
                    continue
                box = tuple(int(v) for v in stats[k, :4])
                piece = pieces == k
                new = _neighbour_majority(out, piece, box)
                if new is not None and new != value:
                    out[piece] = new
                    changed = True
        if not changed:
            break
    return out


def _outline(mask: np.ndarray) -> np.ndarray:
    """The outer contour (N, 2) int of the largest 8-connected blob of mask."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    return max(contours, key=len)[:, 0, :]


def _filled(contour: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    canvas = np.zeros(shape, np.uint8)
    cv2.fillPoly(canvas, [contour.astype(np.int32)], 1, lineType=cv2.LINE_8)
    return canvas.astype(bool)


def _pieces(labels: np.ndarray) -> list[_Piece]:
    pieces = []
    for value in np.unique(labels):
        count, components, _, _ = cv2.connectedComponentsWithStats((labels == value).astype(np.uint8), 8)
        for k in range(1, count):
            pixels = components == k
            ys, xs = np.nonzero(pixels)
            enclosed = int(_filled(_outline(pixels), labels.shape).sum())
            pieces.append(_Piece(int(value), (int(xs[0]), int(ys[0])), pixels, enclosed))
    pieces.sort(key=lambda p: -p.enclosed)
    return pieces


def _blob_outline(piece: _Piece, later: np.ndarray, earlier: np.ndarray) -> np.ndarray:
    """The piece's outline together with the adjoining pieces painted after it, unless that encloses
    pixels of a piece painted before it; then the piece's own outline."""
    blob = (later | piece.pixels).astype(np.uint8)
    flood = np.zeros((blob.shape[0] + 2, blob.shape[1] + 2), np.uint8)
    cv2.floodFill(blob, flood, piece.seed, 2, flags=8)
    contour = _outline(blob == 2)
    if (_filled(contour, blob.shape) & earlier).any():
        contour = _outline(piece.pixels)
    return contour


def _snap_to_border(polygon: np.ndarray, width: int, height: int) -> np.ndarray:
    out = polygon.astype(np.float64)
    out[out[:, 0] >= width - 1, 0] = width
    out[out[:, 1] >= height - 1, 1] = height
    return out


def _dedupe(polygon: np.ndarray) -> np.ndarray:
    keep = np.any(polygon != np.roll(polygon, 1, axis=0), axis=1)
    return polygon[keep] if keep.sum() >= 3 else polygon


def _vertex_indices(contour: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Positions in `contour` of the simplified polygon's vertices (which are contour points, in order)."""
    out, start = [], 0
    for vertex in vertices:
        hits = np.flatnonzero((contour[start:] == vertex).all(axis=1))
        if not len(hits):
            hits = np.flatnonzero((contour == vertex).all(axis=1))
            start = 0
        out.append(start + int(hits[0]))
        start = out[-1] + 1
    return np.array(out)


def _centred(contour: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Douglas-Peucker's chords join contour points, so they cut every convex bend inward and every concave
    one outward: each edge is moved along its normal by the mean offset of the contour points it replaces
    (through them rather than beside them), and the vertices become the crossings of neighbouring moved
    edges (an edge's own moved end where neighbours are nearly parallel or the crossing is far away)."""
    index = _vertex_indices(contour, vertices)
    n = len(vertices)
    points = vertices.astype(np.float64)
    shifts = np.zeros((n, 2))
    for k in range(n):
        a, b = points[k], points[(k + 1) % n]
        d = b - a
        length = float(np.hypot(*d))
        if length == 0:
            continue
        normal = np.array([-d[1], d[0]]) / length
        i, j = index[k], index[(k + 1) % n]
        span = contour[i:j + 1] if j > i else np.concatenate([contour[i:], contour[:j + 1]])
        if len(span) <= 2:
            continue
        shifts[k] = normal * float(((span - a) @ normal).mean())
    out = points.copy()
    for k in range(n):
        prev = (k - 1) % n
        a0, a1 = points[prev] + shifts[prev], points[k] + shifts[prev]
        b0, b1 = points[k] + shifts[k], points[(k + 1) % n] + shifts[k]
        da, db = a1 - a0, b1 - b0
        denom = da[0] * db[1] - da[1] * db[0]
        fallback = points[k] + (shifts[prev] + shifts[k]) / 2
        if abs(denom) < 1e-9 * (np.hypot(*da) * np.hypot(*db) + 1e-12):
            out[k] = fallback
            continue
        t = ((b0[0] - a0[0]) * db[1] - (b0[1] - a0[1]) * db[0]) / denom
        crossing = a0 + t * da
        far = np.hypot(*(crossing - points[k])) > 2 * (np.hypot(*shifts[prev]) + np.hypot(*shifts[k])) + 1
        out[k] = fallback if far else crossing
    return out


def _snap_and_clip(polygon: np.ndarray, width: int, height: int) -> np.ndarray:
    out = _snap_to_border(polygon, width, height)
    out[:, 0] = np.clip(out[:, 0], 0, width)
    out[:, 1] = np.clip(out[:, 1], 0, height)
    return np.round(out, 1)


def simplify(contour: np.ndarray, tolerance: float, width: int, height: int) -> np.ndarray:
    """Douglas-Peucker at `tolerance` with centred edges (_centred), halved until the polygon does not
    cross itself; border vertices on the far border line; coordinates to 0.1 px."""
    contour = contour.reshape(-1, 2).astype(np.int32)
    tol = float(tolerance)
    while tol >= 0.25:
        vertices = cv2.approxPolyDP(contour.reshape(-1, 1, 2), tol, True)[:, 0, :]
        polygon = _dedupe(_snap_and_clip(_centred(contour, vertices), width, height))
        if len(polygon) >= 3 and crossing_edges(polygon) is None:
            return polygon
        tol /= 2
    return _dedupe(_snap_to_border(contour, width, height))


def regions_from_labels(labels: np.ndarray, class_names, tolerance: float = DEFAULT_TOLERANCE,
                        min_area: float = DEFAULT_MIN_AREA) -> list[tuple[str, np.ndarray]]:
    """Scene-map regions [(label, (N, 2) polygon)], in drawing order, that reproduce `labels` (H, W) uint16
    (indices into class_names, NO_CLASS = unknown). min_area: share of the frame below which islands join
    their surroundings."""
    if labels.ndim != 2:
        raise ValueError(f'labels must be (H, W), got {labels.shape}')
    height, width = labels.shape
    clean = absorb_islands(fill_unknown(labels), max(1, int(round(min_area * width * height))))
    pieces = _pieces(clean)
    rank = np.zeros(clean.shape, np.int32)
    for i, piece in enumerate(pieces):
        rank[piece.pixels] = i
    regions = []
    for i, piece in enumerate(pieces):
        contour = _blob_outline(piece, rank > i, rank < i)
        regions.append((class_names[piece.value], simplify(contour, tolerance, width, height)))
    return regions
