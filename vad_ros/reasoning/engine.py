"""The rule engine: this frame's objects (with tracks and backgrounds) -> anomalies, event updates and the
state to draw. The one object the pipeline calls per frame:

    engine = RuleEngine(rules, scene_map, min_frames=1, region='footprint', grace_seconds=1.0)
    keep = ~engine.ignored(boxes, width, height)          # ignore masks, before tracking and rules
    result = engine.evaluate(objects, frame_index, stamp, (width, height))
    result.anomalies, result.events, result.overlay

Per frame: the stamp is checked (a stamp that goes backwards, or jumps forward by more than max_stamp_gap
seconds, ends every open event, end_reason types.END_STAMP_JUMP, and restarts all timers, motion and tripwire
state: a new recording, a looped video, a paused stream); ground points are placed in zones; motion and
tripwire crossings are updated for tracked objects; each rule active at this stamp (schedule) is judged on
every object at once (each condition's numpy mask, vad_ros/reasoning/conditions.py), count rules on the group;
persistence (min_frames, dwell, grace, cooldown) decides what is reported and updates the events. Rules
without a stamp: time conditions (dwell times, schedules, speeds, crossing counts over a window) do not hold.

The objects are the ones that may fire: the pipeline gives the confirmed objects only (vad_ros/pipeline.py),
with their object ids (kept across re-acquisitions: persistence/ObjectIdentities), so that counts, dwell
times, motion, crossings and events are those of confirmed objects, and follow an object across tracks.
"""
from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from vad_ros.reasoning import geometry, sentences
from vad_ros.reasoning.motion import Motion, MotionHistory
from vad_ros.reasoning.persistence import MAX_STAMP_GAP, Candidate, Persistence
from vad_ros.reasoning.rules import Rule, RuleSet, check_places
from vad_ros.reasoning.tripwires import CrossingDetector
from vad_ros.types import END_STAMP_JUMP, Anomaly, Event, ObjectReport, RuleOverlay, new_anomaly

log = logging.getLogger('vad_ros.rules')


@dataclass
class EngineResult:
    anomalies: list[Anomaly]
    events: list[Event]
    overlay: RuleOverlay | None = None


class ObjectArrays(NamedTuple):
    """A frame's objects as arrays (N objects, in the order of the ObjectReport list): what the pipeline
    already holds, so that the engine need not rebuild it from the reports (of_reports does, for other
    callers)."""
    boxes: np.ndarray                  # (N, 4) float64
    scores: np.ndarray                 # (N,) float64
    fractions: np.ndarray              # (N,) float64, background fractions
    track_ids: np.ndarray              # (N,) int64
    class_vocab: tuple[str, ...]
    class_idx: np.ndarray              # (N,) int64 into class_vocab
    bg_vocab: tuple[str, ...]
    bg_idx: np.ndarray                 # (N,) int64 into bg_vocab, -1 = no background

    @classmethod
    def of_reports(cls, objects: list[ObjectReport]) -> 'ObjectArrays':
        n = len(objects)
        class_vocab, class_idx = _index([o.object_class for o in objects])
        bg_vocab, bg_idx = _index([o.background_class for o in objects])
        return cls(np.array([o.box for o in objects], np.float64).reshape(n, 4),
                   np.array([o.score for o in objects], np.float64),
                   np.array([o.background_fraction for o in objects], np.float64),
                   np.array([o.track_id for o in objects], np.int64), class_vocab, class_idx, bg_vocab, bg_idx)


