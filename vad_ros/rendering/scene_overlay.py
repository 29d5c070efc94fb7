"""A scene map drawn over a frame: for `vad-scene show` and the node's debug image.

Regions are tinted with their class colour (the same colours as drawing.py's class-map overlay) where the
node would see them (the map's own rasterisation, SceneMap.class_map, so later regions cover earlier ones),
outlined, and labelled once per visible piece at its most inner point. The scene's places are drawn when
the map has them: zones as white outlines with their name, tripwires as yellow polylines with an arrow in
the direction of an "in" crossing and "in" at its head (drawing.draw_tripwire_arrow, as in the debug image),
ignore masks hatched in grey.

SceneOverlay caches everything that depends only on the frame size, so drawing per frame costs a blend and
a few polylines (about 2 ms at 768x576).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vad_ros.reasoning.scene_map import SceneMap
from vad_ros.rendering.drawing import class_colour, draw_tripwire_arrow, label_size, put_label, text_scale
from vad_ros.types import NO_CLASS

WHITE, YELLOW, GREY = (255, 255, 255), (0, 220, 255), (150, 150, 150)
MIN_LABEL_SHARE = 0.002          # pieces smaller than this share of the frame get no label


@dataclass
class _Layer:
    tint: np.ndarray                                      # (H, W, 3) class colours
    inside: np.ndarray                                    # (H, W) bool: some region covers the pixel
    outlines: list[tuple[np.ndarray, tuple[int, int, int]]]   # (N, 1, 2) int32 polylines, colour
    labels: list[tuple[str, int, int, tuple[int, int, int]]]  # text, x, y (centre), colour
    extras: list                                          # callables drawing zones, tripwires, masks


def _scaled(points, scale: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(points, np.float64) * scale).astype(np.int32).reshape(-1, 1, 2)


def _label_points(labels: np.ndarray, names: tuple[str, ...]) -> list[tuple[str, int, int, tuple]]:
    """One label per visible piece of each class: at the pixel farthest from the piece's border."""
    out = []
    min_pixels = MIN_LABEL_SHARE * labels.size
    for value in np.unique(labels):
        if value == NO_CLASS:
            continue
        count, pieces, stats, _ = cv2.connectedComponentsWithStats((labels == value).astype(np.uint8), 8)
        for k in range(1, count):
            if stats[k, cv2.CC_STAT_AREA] < min_pixels:
                continue
            x, y, w, h = (int(v) for v in stats[k, :4])
            piece = np.pad((pieces[y:y + h, x:x + w] == k).astype(np.uint8), 1)
            depth = cv2.distanceTransform(piece, cv2.DIST_L2, 3)
            row, col = np.unravel_index(int(np.argmax(depth)), depth.shape)
            name = names[int(value)]
            out.append((name, x + int(col) - 1, y + int(row) - 1, class_colour(name)))
    return out


def _layer_extras(scene_map: SceneMap, scale: np.ndarray) -> list:
    """Drawing steps for zones, tripwires and masks, for the layers the scene map has."""
    steps = []
    for mask in getattr(scene_map, 'ignore', None) or ():
        steps.append(('ignore', _shape_name(mask), _scaled(_shape_points(mask), scale)))
    for zone in getattr(scene_map, 'zones', None) or ():
        steps.append(('zone', _shape_name(zone), _scaled(_shape_points(zone), scale)))
    for wire in getattr(scene_map, 'tripwires', None) or ():
        steps.append(('tripwire', _shape_name(wire), _scaled(_shape_points(wire), scale)))
    return steps


def _shape_name(shape) -> str:
    for key in ('name', 'label'):
        value = shape.get(key) if isinstance(shape, dict) else getattr(shape, key, None)
        if value:
            return str(value)
    return ''


def _shape_points(shape) -> np.ndarray:
    for key in ('polygon', 'points', 'line', 'polyline'):
        value = shape.get(key) if isinstance(shape, dict) else getattr(shape, key, None)
        if value is not None:
            return np.asarray(value, np.float64)
    if isinstance(shape, (list, tuple, np.ndarray)):
        return np.asarray(shape, np.float64)
    raise TypeError(f'cannot find the points of {shape!r}')


