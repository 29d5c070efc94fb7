"""Static scene maps: image regions labelled with background classes, and the scene's named places.

    image_size: [768, 576]          # width, height of the image the polygons were drawn on
    regions:                        # background classes; later regions are drawn over earlier ones
      - label: grass
        polygon: [[0, 300], [250, 280], [240, 576], [0, 576]]
      - label: road
        polygon: [[250, 280], [768, 260], [768, 576], [240, 576]]
    zones:                          # named areas for rules (in_zone, not_in_zone, counts); may overlap
      - name: loading_bay           #   anything; independent of the regions' classes
        polygon: [[300, 300], [500, 300], [500, 450], [300, 450]]
    tripwires:                      # named polylines for rules (crossing), >= 2 points
      - name: gate_line
        points: [[100, 400], [700, 380]]
        tolerance: 4                # optional: px either side that count as "on the line" (default 4)
    ignore:                         # detections whose ground point is in one of these are dropped
      - name: tree                  #   (optional name)
        polygon: [[0, 0], [80, 0], [80, 120], [0, 120]]
    calibration:                    # ground plane: >= 4 image points with their ground position in metres
      - {image: [120, 560], ground: [0, 0]}
      - {image: [650, 560], ground: [8, 0]}
      - {image: [560, 300], ground: [8, 20]}
      - {image: [220, 300], ground: [0, 20]}

Vertices are pixel positions (x = column, y = row) of an image of image_size; for a frame of another size
they are scaled by frame size / image_size (use the width/height, not width-1, as the far edge so that a
region reaches the frame border at every size). A pixel inside a polygon or on its outline belongs to it.
Every section but image_size is optional; a map needs at least one region, zone, tripwire or ignore mask.

Regions: the background classes. A scene map can replace a segmenter (no model needed; NO_CLASS outside
every region) or be laid over a segmenter's map: where a region exists its label wins, elsewhere the
segmenter's class stays. The combined vocabulary is the segmenter's class names followed by the scene-map
labels it lacks (a label the segmenter knows keeps the segmenter's index). Labels may be any name.

Objects are placed by their ground point, the bottom centre of the box (geometry.ground_points): an object is
in a zone or an ignore mask when its ground point is; a track crosses a tripwire when its ground point does.
A tripwire's "in" direction is from the right side of the line to its left side, walking along the points
from the first to the last as seen in the image: a line drawn left to right counts "in" for a move up the
image (into the scene, away from a camera that looks down at the ground) and "out" for a move down.

Calibration: the homography from image pixels (of image_size) to ground metres (least squares over all
pairs) gives speeds in m/s and headings on the ground (x east, y north: heading 0 = +y, 90 = +x).

Limits (vad_ros/limits.py), checked before any array is built: image_size at most MAX_IMAGE_SIDE per side; at
most MAX_POLYGON_VERTICES points per shape (region, zone, ignore mask, tripwire, calibration) and
MAX_SCENE_VERTICES in all; every image point finite and at most COORDINATE_MARGIN image sizes outside the image;
ground points finite and within MAX_GROUND_METRES. The file itself is bounded by vad_ros.files (MAX_YAML_*).

Tools (vad_ros/scene_tools) read and write this format through SceneMap and its parts (Zone, Tripwire,
IgnoreMask, Calibration); SceneMap.to_dict() gives the YAML document back.
"""
from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field

import numpy as np

from vad_ros import limits
from vad_ros.errors import VadError
from vad_ros.files import line_of, read_yaml
from vad_ros.limits import excerpt as _q
from vad_ros.reasoning import geometry
from vad_ros.types import NO_CLASS, ClassMap

_SHIFT = geometry.SHIFT
_REGION_KEYS = ('label', 'polygon')
_TOP_KEYS = ('image_size', 'regions', 'zones', 'tripwires', 'ignore', 'calibration')
MAX_ZONES = 64                     # zone membership is a 64-bit mask per pixel
DEFAULT_TOLERANCE = 4.0            # px either side of a tripwire that count as on the line


class SceneMapError(VadError):
    """A scene map file cannot be used; the message names the file, the region and the fix."""


@dataclass(frozen=True)
class Zone:
    """A named area (polygon in image_size pixels) usable in rules."""
    name: str
    polygon: np.ndarray                 # (N >= 3, 2) float


