"""Detector backend on MMDetection (any COCO-style model: RTMDet, DINO, InternImage configs, ...)."""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

from vad_ros.perception import openmmlab
from vad_ros.perception.device import select_device
from vad_ros.types import Detections

log = logging.getLogger('vad_ros.perception')


class MMDetDetector:
    def __init__(self, config: str, checkpoint: str = '', device: str = 'auto', half: bool = False,
                 allow_cpu_fallback: bool = False):
        import torch

        self._torch = torch
        self.device = select_device(device, allow_cpu_fallback)
        if half and not self.device.startswith('cuda'):
            log.warning('detector.half applies on a GPU only: running in float32 on %s', self.device)
        self.half = half and self.device.startswith('cuda')
        self.model = openmmlab.load_model('mmdet', config, checkpoint, self.device)
        self.class_names = openmmlab.class_names(self.model, 'mmdet')
        self.name = f'mmdet:{type(self.model).__name__}'
        self._pipeline = openmmlab.test_pipeline(self.model, 'mmdet')

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> 'MMDetDetector':
        return cls(params['detector.config'], params['detector.checkpoint'], params['detector.device'],
                   params['detector.half'], params['allow_cpu_fallback'])

    def detect(self, image_bgr: np.ndarray) -> Detections:
        height, width = image_bgr.shape[:2]
        with openmmlab.scope('mmdet'):
            data = self._pipeline(dict(img=image_bgr, img_id=0, img_path='', ori_shape=(height, width),
                                       img_shape=(height, width)))
            batch = {'inputs': [data['inputs']], 'data_samples': [data['data_samples']]}
            with self._torch.inference_mode(), openmmlab.half_context(self.device, self.half):
                sample = self.model.test_step(batch)[0]
        pred = sample.pred_instances
        boxes = pred.bboxes.float().cpu().numpy().astype(np.float32)
        boxes = np.clip(boxes, 0, [width, height, width, height]).astype(np.float32)
        return Detections(boxes, pred.labels.cpu().numpy().astype(np.int64),
                          pred.scores.float().cpu().numpy().astype(np.float32), self.class_names)
