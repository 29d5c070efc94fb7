"""Data types shared by perception backends, the reasoning core, the node and the offline tools.

Coordinates are image pixels of the frame given to the pipeline: x to the right, y down, origin at the
top-left corner of the top-left pixel; boxes are (x_min, y_min, x_max, y_max) float32.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Label value of a class map pixel that has no class (outside every scene-map region, or ignored).
NO_CLASS = np.uint16(0xFFFF)


@dataclass(frozen=True)
class Detections:
    """Objects found in one frame by a detector."""

    boxes: np.ndarray          # (N, 4) float32, xyxy in input-image pixels
    labels: np.ndarray         # (N,) int64, indices into class_names
    scores: np.ndarray         # (N,) float32 in [0, 1]
    class_names: tuple[str, ...]  # the detector's vocabulary

    def __post_init__(self) -> None:
        n = len(self.labels)
        if self.boxes.shape != (n, 4) or self.scores.shape != (n,):
            raise ValueError(f'Detections: boxes {self.boxes.shape}, labels {self.labels.shape} and '
                             f'scores {self.scores.shape} do not describe the same N objects')

    def __len__(self) -> int:
        return len(self.labels)

    def names(self) -> list[str]:
        return [self.class_names[int(i)] for i in self.labels]

    @classmethod
    def empty(cls, class_names: tuple[str, ...]) -> 'Detections':
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.int64), np.zeros((0,), np.float32),
                   tuple(class_names))


@dataclass(frozen=True)
class ClassMap:
    """Per-pixel background classes of one frame, at the input image's resolution."""

    labels: np.ndarray         # (H, W) uint16, indices into class_names, NO_CLASS where unknown
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.labels.ndim != 2 or self.labels.dtype != np.uint16:
            raise ValueError(f'ClassMap.labels must be a (H, W) uint16 array, got {self.labels.dtype} '
                             f'{self.labels.shape}')

    @property
    def shape(self) -> tuple[int, int]:
        return self.labels.shape  # type: ignore[return-value]


@dataclass(frozen=True)
class ObjectReport:
    """One detected object that was checked against the rules, with the background it stands on."""

    object_class: str
    score: float
    box: tuple[float, float, float, float]
    background_class: str | None      # None when the sampled region has no background pixel
    background_fraction: float        # share of the sampled region covered by background_class
    track_id: int = 0                 # 0 when tracking is off


@dataclass(frozen=True)
class Anomaly:
    """An object that breaks a rule (and, with persistence, has done so long enough)."""

    object_class: str
    object_score: float
    background_class: str
    background_fraction: float
    box: tuple[float, float, float, float]
    rule_id: str
    severity: str
    sentence: str
    track_id: int = 0
    duration_frames: int = 1
    score: float = 0.0               # this anomaly's contribution to the frame score, in [0, 1]


@dataclass(frozen=True)
class Event:
    """An anomaly episode of one track under one rule, from its first to its last anomalous frame."""

    rule_id: str
    track_id: int
    object_class: str
    background_class: str
    start_frame: int
    end_frame: int
    start_stamp: float | None
    end_stamp: float | None
    peak_score: float
    sentence: str


@dataclass
class FrameResult:
    """Everything the pipeline concluded about one frame."""

    frame_index: int
    stamp: float | None
    objects: list[ObjectReport]
    anomalies: list[Anomaly]
    score: float                                   # frame score in [0, 1]
    events_started: list[Event] = field(default_factory=list)
    events_ended: list[Event] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)   # per stage, e.g. 'detect', 'segment'
    class_map: ClassMap | None = None              # background map used (for drawing), if any

    @property
    def is_anomalous(self) -> bool:
        return bool(self.anomalies)
