"""The per-frame pipeline: detections + background map -> explained anomalies (pure Python, no ROS).

process(image): detect -> segment (every segmentation_interval frames, map reused in between) -> scene map
laid over it -> score threshold -> tracker -> background vote per object -> rules -> persistence -> FrameResult.

Anomaly score = object score x background fraction x severity weight (info 0.5, warning 0.75, critical 1);
the frame score is the highest score of the frame's reported anomalies, 0 for a normal frame.
"""
from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from vad_ros import params as vparams
from vad_ros.perception.base import Detector, Segmenter
from vad_ros.reasoning.background import vote, voting_mask_lut
from vad_ros.reasoning.persistence import Persistence
from vad_ros.reasoning.rules import PAPER_RULES_PATH, SEVERITY_WEIGHTS, RuleSet, empty_rules, load_rules
from vad_ros.reasoning.scene_map import MapCombiner, SceneMap, load_scene_map
from vad_ros.reasoning.tracker import IouTracker
from vad_ros.reasoning.vocabulary import THING_CLASSES
from vad_ros.types import Anomaly, ClassMap, Event, FrameResult, ObjectReport

log = logging.getLogger('vad_ros.pipeline')

RUNTIME_PARAMS = ('score_threshold', 'segmentation_interval', 'background.region', 'background.footprint_height',
                  'background.exclude_things', 'tracking.enabled', 'tracking.iou_threshold', 'tracking.max_missed',
                  'persistence.min_frames', 'persistence.grace_frames')


