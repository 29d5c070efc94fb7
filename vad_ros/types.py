"""Data types shared by perception backends, the reasoning core, the node and the offline tools.

Coordinates are image pixels of the frame given to the pipeline: x to the right, y down, origin at the
top-left corner of the top-left pixel; boxes are (x_min, y_min, x_max, y_max) float32.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

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


class ObjectReport(NamedTuple):
    """One detected object of a frame, with the background it stands on; only confirmed objects are checked
    against the rules. (A named tuple: a dozen are made per frame, right after the model.)"""

    object_class: str
    score: float
    box: tuple[float, float, float, float]
    background_class: str | None      # None when the sampled region has no background pixel
    background_fraction: float        # share of the sampled region covered by background_class
    track_id: int = 0                 # object id, kept across re-acquisitions; 0 when tracking is off
    confirmed: bool = True            # False: seen too briefly or scored too low to fire a rule (confirm.*)


@dataclass(frozen=True)
class Anomaly:
    """An object (or, for count rules, a group of objects) that breaks a rule, long enough to be raised."""

    object_class: str
    object_score: float
    background_class: str            # '' when the rule does not look at the background and none is known
    background_fraction: float
    box: tuple[float, float, float, float]
    rule_id: str
    severity: str
    sentence: str
    track_id: int = 0                # 0 when untracked, and for count rules (a group, see members)
    duration_frames: int = 1
    score: float = 0.0               # this anomaly's own score (its contribution to the frame score), in [0, 1]
    event_id: int = 0                # the Event this anomaly belongs to (0: not raised by a Persistence)
    duration: float = 0.0            # seconds the rule has held in this episode (from image stamps; 0 unknown)
    members: tuple[int, ...] = ()    # count rules: track ids of the objects counted


def new_anomaly(object_class: str, object_score: float, background_class: str, background_fraction: float,
                box: tuple[float, float, float, float], rule_id: str, severity: str, track_id: int,
                score: float) -> Anomaly:
    """Anomaly(...) with an empty sentence, 1 frame, no event yet, without running the frozen dataclass's
    __init__ (one attribute store per field through object.__setattr__): the rule engine makes one per object
    and rule that holds, every frame."""
    a = object.__new__(Anomaly)
    a.__dict__.update(object_class=object_class, object_score=object_score, background_class=background_class,
                      background_fraction=background_fraction, box=box, rule_id=rule_id, severity=severity,
                      sentence='', track_id=track_id, duration_frames=1, score=score, event_id=0, duration=0.0,
                      members=())
    return a


EVENT_STARTED, EVENT_ONGOING, EVENT_ENDED = 'started', 'ongoing', 'ended'
EVENT_STATES = (EVENT_STARTED, EVENT_ONGOING, EVENT_ENDED)
# Why an event ended (Event.end_reason, AnomalyEvent.end_reason); '' on an ended event = its grace time ran out.
# END_STAMP_JUMP: the image stamps went backwards or jumped far forward (a new recording, a looped video, a
# stream resumed after a long pause; reasoning/engine.py), which ends every open event at once.
# END_CAMERA_LOST: no image for input.timeout seconds (vad_ros.ros.camera.Camera.watch_input).
(END_GRACE_EXPIRED, END_NODE_SHUTDOWN, END_DEACTIVATED, END_PAUSED, END_SCENE_MAP_CHANGED, END_STAMP_JUMP,
 END_CAMERA_LOST) = ('grace expired', 'node shutdown', 'deactivated', 'paused', 'scene map changed', 'stamp jump',
                    'camera lost')


@dataclass(frozen=True)
class Event:
    """An anomaly episode of one object (track id: its object id) under one rule, from its first to its last
    anomalous frame.

    Each value is a snapshot: the persistence emits one per frame in which the event starts (state
    'started'), goes on with its anomaly reported ('ongoing') and ends ('ended', after the grace time;
    end_frame / end_stamp are then the last frame in which the anomaly was reported). event_id is the same in
    every snapshot of one episode and unique among the events of one Persistence (from 1, increasing)."""

    rule_id: str
    track_id: int
    object_class: str
    background_class: str
    start_frame: int
    end_frame: int
    start_stamp: float | None        # image stamp of the first anomalous frame
    end_stamp: float | None          # image stamp of the latest anomalous frame
    peak_score: float
    sentence: str                    # the sentence of the best anomaly so far
    event_id: int = 0
    state: str = EVENT_STARTED
    severity: str = 'warning'
    box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)   # at the latest anomalous frame
    onset_stamp: float | None = None  # when the rule began to hold (before start_stamp with min_duration)
    score: float = 0.0               # score of the latest anomalous frame
    end_reason: str = ''             # state 'ended': END_* above when not by its grace; '' = grace expired

    @property
    def duration(self) -> float:
        """Seconds from the first to the latest anomalous frame (0 without stamps)."""
        if self.start_stamp is None or self.end_stamp is None:
            return 0.0
        return max(0.0, self.end_stamp - self.start_stamp)


@dataclass(frozen=True)
class DwellTimer:
    """A (track, rule) whose min_duration is running or has been reached: for the debug drawing."""

    track_id: int
    rule_id: str
    held: float                      # seconds the rule has held
    needed: float                    # the rule's min_duration
    box: tuple[float, float, float, float] | None = None


@dataclass(frozen=True)
class RuleOverlay:
    """Scene geometry in frame pixels and rule state, for the debug drawing (lightly drawn)."""

    zones: tuple[tuple[str, np.ndarray], ...] = ()                 # (name, (N, 2) polygon)
    tripwires: tuple[tuple[str, np.ndarray, int, int], ...] = ()   # (name, (M, 2) points, crossings in, out)
    ignore: tuple[np.ndarray, ...] = ()                            # (N, 2) polygons
    timers: tuple[DwellTimer, ...] = ()


@dataclass
class FrameResult:
    """Everything the pipeline concluded about one frame."""

    frame_index: int
    stamp: float | None
    objects: list[ObjectReport]
    anomalies: list[Anomaly]
    score: float                                   # frame score in [0, 1]
    events: list[Event] = field(default_factory=list)   # every event update of this frame: started, ongoing, ended
    timings_ms: dict[str, float] = field(default_factory=dict)   # per stage, e.g. 'detect', 'segment'
    class_map: ClassMap | None = None              # background map used (for drawing), if any
    overlay: RuleOverlay | None = None            # zones, tripwires, ignore masks, dwell timers (drawing)

    @property
    def is_anomalous(self) -> bool:
        return bool(self.anomalies)

    @property
    def events_started(self) -> list[Event]:
        """The updates of events that started in this frame (state 'started')."""
        return [e for e in self.events if e.state == EVENT_STARTED]

    @property
    def events_ended(self) -> list[Event]:
        """The updates of events that ended in this frame (state 'ended')."""
        return [e for e in self.events if e.state == EVENT_ENDED]
