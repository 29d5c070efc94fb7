"""Dense-head maths for every detector backend, numpy only (the ONNX backends run without torch).

- Greedy non-maximum suppression, the one HOG, NanoDet, the OpenMMLab decoders and the ONNX detector use:
  boxes are visited best score first (ties in input order); each box not yet suppressed is kept and suppresses
  every later box whose IoU with it is strictly greater than `iou_threshold` (a box at exactly the threshold
  survives, as in mmcv's and torchvision's NMS). `max_keep` stops after that many kept boxes. Per class: the
  same within each label, the kept boxes of all classes then ordered best score first. Compiled with numba
  where it is installed, else numpy with O(N) memory; the same result (tested; timings: bench/RESULTS.md,
  "Model path per stage").
- A plain dense head's decoding after the network, as MMDetection's dense heads do it (`decode_dense`, for the
  ONNX detector and the PyTorch detector's package decoding), with the config's test settings (DenseTestCfg).
- The deployment score policy of the MMDetection and ONNX detectors (DenseTestCfg.for_deployment, MinScore):
  the pipeline's score threshold inside the model and at most DEPLOY_NMS_PRE candidates per level.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np

from vad_ros.jit import COMPILED, compiled
from vad_ros.perception.base import PerceptionError

DEPLOY_NMS_PRE = 1000        # candidates per level before NMS once score_thr is the pipeline's threshold


def greedy_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float,
               max_keep: int | None = None) -> np.ndarray:
    """Indices of the boxes kept, best score first (see the module doc for the rule)."""
    order = np.argsort(-np.asarray(scores), kind='stable')
    boxes = np.asarray(boxes, np.float32)[order]
    return order[greedy_nms_sorted(boxes, iou_threshold, len(order) if max_keep is None else max_keep)]


def nms_per_class(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, iou_threshold: float,
                  max_keep: int | None = None) -> np.ndarray:
    """Indices kept by greedy NMS within each class, best score first, at most max_keep in all."""
    scores = np.asarray(scores)
    max_keep = len(scores) if max_keep is None else max_keep
    order = np.argsort(-scores, kind='stable')
    boxes = np.asarray(boxes, np.float32)
    labels = np.asarray(labels)
    kept = [np.zeros(0, np.int64)]
    for label in np.unique(labels):
        members = order[labels[order] == label]                 # this class, best first
        kept.append(members[greedy_nms_sorted(boxes[members], iou_threshold, max_keep)])
    keep = np.concatenate(kept)
    return keep[np.argsort(-scores[keep], kind='stable')][:max_keep]


def greedy_nms_sorted(boxes: np.ndarray, iou_threshold: float, max_keep: int) -> np.ndarray:
    """Positions kept among boxes already sorted best first (float32 arithmetic on both paths)."""
    if COMPILED and len(boxes):
        return _greedy_nms_compiled(np.ascontiguousarray(boxes, np.float32), np.float32(iou_threshold),
                                    int(max_keep))
    return greedy_nms_numpy(np.asarray(boxes, np.float32), iou_threshold, max_keep)


@compiled
def _greedy_nms_compiled(boxes, iou_threshold, max_keep):  # pragma: no cover - compiled
    """greedy_nms_numpy in one loop (boxes float32, C-contiguous), the same float32 arithmetic."""
    n = boxes.shape[0]
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    removed = np.zeros(n, np.bool_)
    keep = np.empty(n, np.int64)
    k = 0
    for i in range(n):
        if k >= max_keep:
            break
        if removed[i]:
            continue
        keep[k] = i
        k += 1
        for j in range(i + 1, n):
            if removed[j]:
                continue
            w = max(min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0]), np.float32(0))
            h = max(min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1]), np.float32(0))
            inter = w * h
            union = areas[i] + areas[j] - inter
            if union != 0 and np.float32(inter / union) > iou_threshold:
                removed[j] = True
    return keep[:k]


def greedy_nms_numpy(boxes: np.ndarray, iou_threshold: float, max_keep: int) -> np.ndarray:
    """greedy_nms_sorted in numpy."""
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    remaining = np.arange(len(boxes))
    keep: list[int] = []
    threshold = np.float32(iou_threshold)
    while remaining.size and len(keep) < max_keep:
        best, rest = remaining[0], remaining[1:]
        keep.append(int(best))
        w = np.maximum(np.minimum(boxes[best, 2], boxes[rest, 2]) - np.maximum(boxes[best, 0], boxes[rest, 0]), 0)
        h = np.maximum(np.minimum(boxes[best, 3], boxes[rest, 3]) - np.maximum(boxes[best, 1], boxes[rest, 1]), 0)
        inter = w * h
        with np.errstate(divide='ignore', invalid='ignore'):
            iou = inter / (areas[best] + areas[rest] - inter)
        remaining = rest[~(iou > threshold)]
    return np.asarray(keep, np.int64)


def warm_up_nms() -> None:
    """Compile (or load from numba's cache) the NMS kernel now, not at the first frame."""
    greedy_nms_sorted(np.array([[0, 0, 2, 2], [1, 1, 3, 3]], np.float32), 0.5, 2)


def score_floor(score: float) -> float:
    """The largest float32 under `score`: a toolbox filter 'score > threshold' then keeps 'score >= score',
    the pipeline's rule."""
    return float(np.nextafter(np.float32(score), np.float32(0)))


class MinScore:
    """Mixin of the detectors that apply the pipeline's score threshold inside the model (they define set_min_score)."""

    min_score: float | None = None

    def lower_min_score(self, score: float) -> None:
        """Called with the pipeline's score_threshold whenever it changes: a lower threshold than the one in
        the model is applied from the next frame (a higher one only costs time, and a detector shared by
        cameras with different thresholds must serve the lowest)."""
        if self.min_score is not None and score < self.min_score:
            self.set_min_score(score)


@dataclass(frozen=True)
class DenseTestCfg:
    """A dense head's test settings (the config's, stored in vad-export's metadata)."""

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
        and at most DEPLOY_NMS_PRE candidates per level (also where the config's nms_pre <= 0, all)."""
        if min_score is None:
            return self
        nms_pre = DEPLOY_NMS_PRE if self.nms_pre <= 0 else min(int(self.nms_pre), DEPLOY_NMS_PRE)
        return replace(self, score_thr=max(self.score_thr, score_floor(min_score)), nms_pre=nms_pre)


def level_candidates(scores: np.ndarray, boxes: np.ndarray, score_thr: float,
                     nms_pre: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(boxes, scores, labels) of one level's (row, class) pairs of (N, C) scores above score_thr, best first
    (ties in index order), at most nms_pre (<= 0: all); boxes (N, 4), one per row."""
    # flat indices: numpy's 2-D nonzero is slow on RTMDet's scores (bench/RESULTS.md, "Model path per stage")
    rows, labels = np.divmod(np.flatnonzero(scores > score_thr), scores.shape[1])
    values = scores[rows, labels]
    order = np.argsort(-values, kind='stable')
    if nms_pre > 0:
        order = order[:nms_pre]
    return boxes[rows[order]], values[order], labels[order]


def decode_dense(outputs: list, cfg: DenseTestCfg, image_shape: tuple[int, int], scale: tuple[float, float],
                 candidates: Callable = level_candidates) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(boxes in frame pixels, scores, labels) of one image from its [scores_0, boxes_0, scores_1, ...]: (N_i, C)
    scores after the head's activation, (N_i, 4) boxes in network-input pixels. Each level's candidates
    (`candidates`: level_candidates, or a twin for other arrays that returns numpy), then all levels together:
    boxes clipped to image_shape (w, h: the toolbox's img_shape), divided by scale (sx, sy: frame -> network),
    those not wider and taller than min_bbox_size dropped, greedy NMS per class, the best max_per_img."""
    picked = [candidates(scores, boxes, cfg.score_thr, cfg.nms_pre)
              for scores, boxes in zip(outputs[0::2], outputs[1::2])]
    boxes, scores, labels = (np.concatenate(level) for level in zip(*picked))
    boxes, scores, labels = boxes.astype(np.float32), scores.astype(np.float32), labels.astype(np.int64)
    np.clip(boxes, 0, np.asarray(image_shape * 2, np.float32), out=boxes)
    boxes /= np.asarray(scale * 2, np.float32)
    if cfg.min_bbox_size >= 0:
        size_ok = ((boxes[:, 2] - boxes[:, 0]) > cfg.min_bbox_size) & ((boxes[:, 3] - boxes[:, 1]) > cfg.min_bbox_size)
        boxes, scores, labels = boxes[size_ok], scores[size_ok], labels[size_ok]
    keep = nms_per_class(boxes, scores, labels, cfg.iou_threshold, cfg.max_per_img)
    return boxes[keep], scores[keep], labels[keep]
