"""The perception interface: what the pipeline needs from a detector and a segmenter.

Backends (vad_ros.perception.hog, .nanodet, .openmmlab, .onnx) implement these two protocols.
Images are (H, W, 3) uint8 BGR numpy arrays (OpenCV order), C-contiguous.
"""
from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class Outcome:
    name: str
    state: str                          # 'kept', 'refused' or 'off'
    reason: str


@dataclass(frozen=True)
class RuntimeReport:
    """Which path a model runs (device, precision, each stage) and what happened to each of its variants."""
    model: str
    device: str
    precision: str = ''
    paths: tuple[tuple[str, str], ...] = ()          # (stage, what runs there)
    outcomes: tuple[Outcome, ...] = ()

    def line(self) -> str:
        """One line for the start-up log and /diagnostics: the path, then the refused variants and why."""
        head = f'{self.model} on {self.device}' + (f' ({self.precision})' if self.precision else '')
        parts = [head] + [f'{stage}: {what}' for stage, what in self.paths]
        refused = [f'{o.name} ({o.reason})' for o in self.outcomes if o.state == 'refused']
        if refused:
            parts.append('refused: ' + ', '.join(refused))
        return '; '.join(parts)


def runtime_report(model) -> RuntimeReport:
    """The model's own report where its backend keeps one, else its name and device."""
    report = getattr(model, 'runtime_report', None)
    if callable(report):
        return report()
    return RuntimeReport(model.name, model.device)
