"""Parameters -> the configured detector and segmenter. Backends are imported only when asked for; the
default detector (nanodet) falls back to hog, with a warning, where torch or its fetched model is missing."""
from __future__ import annotations

from typing import Any

from vad_ros.perception.base import Detector, PerceptionError, Segmenter
from vad_ros.perception.device import apply_torch_threads

TORCH_BACKENDS = ('nanodet', 'mmdet', 'mmseg')


def build_detector(params: dict[str, Any]) -> Detector:
    backend = params['detector.backend']
    if backend in TORCH_BACKENDS:
        apply_torch_threads(params.get('torch_threads', 0))
    if backend == 'hog':
        from vad_ros.perception.hog import HogPeopleDetector
        return HogPeopleDetector.from_params(params)
    if backend == 'nanodet':
        from vad_ros.perception.nanodet import build_with_fallback
        return build_with_fallback(params)
    if backend == 'mmdet':
        from vad_ros.perception.mmdet_detector import MMDetDetector
        return MMDetDetector.from_params(params)
    if backend == 'onnx':
        from vad_ros.perception.onnx_detector import OnnxDetector
        return OnnxDetector.from_params(params)
    raise PerceptionError(f"detector.backend '{backend}' is not one of: hog, nanodet, mmdet, onnx")


def build_segmenter(params: dict[str, Any]) -> Segmenter | None:
    backend = params['segmenter.backend']
    if backend == 'none':
        return None
    if backend in TORCH_BACKENDS:
        apply_torch_threads(params.get('torch_threads', 0))
    if backend == 'mmseg':
        from vad_ros.perception.mmseg_segmenter import MMSegSegmenter
        return MMSegSegmenter.from_params(params)
    if backend == 'onnx':
        from vad_ros.perception.onnx_segmenter import OnnxSegmenter
        return OnnxSegmenter.from_params(params)
    raise PerceptionError(f"segmenter.backend '{backend}' is not one of: none, mmseg, onnx")
