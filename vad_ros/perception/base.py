"""The perception interface: what the pipeline needs from a detector and a segmenter.

Backends (vad_ros.perception.hog, .mmdet_detector, .mmseg_segmenter) implement these two protocols.
Images are (H, W, 3) uint8 BGR numpy arrays (OpenCV order), C-contiguous.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from vad_ros.errors import VadError
from vad_ros.types import ClassMap, Detections


class PerceptionError(VadError):
    """A backend cannot be built or run; the message names the file/parameter and what to do."""


@runtime_checkable
class Detector(Protocol):
    name: str                       # e.g. 'hog', 'mmdet:rtmdet_tiny_8xb32-300e_coco'
    device: str                     # 'cpu', 'cuda:0'
    class_names: tuple[str, ...]    # vocabulary (from the checkpoint/config metadata)

    def detect(self, image_bgr: np.ndarray) -> Detections:
        """Objects in the image; boxes in the image's pixel coordinates. May return scores below 0.3:
        the pipeline applies the score threshold."""
        ...


@runtime_checkable
class Segmenter(Protocol):
    name: str
    device: str
    class_names: tuple[str, ...]

    def segment(self, image_bgr: np.ndarray) -> ClassMap:
        """Per-pixel classes at the image's resolution."""
        ...


def same_size_batches(sizes: list, max_batch: int) -> list[list[int]]:
    """detect_batch's grouping: the indices of frames whose network inputs have the same size, in runs of at most
    max_batch (in frame order), so that no frame is padded more than alone."""
    groups: dict = {}
    for i, size in enumerate(sizes):
        groups.setdefault(size, []).append(i)
    return [members[start:start + max_batch] for members in groups.values()
            for start in range(0, len(members), max_batch)]
