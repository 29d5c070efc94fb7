"""Detector backend on an exported network (vad-export detector ...) in ONNX Runtime, decoding in numpy.

The graph gives, per image of the batch and feature level, class scores after the head's activation and decoded
boxes in network-input pixels (decoder 'dense', see vad_ros.perception.onnx.export); detect_batch runs the
frames of several cameras through one run. Here, as MMDetection's dense heads do it: per
level the candidates scoring above the score threshold, at most `nms_pre` of them by score; all levels
together: boxes clipped to the pipeline's image, scaled back to the frame, boxes not wider and taller than
`min_bbox_size` dropped, greedy NMS per class (vad_ros.perception.dense), the best
`max_per_img` kept. The test settings are the config's (stored in the metadata); for deployment the score
threshold is the pipeline's (see `min_score`) and the candidates per level are capped (network_io.DEPLOY_NMS_PRE).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from vad_ros.perception.base import PerceptionError, same_size_batches
from vad_ros.perception.dense import nms_per_class, warm_up_nms
from vad_ros.perception.network_io import MinScore, capped_nms_pre, score_floor
from vad_ros.perception.onnx.runtime import OnnxBackend
from vad_ros.types import Detections


@dataclass(frozen=True)
class DenseTestCfg:
    score_thr: float = 0.05
    nms_pre: int = 1000            # per level; <= 0: no cap
    iou_threshold: float = 0.5
    max_per_img: int = 100
    min_bbox_size: float = -1.0    # < 0: no size check

    @classmethod
    def from_meta(cls, meta: dict[str, Any], source: str) -> 'DenseTestCfg':
        try:
            return cls(**meta['test_cfg'])
        except (KeyError, TypeError) as e:
            raise PerceptionError(f"detector: '{source}' has no usable test_cfg ({e}): export it again") from None

    def for_deployment(self, min_score: float | None) -> 'DenseTestCfg':
        """The config's settings with the pipeline's score threshold (None: keep the config's, for evaluation)
        and at most network_io.DEPLOY_NMS_PRE candidates per level."""
        if min_score is None:
            return self
        return replace(self, score_thr=max(self.score_thr, score_floor(min_score)),
                       nms_pre=capped_nms_pre(self.nms_pre))


def level_candidates(scores: np.ndarray, score_thr: float, nms_pre: int) -> tuple[np.ndarray, ...]:
    """(scores, labels, rows) of the (row, class) pairs scoring > score_thr, best first, at most nms_pre."""
    # flat indices: numpy's 2-D nonzero takes ~1 ms for RTMDet's 6400x80 scores even when none passes
    rows, labels = np.divmod(np.flatnonzero(scores > score_thr), scores.shape[1])
    values = scores[rows, labels]
    order = np.argsort(-values, kind='stable')
    if nms_pre > 0:
        order = order[:nms_pre]
    return values[order], labels[order], rows[order]


def decode_dense(outputs: list[np.ndarray], cfg: DenseTestCfg, image_shape: tuple[int, int],
                 scale: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(boxes in frame pixels, scores, labels) from the graph's [scores_0, boxes_0, scores_1, ...].
    image_shape: (w, h) the boxes are clipped to (the toolbox's img_shape); scale: frame -> network (sx, sy)."""
    picked = []
    for scores, boxes in zip(outputs[0::2], outputs[1::2]):
        values, labels, rows = level_candidates(scores, cfg.score_thr, cfg.nms_pre)
        picked.append((boxes[rows], values, labels))
    return finish_dense(picked, cfg, image_shape, scale)


def finish_dense(picked: list[tuple[np.ndarray, np.ndarray, np.ndarray]], cfg: DenseTestCfg,
                 image_shape: tuple[int, int],
                 scale: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """decode_dense after the candidates: each level's (boxes in network-input pixels, scores, labels) ->
    clipped, scaled to the frame, size-filtered, NMS per class (also the PyTorch detector's package decoding)."""
    boxes = np.concatenate([p[0] for p in picked]).astype(np.float32)
    scores = np.concatenate([p[1] for p in picked]).astype(np.float32)
    labels = np.concatenate([p[2] for p in picked]).astype(np.int64)
    np.clip(boxes, 0, np.asarray(image_shape * 2, np.float32), out=boxes)
    boxes /= np.asarray(scale * 2, np.float32)
    if cfg.min_bbox_size >= 0:
        size_ok = ((boxes[:, 2] - boxes[:, 0]) > cfg.min_bbox_size) & ((boxes[:, 3] - boxes[:, 1]) > cfg.min_bbox_size)
        boxes, scores, labels = boxes[size_ok], scores[size_ok], labels[size_ok]
    keep = nms_per_class(boxes, scores, labels, cfg.iou_threshold, cfg.max_per_img)
    return boxes[keep], scores[keep], labels[keep]


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