class SceneOverlay:
    """Draws one scene map over frames of any size (rescaled like the node rescales it)."""

    def __init__(self, scene_map: SceneMap, alpha: float = 0.35, labels: bool = True, places: bool = True):
        """places=False draws the regions only (the debug image already shows zones, tripwires and ignore
        masks with their live counts, drawing.draw_result)."""
        self.scene_map, self.alpha, self.show_labels, self.places = scene_map, float(alpha), labels, places
        self._layers: dict[tuple[int, int], _Layer] = {}

    def _layer(self, width: int, height: int) -> _Layer:
        layer = self._layers.get((width, height))
        if layer is not None:
            return layer
        class_map = self.scene_map.class_map(width, height)
        lut = np.zeros((int(NO_CLASS) + 1, 3), np.uint8)
        for i, name in enumerate(class_map.class_names):
            lut[i] = class_colour(name)
        scale = np.array([width / self.scene_map.image_size[0], height / self.scene_map.image_size[1]])
        outlines = [(_scaled(polygon, scale), class_colour(label)) for label, polygon in self.scene_map.regions]
        names = _label_points(class_map.labels, class_map.class_names) if self.show_labels else []
        layer = _Layer(lut[class_map.labels], class_map.labels != NO_CLASS, outlines, names,
                       _layer_extras(self.scene_map, scale) if self.places else [])
        self._layers[(width, height)] = layer
        return layer

    def draw(self, image_bgr: np.ndarray) -> np.ndarray:
        """A new image: the frame with the scene map over it."""
        height, width = image_bgr.shape[:2]
        layer = self._layer(width, height)
        out = image_bgr.copy()
        if self.alpha > 0:
            blended = cv2.addWeighted(layer.tint, self.alpha, out, 1.0 - self.alpha, 0.0)
            out[layer.inside] = blended[layer.inside]
        line = max(1, int(round(height / 400)))
        for polyline, colour in layer.outlines:
            cv2.polylines(out, [polyline], True, colour, line, cv2.LINE_AA)
        _draw_extras(out, layer.extras, line)
        scale = text_scale(height) * 0.7
        for text, x, y, colour in layer.labels:
            w, h = label_size(text, scale)
            put_label(out, text, x - w // 2, y - h // 2, colour, scale)
        return out


def _hatch(out: np.ndarray, polyline: np.ndarray, line: int) -> None:
    inside = np.zeros(out.shape[:2], np.uint8)
    cv2.fillPoly(inside, [polyline], 1)
    stripes = np.zeros_like(inside)
    step = max(8, out.shape[0] // 60)
    for c in range(-out.shape[0], out.shape[1], step):
        cv2.line(stripes, (c, out.shape[0]), (c + out.shape[0], 0), 1, line)
    out[(inside & stripes).astype(bool)] = GREY
    cv2.polylines(out, [polyline], True, GREY, line + 1, cv2.LINE_AA)


def _draw_extras(out: np.ndarray, extras: list, line: int) -> None:
    scale = text_scale(out.shape[0]) * 0.6
    for kind, name, polyline in extras:
        if kind == 'ignore':
            _hatch(out, polyline, line)
        elif kind == 'zone':
            cv2.polylines(out, [polyline], True, WHITE, line + 1, cv2.LINE_AA)
        elif kind == 'tripwire':
            cv2.polylines(out, [polyline], False, YELLOW, line + 2, cv2.LINE_AA)
            draw_tripwire_arrow(out, polyline, YELLOW, line + 1)
        if name:
            x, y = polyline[:, 0].min(axis=0)
            put_label(out, f'{kind}: {name}', int(x), int(y) - label_size(name, scale)[1], WHITE, scale)


def draw_scene_map(image_bgr: np.ndarray, scene_map: SceneMap, alpha: float = 0.35,
                   labels: bool = True, places: bool = True) -> np.ndarray:
    """One-off drawing (use SceneOverlay to draw many frames of one map)."""
    return SceneOverlay(scene_map, alpha, labels, places).draw(image_bgr)
