"""Parameters -> the configured detector and segmenter. Backends are imported only when asked for; the
default detector (nanodet) falls back to hog, with a warning, where torch or its fetched model is missing.

vocabularies(params): the class names those models would have, without building them (vad-check)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from vad_ros.params import SPECS
from vad_ros.perception.base import Detector, PerceptionError, Segmenter
from vad_ros.perception.device import apply_torch_threads

TORCH_BACKENDS = ('nanodet', 'mmdet', 'mmseg')


def chosen_backend(params: dict[str, Any], role: str) -> str:
    """params['<role>.backend'], one of the role's backends (PerceptionError naming them otherwise)."""
    backend, offered = params[f'{role}.backend'], SPECS[f'{role}.backend'].choices
    if backend not in offered:
        raise PerceptionError(f"{role}.backend '{backend}' is not one of: {', '.join(offered)}")
    return backend


def _built_backend(params: dict[str, Any], role: str) -> str:
    """chosen_backend, with torch's thread count set from torch_threads for the torch backends."""
    backend = chosen_backend(params, role)
    if backend in TORCH_BACKENDS:
        apply_torch_threads(params.get('torch_threads', 0))
    return backend


def build_detector(params: dict[str, Any]) -> Detector:
    backend = _built_backend(params, 'detector')
    if backend == 'hog':
        from vad_ros.perception.hog import HogPeopleDetector
        return HogPeopleDetector.from_params(params)
    if backend == 'nanodet':
        from vad_ros.perception.nanodet.detector import build_with_fallback
        return build_with_fallback(params)
    if backend == 'mmdet':
        from vad_ros.perception.openmmlab.mmdet_detector import MMDetDetector
        return MMDetDetector.from_params(params)
    from vad_ros.perception.onnx.detector import OnnxDetector
    return OnnxDetector.from_params(params)


def build_segmenter(params: dict[str, Any]) -> Segmenter | None:
    backend = _built_backend(params, 'segmenter')
    if backend == 'none':
        return None
    if backend == 'mmseg':
        from vad_ros.perception.openmmlab.mmseg_segmenter import MMSegSegmenter
        return MMSegSegmenter.from_params(params)
    from vad_ros.perception.onnx.segmenter import OnnxSegmenter
    return OnnxSegmenter.from_params(params)


@dataclass(frozen=True)
class Vocabulary:
    """The class names a configured model would have, found without building it."""
    role: str                        # 'detector' or 'segmenter'
    backend: str                     # the backend that would run ('hog' where nanodet falls back to it)
    class_names: tuple[str, ...]
    source: str                      # where the names come from, for people


def vocabularies(params: dict[str, Any]) -> tuple[Vocabulary, Vocabulary | None]:
    """(detector, segmenter or None for segmenter.backend none): the class names build_detector and
    build_segmenter would give, from the backends' class lists, metadata and config files, with no model built
    and no weights read (a checkpoint's metadata is read with its tensors memory-mapped). Raises PerceptionError
    where they would for a missing or unusable model file; logs the warnings they would log (nanodet's
    fallback to hog). Not checked: devices, and whether the weights load."""
    return detector_vocabulary(params), segmenter_vocabulary(params)


def detector_vocabulary(params: dict[str, Any]) -> Vocabulary:
    backend = chosen_backend(params, 'detector')
    if backend == 'nanodet':
        from vad_ros.perception.nanodet import detector as nanodet
        warning = nanodet.hog_fallback_warning(params)
        if warning is None:
            path = nanodet.existing_model_path(params.get('detector.nanodet.model', ''))
            return Vocabulary('detector', backend, nanodet.NanoDetDetector.class_names,
                              f"NanoDet's 80 COCO classes ('{path}')")
        logging.getLogger('vad_ros.perception').warning(warning)
        backend = 'hog'
    if backend == 'hog':
        from vad_ros.perception.hog import HogPeopleDetector
        detector = HogPeopleDetector.from_params(params)    # no weights: OpenCV's built-in people SVM
        return Vocabulary('detector', backend, tuple(detector.class_names), "OpenCV's HOG people detector")
    if backend == 'mmdet':
        return _toolbox_vocabulary(params, 'detector', 'mmdet')
    from vad_ros.perception.onnx.detector import OnnxDetector
    return _exported_vocabulary(params, OnnxDetector)


def segmenter_vocabulary(params: dict[str, Any]) -> Vocabulary | None:
    backend = chosen_backend(params, 'segmenter')
    if backend == 'none':
        return None
    if backend == 'mmseg':
        return _toolbox_vocabulary(params, 'segmenter', 'mmseg')
    from vad_ros.perception.onnx.segmenter import OnnxSegmenter
    return _exported_vocabulary(params, OnnxSegmenter)


def _toolbox_vocabulary(params: dict[str, Any], role: str, backend: str) -> Vocabulary:
    from vad_ros.perception.openmmlab.toolbox import MMDET, MMSEG, vocabulary_from_files
    names, source = vocabulary_from_files(MMDET if backend == 'mmdet' else MMSEG, params[f'{role}.config'],
                                          params[f'{role}.checkpoint'], params[f'{role}.trust_checkpoint_pickle'])
    return Vocabulary(role, backend, names, source)


def _exported_vocabulary(params: dict[str, Any], backend) -> Vocabulary:
    from vad_ros.perception.onnx.runtime import available_providers
    role = backend.role
    _, source, names = backend.exported(params[f'{role}.checkpoint'], params[f'{role}.config'])
    available_providers()                   # onnxruntime installed (PerceptionError with the fix otherwise)
    return Vocabulary(role, 'onnx', names, f"the vad-export metadata '{source}'")
