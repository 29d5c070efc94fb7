"""The one greedy NMS (vad_ros.perception.dense) that HOG, NanoDet, the OpenMMLab decoders and the ONNX detector
share: its rule at the threshold, per-class suppression, the cap, and the compiled kernel against numpy."""
from __future__ import annotations

import numpy as np
import pytest

from vad_ros.perception import dense as nms
from vad_ros.perception.dense import greedy_nms, nms_per_class


@pytest.mark.parametrize('path', ['compiled', 'numpy'])
def test_a_box_at_exactly_the_threshold_survives(path, monkeypatch):
    """The documented rule: suppressed only where IoU > threshold (mmcv, torchvision)."""
    if path == 'numpy':
        monkeypatch.setattr(nms, 'COMPILED', False)
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 5]], np.float32)     # IoU exactly 50 / 100
    scores = np.array([0.9, 0.8], np.float32)
    assert greedy_nms(boxes, scores, 0.5).tolist() == [0, 1]             # IoU == 0.5: kept
    assert greedy_nms(boxes, scores, 0.49).tolist() == [0]               # IoU > 0.49: suppressed
    same = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], np.float32)
    assert nms_per_class(same, np.array([0.5, 0.6], np.float32), np.array([3, 3]), 1.0).tolist() == [1, 0]
    assert nms_per_class(same, np.array([0.5, 0.6], np.float32), np.array([3, 3]), 0.99).tolist() == [1]


def test_suppression_stays_within_a_class_and_the_cap_holds():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [0, 0, 10, 10], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
    labels = np.array([0, 0, 1, 0])
    assert nms_per_class(boxes, scores, labels, 0.5).tolist() == [0, 2, 3]
    assert nms_per_class(boxes, scores, labels, 0.9).tolist() == [0, 1, 2, 3]      # IoU 0.82 < 0.9
    assert nms_per_class(boxes, scores, labels, 0.5, 2).tolist() == [0, 2]
    assert greedy_nms(boxes, scores, 0.5).tolist() == [0, 3]                       # class-blind
    assert nms_per_class(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64),
                         0.5, 10).tolist() == []


def test_unsorted_input_is_visited_best_score_first():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [30, 30, 40, 40]], np.float32)
    scores = np.array([0.2, 0.9, 0.5], np.float32)
    assert greedy_nms(boxes, scores, 0.5).tolist() == [1, 2]


@pytest.mark.parametrize('n, iou, max_keep', [(3000, 0.65, 300), (500, 0.5, 100), (200, 0.3, 5), (50, 1.0, 100),
                                               (40, 0.0, 100), (10, 0.5, 0)])
def test_compiled_nms_keeps_what_the_numpy_nms_keeps(n, iou, max_keep):
    """The numba kernel (numba is installed here) against the numpy loop, on crowded random boxes with
    duplicates, boxes without area and lines."""
    assert nms.COMPILED, 'numba is part of this environment (tools/setup.sh); the kernel must be what runs'
    rng = np.random.default_rng(n)
    xy = rng.uniform(0, 300, (n, 2)).astype(np.float32)
    boxes = np.concatenate([xy, xy + rng.uniform(0, 60, (n, 2)).astype(np.float32)], axis=1)
    duplicates = np.arange(7, n, 7)
    boxes[duplicates] = boxes[duplicates - 1]                                   # exact duplicates
    boxes[::11, 2] = boxes[::11, 0]                                             # no area
    expected = nms.greedy_nms_numpy(boxes, iou, max_keep)
    got = nms.greedy_nms_sorted(boxes, iou, max_keep)
    assert got.dtype == np.int64 and got.tolist() == expected.tolist()
    assert len(expected) <= max_keep and (max_keep == 0 or len(expected) > 0)
    assert n != 3000 or len(expected) == 300                                  # the cap stops the crowded case