@dataclass(frozen=True)
class Tripwire:
    """A named polyline (image_size pixels) counted when a track's ground point crosses it; "in" = from its
    right to its left side, walking from points[0] to points[-1] as seen in the image (drawn left to right:
    "in" is up the image; tripwires.in_arrow, the arrow every drawing shows)."""
    name: str
    points: np.ndarray                  # (M >= 2, 2) float
    tolerance: float = DEFAULT_TOLERANCE


@dataclass(frozen=True)
class IgnoreMask:
    """A polygon (image_size pixels) in which detections are dropped before any rule."""
    name: str
    polygon: np.ndarray


@dataclass(frozen=True)
class Calibration:
    """Ground-plane calibration: image points (image_size pixels) and their ground positions (metres)."""
    image_points: np.ndarray            # (K >= 4, 2)
    ground_points: np.ndarray           # (K, 2)
    homography: np.ndarray              # 3x3, image_size pixels -> metres


@dataclass(frozen=True)
class SceneGeometry:
    """A scene map's places at one frame size (frame pixels): what the rule engine needs per frame."""
    width: int
    height: int
    zone_names: tuple[str, ...]
    zones: tuple[np.ndarray, ...]       # polygons, frame px
    zone_bits: np.ndarray | None        # (H, W) uint64, bit i set inside zone i; None without zones
    tripwires: tuple[Tripwire, ...]     # points and tolerance in frame px
    ignore: tuple[np.ndarray, ...]      # polygons, frame px
    ignore_mask: np.ndarray | None      # (H, W) bool; None without ignore masks
    to_ground: np.ndarray | None        # 3x3 homography frame px -> metres; None without calibration

    def zone_index(self, name: str) -> int:
        return self.zone_names.index(name)

    def zone_centroid(self, name: str) -> np.ndarray:
        return self.zones[self.zone_index(name)].mean(axis=0)


@dataclass
class SceneMap:
    image_size: tuple[int, int]                     # (width, height)
    regions: list[tuple[str, np.ndarray]]           # (label, (N, 2) float polygon)
    source: str = ''
    zones: tuple[Zone, ...] = ()
    tripwires: tuple[Tripwire, ...] = ()
    ignore: tuple[IgnoreMask, ...] = ()
    calibration: Calibration | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def labels(self) -> tuple[str, ...]:
        """Distinct region labels in order of first appearance: the scene map's vocabulary."""
        return tuple(dict.fromkeys(label for label, _ in self.regions))

    @property
    def zone_names(self) -> tuple[str, ...]:
        return tuple(z.name for z in self.zones)

    @property
    def tripwire_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tripwires)

    @property
    def masks(self) -> tuple[IgnoreMask, ...]:
        """The ignore masks (another name for `ignore`)."""
        return self.ignore

    def _scale(self, width: int, height: int) -> np.ndarray:
        return np.array([width / self.image_size[0], height / self.image_size[1]])

    def class_map(self, width: int, height: int) -> ClassMap:
        """The map rasterised at (width, height), polygons rescaled from image_size; cached per size and
        read-only."""
        key = ('classes', int(width), int(height))
        cached = self._cache.get(key)
        if cached is None:
            scale = self._scale(key[1], key[2])
            labels = np.full((key[2], key[1]), NO_CLASS, dtype=np.uint16)
            index = {name: i for i, name in enumerate(self.labels)}
            for label, polygon in self.regions:
                geometry.fill_polygon(labels, polygon * scale, index[label])
            labels.setflags(write=False)
            cached = self._cache[key] = ClassMap(labels, self.labels)
        return cached

    def geometry(self, width: int, height: int) -> SceneGeometry:
        """Zones, tripwires, ignore masks and calibration at (width, height); cached per size."""
        key = ('geometry', int(width), int(height))
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = self._build_geometry(int(width), int(height))
        return cached

    def _build_geometry(self, width: int, height: int) -> SceneGeometry:
        scale = self._scale(width, height)
        zones = tuple(z.polygon * scale for z in self.zones)
        bits = None
        if zones:
            bits = np.zeros((height, width), np.uint64)
            for i, polygon in enumerate(zones):
                inside = geometry.polygon_mask([polygon], width, height)
                bits[inside] |= np.uint64(1 << i)
            bits.setflags(write=False)
        wires = tuple(Tripwire(t.name, t.points * scale, t.tolerance * float(scale.mean())) for t in self.tripwires)
        ignore = tuple(m.polygon * scale for m in self.ignore)
        ignore_mask = geometry.polygon_mask(ignore, width, height) if ignore else None
        to_ground = None
        if self.calibration is not None:
            to_ground = self.calibration.homography @ np.diag([1 / scale[0], 1 / scale[1], 1.0])
        return SceneGeometry(width, height, self.zone_names, zones, bits, wires, ignore, ignore_mask, to_ground)

    def to_dict(self) -> dict:
        """The YAML document of this map (lists of floats), e.g. for the scene tools to save."""
        def pts(a):
            return [[float(x), float(y)] for x, y in a]
        doc: dict = {'image_size': list(self.image_size)}
        if self.regions:
            doc['regions'] = [{'label': label, 'polygon': pts(p)} for label, p in self.regions]
        if self.zones:
            doc['zones'] = [{'name': z.name, 'polygon': pts(z.polygon)} for z in self.zones]
        if self.tripwires:
            doc['tripwires'] = [{'name': t.name, 'points': pts(t.points), 'tolerance': float(t.tolerance)}
                                for t in self.tripwires]
        if self.ignore:
            doc['ignore'] = [{'name': m.name, 'polygon': pts(m.polygon)} for m in self.ignore]
        if self.calibration is not None:
            doc['calibration'] = [{'image': list(map(float, i)), 'ground': list(map(float, g))}
                                  for i, g in zip(self.calibration.image_points, self.calibration.ground_points)]
        return doc