class Pipeline:
    default_rules_path = str(PAPER_RULES_PATH)

    def __init__(self, detector: Detector, segmenter: Segmenter | None = None, rules: RuleSet | None = None,
                 scene_map: SceneMap | None = None, params: dict[str, Any] | None = None):
        self.detector = detector
        self.segmenter = segmenter
        self.scene_map = scene_map
        self._combiner = MapCombiner(scene_map)
        self.params = vparams.resolve(params or {})
        self.rules = rules if rules is not None else load_rules(PAPER_RULES_PATH)
        self._frame_index = -1
        self._segmented: ClassMap | None = None
        self._segmented_at = -10**9
        self._lut_key = None
        self._lut = None
        self._warned_no_background = False
        self._configure()

    @classmethod
    def from_params(cls, params: dict[str, Any], detector: Detector, segmenter: Segmenter | None = None
                    ) -> 'Pipeline':
        """Loads scene_map_file and rules_file ('' = the paper's rules), checking the rules' class names
        against the detector's and the background vocabularies. Raises SceneMapError / RuleFileError."""
        params = vparams.resolve(params)
        scene_map = load_scene_map(params['scene_map_file']) if params['scene_map_file'] else None
        background_vocab = MapCombiner(scene_map).vocabulary(segmenter.class_names if segmenter else None)
        rules = load_rules(params['rules_file'] or PAPER_RULES_PATH, detector.class_names, background_vocab)
        for warning in rules.warnings:
            log.warning(warning)
        return cls(detector, segmenter, rules, scene_map, params)

    # ---------------------------------------------------------------- configuration
    @property
    def object_vocab(self) -> tuple[str, ...]:
        return tuple(self.detector.class_names)

    @property
    def background_vocab(self) -> tuple[str, ...]:
        return self._combiner.vocabulary(self.segmenter.class_names if self.segmenter else None)

    @staticmethod
    def empty_rules() -> RuleSet:
        return empty_rules()

    def replace_rules(self, rules: RuleSet) -> None:
        self.rules = rules

    def update_params(self, changed: dict[str, Any]) -> None:
        """Apply runtime-changeable parameters (RUNTIME_PARAMS); others raise ParamError."""
        for name, value in changed.items():
            if name not in RUNTIME_PARAMS:
                raise vparams.ParamError(f"parameter '{name}' cannot be changed while running")
            self.params[name] = vparams.check_value(name, value)
        self._configure()

    def _configure(self) -> None:
        p = self.params
        tracker_key = (p['tracking.enabled'], p['tracking.iou_threshold'], p['tracking.max_missed'])
        if getattr(self, '_tracker_key', None) != tracker_key:
            self._tracker = IouTracker(p['tracking.iou_threshold'], p['tracking.max_missed']) \
                if p['tracking.enabled'] else None
            self._tracker_key = tracker_key
        if not hasattr(self, '_persistence'):
            self._persistence = Persistence(p['persistence.min_frames'], p['persistence.grace_frames'])
        self._persistence.min_frames = p['persistence.min_frames']
        self._persistence.grace_frames = p['persistence.grace_frames']
        self._lut_key = None   # exclude_things may have changed

    def _voting_lut(self, class_map: ClassMap) -> np.ndarray:
        key = (class_map.class_names, self.params['background.exclude_things'])
        if self._lut_key != key:
            excluded = {i for i, n in enumerate(class_map.class_names) if n in THING_CLASSES} \
                if self.params['background.exclude_things'] else set()
            self._lut = voting_mask_lut(len(class_map.class_names), excluded)
            self._lut_key = key
        return self._lut

    # ---------------------------------------------------------------- per frame
    def background_map(self, image: np.ndarray) -> ClassMap | None:
        """The class map for this frame: the segmenter's (rerun every segmentation_interval frames or when
        the frame size changes) with the scene map laid over it."""
        height, width = image.shape[:2]
        if self.segmenter is not None:
            stale = self._frame_index - self._segmented_at >= self.params['segmentation_interval']
            if self._segmented is None or stale or self._segmented.shape != (height, width):
                self._segmented = self.segmenter.segment(image)
                self._segmented_at = self._frame_index
        return self._combiner.combine(self._segmented, width, height)

    def process(self, image_bgr: np.ndarray, frame_index: int | None = None, stamp: float | None = None
                ) -> FrameResult:
        if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8 or image_bgr.size == 0:
            raise ValueError(f'Pipeline.process expects a non-empty (H, W, 3) uint8 BGR image, got '
                             f'{image_bgr.dtype} {image_bgr.shape}')
        self._frame_index = self._frame_index + 1 if frame_index is None else frame_index
        index = self._frame_index
        timings: dict[str, float] = {}
        t = time.perf_counter()
        detections = self.detector.detect(image_bgr)
        timings['detect'] = (time.perf_counter() - t) * 1e3
        t = time.perf_counter()
        class_map = self.background_map(image_bgr)
        timings['segment'] = (time.perf_counter() - t) * 1e3

        t = time.perf_counter()
        p = self.params
        keep = np.flatnonzero(detections.scores >= p['score_threshold'])
        boxes, labels, scores = detections.boxes[keep], detections.labels[keep], detections.scores[keep]
        track_ids = self._tracker.update(boxes, labels) if self._tracker is not None else np.zeros(len(keep), int)
        if class_map is None and len(keep) and not self._warned_no_background:
            log.warning('no background source (segmenter.backend is none and scene_map_file is empty): '
                        'no object can break a rule')
            self._warned_no_background = True
        objects: list[ObjectReport] = []
        candidates: list[tuple[Anomaly, int | None]] = []
        region = p['background.region']
        for box, label, score, track_id in zip(boxes, labels, scores, track_ids):
            name = detections.class_names[int(label)]
            background, fraction = None, 0.0
            if class_map is not None:
                v = vote(class_map.labels, box, len(class_map.class_names), region,
                         p['background.footprint_height'], self._voting_lut(class_map))
                if v.class_index is not None:
                    background, fraction = class_map.class_names[v.class_index], v.fraction
            box_t = tuple(float(c) for c in box)
            objects.append(ObjectReport(name, float(score), box_t, background, fraction, int(track_id)))
            for rule in self.rules.matching(name, background, float(score), fraction):
                anomaly_score = float(score) * fraction * SEVERITY_WEIGHTS[rule.severity]
                sentence = (f'{name} ({score:.2f}) on {background} ({fraction * 100:.0f}% of {region}): '
                            f'{rule.sentence}')
                candidates.append((Anomaly(name, float(score), background, fraction, box_t, rule.id,
                                           rule.severity, sentence, int(track_id), 1, anomaly_score),
                                   rule.min_frames))
        anomalies, started, ended = self._persistence.update(index, stamp, candidates)
        timings['reason'] = (time.perf_counter() - t) * 1e3
        score = max((a.score for a in anomalies), default=0.0)
        return FrameResult(index, stamp, objects, anomalies, score, started, ended, timings, class_map)

    def flush_events(self) -> list[Event]:
        """Close the events still open (end of a video)."""
        return self._persistence.flush()
