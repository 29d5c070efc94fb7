"""The built-in default detector: OpenCV's HOG + linear SVM people detector (Dalal-Triggs), no download.

Limits: people only, upright, at least ~93 px tall after `upscale` (the 64x128 window holds a person of about
that height), no vehicles, weaker than a CNN on crowds and occlusions. Needs OpenCV 4.x (OpenCV 5 has no
HOGDescriptor).

What `detect` does with OpenCV's raw windows (constants tuned on vtest.avi; speed per setting: bench/bench_hog.py):
- Box: the window inset to the person (left/right 22 %, top 12 %, bottom 15 % of the window; the median
  margins between the window and the moving person's silhouette), so that the bottom edge is at the feet,
  where `background.region: footprint` samples the ground.
- Score: the SVM margin w mapped to (0, 1) by the logistic 1 / (1 + exp(-2 (w - 1))): margin 1.0 -> 0.5,
  0.58 -> 0.3 (the pipeline's default score_threshold; ~85 % of such detections on vtest.avi are people),
  0.0 -> 0.12, 2.1 -> 0.9. Monotonic, so score_threshold orders detections like the margin does.
- Non-maximum suppression at `nms_iou`; each kept box is the score-weighted mean of the windows that overlap
  it by IoU >= 0.5 (steadier boxes from frame to frame, for the tracker).
- A box that contains two smaller boxes (each >= 70 % inside it and < 75 % of its height) is dropped: one
  window spanning a group of people is not a person, and its footprint would land beside them.
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from vad_ros.boxes import intersection_areas, iou_matrix
from vad_ros.perception.base import PerceptionError
from vad_ros.perception.dense import greedy_nms
from vad_ros.types import Detections

WINDOW = (64, 128)                          # OpenCV's default people window (width, height)
BOX_INSET = (0.22, 0.12, 0.22, 0.15)       # left, top, right, bottom: fractions of the window
SCORE_MIDPOINT = 1.0                        # SVM margin that maps to score 0.5
SCORE_SLOPE = 2.0                           # logistic slope per unit of margin
FUSE_IOU = 0.5                              # windows averaged into a kept box
CONTAINED = 0.7                             # share of a box inside another to count as contained
CONTAINED_HEIGHT = 0.75                     # ... when it is also shorter than this share of the other's height


def margin_to_score(margin: np.ndarray) -> np.ndarray:
    """SVM margins -> scores in (0, 1) (the logistic above), float32."""
    return (1.0 / (1.0 + np.exp(-SCORE_SLOPE * (np.asarray(margin, np.float64) - SCORE_MIDPOINT)))).astype(np.float32)


def drop_group_boxes(boxes: np.ndarray) -> np.ndarray:
    """Mask of the boxes to keep: False for a box that contains two smaller boxes."""
    if len(boxes) < 3:
        return np.ones(len(boxes), bool)
    inter = intersection_areas(boxes, boxes)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    height = boxes[:, 3] - boxes[:, 1]
    inside = (inter >= CONTAINED * area[None, :]) & (height[None, :] < CONTAINED_HEIGHT * height[:, None])
    np.fill_diagonal(inside, False)
    return inside.sum(axis=1) < 2


class HogPeopleDetector:
    """Detector protocol (vad_ros.perception.base) on OpenCV's default HOG people detector; see the module doc."""

    name = 'hog'
    device = 'cpu'
    class_names = ('person',)

    def __init__(self, win_stride: int = 8, scale: float = 1.05, upscale: float = 1.0, nms_iou: float = 0.4,
                 hit_threshold: float = 0.3, padding: int = 8):
        if not hasattr(cv2, 'HOGDescriptor'):
            raise PerceptionError(f'OpenCV {cv2.__version__} has no HOGDescriptor (removed in OpenCV 5): '
                                  "install 'opencv-python-headless<5' for the built-in people detector "
                                  '(detector.backend: hog)')
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.win_stride = int(win_stride)
        self.scale = float(scale)
        self.upscale = float(upscale)
        self.nms_iou = float(nms_iou)
        self.hit_threshold = float(hit_threshold)
        self.padding = int(padding)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> 'HogPeopleDetector':
        """From a resolved params dict (vad_ros.params.resolve): the detector.hog.* entries."""
        return cls(win_stride=params['detector.hog.win_stride'], scale=params['detector.hog.scale'],
                   upscale=params['detector.hog.upscale'], nms_iou=params['detector.hog.nms_iou'],
                   hit_threshold=params['detector.hog.hit_threshold'])

    def detect(self, image_bgr: np.ndarray) -> Detections:
        if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
            raise PerceptionError(f'hog detector: expected a (H, W, 3) uint8 BGR image, got {image_bgr.dtype} '
                                  f'{image_bgr.shape}')
        height, width = image_bgr.shape[:2]
        image = image_bgr
        if self.upscale != 1.0:
            image = cv2.resize(image_bgr, (round(width * self.upscale), round(height * self.upscale)),
                               interpolation=cv2.INTER_LINEAR)
        if image.shape[0] < WINDOW[1] or image.shape[1] < WINDOW[0]:
            return Detections.empty(self.class_names)
        rects, margins = self._hog.detectMultiScale(
            image, hitThreshold=self.hit_threshold, winStride=(self.win_stride, self.win_stride),
            padding=(self.padding, self.padding), scale=self.scale, groupThreshold=0)
        if len(rects) == 0:
            return Detections.empty(self.class_names)
        boxes = self._person_boxes(np.asarray(rects, np.float64).reshape(-1, 4) / self.upscale)
        scores = margin_to_score(np.asarray(margins).reshape(-1))
        keep = greedy_nms(boxes, scores, self.nms_iou)
        fused = self._fuse(boxes, scores, keep)
        kept_scores = scores[keep]
        mask = drop_group_boxes(fused)
        fused, kept_scores = fused[mask], kept_scores[mask]
        fused = np.clip(fused, 0, [width, height, width, height])
        visible = (fused[:, 2] - fused[:, 0] >= 1) & (fused[:, 3] - fused[:, 1] >= 1)
        fused, kept_scores = fused[visible], kept_scores[visible]
        return Detections(fused.astype(np.float32), np.zeros(len(fused), np.int64),
                          kept_scores.astype(np.float32), self.class_names)

    @staticmethod
    def _person_boxes(rects: np.ndarray) -> np.ndarray:
        """xywh windows -> xyxy boxes around the person inside them."""
        x, y, w, h = rects.T
        left, top, right, bottom = BOX_INSET
        return np.stack([x + left * w, y + top * h, x + (1 - right) * w, y + (1 - bottom) * h], axis=1)

    @staticmethod
    def _fuse(boxes: np.ndarray, scores: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """Each kept box as the score-weighted mean of the boxes overlapping it by IoU >= FUSE_IOU."""
        near = iou_matrix(boxes[keep], boxes) >= FUSE_IOU
        weights = near * scores[None, :].astype(np.float64)
        return (weights @ boxes) / weights.sum(axis=1, keepdims=True)