def load_scene_map(path: str | os.PathLike) -> SceneMap:
    """Read a scene map file; raises SceneMapError naming the file (and region index) and the fix."""
    path = str(path)
    doc = read_yaml(path, 'scene map', "set scene_map_file to an existing YAML file or ''", SceneMapError)
    return scene_map_from_dict(doc, path)


def scene_map_from_dict(doc, path: str = '(scene map)') -> SceneMap:
    """A SceneMap from its YAML document (a dict); `path` names it in errors."""
    if not isinstance(doc, dict):
        raise SceneMapError(f"scene map '{path}': expected a mapping with 'image_size' and 'regions'")
    for key in doc:
        if key not in _TOP_KEYS:
            _unknown_key(_at(path, key), key, _TOP_KEYS)
    size = doc.get('image_size')
    if (not isinstance(size, list) or len(size) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= limits.MAX_IMAGE_SIDE
                       for v in size)):
        raise SceneMapError(f"{_at(path, size)}: 'image_size' must be [width, height] in pixels (positive "
                            f"integers, at most {limits.MAX_IMAGE_SIDE} each: vad_ros.limits.MAX_IMAGE_SIDE), the "
                            f"size of the image the polygons were drawn on; got {_q(size)}")
    _count_vertices(path, doc)
    regions = doc.get('regions')
    places = any(doc.get(k) for k in ('zones', 'tripwires', 'ignore'))
    if regions is None and places:
        regions = []
    if not isinstance(regions, list) or (not regions and not places):
        raise SceneMapError(f"scene map '{path}': 'regions' must be a non-empty list of {{label, polygon}} "
                            f"(or give zones, tripwires or ignore masks)")
    size = (size[0], size[1])
    zones = tuple(_named_polygon(path, 'zone', i, z, Zone, size) for i, z in enumerate(_section(path, doc, 'zones')))
    _unique(path, 'zone', [z.name for z in zones])
    if len(zones) > MAX_ZONES:
        raise SceneMapError(f"scene map '{path}': {len(zones)} zones; at most {MAX_ZONES} are supported")
    wires = tuple(_tripwire(path, i, t, size) for i, t in enumerate(_section(path, doc, 'tripwires')))
    _unique(path, 'tripwire', [t.name for t in wires])
    ignore = tuple(_named_polygon(path, 'ignore mask', i, m, IgnoreMask, size, name_required=False)
                   for i, m in enumerate(_section(path, doc, 'ignore')))
    calibration = _calibration(path, doc.get('calibration'), size)
    return SceneMap(size, [_region(path, i, r, size) for i, r in enumerate(regions)], path, zones, wires,
                    ignore, calibration)


def _at(path: str, item) -> str:
    """"scene map 'site.yaml' line 12": the line where the item starts, when the loader kept it."""
    line = line_of(item)
    return f"scene map '{path}'{f' line {line}' if line else ''}"


def _where(path: str, what: str, item) -> str:
    """"scene map 'site.yaml' line 12, zone 0"."""
    return f"{_at(path, item)}, {what}"


_SHAPES = (('regions', 'region', 'polygon'), ('zones', 'zone', 'polygon'), ('ignore', 'ignore mask', 'polygon'),
           ('tripwires', 'tripwire', 'points'), ('calibration', 'calibration', None))