@dataclass
class _Facts:
    """This frame's objects as arrays (N objects): what the rule conditions judge (conditions.py)."""
    engine: 'RuleEngine'
    objects: list[ObjectReport]
    arrays: ObjectArrays               # boxes, scores, classes, backgrounds, ... of the objects
    geometry: object | None            # SceneGeometry
    zone_bits: np.ndarray | None       # (N,) uint64
    motion: Motion | None = None
    crossed: np.ndarray | None = None  # (N, tripwires) int8
    frame_size: tuple[int, int] | None = None
    _area: np.ndarray | None = field(default=None, repr=False)
    _ground: np.ndarray | None = field(default=None, repr=False)
    _cache: dict = field(default_factory=dict, repr=False)

    def cached(self, key, compute):
        """A per-frame value shared by the rules that ask for the same thing."""
        value = self._cache.get(key)
        if value is None:
            value = self._cache[key] = compute()
        return value

    @property
    def region(self) -> str:
        """background.region, for "% of footprint"."""
        return self.engine.region

    def names_lut(self, vocab: tuple[str, ...], names, negate: bool = False) -> np.ndarray:
        return self.engine._names_lut(vocab, names, negate)

    def zone_bits_of(self, names: tuple[str, ...]) -> np.uint64:
        """The bits of these zones in zone_bits."""
        return self.engine._zone_bits(names, self.geometry)

    @property
    def ground(self) -> np.ndarray:
        """(N, 2) ground points (bottom centres of the boxes), computed when a rule needs them."""
        if self._ground is None:
            boxes = self.arrays.boxes
            self._ground = geometry.ground_points(boxes) if len(boxes) else np.zeros((0, 2))
        return self._ground

    @property
    def area(self) -> np.ndarray:
        if self._area is None:
            boxes = self.arrays.boxes
            w = np.maximum(boxes[:, 2] - boxes[:, 0], 0)
            h = np.maximum(boxes[:, 3] - boxes[:, 1], 0)
            self._area = np.column_stack([w * h, np.where(h > 0, w / np.where(h > 0, h, 1), 0.0)])
        return self._area


def _index(values) -> tuple[tuple, np.ndarray]:
    """Distinct values (in order) and each value's index among them; None -> -1."""
    vocab: dict = {}
    idx = [vocab.setdefault(v, len(vocab)) if v is not None else -1 for v in values]
    return tuple(vocab), np.array(idx, np.int64)


