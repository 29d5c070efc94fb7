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
every object at once (numpy masks), count rules on the group; persistence (min_frames, min_duration, grace,
cooldown) decides what is reported and updates the events. Rules without a stamp: time conditions
(min_duration, schedules, speeds, crossing counts over a window) do not hold.

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
from vad_ros.reasoning.schedule import local_time
from vad_ros.reasoning.tripwires import CrossingDetector
from vad_ros.types import END_STAMP_JUMP, Anomaly, Event, ObjectReport, RuleOverlay, new_anomaly

log = logging.getLogger('vad_ros.rules')
MIN_APPROACH = 3.0            # px over the motion window: moving towards / away from a zone


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
    """This frame's objects as arrays (N objects)."""
    objects: list[ObjectReport]
    boxes: np.ndarray                  # (N, 4)
    scores: np.ndarray
    fractions: np.ndarray
    track_ids: np.ndarray
    class_vocab: tuple[str, ...]
    class_idx: np.ndarray              # into class_vocab
    bg_vocab: tuple[str, ...]
    bg_idx: np.ndarray                 # into bg_vocab, -1 = no background
    geometry: object | None            # SceneGeometry
    zone_bits: np.ndarray | None       # (N,) uint64
    motion: Motion | None = None
    crossed: np.ndarray | None = None  # (N, tripwires) int8
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
    def ground(self) -> np.ndarray:
        """(N, 2) ground points (bottom centres of the boxes), computed when a rule needs them."""
        if self._ground is None:
            self._ground = geometry.ground_points(self.boxes) if len(self.boxes) else np.zeros((0, 2))
        return self._ground

    @property
    def area(self) -> np.ndarray:
        if self._area is None:
            w = np.maximum(self.boxes[:, 2] - self.boxes[:, 0], 0)
            h = np.maximum(self.boxes[:, 3] - self.boxes[:, 1], 0)
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
        ids = {r.id for r in rules}
        self._crossing_log = {k: v for k, v in self._crossing_log.items() if k in ids}

    @property
    def needs_tracks(self) -> bool:
        return any(r.crossing or r.uses_motion for r in self.rules)

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
            if rule.schedule is not None and not self._active(rule, stamp, clocks):
                continue
            if rule.is_count:
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
            if any(r.min_duration > 0 or r.schedule is not None or r.uses_motion or r.window > 0
                   for r in self.rules):
                self._warn_once('stamp', 'frames without a stamp: time conditions (min_duration, active, speeds, '
                                         'crossing counts) cannot be judged and do not hold')
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

    @staticmethod
    def _active(rule: Rule, stamp: float | None, clocks: dict) -> bool:
        if stamp is None:
            return False
        tz = rule.schedule.timezone
        if tz not in clocks:
            clocks[tz] = local_time(stamp, tz)
        return rule.schedule.active_at(*clocks[tz])

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message)

    # ---------------------------------------------------------------- facts
    def _facts(self, objects: list[ObjectReport], a: ObjectArrays, stamp: float | None, frame_size) -> _Facts:
        track_ids = a.track_ids
        geo = self.scene.geometry(*frame_size) if self.scene is not None and frame_size else None
        facts = _Facts(objects, a.boxes, a.scores, a.fractions, track_ids, a.class_vocab, a.class_idx,
                       a.bg_vocab, a.bg_idx, geo, None)
        if geo is not None and geo.zone_bits is not None:
            facts.zone_bits = geometry.lookup(geo.zone_bits, facts.ground)
        if any(r.uses_motion for r in self.rules):
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
        """(N,) bool: the objects for which every per-object condition of the rule holds. The parts that rules
        share (classes, backgrounds, zones) are computed once per frame."""
        if not f.objects:
            return np.zeros(0, bool)
        m = f.cached(('objects', rule.objects), lambda: self._names_lut(f.class_vocab, rule.objects)[f.class_idx])
        m = m.copy()
        if rule.min_score > 0:
            m &= f.scores >= rule.min_score
        if rule.uses_background:
            m &= f.cached(('background', rule.forbidden, rule.allowed, rule.min_fraction),
                          lambda: self._background(rule, f))
        if rule.min_area is not None or rule.max_area is not None or rule.min_ratio is not None \
                or rule.max_ratio is not None:
            m &= self._filters(rule, f)
        if rule.in_zone or rule.not_in_zone:
            m &= f.cached(('zones', rule.in_zone, rule.not_in_zone), lambda: self._zones(rule, f))
        if rule.uses_motion:
            m &= self._moving(rule, f)
        if rule.crossing:
            m &= self._crossing(rule, f) != 0
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

    def _background(self, rule: Rule, f: _Facts) -> np.ndarray:
        lut = self._names_lut(f.bg_vocab, rule.forbidden or rule.allowed, negate=not rule.forbidden)
        m = lut[f.bg_idx]
        if rule.min_fraction > 0:
            m &= f.fractions >= rule.min_fraction
        return m

    @staticmethod
    def _filters(rule: Rule, f: _Facts) -> np.ndarray:
        area, ratio = f.area[:, 0], f.area[:, 1]
        m = np.ones(len(area), bool)
        for value, lo, hi in ((area, rule.min_area, rule.max_area), (ratio, rule.min_ratio, rule.max_ratio)):
            if lo is not None:
                m &= value >= lo
            if hi is not None:
                m &= value <= hi
        return m

    def _zones(self, rule: Rule, f: _Facts) -> np.ndarray:
        if f.zone_bits is None:
            return np.zeros(len(f.objects), bool)
        m = np.ones(len(f.objects), bool)
        if rule.in_zone:
            m &= (f.zone_bits & self._zone_bits(rule.in_zone, f.geometry)) != 0
        if rule.not_in_zone:
            m &= (f.zone_bits & self._zone_bits(rule.not_in_zone, f.geometry)) == 0
        return m

    def _moving(self, rule: Rule, f: _Facts) -> np.ndarray:
        motion = f.motion
        speed = motion.speed_m if rule.speed_unit == 'm/s' else motion.speed_px
        with np.errstate(invalid='ignore'):
            m = np.ones(len(f.objects), bool)
            if rule.min_speed is not None:
                m &= speed >= rule.min_speed
            if rule.max_speed is not None:
                m &= speed <= rule.max_speed
            if rule.heading is not None:
                lo, hi = rule.heading
                h = motion.heading
                m &= ((h >= lo) & (h <= hi)) if lo <= hi else ((h >= lo) | (h <= hi))
            for zone, sign in ((rule.towards, 1.0), (rule.away_from, -1.0)):
                if zone:
                    if f.geometry is None:
                        return np.zeros(len(f.objects), bool)
                    c = f.geometry.zone_centroid(zone)
                    before = np.hypot(*(motion.start - c).T)
                    now = np.hypot(*(f.ground - c).T)
                    m &= sign * (before - now) >= MIN_APPROACH
        return m

    def _crossing(self, rule: Rule, f: _Facts) -> np.ndarray:
        if f.crossed is None:
            return np.zeros(len(f.objects), np.int8)
        column = f.crossed[:, [w.name for w in f.geometry.tripwires].index(rule.crossing)]
        if rule.crossing_direction == 'in':
            return np.where(column > 0, column, 0)
        if rule.crossing_direction == 'out':
            return np.where(column < 0, column, 0)
        return column

    # ---------------------------------------------------------------- candidates
    def _min_frames(self, rule: Rule) -> int | None:
        return rule.min_frames if self.tracking else 1

    def _object_candidates(self, rule: Rule, f: _Facts) -> list[tuple[int, Candidate]]:
        """(object index, candidate) for the objects the rule holds for."""
        out = []
        for i in np.flatnonzero(self._object_mask(rule, f)).tolist():
            o = f.objects[i]
            score = o.score * (o.background_fraction if rule.uses_background else 1.0) * rule.weight
            anomaly = new_anomaly(o.object_class, o.score, o.background_class or '', o.background_fraction, o.box,
                                  rule.id, rule.severity, o.track_id, score)
            out.append((i, Candidate(anomaly, self._min_frames(rule), rule.min_duration, rule.cooldown,
                                     lambda held, rule=rule, i=i: sentences.object_sentence(
                                         rule, self._why(rule, f, i), held))))
        return out

    def _why(self, rule: Rule, f: _Facts, i: int) -> sentences.Why:
        o = f.objects[i]
        zone = ''
        if rule.in_zone and f.zone_bits is not None:
            zone = next(z for z in rule.in_zone if int(f.zone_bits[i]) >> f.geometry.zone_index(z) & 1)
        speed = heading = None
        if f.motion is not None:
            speed = float((f.motion.speed_m if rule.speed_unit == 'm/s' else f.motion.speed_px)[i])
            heading = float(f.motion.heading[i])
        crossed = int(self._crossing(rule, f)[i]) if rule.crossing else 0
        area = f.area[i] if rule.min_area is not None or rule.max_area is not None or rule.min_ratio is not None \
            or rule.max_ratio is not None else (0.0, 0.0)
        return sentences.Why(o.object_class, o.score, o.background_class, o.background_fraction, self.region,
                             zone, speed, heading, crossed, float(area[0]), float(area[1]))

    def _count_candidates(self, rule: Rule, f: _Facts, stamp: float | None) -> list[Candidate]:
        members = np.flatnonzero(self._object_mask(rule, f)) if f.objects else np.zeros(0, np.int64)
        if rule.crossing:
            if stamp is None:
                return []
            window = self._crossing_log.setdefault(rule.id, deque())
            window.extend((stamp, int(f.track_ids[i]), f.objects[i].object_class) for i in members)
            while window and window[0][0] <= stamp - rule.window:
                window.popleft()
            count = len(window)
            classes = [c for _, _, c in window]
            tracks = tuple(dict.fromkeys(t for _, t, _ in window))
        else:
            count = len(members)
            classes = [f.objects[i].object_class for i in members]
            tracks = tuple(int(f.track_ids[i]) for i in members)
        if (rule.min_count is not None and count < rule.min_count) or \
                (rule.max_count is not None and count > rule.max_count):
            return []
        name = self._group_class(rule, classes)
        zone = rule.in_zone[0] if rule.in_zone else ''
        box = self._group_box(rule, f, members)
        score = rule.weight * max((f.objects[i].score for i in members), default=1.0)
        anomaly = Anomaly(name, max((f.objects[i].score for i in members), default=0.0), '', 0.0, box, rule.id,
                          rule.severity, '', 0, 1, score, members=tracks)
        return [Candidate(anomaly, self._min_frames(rule), rule.min_duration, rule.cooldown,
                          lambda held, rule=rule, name=name, count=count, zone=zone:
                          sentences.count_sentence(rule, name, count, zone, held))]

    @staticmethod
    def _group_class(rule: Rule, classes: list[str]) -> str:
        distinct = sorted(set(classes)) or sorted(rule.objects)
        return distinct[0] if len(distinct) == 1 else 'object'

    @staticmethod
    def _group_box(rule: Rule, f: _Facts, members: np.ndarray) -> tuple[float, float, float, float]:
        if len(members):
            b = f.boxes[members]
            return (float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max()))
        if rule.in_zone and f.geometry is not None:
            p = f.geometry.zones[f.geometry.zone_index(rule.in_zone[0])]
            return (float(p[:, 0].min()), float(p[:, 1].min()), float(p[:, 0].max()), float(p[:, 1].max()))
        return (0.0, 0.0, 0.0, 0.0)

    # ---------------------------------------------------------------- drawing
    def _overlay(self, f: _Facts, stamp: float | None) -> RuleOverlay | None:
        timers = self.persistence.timers(stamp)
        if f.geometry is None and not timers:
            return None
        if timers:
            boxes = {int(t): o.box for t, o in zip(f.track_ids, f.objects)}
            timers = [t.__class__(t.track_id, t.rule_id, t.held, t.needed, boxes.get(t.track_id)) for t in timers]
        geo = f.geometry
        if geo is None:
            return RuleOverlay(timers=tuple(timers))
        wires = tuple((w.name, w.points, *self._wire_totals.get(w.name, (0, 0))) for w in geo.tripwires)
        return RuleOverlay(tuple(zip(geo.zone_names, geo.zones)), wires, geo.ignore, tuple(timers))