def _count_vertices(path: str, doc: dict) -> None:
    """At most MAX_POLYGON_VERTICES points per shape and MAX_SCENE_VERTICES in all, counted on the lists
    before any array is built (the shapes' other faults are found later, shape by shape)."""
    total = 0
    for key, what, points_key in _SHAPES:
        items = doc.get(key)
        if not isinstance(items, list):
            continue
        if points_key is None:
            counts = [(what, items, len(items))]
        else:
            counts = [(f'{what} {i}', item, len(item[points_key]))
                      for i, item in enumerate(items)
                      if isinstance(item, dict) and isinstance(item.get(points_key), list)]
        for name, item, n in counts:
            if n > limits.MAX_POLYGON_VERTICES:
                raise SceneMapError(f"{_where(path, name, item)}: {n} points; a shape may have at most "
                                    f"{limits.MAX_POLYGON_VERTICES} (vad_ros.limits.MAX_POLYGON_VERTICES): simplify "
                                    f"the outline (e.g. vad-scene bootstrap --tolerance, or fewer points)")
            total += n
    if total > limits.MAX_SCENE_VERTICES:
        raise SceneMapError(f"scene map '{path}': {total} points in all shapes; a scene map may have at most "
                            f"{limits.MAX_SCENE_VERTICES} (vad_ros.limits.MAX_SCENE_VERTICES): simplify the "
                            f"outlines or merge shapes")


def _check_image_points(where: str, key: str, points: np.ndarray, size: tuple[int, int]) -> None:
    """Every point finite and at most COORDINATE_MARGIN image sizes outside the image of `size`."""
    margin = limits.COORDINATE_MARGIN
    lo = -margin * np.asarray(size, np.float64)
    hi = (1 + margin) * np.asarray(size, np.float64)
    bad = ~((points >= lo) & (points <= hi)).all(axis=1)          # nan compares False: bad too
    if bad.any():
        i = int(np.argmax(bad))
        x, y = points[i]
        raise SceneMapError(f"{where}: '{key}' must be pixel positions in the {size[0]}x{size[1]} image "
                            f"(image_size), at most {margin:g} image size outside it (x in [{lo[0]:g}, {hi[0]:g}], "
                            f"y in [{lo[1]:g}, {hi[1]:g}]: vad_ros.limits.COORDINATE_MARGIN); point {i} is "
                            f"[{x:.6g}, {y:.6g}]: fix the point or image_size")


def _section(path: str, doc: dict, key: str) -> list:
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise SceneMapError(f"scene map '{path}': '{key}' must be a list")
    return value


def _unique(path: str, what: str, names: list[str]) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise SceneMapError(f"scene map '{path}': two {what}s are named {_q(name)}: names must be unique")
        seen.add(name)


def _points(value, minimum: int) -> np.ndarray | None:
    try:
        points = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return None
    if points.ndim != 2 or points.shape[1] != 2 or len(points) < minimum:
        return None
    return points


def _check_keys(where: str, item, keys: tuple[str, ...]) -> None:
    if not isinstance(item, dict):
        raise SceneMapError(f"{where}: expected a mapping with {', '.join(keys)}, got {_q(item)}")
    for key in item:
        if key not in keys:
            _unknown_key(where, key, keys)


def _unknown_key(where: str, key, keys: tuple[str, ...]):
    """Raise the error for a key not in `keys`, with the closest known key, else the list of them."""
    close = difflib.get_close_matches(str(key), keys, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(keys)})"
    raise SceneMapError(f"{where}: unknown key {_q(key)}{hint}")


def _name(where: str, item: dict, required: bool, default: str) -> str:
    name = item.get('name')
    if name is None and not required:
        return default
    if not isinstance(name, str) or not name.strip():
        raise SceneMapError(f"{where}: needs a 'name' (a non-empty string)")
    return name.strip()


def _named_polygon(path: str, what: str, i: int, item, cls, size: tuple[int, int], name_required: bool = True):
    where = _where(path, f'{what} {i}', item)
    _check_keys(where, item, ('name', 'polygon'))
    name = _name(where, item, name_required, f'{what} {i}')
    polygon = _points(item.get('polygon'), 3)
    if polygon is None:
        raise SceneMapError(f"{where} ({_q(name)}): 'polygon' must be a list of at least 3 [x, y] points, got "
                            f"{_q(item.get('polygon'))}")
    _check_image_points(f'{where} ({_q(name)})', 'polygon', polygon, size)
    return cls(name, polygon)


