"""`vad-scene bootstrap`: a first scene map drawn by the segmenter.

The configured segmenter runs on N frames spread over the input; each pixel takes its most frequent
background class (things and detected objects do not vote, see vote.py); the resulting label map becomes
simplified polygons in drawing order (polygons.py), written as a scene map with a comment saying how it was
made.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from vad_ros.media.sources import Frame
from vad_ros.perception.base import Detector, Segmenter
from vad_ros.scene_tools.errors import SceneToolError
from vad_ros.scene_tools.polygons import DEFAULT_MIN_AREA, DEFAULT_TOLERANCE, regions_from_labels
from vad_ros.scene_tools.vote import BackgroundVote
from vad_ros.types import ClassMap


@dataclass
class BootstrapOptions:
    tolerance: float = DEFAULT_TOLERANCE     # pixels: how far a simplified outline may stray
    min_area: float = DEFAULT_MIN_AREA       # share of the frame: smaller islands join their surroundings
    score_threshold: float = 0.3             # detections at or above it mask their box out of the vote

    def check(self) -> None:
        if not (self.tolerance >= 0 and np.isfinite(self.tolerance)):
            raise SceneToolError(f'--tolerance must be a number of pixels >= 0, got {self.tolerance}')
        if not 0 <= self.min_area < 1:
            raise SceneToolError(f'--min-area is a share of the frame in [0, 1), got {self.min_area}')


@dataclass
class BootstrapResult:
    image_size: tuple[int, int]                       # (width, height)
    regions: list[tuple[str, np.ndarray]]             # in drawing order
    votes: ClassMap                                   # the per-pixel majority before polygons
    frame_indices: list[int] = field(default_factory=list)
    objects_masked: int = 0

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(label for label, _ in self.regions))


def object_boxes(detector: Detector | None, image: np.ndarray, score_threshold: float) -> np.ndarray:
    """(N, 4) boxes of the objects the detector finds at or above score_threshold."""
    if detector is None:
        return np.zeros((0, 4), np.float32)
    detections = detector.detect(image)
    return detections.boxes[detections.scores >= score_threshold]


def bootstrap(frames: Sequence[Frame], segmenter: Segmenter, detector: Detector | None = None,
              options: BootstrapOptions | None = None,
              progress: Callable[[int, int], None] | None = None) -> BootstrapResult:
    """Scene-map regions from `frames` (see the module doc)."""
    options = options or BootstrapOptions()
    options.check()
    if not frames:
        raise SceneToolError('the input has no frames to bootstrap from')
    vote, masked = BackgroundVote(), 0
    for n, frame in enumerate(frames):
        boxes = object_boxes(detector, frame.image, options.score_threshold)
        masked += len(boxes)
        vote.add(segmenter.segment(frame.image), boxes)
        if progress is not None:
            progress(n + 1, len(frames))
    votes = vote.result()
    height, width = votes.shape
    regions = regions_from_labels(votes.labels, votes.class_names, options.tolerance, options.min_area)
    return BootstrapResult((width, height), regions, votes, [f.index for f in frames], masked)


def describe(result: BootstrapResult, input_name: str, segmenter: Segmenter, detector: Detector | None,
             options: BootstrapOptions) -> str:
    """The comment on top of the written file: how the map was made."""
    first, last = (result.frame_indices[0], result.frame_indices[-1]) if result.frame_indices else (0, 0)
    today = datetime.date.today().isoformat()
    objects = (f'objects found by {detector.name} (score >= {options.score_threshold}) masked out'
               if detector is not None else 'no detector')
    return '\n'.join([
        f'Bootstrapped by `vad-scene bootstrap` on {today} from {len(result.frame_indices)} frames '
        f'({first}..{last}) of {input_name}:',
        f"segmenter {segmenter.name}: each pixel's most frequent background class, \"thing\" classes and "
        f'{objects} ({result.objects_masked} boxes);',
        f'outlines simplified to {options.tolerance} px, islands under {options.min_area:.2%} of the frame '
        'dropped. Later regions are drawn over earlier ones.',
        'Check it with `vad-scene show`, fix it with `vad-scene edit`.',
    ])