class RuleEngine:
    def __init__(self, rules: RuleSet, scene=None, min_frames: int = 1, grace_frames: int | None = None,
                 region: str = 'footprint', max_stamp_gap: float = MAX_STAMP_GAP, grace_seconds: float = 0.0):
        """grace_seconds: image time an event outlives its anomaly (grace_frames, deprecated: frames instead,
        where not None; see persistence). Raises RuleFileError when the rules name zones or tripwires the
        scene map lacks."""
        check_places(rules, scene)
        self.rules = rules
        self.scene = scene
        self.region = region
        self.max_stamp_gap = max_stamp_gap
        self.tracking = True          # False: each frame stands alone, min_frames acts as 1
        self.persistence = Persistence(min_frames, grace_frames, grace_seconds)
        self.motion = MotionHistory()
        self.crossings = CrossingDetector()
        self._crossing_log: dict[str, deque] = {}
        self._wire_totals = {name: [0, 0] for name in getattr(scene, 'tripwire_names', ())}
        self._last_stamp: float | None = None
        self._zone_bits_cache: dict[tuple[str, ...], np.uint64] = {}
        self._vocab_luts: dict[tuple, tuple] = {}   # (id(vocabulary), rule's names, negate) -> (vocabulary, lut)
        self._warned: set[str] = set()
        self._needs_motion = any(r.needs_motion for r in rules)

    # ---------------------------------------------------------------- configuration
    @property
    def min_frames(self) -> int:
        return self.persistence.min_frames

    @min_frames.setter
    def min_frames(self, value: int) -> None:
        self.persistence.min_frames = value

    @property
    def grace_frames(self) -> int | None:
        return self.persistence.grace_frames

    @grace_frames.setter
    def grace_frames(self, value: int | None) -> None:
        self.persistence.grace_frames = value

    @property
    def grace_seconds(self) -> float:
        return self.persistence.grace_seconds

    @grace_seconds.setter
    def grace_seconds(self, value: float) -> None:
        self.persistence.grace_seconds = value

    def replace_rules(self, rules: RuleSet) -> None:
        """New rules in force (checked against the scene map first: RuleFileError and the old rules stay).
        Open events and timers of rule ids that remain go on."""
        check_places(rules, self.scene)
        self.rules = rules
        self._needs_motion = any(r.needs_motion for r in rules)
        ids = {r.id for r in rules}
        self._crossing_log = {k: v for k, v in self._crossing_log.items() if k in ids}

    @property
    def has_ignore_masks(self) -> bool:
        return self.scene is not None and bool(self.scene.ignore)

    # ---------------------------------------------------------------- per frame
    def ignored(self, boxes: np.ndarray, width: int, height: int) -> np.ndarray:
        """(N,) bool: the boxes whose ground point lies in an ignore mask of the scene map."""
        boxes = np.asarray(boxes).reshape(-1, 4)
        if not self.has_ignore_masks:
            return np.zeros(len(boxes), bool)
        mask = self.scene.geometry(width, height).ignore_mask
        return geometry.lookup(mask, geometry.ground_points(boxes))

    def evaluate(self, objects: list[ObjectReport], frame_index: int, stamp: float | None,
                 frame_size: tuple[int, int] | None = None, arrays: ObjectArrays | None = None) -> EngineResult:
        """Anomalies to report and event updates for this frame's objects. frame_size (width, height) places
        the scene map's zones and lines; without it (or a scene map) zone and line conditions do not hold.
        arrays: the same objects as arrays, where the caller has them (None = built from the objects)."""
        events = self._check_clock(stamp)
        facts = self._facts(objects, arrays or ObjectArrays.of_reports(objects), stamp, frame_size)
        keyed: list[tuple[int, int, Candidate]] = []
        clocks: dict[str, tuple[int, float]] = {}
        for r, rule in enumerate(self.rules):
            if rule.gates and not all(c.applies(stamp, clocks) for c in rule.gates):
                continue
            if rule.group is not None:
                keyed.extend((len(objects), r, c) for c in self._count_candidates(rule, facts, stamp))
            else:
                keyed.extend((i, r, c) for i, c in self._object_candidates(rule, facts))
        # object by object, each in rule order (groups after the objects): the order of the paper-mode pipeline
        keyed.sort(key=lambda k: (k[0], k[1]))
        step = self.persistence.step(frame_index, stamp, [c for _, _, c in keyed])
        return EngineResult(step.reported, events + step.events, self._overlay(facts, stamp))

    def flush(self) -> list[Event]:
        """End the open events (end of a video)."""
        return self.persistence.flush()

    # ---------------------------------------------------------------- time
    def _check_clock(self, stamp: float | None) -> list[Event]:
        if stamp is None:
            if any(r.needs_stamp for r in self.rules):
                self._warn_once('stamp', 'frames without a stamp: time conditions (dwell times, schedules, speeds, '
                                         'directions, crossing counts) cannot be judged and do not hold')
            return []
        last, self._last_stamp = self._last_stamp, stamp
        if last is None or last <= stamp <= last + self.max_stamp_gap:
            return []
        log.warning(f'image stamps went from {last:.3f} to {stamp:.3f} s ('
                    f"{'backwards' if stamp < last else 'a jump'}): open events end, timers restart")
        self.motion.clear()
        self.crossings.clear()
        self._crossing_log.clear()
        return self.persistence.flush(END_STAMP_JUMP)

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message)

    # ---------------------------------------------------------------- facts
    def _facts(self, objects: list[ObjectReport], a: ObjectArrays, stamp: float | None, frame_size) -> _Facts:
        track_ids = a.track_ids
        geo = self.scene.geometry(*frame_size) if self.scene is not None and frame_size else None
        facts = _Facts(self, objects, a, geo, None, frame_size=frame_size)
        if geo is not None and geo.zone_bits is not None:
            facts.zone_bits = geometry.lookup(geo.zone_bits, facts.ground)
        if self._needs_motion:
            facts.motion = self.motion.update(track_ids, facts.ground, stamp,
                                              geo.to_ground if geo is not None else None)
        if geo is not None and geo.tripwires:
            facts.crossed = self.crossings.update(track_ids, facts.ground, geo.tripwires)
            for k, wire in enumerate(geo.tripwires):
                column = facts.crossed[:, k]
                self._wire_totals[wire.name][0] += int((column > 0).sum())
                self._wire_totals[wire.name][1] += int((column < 0).sum())
        return facts

    def _zone_bits(self, names: tuple[str, ...], geo) -> np.uint64:
        bits = self._zone_bits_cache.get(names)
        if bits is None:
            bits = np.uint64(sum(1 << geo.zone_index(n) for n in names))
            self._zone_bits_cache[names] = bits
        return bits

    # ---------------------------------------------------------------- conditions
    def _object_mask(self, rule: Rule, f: _Facts) -> np.ndarray:
        """(N,) bool: the objects for which every per-object condition of the rule holds (conditions.py). The
        parts that rules share (classes; backgrounds, zones) are computed once per frame."""
        if not f.objects:
            return np.zeros(0, bool)
        a = f.arrays
        m = f.cached(('objects', rule.objects), lambda: self._names_lut(a.class_vocab, rule.objects)[a.class_idx])
        m = m.copy()
        for c in rule.masks:
            m &= f.cached(c, lambda: c.mask(f)) if c.shared else c.mask(f)
        return m

    def _names_lut(self, vocab: tuple[str, ...], names, negate: bool = False) -> np.ndarray:
        """(len(vocab) + 1,) bool: whether each name of the vocabulary is among `names` (the reverse with
        negate), and False at the end (index -1: no name). Kept across frames: the vocabularies stay."""
        key = (id(vocab), names, negate)            # by identity: hashing an 80-name tuple every frame costs more
        entry = self._vocab_luts.get(key)
        if entry is None or entry[0] is not vocab:
            if len(self._vocab_luts) > 256:                 # vocabularies of objects reported by a caller
                self._vocab_luts.clear()
            entry = self._vocab_luts[key] = (vocab, np.array([(v in names) != negate for v in vocab] + [False]))
        return entry[1]

    # ---------------------------------------------------------------- candidates
    def _min_frames(self, rule: Rule) -> int | None:
        return rule.min_frames if self.tracking else 1

    def _object_candidates(self, rule: Rule, f: _Facts) -> list[tuple[int, Candidate]]:
        """(object index, candidate) for the objects the rule holds for."""
        out = []
        for i in np.flatnonzero(self._object_mask(rule, f)).tolist():
            o = f.objects[i]
            score = o.score * (o.background_fraction if rule.scales_score else 1.0) * rule.weight
            anomaly = new_anomaly(o.object_class, o.score, o.background_class or '', o.background_fraction, o.box,
                                  rule.id, rule.severity, o.track_id, score)
            out.append((i, Candidate(anomaly, self._min_frames(rule), rule.dwell, rule.cooldown,
                                     lambda held, rule=rule, i=i: sentences.object_sentence(rule, f, i, held))))
        return out

    def _count_candidates(self, rule: Rule, f: _Facts, stamp: float | None) -> list[Candidate]:
        members = np.flatnonzero(self._object_mask(rule, f)) if f.objects else np.zeros(0, np.int64)
        counted = rule.group.count(f, members, stamp, self._crossing_log, rule.id)
        if counted is None:
            return []
        count, classes, tracks = counted
        name = self._group_class(rule, classes)
        box = self._group_box(rule, f, members)
        score = rule.weight * max((f.objects[i].score for i in members), default=1.0)
        anomaly = Anomaly(name, max((f.objects[i].score for i in members), default=0.0), '', 0.0, box, rule.id,
                          rule.severity, '', 0, 1, score, members=tracks)
        return [Candidate(anomaly, self._min_frames(rule), rule.dwell, rule.cooldown,
                          lambda held, rule=rule, name=name, count=count:
                          sentences.count_sentence(rule, name, count, held))]

    @staticmethod
    def _group_class(rule: Rule, classes: list[str]) -> str:
        distinct = sorted(set(classes)) or sorted(rule.objects)
        return distinct[0] if len(distinct) == 1 else 'object'

    @staticmethod
    def _group_box(rule: Rule, f: _Facts, members: np.ndarray) -> tuple[float, float, float, float]:
        """The box around the members; without members the place the rule counts in (its zone), else 0s."""
        if len(members):
            b = f.arrays.boxes[members]
            return (float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max()))
        for c in rule.conditions:
            box = c.group_box(f)
            if box is not None:
                return box
        return (0.0, 0.0, 0.0, 0.0)

    # ---------------------------------------------------------------- drawing
    def _overlay(self, f: _Facts, stamp: float | None) -> RuleOverlay | None:
        timers = self.persistence.timers(stamp)
        if f.geometry is None and not timers:
            return None
        if timers:
            boxes = {int(t): o.box for t, o in zip(f.arrays.track_ids, f.objects)}
            timers = [t.__class__(t.track_id, t.rule_id, t.held, t.needed, boxes.get(t.track_id)) for t in timers]
        geo = f.geometry
        if geo is None:
            return RuleOverlay(timers=tuple(timers))
        wires = tuple((w.name, w.points, *self._wire_totals.get(w.name, (0, 0))) for w in geo.tripwires)
        return RuleOverlay(tuple(zip(geo.zone_names, geo.zones)), wires, geo.ignore, tuple(timers))