def _tripwire(path: str, i: int, item, size: tuple[int, int]) -> Tripwire:
    where = _where(path, f'tripwire {i}', item)
    _check_keys(where, item, ('name', 'points', 'tolerance'))
    name = _name(where, item, True, '')
    points = _points(item.get('points'), 2)
    if points is None:
        raise SceneMapError(f"{where} ({_q(name)}): 'points' must be a list of at least 2 [x, y] points (a line "
                            f"needs two ends), got {_q(item.get('points'))}")
    _check_image_points(f'{where} ({_q(name)})', 'points', points, size)
    if (np.linalg.norm(np.diff(points, axis=0), axis=1) == 0).any():
        raise SceneMapError(f"{where} ({_q(name)}): two consecutive points are the same; remove one")
    tolerance = item.get('tolerance', DEFAULT_TOLERANCE)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not 0 <= tolerance <= 1000:
        raise SceneMapError(f"{where} ({_q(name)}): 'tolerance' must be a number of pixels between 0 and 1000, "
                            f"got {_q(tolerance)}")
    return Tripwire(name, points, float(tolerance))


def _calibration(path: str, value, size: tuple[int, int]) -> Calibration | None:
    if value is None:
        return None
    where = _where(path, 'calibration', value)
    if not isinstance(value, list) or len(value) < 4:
        raise SceneMapError(f"{where}: needs a list of at least 4 {{image: [x, y], ground: [x, y]}} pairs (image "
                            f"pixels and metres on the ground), got {_q(value)}")
    for i, item in enumerate(value):
        _check_keys(f'{where} point {i}', item, ('image', 'ground'))
    image = _points([item.get('image') for item in value], 4)
    ground = _points([item.get('ground') for item in value], 4)
    if image is None or ground is None:
        raise SceneMapError(f"{where}: every point needs 'image: [x, y]' (pixels) and 'ground: [x, y]' (metres)")
    _check_image_points(where, 'image', image, size)
    far = ~(np.abs(ground) <= limits.MAX_GROUND_METRES).all(axis=1)
    if far.any():
        i = int(np.argmax(far))
        raise SceneMapError(f"{where}: point {i}: 'ground' must be finite metres within +-{limits.MAX_GROUND_METRES:g}"
                            f" (vad_ros.limits.MAX_GROUND_METRES), got [{ground[i, 0]:.6g}, {ground[i, 1]:.6g}]: "
                            f"measure from a point near the scene")
    h = geometry.homography(image, ground)
    if h is None:
        raise SceneMapError(f"{where}: the points do not define a ground plane (are three of them on one line?)")
    return Calibration(image, ground, h)


def _region(path: str, i: int, region, size: tuple[int, int]) -> tuple[str, np.ndarray]:
    where = _where(path, f'region {i}', region)
    if not isinstance(region, dict):
        raise SceneMapError(f"{where}: expected a mapping with 'label' and 'polygon', got {_q(region)}")
    for key in region:
        if key not in _REGION_KEYS:
            close = difflib.get_close_matches(str(key), _REGION_KEYS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ''
            raise SceneMapError(f"{where}: unknown key {_q(key)}{hint}")
    label = region.get('label')
    if not isinstance(label, str) or not label.strip():
        raise SceneMapError(f"{where}: needs a 'label' (the background class name) and a 'polygon'")
    points = region.get('polygon')
    polygon = _points(points, 3)
    if polygon is None:
        raise SceneMapError(f"{where} ({_q(label)}): 'polygon' must be a list of at least 3 [x, y] points, got "
                            f"{_q(points)}")
    _check_image_points(f'{where} ({_q(label)})', 'polygon', polygon, size)
    return label.strip(), polygon


class MapCombiner:
    """Lays a scene map over a segmenter's class map (see the module docstring for the vocabulary).
    Caches the index translation per segmenter vocabulary."""

    def __init__(self, scene_map: SceneMap | None):
        self.scene_map = scene_map
        self._lut_key = None
        self._lut = None
        self._names: tuple[str, ...] = ()
        self._combined = None                   # (segmented, scene, combined) of the last frame

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
        if self._combined is not None and self._combined[0] is segmented and self._combined[1] is scene:
            return self._combined[2]            # a reused segmentation: the same combined map (same array)
        labels = np.where(scene.labels != NO_CLASS, self._lut[scene.labels], segmented.labels)
        labels = labels.astype(np.uint16, copy=False)
        labels.setflags(write=False)
        combined = ClassMap(labels, self._names)
        self._combined = (segmented, scene, combined)
        return combined
