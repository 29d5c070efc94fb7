"""Detector backend on MMDetection (any COCO-style model: RTMDet, DINO, InternImage configs, ...)."""
from __future__ import annotations

import numpy as np

from vad_ros.perception.openmmlab import ModelBackend, scope
from vad_ros.types import Detections


class MMDetDetector(ModelBackend):
    toolbox, role = 'mmdet', 'detector'

    def detect(self, image_bgr: np.ndarray) -> Detections:
        height, width = image_bgr.shape[:2]
        with scope('mmdet'):
            data = self._pipeline(dict(img=image_bgr, img_id=0, img_path='', ori_shape=(height, width),
                                       img_shape=(height, width)))
            batch = {'inputs': [data['inputs']], 'data_samples': [data['data_samples']]}
            with self._inference():
                sample = self.model.test_step(batch)[0]
        pred = sample.pred_instances
        boxes = pred.bboxes.float().cpu().numpy()
        boxes = np.clip(boxes, 0, [width, height, width, height]).astype(np.float32)
        return Detections(boxes, pred.labels.cpu().numpy().astype(np.int64),
                          pred.scores.float().cpu().numpy().astype(np.float32), self.class_names)
