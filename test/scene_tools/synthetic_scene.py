"""Synthetic scenes whose label maps are known, and segmenters / detectors that report them.
Imported by the tests of this folder as scene_tools.synthetic_scene (pytest.ini puts test/ on the path)."""
from __future__ import annotations

import cv2
import numpy as np

from vad_ros.vocabulary import ADE20K_CLASSES, COCO_CLASSES
from vad_ros.types import ClassMap, Detections

ADE = {name: i for i, name in enumerate(ADE20K_CLASSES)}


def street_labels(width: int = 320, height: int = 240) -> np.ndarray:
    """A street scene as ADE20K indices: sky, buildings, grass, a road, a sidewalk ring around a pond with
    an island of sand (holes nested three deep), a road blob over sky and buildings."""
    sx, sy = width / 320, height / 240
    labels = np.full((height, width), ADE['grass'], np.uint16)
    labels[:int(60 * sy)] = ADE['sky']
    labels[int(60 * sy):int(110 * sy)] = ADE['building']
    road = np.array([[140, 110], [180, 110], [300, 240], [20, 240]]) * [sx, sy]
    cv2.fillPoly(labels, [road.astype(np.int32)], ADE['road'])
    centre, axes = (int(70 * sx), int(175 * sy)), (int(55 * sx), int(35 * sy))
    cv2.ellipse(labels, centre, axes, 15, 0, 360, ADE['sidewalk'], -1)
    cv2.ellipse(labels, centre, (axes[0] * 3 // 5, axes[1] * 3 // 5), 15, 0, 360, ADE['water'], -1)
    cv2.circle(labels, centre, int(12 * sx), ADE['sand'], -1)
    cv2.circle(labels, (int(260 * sx), int(70 * sy)), int(25 * sx), ADE['road'], -1)
    labels[int(150 * sy):int(200 * sy), int(250 * sx):] = ADE['sidewalk']
    return labels


def person_box(frame: int, width: int, height: int) -> tuple[int, int, int, int]:
    """Where the walker of frame `frame` is: a 20x50 px box moving across the lower half."""
    x = int((30 + 37 * frame) % (width - 40))
    y = int(height * 0.55 + (frame * 13) % int(height * 0.3))
    return x, y, x + 20, min(y + 50, height - 1)


class SyntheticSegmenter:
    """Reports the known street map, with a walker ('person', a thing) and a parked car the segmenter
    mistakes for 'sand' under the car's detected box, in every frame."""

    name, device, class_names = 'synthetic', 'cpu', ADE20K_CLASSES

    def __init__(self, labels: np.ndarray, car_box=(200, 150, 240, 175)):
        self.labels, self.car_box, self.calls = labels, car_box, 0

    def segment(self, image_bgr: np.ndarray) -> ClassMap:
        height, width = image_bgr.shape[:2]
        assert (height, width) == self.labels.shape
        out = self.labels.copy()
        x0, y0, x1, y1 = person_box(self.calls, width, height)
        out[y0:y1 + 1, x0:x1 + 1] = ADE['person']
        if self.car_box is not None:
            cx0, cy0, cx1, cy1 = self.car_box
            out[cy0:cy1 + 1, cx0:cx1 + 1] = ADE['sand']      # wrong class under a detected object
        self.calls += 1
        return ClassMap(out, self.class_names)


class BoxDetector:
    """Detects the parked car (score 0.9) and a doubtful thing below the score threshold."""

    name, device, class_names = 'boxes', 'cpu', COCO_CLASSES

    def __init__(self, car_box=(200, 150, 240, 175)):
        self.car_box = car_box

    def detect(self, image_bgr: np.ndarray) -> Detections:
        boxes = np.array([self.car_box, (0, 0, 300, 200)], np.float32)
        return Detections(boxes, np.array([2, 0]), np.array([0.9, 0.1], np.float32), self.class_names)


def class_ious(expected: np.ndarray, class_map: ClassMap) -> dict[str, float]:
    """Per-class pixel IoU between ADE20K-index labels and a rasterised scene map."""
    out = {}
    for value in np.unique(expected):
        name = ADE20K_CLASSES[int(value)]
        a = expected == value
        b = (class_map.labels == class_map.class_names.index(name)) if name in class_map.class_names \
            else np.zeros_like(a)
        out[name] = float((a & b).sum() / (a | b).sum())
    return out


def grey_frames(count: int = 20, width: int = 320, height: int = 240):
    """Frames of a plain grey image (the synthetic segmenter ignores their content)."""
    from vad_ros.media.sources import Frame
    return [Frame(i, i / 10, np.full((height, width, 3), 100, np.uint8)) for i in range(count)]
