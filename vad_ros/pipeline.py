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
import time
from typing import Any

import numpy as np

from vad_ros import params as vparams
from vad_ros.perception.base import Detector, PerceptionError, Segmenter
from vad_ros.reasoning import kernels
from vad_ros.reasoning.background import INTEGRAL_AFTER_FRAMES, BackgroundVoter, voting_mask_lut
from vad_ros.reasoning.engine import EngineResult, ObjectArrays, RuleEngine
from vad_ros.reasoning.persistence import ObjectIdentities
from vad_ros.reasoning.rules import RuleSet
from vad_ros.reasoning.scene_map import MapCombiner, SceneMap, load_scene_map
from vad_ros.rule_source import RuleSource
from vad_ros.reasoning.tracker import ByteTracker, IouTracker
from vad_ros.reasoning.vocabulary import THING_CLASSES
from vad_ros.types import EVENT_ENDED, EVENT_STARTED, ClassMap, Detections, Event, FrameResult, ObjectReport

log = logging.getLogger('vad_ros.pipeline')

RUNTIME_PARAMS = vparams.applied_by(vparams.PIPELINE)


def build_pipeline(params: dict[str, Any], detector: Detector | None = None, segmenter: Segmenter | None = None,
                   strict_rules: bool = True, base_dirs: tuple[str, ...] = ()) -> 'Pipeline':
    """The one way from params to a ready pipeline, used by the node, the offline tools and the benchmarks.

    Builds the detector and segmenter unless a detector is given (callers that run many pipelines build the
    models once; with a given detector, `segmenter` is used as given, None = no segmenter),
    loads scene_map_file and the rule source (rules_file checked against the models' vocabularies; see
    vad_ros.rule_source; strict_rules=False keeps running with no rules while a bad file is fixed). Raises
    PerceptionError, SceneMapError or RuleFileError (all VadError) with a clear message."""
    from vad_ros.perception.factory import build_detector, build_segmenter   # toolboxes only when asked for
    params = vparams.resolve(params)
    if detector is None:      # models given: the segmenter is as given (None = none)
        detector, segmenter = build_detector(params), build_segmenter(params)
    scene_map = load_scene_map(params['scene_map_file']) if params['scene_map_file'] else None
    background_vocab = MapCombiner(scene_map).vocabulary(segmenter.class_names if segmenter else None)
    rules = RuleSource(params['rules_file'], detector.class_names, background_vocab, base_dirs, strict_rules,
                       scene=scene_map)
    for warning in rules.warnings:
        log.warning(warning)
    return Pipeline(detector, segmenter, rules, scene_map, params)


