"""Detector backend on an exported network (vad-export detector ...) in ONNX Runtime: the graph's per-level
scores and boxes (decoder 'dense', see vad_ros.perception.onnx.export) decoded in numpy by
vad_ros.perception.dense.decode_dense, with the config's test settings and the pipeline's score threshold
(`min_score`); detect_batch runs the frames of several cameras through one run.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from vad_ros.perception.base import same_size_batches
from vad_ros.perception.dense import DenseTestCfg, MinScore, decode_dense, warm_up_nms
from vad_ros.perception.onnx.runtime import OnnxBackend
from vad_ros.types import Detections


class OnnxDetector(MinScore, OnnxBackend):
    """Detector protocol on an exported dense detector; see the module doc."""

    role = 'detector'
    decoder = 'dense'
    MAX_BATCH = 8          # frames per run in detect_batch (memory grows with the batch, speed hardly does)

    def __init__(self, *args, min_score: float | None = None, **kwargs):
        """As OnnxBackend; min_score: the pipeline's score threshold, applied before NMS (None: the config's
        own threshold and candidate count, for evaluations that need low scores)."""
        super().__init__(*args, **kwargs)
        self.config_test_cfg = DenseTestCfg.from_meta(self.meta, self.source)
        warm_up_nms()
        self.set_min_score(min_score)

    def set_min_score(self, min_score: float | None) -> None:
        """The score threshold applied before NMS from now on (None: the config's settings)."""
        self.min_score = min_score
        self.test_cfg = self.config_test_cfg.for_deployment(min_score)

    @classmethod
    def from_params(cls, params: dict[str, Any], **extra):
        keep_low = params['detector.keep_low_scores']
        return super().from_params(params, min_score=None if keep_low else params['score_threshold'], **extra)

    def decode(self, outputs: list[np.ndarray], image_bgr: np.ndarray, index: int = 0) -> Detections:
        """The detections of image `index` of the batch the outputs are of (a graph exported without a
        batch axis gives (N, C) per level, the one image)."""
        height, width = image_bgr.shape[:2]
        new_w, new_h = self.preprocess.resized_size(width, height)
        outputs = [o[index] if o.ndim == 3 else o for o in outputs]
        boxes, scores, labels = decode_dense(outputs, self.test_cfg, self.preprocess.image_shape(width, height),
                                             (new_w / width, new_h / height))
        boxes = np.clip(boxes, 0, [width, height, width, height]).astype(np.float32)
        return Detections(boxes, labels, scores, self.class_names)

    def detect(self, image_bgr: np.ndarray) -> Detections:
        return self.decode(self.run(self.prepare(image_bgr)), image_bgr)

    def detect_batch(self, images: list[np.ndarray]) -> list[Detections]:
        """The detections of several frames (one per camera) in as few runs as possible: frames with the same
        network input size (with RTMDet's 640x640 padding: every frame) go through one run of up to
        MAX_BATCH images, each prepared straight into its place in the batch. Graphs exported without a batch
        axis run one frame at a time. The results equal detect()'s frame by frame (the same pre-processing
        and decoding; the network's float sums may differ in the last bits between batch sizes)."""
        if not self.dynamic_batch or len(images) < 2:
            return [self.detect(image) for image in images]
        sizes = [self.input_size(image) for image in images]
        found: list[Detections | None] = [None] * len(images)
        for chunk in same_size_batches(sizes, self.MAX_BATCH):
            blob = np.empty((len(chunk), 3) + sizes[chunk[0]], np.float32)
            for j, i in enumerate(chunk):
                self.preprocess(images[i], out=blob[j])
            outputs = self.run(blob)
            for j, i in enumerate(chunk):
                found[i] = self.decode(outputs, images[i], j)
        return found
