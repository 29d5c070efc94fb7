"""The embedded default detector: OpenCV's HOG + linear SVM people detector (Dalal-Triggs), no download.

Limits: people only, upright and at least ~100 px tall after `upscale` (the window is 64x128 with the person
~96 px tall), no vehicles, weaker than a CNN on crowds and occlusions. Needs OpenCV 4.x (OpenCV 5 has no
HOGDescriptor). Scores: the SVM margin w mapped to (0, 1) with 1 / (1 + exp(-2 w)), so w = 0 (the SVM's own
decision boundary) is 0.5; windows below detector.hog.hit_threshold (default 0.3, score 0.65) are not
reported at all, so score_threshold matters only when hit_threshold is lowered.
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from vad_ros.perception.base import PerceptionError
from vad_ros.types import Detections


class HogPeopleDetector:
    name = 'hog'
    device = 'cpu'
    class_names = ('person',)

    def __init__(self, win_stride: int = 8, scale: float = 1.05, upscale: float = 1.0, nms_iou: float = 0.4,
                 hit_threshold: float = 0.3):
        if not hasattr(cv2, 'HOGDescriptor'):
            raise PerceptionError(f'OpenCV {cv2.__version__} has no HOGDescriptor (removed in OpenCV 5): '
                                  "install 'opencv-python-headless<5' for the built-in people detector")
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.win_stride = int(win_stride)
        self.scale = float(scale)
        self.upscale = float(upscale)
        self.nms_iou = float(nms_iou)
        self.hit_threshold = float(hit_threshold)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> 'HogPeopleDetector':
        return cls(params['detector.hog.win_stride'], params['detector.hog.scale'], params['detector.hog.upscale'],
                   params['detector.hog.nms_iou'], params['detector.hog.hit_threshold'])

    def detect(self, image_bgr: np.ndarray) -> Detections:
        height, width = image_bgr.shape[:2]
        image = image_bgr
        if self.upscale != 1.0:
            image = cv2.resize(image_bgr, (round(width * self.upscale), round(height * self.upscale)),
                               interpolation=cv2.INTER_LINEAR)
        if image.shape[0] < 128 or image.shape[1] < 64:
            return Detections.empty(self.class_names)
        rects, weights = self._hog.detectMultiScale(
            image, hitThreshold=self.hit_threshold, winStride=(self.win_stride, self.win_stride),
            padding=(8, 8), scale=self.scale, groupThreshold=0)
        if len(rects) == 0:
            return Detections.empty(self.class_names)
        rects = np.asarray(rects, dtype=np.float32).reshape(-1, 4)
        weights = np.asarray(weights, dtype=np.float32).reshape(-1)
        boxes = np.column_stack([rects[:, 0], rects[:, 1], rects[:, 0] + rects[:, 2], rects[:, 1] + rects[:, 3]])
        boxes /= self.upscale
        # The default people window has ~16 px of margin around a ~96 px person: shrink the box to the person.
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        boxes += np.column_stack([w * 0.15, h * 0.06, -w * 0.15, -h * 0.06])
        scores = 1.0 / (1.0 + np.exp(-2.0 * weights))
        xywh = np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]])
        keep = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), 0.0, self.nms_iou)
        keep = np.asarray(keep, dtype=np.int64).reshape(-1)
        boxes = np.clip(boxes[keep], 0, [width, height, width, height]).astype(np.float32)
        return Detections(boxes, np.zeros(len(keep), np.int64), scores[keep].astype(np.float32), self.class_names)
