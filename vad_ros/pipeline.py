"""The per-frame pipeline: detections + background map -> explained anomalies (pure Python, no ROS).

process(image): detect -> segment (every segmentation_interval frames, map reused in between) -> scene map
laid over it -> score threshold -> ignore masks -> tracker (tracking.tracker: byte or iou) -> object ids and
confirmation -> background vote per object -> rule engine on the confirmed objects (zones, tripwires, counts,
motion, schedules; persistence and events: vad_ros/reasoning/engine.py) -> FrameResult.

Objects (FrameResult.objects, ~/anomalies) are the tracked detections, confirmed or not: with tracking, each
carries an object id (persistence.ObjectIdentities: a new track that takes over a lost one close by keeps its
id, so events, dwell timers and motion follow the object, not the track) and whether it is confirmed (seen for
confirm.min_seconds, median of its last confirm.window scores >= confirm.score). Only confirmed objects reach the
rule engine: an unconfirmed one fires nothing and counts for nothing (not for min_count / max_count, not as a
crossing, no dwell time). Without tracking (or with confirm.enabled false) every object is confirmed.

Scores: an anomaly's score = object score x background fraction x severity weight (info 0.5, warning 0.75,
critical 1), in [0, 1] and increasing with the detector's confidence and the background's share; rules without
a background condition leave the fraction out, count rules use their best member's score; the frame score is
the highest score of the frame's reported anomalies, 0 for a normal frame (grace frames included).

Without tracking (tracking.enabled false) every object has track id 0 and each frame stands alone: rules fire
at once (min_frames is taken as 1, with a warning if a larger value is set); events are then episodes of a
rule firing on any object, closed events.grace_seconds after the last frame with it.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable

import numpy as np

from vad_ros import params as vparams
from vad_ros.background_hint import rule_set_warnings
from vad_ros.perception.base import Detector, PerceptionError, Segmenter
from vad_ros.reasoning import kernels
from vad_ros.reasoning.background import INTEGRAL_AFTER_FRAMES, BackgroundVoter, voting_mask_lut
from vad_ros.reasoning.engine import EngineResult, ObjectArrays, RuleEngine
from vad_ros.reasoning.persistence import ObjectIdentities
from vad_ros.reasoning.rules import RuleFileError, RuleSet
from vad_ros.reasoning.scene_map import MapCombiner, SceneMap, SceneMapError, load_scene_map
from vad_ros.rule_source import RuleSource
from vad_ros.runtime_params import RuntimeParams, pinned
from vad_ros.reasoning.tracker import ByteTracker, IouTracker
from vad_ros.vocabulary import THING_CLASSES
from vad_ros.types import ClassMap, Detections, Event, FrameResult, ObjectReport

log = logging.getLogger('vad_ros.pipeline')

RUNTIME_PARAMS = vparams.applied_by(vparams.PIPELINE)


def build_pipeline(params: dict[str, Any] | RuntimeParams, detector: Detector | None = None,
                   segmenter: Segmenter | None = None, strict_rules: bool = True,
                   base_dirs: tuple[str, ...] = (), warn: Callable[[str], None] | None = log.warning) -> 'Pipeline':
    """The one way from params to a ready pipeline, used by the node, the offline tools and the benchmarks.

    Builds the detector and segmenter unless a detector is given (callers that run many pipelines build the
    models once; with a given detector, `segmenter` is used as given, None = no segmenter),
    loads scene_map_file and the rule source (rules_file checked against the models' vocabularies; see
    vad_ros.rule_source; strict_rules=False keeps running with no rules while a bad file is fixed). Raises
    PerceptionError, SceneMapError or RuleFileError (all VadError) with a clear message. params: a dict, or a
    RuntimeParams whose later changes the pipeline follows (the node's cameras). warn: where the rule set's
    warnings go (background_hint.rule_set_warnings); None: nowhere, the caller says them (the node's cameras, with
    the camera's name)."""
    from vad_ros.perception.factory import build_detector, build_segmenter   # toolboxes only when asked for
    runtime = params if isinstance(params, RuntimeParams) else None   # the pipeline follows it (runtime_params)
    params = vparams.resolve(dict(params))
    if detector is None:      # models given: the segmenter is as given (None = none)
        detector, segmenter = build_detector(params), build_segmenter(params)
    scene_map = load_scene_map(params['scene_map_file']) if params['scene_map_file'] else None
    background_vocab = MapCombiner(scene_map).vocabulary(segmenter.class_names if segmenter else None)
    rules = RuleSource(params['rules_file'], detector.class_names, background_vocab, base_dirs, strict_rules,
                       scene=scene_map)
    for warning in rule_set_warnings(rules.warnings, background_vocab) if warn else ():   # no background: one line
        warn(warning)
    return Pipeline(detector, segmenter, rules, scene_map, params if runtime is None else runtime)


def build_camera_pipeline(params: dict[str, Any] | RuntimeParams, detector: Detector, segmenter: Segmenter | None,
                          base_dirs: tuple[str, ...] = (), warn: Callable[[str], None] | None = log.warning
                          ) -> 'Pipeline':
    """One camera's pipeline on the shared models, as the node's configure builds it (ros/camera.Camera.build) and
    vad-check checks it: its files (vad_ros.params.CAMERA_FILES) looked up in base_dirs, strict rules. A scene map
    or rule file that is missing or unusable raises its SceneMapError / RuleFileError, saying where a relative
    path was looked for. warn: as build_pipeline's."""
    params = pinned(params, {key: vparams.resolve_path(params[key], list(base_dirs)) for key in vparams.CAMERA_FILES})
    try:
        return build_pipeline(params, detector, segmenter, base_dirs=base_dirs, warn=warn)
    except (SceneMapError, RuleFileError) as e:
        relative = [v for v in (params[k] for k in vparams.CAMERA_FILES) if v and not os.path.isabs(v)]
        if relative and base_dirs:        # not found anywhere: say where a relative path was looked for
            raise type(e)(f"{e}; a relative path is looked up in {', '.join(base_dirs)}") from None
        raise

def make_tracker(params: dict[str, Any]) -> IouTracker | ByteTracker:
    """The tracker that tracking.tracker names, set from the params ('byte': its motion model, gates and noise
    keep the class defaults, measured in bench/RESULTS.md, "Tracking ids")."""
    if params['tracking.tracker'] == 'iou':
        return IouTracker(params['tracking.iou_threshold'], params['tracking.max_missed'])
    return ByteTracker(high_score=max(params['score_threshold'], params['tracking.high_score']),
                       low_score=params['tracking.low_score'], lost_seconds=params['tracking.lost_seconds'])


def detect_all(detector: Detector, images: list[np.ndarray]) -> list[Detections]:
    """Detections for several images (one per camera): one batched forward pass where the detector has
    `detect_batch`, else one call per image."""
    batch = getattr(detector, 'detect_batch', None)
    if batch is not None and len(images) > 1:
        return list(batch(images))
    return [detector.detect(image) for image in images]


class Pipeline:
    def __init__(self, detector: Detector, segmenter: Segmenter | None = None,
                 rules: RuleSource | RuleSet | None = None, scene_map: SceneMap | None = None,
                 params: dict[str, Any] | RuntimeParams | None = None):
        """params: a full or partial params dict (dotted names, see vad_ros/params.py; missing = defaults), or a
        RuntimeParams that the pipeline follows: its changes apply from the next frame (see sync).
        rules: a RuleSource, a fixed RuleSet, or None = the paper's rules (unchecked; build_pipeline checks
        them against the models)."""
        self.detector = detector
        self.segmenter = segmenter
        self.scene_map = scene_map
        self._combiner = MapCombiner(scene_map)
        # its own view: follows the given RuntimeParams; update_params changes this pipeline only
        self.runtime = params.child() if isinstance(params, RuntimeParams) else RuntimeParams(params)
        self._applied_version, self.params, _ = self.runtime.changes_since(0)   # self.params: as applied
        if rules is None:
            rules = RuleSource('')
        self.rule_source = rules if isinstance(rules, RuleSource) else RuleSource.fixed(rules)
        self._frame_index = -1
        self._segmented: ClassMap | None = None
        self._frames_since_segment = 0
        self._lut_key = None
        self._lut: np.ndarray | None = None
        self._tracker = make_tracker(self.params)
        self._identities = ObjectIdentities()
        self._voter = BackgroundVoter(2 if segmenter is None else INTEGRAL_AFTER_FRAMES)   # scene map only: static
        self._engine = RuleEngine(self.rules, scene_map, self.params['persistence.min_frames'],
                                  region=self.params['background.region'])
        self._applied_rules = self.rules               # the rule set sync() derived from
        self._warned_min_frames = self._warned_confirm = self._warned_grace_frames = False
        kernels.warm_up()                     # compiled (or loaded from numba's cache) now, not on the first frame
        self._configure()

    # ---------------------------------------------------------------- configuration
    @property
    def object_vocab(self) -> tuple[str, ...]:
        """Class names the detector can produce."""
        return tuple(self.detector.class_names)

    @property
    def background_vocab(self) -> tuple[str, ...]:
        """Background class names: the segmenter's, then the scene-map labels it lacks."""
        return self._combiner.vocabulary(self.segmenter.class_names if self.segmenter else None)

    @property
    def rules(self) -> RuleSet:
        """The rules in force (the rule source's; it may reload them between frames)."""
        return self.rule_source.rules

    def replace_rules(self, rules: RuleSet) -> None:
        """Put a fixed rule set in force (no file watched from now on)."""
        if not isinstance(rules, RuleSet):
            raise TypeError(f'replace_rules expects a RuleSet, got {type(rules).__name__}')
        self._engine.replace_rules(rules)           # checks zone and tripwire names first
        self.rule_source = RuleSource.fixed(rules)
        self.sync()

    def update_params(self, changed: dict[str, Any]) -> None:
        """Apply runtime-changeable parameters (RUNTIME_PARAMS) now, through this pipeline's RuntimeParams. All
        values are checked before any is applied; a parameter that needs a restart or a bad value raises
        ParamError."""
        for name, value in changed.items():
            if name not in RUNTIME_PARAMS:
                vparams.check_value(name, value)          # unknown names get a 'did you mean'
                raise vparams.ParamError(f"parameter '{name}' cannot be changed while running (restart with "
                                         f"the new value)")
        self.runtime.update(changed)                      # checks every value before it applies any
        self.sync()

    def sync(self) -> None:
        """Before each frame (and after update_params / replace_rules): re-derive what depends on the runtime
        parameters and on the rules in force, where either changed since it was last applied (the RuntimeParams'
        version; the rule source's RuleSet, which a file reload or the parameter API replaces). Nobody has to
        announce a change."""
        if self.runtime.version != self._applied_version:
            self._applied_version, values, names = self.runtime.changes_since(self._applied_version)
            self._apply_params(values, names)
        if self.rules is not self._applied_rules:
            self._applied_rules = self.rules
            if self._engine.rules is not self.rules:
                self._engine.replace_rules(self.rules)
            self._warned_min_frames = False               # re-checked against tracking
            self._check_min_frames()

    def _apply_params(self, values: dict[str, Any], names: frozenset[str]) -> None:
        """values: every parameter; names: those set since the last call (changed, or set again)."""
        was_tracking, was_tracker = self.params['tracking.enabled'], self.params['tracking.tracker']
        self.params = values
        if values['tracking.tracker'] != was_tracker:
            self._tracker = make_tracker(self.params)           # new ids from the next frame on
            self._identities.clear()
        elif was_tracking and not self.params['tracking.enabled']:
            self._tracker.clear()
            self._identities.clear()
        if 'persistence.min_frames' in names or 'tracking.enabled' in names:
            self._warned_min_frames = False
        if 'confirm.enabled' in names or 'tracking.enabled' in names:
            self._warned_confirm = False
        self._configure()

    def _configure(self) -> None:
        p = self.params
        self._configure_tracker()
        self._engine.min_frames = p['persistence.min_frames'] if p['tracking.enabled'] else 1
        self._engine.grace_seconds = p['events.grace_seconds']
        self._engine.grace_frames = p['persistence.grace_frames'] if p['persistence.grace_frames'] >= 0 else None
        if p['persistence.grace_frames'] >= 0 and not self._warned_grace_frames:
            log.warning(f"persistence.grace_frames is deprecated (its time depends on the frame rate): "
                        f"{p['persistence.grace_frames']} frames of grace are used instead of events.grace_seconds; "
                        f"set events.grace_seconds (3 frames at 10 fps = 0.3 s) and remove grace_frames")
            self._warned_grace_frames = True
        ids = self._identities
        ids.reacquire_seconds, ids.reacquire_distance = p['events.reacquire_seconds'], p['events.reacquire_distance']
        ids.min_seconds, ids.score, ids.window = p['confirm.min_seconds'], p['confirm.score'], p['confirm.window']
        self._engine.tracking = p['tracking.enabled']
        self._engine.region = p['background.region']
        self._lut_key = None   # exclude_things may have changed
        lower = getattr(self.detector, 'lower_min_score', None)   # detectors that drop low scores in the model
        if lower is not None:
            lower(self._tracker_floor() if p['tracking.enabled'] else p['score_threshold'])
        self._check_min_frames()

    def _check_min_frames(self) -> None:
        if self.params['tracking.enabled']:
            return
        if self.params['confirm.enabled'] and not self._warned_confirm:
            log.warning('tracking.enabled is false: objects cannot be confirmed over time, every object counts as '
                        'confirmed (set confirm.enabled false to say so)')
            self._warned_confirm = True
        if self._warned_min_frames:
            return
        wanted = max([self.params['persistence.min_frames']] + [r.min_frames or 1 for r in self.rules])
        if wanted > 1:
            log.warning(f'tracking.enabled is false: each frame stands alone, so min_frames {wanted} acts as 1 '
                        f'(enable tracking for persistence)')
            self._warned_min_frames = True

    def _voting_lut(self, class_map: ClassMap) -> np.ndarray:
        key = (class_map.class_names, self.params['background.exclude_things'])
        if self._lut_key != key:
            excluded = [i for i, n in enumerate(class_map.class_names) if n in THING_CLASSES] \
                if self.params['background.exclude_things'] else []
            self._lut = voting_mask_lut(len(class_map.class_names), excluded)
            self._lut_key = key
        return self._lut

    # ---------------------------------------------------------------- per frame
    def background_map(self, image: np.ndarray) -> ClassMap | None:
        """The class map for this frame: the segmenter's (run again after segmentation_interval frames or
        when the frame size changes) with the scene map laid over it; None without either."""
        height, width = image.shape[:2]
        if self.segmenter is not None:
            stale = self._frames_since_segment >= self.params['segmentation_interval']
            if self._segmented is None or stale or self._segmented.shape != (height, width):
                segmented = self.segmenter.segment(image)
                if segmented.shape != (height, width):
                    raise PerceptionError(f"segmenter '{self.segmenter.name}' returned a {segmented.shape[1]}x"
                                          f"{segmented.shape[0]} map for a {width}x{height} frame (a backend "
                                          f"must return maps at the input size)")
                self._segmented = segmented
                self._frames_since_segment = 0
            self._frames_since_segment += 1
        return self._combiner.combine(self._segmented, width, height)

    def process(self, image_bgr: np.ndarray, frame_index: int | None = None, stamp: float | None = None,
                detections: Detections | None = None) -> FrameResult:
        """One frame. frame_index None = the previous index + 1 (from 0). detections: already found by the
        detector for this image (a batch over several cameras, see detect_all); None = detect here."""
        if (not isinstance(image_bgr, np.ndarray) or image_bgr.ndim != 3 or image_bgr.shape[2] != 3
                or image_bgr.dtype != np.uint8 or image_bgr.size == 0):
            raise ValueError(f'Pipeline.process expects a non-empty (H, W, 3) uint8 BGR image, got '
                             f'{getattr(image_bgr, "dtype", type(image_bgr).__name__)} '
                             f'{getattr(image_bgr, "shape", "")}')
        self.sync()                               # parameters and rules changed since the last frame
        self._frame_index = self._frame_index + 1 if frame_index is None else int(frame_index)
        timings: dict[str, float] = {}
        t = time.perf_counter()
        if detections is None:
            detections = self.detector.detect(image_bgr)
        timings['detect'] = (time.perf_counter() - t) * 1e3
        t = time.perf_counter()
        class_map = self.background_map(image_bgr)
        timings['segment'] = (time.perf_counter() - t) * 1e3
        t = time.perf_counter()
        objects, judged = self.reason(detections, class_map, self._frame_index, stamp, image_bgr.shape[1::-1],
                                      image_bgr)
        timings['reason'] = (time.perf_counter() - t) * 1e3
        score = max((a.score for a in judged.anomalies), default=0.0)
        return FrameResult(self._frame_index, stamp, objects, judged.anomalies, score, judged.events, timings,
                           class_map, judged.overlay)

    def reason(self, detections: Detections, class_map: ClassMap | None, frame_index: int,
               stamp: float | None = None, frame_size: tuple[int, int] | None = None,
               image: np.ndarray | None = None) -> tuple[list[ObjectReport], EngineResult]:
        """Threshold, ignore masks, track, object ids and confirmation, background vote and the rule engine for
        one frame's detections (also for callers with their own perception). frame_size (width, height) places
        the scene map's zones, lines and masks (default: the class map's size); image: the frame (BGR uint8), for
        a tracker that compares colours (None: motion only). Returns (objects, confirmed or
        not, and the engine's result on the confirmed ones: anomalies, event updates, overlay)."""
        self.sync()                               # for callers of reason alone; a no-op after process's
        p = self.params
        names = detections.class_names
        if frame_size is None and class_map is not None:
            frame_size = class_map.shape[::-1]
        tracking = p['tracking.enabled']
        keep = np.flatnonzero(detections.scores >= (self._tracker_floor() if tracking else p['score_threshold']))
        if frame_size is not None and self._engine.has_ignore_masks:
            keep = keep[~self._engine.ignored(detections.boxes[keep], *frame_size)]
        labels = detections.labels[keep]
        label_list = labels.tolist()
        if label_list and (min(label_list) < 0 or max(label_list) >= len(names)):
            bad = next(v for v in label_list if not 0 <= v < len(names))
            raise PerceptionError(f'detector returned label {bad} outside its {len(names)} class names')
        boxes = detections.boxes[keep].astype(np.float64)
        scores = detections.scores[keep].astype(np.float64)
        if tracking:
            track_ids, tracked = self._track(boxes, labels, scores, stamp, image)
            if tracked is not None:                   # a second pass: only detections that continue a track
                boxes, labels, scores, track_ids = boxes[tracked], labels[tracked], scores[tracked], track_ids[tracked]
                label_list = labels.tolist()
            track_ids, confirmed = self._identities.update(track_ids, labels, boxes, scores, stamp, frame_index)
            if not p['confirm.enabled']:
                confirmed[:] = True
        else:
            track_ids, confirmed = np.zeros(len(labels), np.int64), np.ones(len(labels), bool)
        n = len(labels)
        if class_map is not None:
            bg_vocab = class_map.class_names
            bg_idx, fractions = self._voter.winners(class_map.labels, boxes, len(bg_vocab), p['background.region'],
                                                    p['background.footprint_height'], self._voting_lut(class_map))
        else:
            bg_vocab, bg_idx, fractions = (), np.full(n, -1, np.int64), np.zeros(n)
        objects = [ObjectReport(names[label], score, tuple(box), bg_vocab[bg] if bg >= 0 else None, frac, track, ok)
                   for box, label, score, track, bg, frac, ok in
                   zip(boxes.tolist(), label_list, scores.tolist(), track_ids.tolist(), bg_idx.tolist(),
                       fractions.tolist(), confirmed.tolist())]
        arrays = ObjectArrays(boxes, scores, fractions, track_ids, tuple(names), labels, bg_vocab, bg_idx)
        judged = objects
        if not confirmed.all():                           # only confirmed objects may fire, or count
            sel = np.flatnonzero(confirmed)
            judged = [objects[i] for i in sel.tolist()]
            arrays = ObjectArrays(boxes[sel], scores[sel], fractions[sel], track_ids[sel], tuple(names), labels[sel],
                                  bg_vocab, bg_idx[sel])
        return objects, self._engine.evaluate(judged, frame_index, stamp, frame_size, arrays)

    # ---------------------------------------------------------------- the tracker
    # TRACKER PLUG POINT: make_tracker, _configure_tracker, _tracker_floor and _track are the only code that knows
    # a tracker's interface. Two are understood:
    # - IouTracker.update(boxes, labels) -> ids: it gets the detections >= score_threshold, all tracked;
    # - ByteTracker.update(boxes, scores, labels, stamp[, image]) -> ids (-1: not tracked): it gets every detection
    #   down to its low_score for its second pass, its high_score is tracking.high_score (score_threshold where
    #   higher), and only the detections
    #   it tracks become objects (a weak detection only where it continues a track); a tracker with an
    #   appearance_gate also gets the frame (colours of the boxes).
    # tracking.tracker picks one (make_tracker, in __init__ and when the parameter changes).
    def _configure_tracker(self) -> None:
        p, tracker = self.params, self._tracker
        if hasattr(tracker, 'high_score'):
            tracker.high_score = max(p['score_threshold'], p['tracking.high_score'])
        if hasattr(tracker, 'low_score'):
            tracker.low_score = p['tracking.low_score']
        if hasattr(tracker, 'lost_seconds'):
            tracker.lost_seconds = p['tracking.lost_seconds']
        if hasattr(tracker, 'iou_threshold'):
            tracker.iou_threshold = p['tracking.iou_threshold']
        if hasattr(tracker, 'max_missed'):
            tracker.max_missed = p['tracking.max_missed']

    def _tracker_floor(self) -> float:
        """The lowest detection score handed to the tracker: score_threshold, or the lower floor of a tracker
        with a second pass over weak detections."""
        return min(getattr(self._tracker, 'low_score', 1.0), self.params['score_threshold'])

    def _track(self, boxes: np.ndarray, labels: np.ndarray, scores: np.ndarray, stamp: float | None,
               image: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """(track id per detection, which detections are objects: None = all)."""
        if hasattr(self._tracker, 'appearance_gate'):
            ids = self._tracker.update(boxes, scores, labels, stamp, image)
            return ids, ids > 0
        if hasattr(self._tracker, 'low_score'):
            ids = self._tracker.update(boxes, scores, labels, stamp)
            return ids, ids > 0
        return self._tracker.update(boxes, labels), None

    def flush_events(self) -> list[Event]:
        """Close the events still open (end of a video)."""
        return self._engine.flush()
