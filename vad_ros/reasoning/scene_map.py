"""Static scene maps: image regions drawn as polygons and labelled with background classes.

    image_size: [768, 576]          # width, height of the image the polygons were drawn on
    regions:                        # later regions are drawn over earlier ones
      - label: grass
        polygon: [[0, 300], [250, 280], [240, 576], [0, 576]]
      - label: road
        polygon: [[250, 280], [768, 260], [768, 576], [240, 576]]

Vertices are pixel positions (x = column, y = row); a pixel inside a polygon or on its outline gets the
region's label. For a frame of another size the vertices are scaled by frame size / image_size (use the
width/height, not width-1, as the far edge so that a region reaches the frame border at every size).

A scene map can replace a segmenter (no model needed; NO_CLASS outside every region) or be laid over a
segmenter's map: where a region exists its label wins, elsewhere the segmenter's class stays. The combined
vocabulary is the segmenter's class names followed by the scene-map labels it lacks (a label the segmenter
knows keeps the segmenter's index). Labels may be any name (railway, restricted zone, ...).
"""
from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field

import cv2
import numpy as np

from vad_ros.files import read_yaml
from vad_ros.types import NO_CLASS, ClassMap

_SHIFT = 4          # fractional bits of the vertex coordinates given to cv2.fillPoly (1/16 px)
_REGION_KEYS = ('label', 'polygon')


class SceneMapError(ValueError):
    """A scene map file cannot be used; the message names the file, the region and the fix."""


@dataclass
class SceneMap:
    image_size: tuple[int, int]                     # (width, height)
    regions: list[tuple[str, np.ndarray]]           # (label, (N, 2) float polygon)
    source: str = ''
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def labels(self) -> tuple[str, ...]:
        """Distinct region labels in order of first appearance: the scene map's vocabulary."""
        return tuple(dict.fromkeys(label for label, _ in self.regions))

    def class_map(self, width: int, height: int) -> ClassMap:
        """The map rasterised at (width, height), polygons rescaled from image_size; cached per size and
        read-only."""
        key = (int(width), int(height))
        cached = self._cache.get(key)
        if cached is None:
            scale = np.array([key[0] / self.image_size[0], key[1] / self.image_size[1]])
            labels = np.full((key[1], key[0]), NO_CLASS, dtype=np.uint16)
            index = {name: i for i, name in enumerate(self.labels)}
            for label, polygon in self.regions:
                points = np.round(polygon * scale * (1 << _SHIFT)).astype(np.int32)
                cv2.fillPoly(labels, [points], int(index[label]), lineType=cv2.LINE_8, shift=_SHIFT)
            labels.setflags(write=False)
            cached = self._cache[key] = ClassMap(labels, self.labels)
        return cached


def load_scene_map(path: str | os.PathLike) -> SceneMap:
    """Read a scene map file; raises SceneMapError naming the file (and region index) and the fix."""
    path = str(path)
    doc = read_yaml(path, 'scene map', "set scene_map_file to an existing YAML file or ''", SceneMapError)
    if not isinstance(doc, dict):
        raise SceneMapError(f"scene map '{path}': expected a mapping with 'image_size' and 'regions'")
    for key in doc:
        if key not in ('image_size', 'regions'):
            raise SceneMapError(f"scene map '{path}': unknown key '{key}' (expected image_size and regions)")
    size = doc.get('image_size')
    if (not isinstance(size, list) or len(size) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)):
        raise SceneMapError(f"scene map '{path}': 'image_size' must be [width, height] in pixels (positive "
                            f"integers), the size of the image the polygons were drawn on; got {size!r}")
    regions = doc.get('regions')
    if not isinstance(regions, list) or not regions:
        raise SceneMapError(f"scene map '{path}': 'regions' must be a non-empty list of {{label, polygon}}")
    return SceneMap((size[0], size[1]), [_region(path, i, r) for i, r in enumerate(regions)], path)


def _region(path: str, i: int, region) -> tuple[str, np.ndarray]:
    where = f"scene map '{path}', region {i}"
    if not isinstance(region, dict):
        raise SceneMapError(f"{where}: expected a mapping with 'label' and 'polygon', got {region!r}")
    for key in region:
        if key not in _REGION_KEYS:
            close = difflib.get_close_matches(str(key), _REGION_KEYS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ''
            raise SceneMapError(f"{where}: unknown key '{key}'{hint}")
    label = region.get('label')
    if not isinstance(label, str) or not label.strip():
        raise SceneMapError(f"{where}: needs a 'label' (the background class name) and a 'polygon'")
    points = region.get('polygon')
    try:
        polygon = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        polygon = np.zeros((0,))
    if polygon.ndim != 2 or polygon.shape[1] != 2 or len(polygon) < 3 or not np.isfinite(polygon).all():
        raise SceneMapError(f"{where} ('{label}'): 'polygon' must be a list of at least 3 [x, y] points, got "
                            f"{points!r}")
    return label.strip(), polygon


class MapCombiner:
    """Lays a scene map over a segmenter's class map (see the module docstring for the vocabulary).
    Caches the index translation per segmenter vocabulary."""

    def __init__(self, scene_map: SceneMap | None):
        self.scene_map = scene_map
        self._lut_key = None
        self._lut = None
        self._names: tuple[str, ...] = ()

    def vocabulary(self, segmenter_names: tuple[str, ...] | None) -> tuple[str, ...]:
        names = list(segmenter_names or ())
        known = set(names)
        for label in (self.scene_map.labels if self.scene_map else ()):
            if label not in known:
                names.append(label)
                known.add(label)
        return tuple(names)

    def combine(self, segmented: ClassMap | None, width: int, height: int) -> ClassMap | None:
        if self.scene_map is None:
            return segmented
        scene = self.scene_map.class_map(width, height)
        if segmented is None:
            return scene
        if segmented.shape != (height, width):
            raise ValueError(f'segmenter map {segmented.shape[1]}x{segmented.shape[0]} does not match the frame '
                             f'{width}x{height}')
        if self._lut_key != segmented.class_names:
            self._names = self.vocabulary(segmented.class_names)
            lut = np.full(0x10000, NO_CLASS, dtype=np.uint16)
            index = {name: i for i, name in enumerate(self._names)}
            for i, label in enumerate(scene.class_names):
                lut[i] = index[label]
            self._lut, self._lut_key = lut, segmented.class_names
        labels = np.where(scene.labels != NO_CLASS, self._lut[scene.labels], segmented.labels)
        return ClassMap(labels.astype(np.uint16, copy=False), self._names)
