"""Static scene maps: image regions drawn as polygons and labelled with background classes.

    image_size: [768, 576]          # width, height of the image the polygons were drawn on
    regions:                        # later regions are drawn over earlier ones
      - label: grass
        polygon: [[0, 300], [250, 280], [240, 576], [0, 576]]
      - label: road
        polygon: [[250, 280], [768, 260], [768, 576], [240, 576]]

A scene map can replace a segmenter (no model needed) or be laid over it: where a region exists its label
wins, elsewhere the segmenter's class stays. Labels may be any name (railway, restricted zone, ...).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import cv2
import numpy as np
import yaml

from vad_ros.types import NO_CLASS, ClassMap


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
        out: list[str] = []
        for label, _ in self.regions:
            if label not in out:
                out.append(label)
        return tuple(out)

    def class_map(self, width: int, height: int) -> ClassMap:
        """The map rasterised at (width, height), polygons rescaled from image_size; cached per size."""
        key = (width, height)
        if key not in self._cache:
            sx, sy = width / self.image_size[0], height / self.image_size[1]
            labels = np.full((height, width), NO_CLASS, dtype=np.uint16)
            index = {name: i for i, name in enumerate(self.labels)}
            for label, polygon in self.regions:
                points = np.round(polygon * (sx, sy)).astype(np.int32)
                cv2.fillPoly(labels, [points], int(index[label]))
            labels.setflags(write=False)
            self._cache[key] = ClassMap(labels, self.labels)
        return self._cache[key]


def load_scene_map(path: str | os.PathLike) -> SceneMap:
    path = str(path)
    if not os.path.isfile(path):
        raise SceneMapError(f"scene map '{path}' does not exist (set scene_map_file to an existing YAML file or '')")
    try:
        with open(path, encoding='utf-8') as f:
            doc = yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise SceneMapError(f"scene map '{path}' is not valid YAML: {e}") from None
    if not isinstance(doc, dict):
        raise SceneMapError(f"scene map '{path}': expected a mapping with 'image_size' and 'regions'")
    size = doc.get('image_size')
    if (not isinstance(size, list) or len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size)):
        raise SceneMapError(f"scene map '{path}': 'image_size' must be [width, height] in pixels (positive "
                            f"integers), the size of the image the polygons were drawn on; got {size!r}")
    regions = doc.get('regions')
    if not isinstance(regions, list) or not regions:
        raise SceneMapError(f"scene map '{path}': 'regions' must be a non-empty list of {{label, polygon}}")
    out = []
    for i, region in enumerate(regions):
        where = f"scene map '{path}', region {i}"
        if not isinstance(region, dict) or not isinstance(region.get('label'), str) or not region['label']:
            raise SceneMapError(f"{where}: needs a 'label' (the background class name) and a 'polygon'")
        points = region.get('polygon')
        try:
            polygon = np.asarray(points, dtype=np.float64)
        except (TypeError, ValueError):
            polygon = np.zeros((0,))
        if polygon.ndim != 2 or polygon.shape[1] != 2 or len(polygon) < 3 or not np.isfinite(polygon).all():
            raise SceneMapError(f"{where} ('{region['label']}'): 'polygon' must be a list of at least 3 [x, y] "
                                f"points, got {points!r}")
        out.append((region['label'], polygon))
    return SceneMap((size[0], size[1]), out, path)


class MapCombiner:
    """Lays a scene map over a segmenter's class map; the vocabulary is the segmenter's classes followed by
    the scene-map labels it lacks. Caches the index translation per vocabulary."""

    def __init__(self, scene_map: SceneMap | None):
        self.scene_map = scene_map
        self._lut_key = None
        self._lut = None
        self._names: tuple[str, ...] = ()

    def vocabulary(self, segmenter_names: tuple[str, ...] | None) -> tuple[str, ...]:
        names = list(segmenter_names or ())
        for label in (self.scene_map.labels if self.scene_map else ()):
            if label not in names:
                names.append(label)
        return tuple(names)

    def combine(self, segmented: ClassMap | None, width: int, height: int) -> ClassMap | None:
        if self.scene_map is None:
            return segmented
        scene = self.scene_map.class_map(width, height)
        if segmented is None:
            return scene
        if self._lut_key != segmented.class_names:
            self._names = self.vocabulary(segmented.class_names)
            lut = np.full(len(scene.class_names), NO_CLASS, dtype=np.uint16)
            for i, label in enumerate(scene.class_names):
                lut[i] = self._names.index(label)
            self._lut, self._lut_key = lut, segmented.class_names
        inside = scene.labels != NO_CLASS
        labels = segmented.labels.copy()
        labels[inside] = self._lut[scene.labels[inside]]
        return ClassMap(labels, self._names)