def make_tracker(params: dict[str, Any]) -> IouTracker | ByteTracker:
    """The tracker that tracking.tracker names, set from the params ('byte': its motion model, gates and noise
    keep the class defaults, measured in bench/RESULTS.md, "Tracking ids")."""
    if params['tracking.tracker'] == 'iou':
        return IouTracker(params['tracking.iou_threshold'], params['tracking.max_missed'])
    return ByteTracker(high_score=params['score_threshold'], low_score=params['tracking.low_score'],
                       lost_seconds=params['tracking.lost_seconds'])


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
                 params: dict[str, Any] | None = None):
        """params: a full or partial params dict (dotted names, see vad_ros/params.py); missing = defaults.
        rules: a RuleSource, a fixed RuleSet, or None = the paper's rules (unchecked; build_pipeline checks
        them against the models)."""
        self.detector = detector
        self.segmenter = segmenter
        self.scene_map = scene_map
        self._combiner = MapCombiner(scene_map)
        self.params = vparams.resolve(params or {})
        if rules is None:
            rules = RuleSource('')
        self.rule_source = rules if isinstance(rules, RuleSource) else RuleSource.fixed(rules)
        self._frame_index = -1
        self._segmented: ClassMap | None = None
        self._frames_since_segment = 0
        self._lut_key = None
        self._lut: np.ndarray | None = None
        self._tracker = make_tracker(self.params)
        self._tracker_kind: str | None = self.params['tracking.tracker']    # None: one given to replace_tracker
        self._identities = ObjectIdentities()
        self._voter = BackgroundVoter(2 if segmenter is None else INTEGRAL_AFTER_FRAMES)   # scene map only: static
        self._engine = RuleEngine(self.rules, scene_map, self.params['persistence.min_frames'],
                                  region=self.params['background.region'])
        self._warned_min_frames = self._warned_confirm = self._warned_grace_frames = False
        kernels.warm_up()                     # compiled (or loaded from numba's cache) now, not on the first frame
        if segmenter is None and scene_map is None:
            log.warning('no background source (segmenter.backend is none and scene_map_file is empty): every '
                        'background is unknown and no rule can fire')
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
        self.rules_changed()

    def rules_changed(self) -> None:
        """Call after the rule source put new rules in force (re-checks min_frames against tracking)."""
        self._warned_min_frames = False
        self._check_min_frames()

    def update_params(self, changed: dict[str, Any]) -> None:
        """Apply runtime-changeable parameters (RUNTIME_PARAMS). All values are checked before any is
        applied; a parameter that needs a restart or a bad value raises ParamError."""
        checked = {}
        for name, value in changed.items():
            if name not in RUNTIME_PARAMS:
                vparams.check_value(name, value)          # unknown names get a 'did you mean'
                raise vparams.ParamError(f"parameter '{name}' cannot be changed while running (restart with "
                                         f"the new value)")
            checked[name] = vparams.check_value(name, value)
        was_tracking = self.params['tracking.enabled']
        self.params.update(checked)
        if checked.get('tracking.tracker', self._tracker_kind) != self._tracker_kind:
            self._tracker = make_tracker(self.params)           # new ids from the next frame on
            self._tracker_kind = self.params['tracking.tracker']
            self._identities.clear()
        elif was_tracking and not self.params['tracking.enabled']:
            self._tracker.clear()
            self._identities.clear()
        if 'persistence.min_frames' in checked or 'tracking.enabled' in checked:
            self._warned_min_frames = False
        if 'confirm.enabled' in checked or 'tracking.enabled' in checked:
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
        objects, judged = self.reason(detections, class_map, self._frame_index, stamp, image_bgr.shape[1::-1])
        timings['reason'] = (time.perf_counter() - t) * 1e3
        score = max((a.score for a in judged.anomalies), default=0.0)
        return FrameResult(self._frame_index, stamp, objects, judged.anomalies, score,
                           [e for e in judged.events if e.state == EVENT_STARTED],
                           [e for e in judged.events if e.state == EVENT_ENDED], timings, class_map,
                           judged.events, judged.overlay)

    def reason(self, detections: Detections, class_map: ClassMap | None, frame_index: int,
               stamp: float | None = None, frame_size: tuple[int, int] | None = None
               ) -> tuple[list[ObjectReport], EngineResult]:
        """Threshold, ignore masks, track, object ids and confirmation, background vote and the rule engine for
        one frame's detections (also for callers with their own perception). frame_size (width, height) places
        the scene map's zones, lines and masks (default: the class map's size). Returns (objects, confirmed or
        not, and the engine's result on the confirmed ones: anomalies, event updates, overlay)."""
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
            track_ids, tracked = self._track(boxes, labels, scores, stamp)
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
        if self._engine.rules is not self.rules:          # the rule source reloaded its file
            self._engine.replace_rules(self.rules)
        arrays = ObjectArrays(boxes, scores, fractions, track_ids, tuple(names), labels, bg_vocab, bg_idx)
        judged = objects
        if not confirmed.all():                           # only confirmed objects may fire, or count
            sel = np.flatnonzero(confirmed)
            judged = [objects[i] for i in sel.tolist()]
            arrays = ObjectArrays(boxes[sel], scores[sel], fractions[sel], track_ids[sel], tuple(names), labels[sel],
                                  bg_vocab, bg_idx[sel])
        return objects, self._engine.evaluate(judged, frame_index, stamp, frame_size, arrays)

    # ---------------------------------------------------------------- the tracker
    # TRACKER PLUG POINT: make_tracker, replace_tracker, _configure_tracker, _tracker_floor and _track are the only
    # code that knows a tracker's interface. Two are understood:
    # - IouTracker.update(boxes, labels) -> ids: it gets the detections >= score_threshold, all tracked;
    # - ByteTracker.update(boxes, scores, labels, stamp) -> ids (-1: not tracked): it gets every detection down to
    #   its low_score for its second pass, its high_score follows score_threshold, and only the detections it
    #   tracks become objects (a weak detection only where it continues a track).
    # tracking.tracker picks one (make_tracker, in __init__ and when the parameter changes).
    def replace_tracker(self, tracker) -> None:
        """Track with another tracker (the IouTracker or the ByteTracker interface, see above); the objects seen
        so far are forgotten (new ids from the next frame on). The tracking.* parameters it has attributes for
        still apply; a later change of tracking.tracker replaces it."""
        self._tracker = tracker
        self._tracker_kind = None
        self._identities.clear()
        self._configure()

    def _configure_tracker(self) -> None:
        p, tracker = self.params, self._tracker
        if hasattr(tracker, 'high_score'):
            tracker.high_score = p['score_threshold']
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

    def _track(self, boxes: np.ndarray, labels: np.ndarray, scores: np.ndarray, stamp: float | None
               ) -> tuple[np.ndarray, np.ndarray | None]:
        """(track id per detection, which detections are objects: None = all)."""
        if hasattr(self._tracker, 'low_score'):
            ids = self._tracker.update(boxes, scores, labels, stamp)
            return ids, ids > 0
        return self._tracker.update(boxes, labels), None

    def flush_events(self) -> list[Event]:
        """Close the events still open (end of a video)."""
        return self._engine.flush()
