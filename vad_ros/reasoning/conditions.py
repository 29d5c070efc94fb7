"""Rule conditions: one class per condition of the rule language, the one home of its keys.

Each class owns, for its keys (docs/RULES.md, "Every rule key", has one line per class; a test checks both
ways): parsing and checking them (file:line errors through the rule parser), the mask of the objects of a frame
for which it holds (numpy over the engine's arrays), and what it adds to an anomaly's sentence. A rule holds
the conditions it uses, in the order of CONDITIONS, which is also the order of the sentence's clauses.

A new condition is one class here (listed in CONDITIONS, at the end) plus its line in docs/RULES.md.

The hooks, all optional but `parse`:
  parse(raw, p)            the condition from the rule's YAML mapping, or None when the rule does not use it;
                           p is the rule parser (p.fail, p.number, p.duration, p.classes, p.rule_id)
  mask(f)                  (N,) bool over the frame's objects (f: engine._Facts); None: no per-object part
  applies(stamp, clocks)   False: the whole rule is off at this stamp (schedules)
  clauses(f, i, fields)    what object i showed, for its sentence; may set fields['zone'] / ['line'] for the
                           rule's own sentence ({zone}, {line})
  time_clauses(held)       after the object clauses (held: seconds the rule has held)
  group_fields(), group_box(f), describe_group(...)   for count rules (one anomaly for a group)
  places()                 (key, 'zone' | 'tripwire', name) the scene map must have; calibration_key()
  never_fires(backgrounds, names)  why the rule can never fire with these background classes (vad-check)
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from vad_ros.files import key_line
from vad_ros.limits import excerpt as _q
from vad_ros.reasoning.schedule import Schedule, ScheduleError, local_time, parse_schedule
from vad_ros.reasoning.sentences import limits, plural

CROSSING_DIRECTIONS = ('in', 'out', 'any')
DIRECTION_WORDS = {1: 'inward', -1: 'outward'}
MIN_APPROACH = 3.0            # px over the motion window: moving towards / away from a zone
_SPEED_UNITS = {'px/s': ('px/s', 1.0), 'm/s': ('m/s', 1.0), 'km/h': ('m/s', 1 / 3.6)}


def _key_line(raw, key: str) -> int:
    return key_line(raw, key, raw.line)


class Condition:
    """Base of the rule conditions (frozen dataclasses: equal conditions of two rules share a frame's mask)."""
    keys: ClassVar[tuple[str, ...]] = ()   # the rule keys it reads
    main_keys: ClassVar[tuple[str, ...] | None] = None   # those that make a rule on their own (None: all keys;
                                                         # a filter such as min_score makes none)
    shared: ClassVar[bool] = False         # its mask is computed once per frame for all rules that have it
    needs_motion: ClassVar[bool] = False   # needs the tracks' motion (speeds, headings)
    needs_stamp: ClassVar[bool] = False    # a time condition: never holds in frames without a stamp
    scales_score: ClassVar[bool] = False   # the anomaly's score is multiplied by the background fraction
    dwell: float = 0.0                     # seconds the rule must hold before it is raised

    @classmethod
    def parse(cls, raw: dict, p) -> 'Condition | None':
        raise NotImplementedError

    def mask(self, f) -> np.ndarray | None:
        return None

    def applies(self, stamp: float | None, clocks: dict) -> bool:
        return True

    def clauses(self, f, i: int, fields: dict) -> list[str]:
        return []

    def time_clauses(self, held: float) -> list[str]:
        return []

    def group_fields(self) -> dict:
        return {}

    def group_box(self, f):
        return None

    def places(self):
        return ()

    def calibration_key(self) -> str | None:
        return None

    def never_fires(self, backgrounds: set[str], names) -> str | None:
        return None


def condition_keys() -> tuple[str, ...]:
    """The keys of every condition, in the order of CONDITIONS."""
    return tuple(k for c in CONDITIONS for k in c.keys)


def main_keys() -> tuple[str, ...]:
    """The keys any one of which makes a rule (a rule needs a condition, not only filters)."""
    return tuple(k for c in CONDITIONS for k in (c.keys if c.main_keys is None else c.main_keys))


# ---------------------------------------------------------------- filters on the object itself
@dataclass(frozen=True)
class MinScore(Condition):
    """min_score: the detector's score at least this (on top of the score_threshold parameter)."""
    keys: ClassVar = ('min_score',)
    main_keys: ClassVar = ()
    value: float

    @classmethod
    def parse(cls, raw, p):
        value = float(p.number(raw, 'min_score', 0.0, 0.0, 1.0))
        return cls(value) if value > 0 else None

    def mask(self, f):
        return f.arrays.scores >= self.value


@dataclass(frozen=True)
class EdgeMargin(Condition):
    """edge_margin: the box keeps this many pixels from every edge of the frame (objects cut off by the frame
    edge, often misclassified or half-seen, are not judged). Without a frame size it does not hold."""
    keys: ClassVar = ('edge_margin',)
    main_keys: ClassVar = ()
    pixels: float

    @classmethod
    def parse(cls, raw, p):
        value = p.number(raw, 'edge_margin', None, 0, 10_000)
        return None if value is None else cls(float(value))

    def mask(self, f):
        if f.frame_size is None:
            return np.zeros(len(f.arrays.boxes), bool)
        width, height = f.frame_size
        b, m = f.arrays.boxes, self.pixels
        return (b[:, 0] >= m) & (b[:, 1] >= m) & (b[:, 2] <= width - m) & (b[:, 3] <= height - m)


# ---------------------------------------------------------------- places
@dataclass(frozen=True)
class Backgrounds(Condition):
    """forbidden / allowed (+ min_fraction): the background under the object."""
    keys: ClassVar = ('forbidden', 'allowed', 'min_fraction')
    main_keys: ClassVar = ('forbidden', 'allowed')
    shared: ClassVar = True
    scales_score: ClassVar = True
    forbidden: frozenset[str]
    allowed: frozenset[str]
    min_fraction: float = 0.0

    @classmethod
    def parse(cls, raw, p):
        forbidden = p.classes(raw, 'forbidden', 'background') if 'forbidden' in raw else frozenset()
        allowed = p.classes(raw, 'allowed', 'background') if 'allowed' in raw else frozenset()
        if forbidden and allowed:
            both = sorted(forbidden & allowed)
            what = (f"{_q(both[0])} is both allowed and forbidden" if both else
                    "give either 'allowed' or 'forbidden', not both (everything not allowed is already "
                    "forbidden)")
            p.fail(_key_line(raw, 'allowed'), f"rule {_q(p.rule_id)}: {what}")
        fraction = float(p.number(raw, 'min_fraction', 0.0, 0.0, 1.0))
        return cls(forbidden, allowed, fraction) if forbidden or allowed else None

    def mask(self, f):
        a = f.arrays
        m = f.names_lut(a.bg_vocab, self.forbidden or self.allowed, negate=not self.forbidden)[a.bg_idx]
        if self.min_fraction > 0:
            m &= f.arrays.fractions >= self.min_fraction
        return m

    def clauses(self, f, i, fields):
        o = f.objects[i]
        text = f'on {o.background_class} ({o.background_fraction * 100:.0f}% of {f.region})'
        if self.allowed:
            text = text[:-1] + f'; allowed only on {", ".join(sorted(self.allowed))})'
        return [text]

    def never_fires(self, backgrounds, names):
        if not backgrounds:
            key = 'forbidden' if self.forbidden else 'allowed'
            return (f"its '{key}' backgrounds need a background source, and there is none (set scene_map_file, or "
                    'segmenter.backend)')
        if self.forbidden and not self.forbidden & backgrounds:
            return f'no background source produces any of its forbidden backgrounds ({names(sorted(self.forbidden))})'
        if self.allowed and backgrounds <= self.allowed:
            return f'every background that can be produced ({names(sorted(backgrounds))}) is allowed'
        return None


@dataclass(frozen=True)
class Zones(Condition):
    """in_zone (any of) / not_in_zone (none of): scene-map zones the ground point is in."""
    keys: ClassVar = ('in_zone', 'not_in_zone')
    shared: ClassVar = True
    inside: tuple[str, ...]
    outside: tuple[str, ...]

    @classmethod
    def parse(cls, raw, p):
        inside, outside = cls._names(raw, 'in_zone', p), cls._names(raw, 'not_in_zone', p)
        both = set(inside) & set(outside)
        if both:
            p.fail(_key_line(raw, 'not_in_zone'), f"rule {_q(p.rule_id)}: zone {_q(sorted(both)[0])} is in both "
                                                  f"in_zone and not_in_zone: nothing can match")
        return cls(inside, outside) if inside or outside else None

    @staticmethod
    def _names(raw, key: str, p) -> tuple[str, ...]:
        if key not in raw:
            return ()
        value = raw[key]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
            p.fail(_key_line(raw, key), f"rule {_q(p.rule_id)}: '{key}' must be a zone name or a list of zone "
                                        f"names, got {_q(value)}")
        return tuple(str(v).strip() for v in value)

    def mask(self, f):
        if f.zone_bits is None:
            return np.zeros(len(f.objects), bool)
        m = np.ones(len(f.objects), bool)
        if self.inside:
            m &= (f.zone_bits & f.zone_bits_of(self.inside)) != 0
        if self.outside:
            m &= (f.zone_bits & f.zone_bits_of(self.outside)) == 0
        return m

    def clauses(self, f, i, fields):
        out = []
        if self.inside:
            zone = '' if f.zone_bits is None else next(
                z for z in self.inside if int(f.zone_bits[i]) >> f.geometry.zone_index(z) & 1)
            fields['zone'] = zone
            out.append(f'in {zone}')
        if self.outside:
            out.append(f'outside {", ".join(self.outside)}')
        return out

    def group_fields(self):
        return {'zone': self.inside[0] if self.inside else ''}

    def group_box(self, f):
        if not self.inside or f.geometry is None:
            return None
        p = f.geometry.zones[f.geometry.zone_index(self.inside[0])]
        return (float(p[:, 0].min()), float(p[:, 1].min()), float(p[:, 0].max()), float(p[:, 1].max()))

    def places(self):
        return tuple(('in_zone', 'zone', n) for n in self.inside) + \
            tuple(('not_in_zone', 'zone', n) for n in self.outside)


@dataclass(frozen=True)
class Crossing(Condition):
    """crossing (+ direction in | out | any): the track's ground point crossed a scene-map tripwire this frame."""
    keys: ClassVar = ('crossing',)
    line: str
    direction: str = 'any'

    @classmethod
    def parse(cls, raw, p):
        if 'crossing' not in raw:
            return None
        name = raw['crossing']
        if not isinstance(name, str) or not name.strip():
            p.fail(_key_line(raw, 'crossing'), f"rule {_q(p.rule_id)}: 'crossing' must be a tripwire name, got "
                                               f"{_q(name)}")
        direction = raw.get('direction', 'any')
        if direction not in CROSSING_DIRECTIONS:
            p.fail(_key_line(raw, 'direction'), f"rule {_q(p.rule_id)}: with 'crossing', 'direction' is one of in, "
                                                f"out, any; got {_q(direction)}")
        return cls(name.strip(), str(direction))

    def crossed(self, f) -> np.ndarray:
        """(N,) int8: +1 crossed in, -1 out (in the rule's direction), 0 not."""
        if f.crossed is None:
            return np.zeros(len(f.objects), np.int8)
        column = f.crossed[:, [w.name for w in f.geometry.tripwires].index(self.line)]
        if self.direction == 'in':
            return np.where(column > 0, column, 0)
        if self.direction == 'out':
            return np.where(column < 0, column, 0)
        return column

    def mask(self, f):
        return self.crossed(f) != 0

    def clauses(self, f, i, fields):
        fields['line'] = self.line
        return [f'crossed {self.line} {DIRECTION_WORDS.get(int(self.crossed(f)[i]), "")}'.rstrip()]

    def group_fields(self):
        return {'line': self.line}

    def group_phrase(self) -> str:
        """'crossed gate_line inward' (of a count of crossings)."""
        word = DIRECTION_WORDS.get({'in': 1, 'out': -1}.get(self.direction, 0))
        return f'crossed {self.line} {word}' if word else f'crossed {self.line}'


    def places(self):
        return (('crossing', 'tripwire', self.line),)


# ---------------------------------------------------------------- groups
@dataclass(frozen=True)
class Count(Condition):
    """min_count / max_count: objects meeting the other conditions at once; with crossing, crossings in the
    last `window` seconds. Makes the rule a group rule: one anomaly for the group."""
    keys: ClassVar = ('min_count', 'max_count', 'window')
    main_keys: ClassVar = ('min_count', 'max_count')
    low: int | None
    high: int | None
    window: float = 0.0                        # s; > 0: counts crossings (a crossing rule)

    @classmethod
    def parse(cls, raw, p):
        lo = p.number(raw, 'min_count', None, 1, 1_000_000, integer=True)
        hi = p.number(raw, 'max_count', None, 0, 1_000_000, integer=True)
        if lo is not None and hi is not None and lo > hi:
            p.fail(_key_line(raw, 'max_count'), f"rule {_q(p.rule_id)}: min_count {lo} is above max_count {hi}: the "
                                                f"count can never be both")
        counting, crossing = lo is not None or hi is not None, 'crossing' in raw
        window = p.duration(raw, 'window')
        if 'window' in raw and not (counting and crossing):
            p.fail(_key_line(raw, 'window'), f"rule {_q(p.rule_id)}: 'window' is the time over which crossings are "
                                             f"counted: it needs 'crossing' and 'min_count' or 'max_count'")
        if crossing and counting and window <= 0:
            p.fail(_key_line(raw, 'crossing'), f"rule {_q(p.rule_id)}: counting crossings needs 'window' (seconds "
                                               f"over which they are counted, e.g. 60)")
        return cls(lo, hi, window) if counting else None

    @property
    def needs_stamp(self) -> bool:
        return self.window > 0

    def count(self, f, members: np.ndarray, stamp: float | None, log: dict, rule_id: str):
        """(count, classes, track ids) of the group, or None when the count is outside the bounds (or a window
        cannot be judged without a stamp). log: the engine's crossing windows, per rule id."""
        if self.window > 0:
            if stamp is None:
                return None
            window = log.setdefault(rule_id, deque())
            window.extend((stamp, int(f.arrays.track_ids[i]), f.objects[i].object_class) for i in members)
            while window and window[0][0] <= stamp - self.window:
                window.popleft()
            count = len(window)
            classes = [c for _, _, c in window]
            tracks = tuple(dict.fromkeys(t for _, t, _ in window))
        else:
            count = len(members)
            classes = [f.objects[i].object_class for i in members]
            tracks = tuple(int(f.arrays.track_ids[i]) for i in members)
        if (self.low is not None and count < self.low) or (self.high is not None and count > self.high):
            return None
        return count, classes, tracks

    def describe_group(self, rule, object_class: str, count: int, zone: str) -> str:
        """'6 people in loading_bay at once (min 5)', '3 people crossed gate_line inward in the last 60 s (min 3)'."""
        bounds = limits(self.low, self.high, str)
        crossing = rule.condition(Crossing)
        if crossing is not None:
            return (f'{count} {plural(object_class, count)} {crossing.group_phrase()} in the last {self.window:g} s '
                    f'{bounds}')
        where = f'in {zone}' if zone else 'in view'
        return f'{count} {plural(object_class, count)} {where} at once {bounds}'


# ---------------------------------------------------------------- motion
def _bound(value: float, unit: str) -> str:
    return f'{value:.1f} {unit}' if unit == 'm/s' else f'{value:.0f} {unit}'


@dataclass(frozen=True)
class Speed(Condition):
    """min_speed / max_speed: '80 px/s', '1.5 m/s', '5 km/h' (m/s and km/h need a ground-plane calibration)."""
    keys: ClassVar = ('min_speed', 'max_speed')
    needs_motion: ClassVar = True
    needs_stamp: ClassVar = True
    low: float | None
    high: float | None
    unit: str = 'px/s'                         # px/s | m/s

    @classmethod
    def parse(cls, raw, p):
        lo, hi = cls._speed(raw, 'min_speed', p), cls._speed(raw, 'max_speed', p)
        if lo and hi:
            if lo[1] != hi[1]:
                p.fail(_key_line(raw, 'max_speed'), f"rule {_q(p.rule_id)}: min_speed is in {lo[1]} and max_speed in "
                                                    f"{hi[1]}: use one kind of unit")
            if lo[0] > hi[0]:
                p.fail(_key_line(raw, 'max_speed'), f"rule {_q(p.rule_id)}: min_speed is above max_speed: nothing can "
                                                    f"match")
        if not lo and not hi:
            return None
        return cls(lo[0] if lo else None, hi[0] if hi else None, (lo or hi)[1])

    @staticmethod
    def _speed(raw, key: str, p) -> tuple[float, str] | None:
        if key not in raw:
            return None
        value = raw[key]
        if isinstance(value, str):
            text = value.replace(' ', '').lower()
            for unit, (canonical, factor) in _SPEED_UNITS.items():
                if text.endswith(unit):
                    try:
                        number = float(text[:-len(unit)])
                    except ValueError:
                        break
                    if 0 <= number < 1e6:
                        return number * factor, canonical
                    break
        hint = (" (a speed needs a unit: '80 px/s', or '1.5 m/s' / '5 km/h' with a calibrated scene map)"
                if isinstance(value, (int, float)) and not isinstance(value, bool) else '')
        p.fail(_key_line(raw, key), f"rule {_q(p.rule_id)}: '{key}' must be a speed such as '80 px/s', '1.5 m/s' or "
                                    f"'5 km/h', got {_q(value)}{hint}")

    def _speeds(self, f) -> np.ndarray:
        return f.motion.speed_m if self.unit == 'm/s' else f.motion.speed_px

    def mask(self, f):
        speed = self._speeds(f)
        with np.errstate(invalid='ignore'):
            m = np.ones(len(f.objects), bool)
            if self.low is not None:
                m &= speed >= self.low
            if self.high is not None:
                m &= speed <= self.high
        return m

    def clauses(self, f, i, fields):
        return [f'at {_bound(float(self._speeds(f)[i]), self.unit)} '
                f'{limits(self.low, self.high, lambda v: _bound(v, self.unit))}']

    def calibration_key(self):
        if self.unit != 'm/s':
            return None
        return 'min_speed' if self.low is not None else 'max_speed'


@dataclass(frozen=True)
class Direction(Condition):
    """direction (without crossing): a compass range [from, to] of the motion, 'towards <zone>' or 'away from
    <zone>'."""
    keys: ClassVar = ('direction',)
    needs_motion: ClassVar = True
    needs_stamp: ClassVar = True
    heading: tuple[float, float] | None = None   # compass range [from, to], clockwise
    zone: str | None = None                      # the zone it moves towards (sign 1) or away from (sign -1)
    sign: float = 1.0

    @classmethod
    def parse(cls, raw, p):
        if 'crossing' in raw or 'direction' not in raw:          # with crossing: Crossing reads 'direction'
            return None
        value, line = raw['direction'], _key_line(raw, 'direction')
        if isinstance(value, str):
            words = value.split()
            if value in CROSSING_DIRECTIONS:
                p.fail(line, f"rule {_q(p.rule_id)}: direction '{value}' applies to tripwires: add 'crossing: "
                             f"<tripwire>' (for the direction of motion give [from, to] degrees, 'towards <zone>' or "
                             f"'away from <zone>')")
            if len(words) >= 2 and words[0] == 'towards':
                return cls(zone=' '.join(words[1:]), sign=1.0)
            if len(words) >= 3 and words[:2] == ['away', 'from']:
                return cls(zone=' '.join(words[2:]), sign=-1.0)
        elif (isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) and not
              isinstance(v, bool) and 0 <= v <= 360 for v in value)):
            return cls(heading=(float(value[0]) % 360, float(value[1]) % 360))
        p.fail(line, f"rule {_q(p.rule_id)}: 'direction' must be a compass range [from, to] in degrees (0 = up in "
                     f"the image, clockwise), 'towards <zone>' or 'away from <zone>'; got {_q(value)}")

    def mask(self, f):
        motion = f.motion
        with np.errstate(invalid='ignore'):
            if self.heading is not None:
                lo, hi = self.heading
                h = motion.heading
                return ((h >= lo) & (h <= hi)) if lo <= hi else ((h >= lo) | (h <= hi))
            if f.geometry is None:
                return np.zeros(len(f.objects), bool)
            c = f.geometry.zone_centroid(self.zone)
            before = np.hypot(*(motion.start - c).T)
            now = np.hypot(*(f.ground - c).T)
            return self.sign * (before - now) >= MIN_APPROACH

    def clauses(self, f, i, fields):
        if self.heading is not None:
            return [f'heading {float(f.motion.heading[i]):.0f} deg ({self.heading[0]:g}-{self.heading[1]:g} deg)']
        return [f"moving {'towards' if self.sign > 0 else 'away from'} {self.zone}"]

    def places(self):
        return (('direction', 'zone', self.zone),) if self.zone else ()


# ---------------------------------------------------------------- the box
@dataclass(frozen=True)
class BoxSize(Condition):
    """min_area / max_area (px of the box), min_ratio / max_ratio (width / height)."""
    keys: ClassVar = ('min_area', 'max_area', 'min_ratio', 'max_ratio')
    min_area: float | None
    max_area: float | None
    min_ratio: float | None
    max_ratio: float | None

    @classmethod
    def parse(cls, raw, p):
        out = {}
        for key, hi in (('min_area', 1e9), ('max_area', 1e9), ('min_ratio', 1e3), ('max_ratio', 1e3)):
            value = p.number(raw, key, None, 0, hi)
            out[key] = None if value is None else float(value)
        for what in ('area', 'ratio'):
            lo, hi = out[f'min_{what}'], out[f'max_{what}']
            if lo is not None and hi is not None and lo > hi:
                p.fail(_key_line(raw, f'max_{what}'), f"rule {_q(p.rule_id)}: min_{what} {lo:g} is above "
                                                      f"max_{what} {hi:g}: nothing can match")
        return cls(**out) if any(v is not None for v in out.values()) else None

    def mask(self, f):
        area, ratio = f.area[:, 0], f.area[:, 1]
        m = np.ones(len(area), bool)
        for value, lo, hi in ((area, self.min_area, self.max_area), (ratio, self.min_ratio, self.max_ratio)):
            if lo is not None:
                m &= value >= lo
            if hi is not None:
                m &= value <= hi
        return m

    def clauses(self, f, i, fields):
        area, ratio = float(f.area[i, 0]), float(f.area[i, 1])
        out = []
        if self.min_area is not None or self.max_area is not None:
            out.append(f'box {area:.0f} px {limits(self.min_area, self.max_area, lambda v: f"{v:g}")}')
        if self.min_ratio is not None or self.max_ratio is not None:
            out.append(f'width/height {ratio:.2f} {limits(self.min_ratio, self.max_ratio, lambda v: f"{v:g}")}')
        return out


# ---------------------------------------------------------------- time
@dataclass(frozen=True)
class Dwell(Condition):
    """min_duration: the rule holds this long for the object before the anomaly is raised."""
    keys: ClassVar = ('min_duration',)
    needs_stamp: ClassVar = True
    dwell: float

    @classmethod
    def parse(cls, raw, p):
        seconds = p.duration(raw, 'min_duration')
        if 'crossing' in raw and seconds > 0:
            p.fail(_key_line(raw, 'min_duration'), f"rule {_q(p.rule_id)}: a crossing happens in one frame, so "
                                                   f"min_duration cannot be reached (count crossings with min_count "
                                                   f"and window instead)")
        return cls(seconds) if seconds > 0 else None

    def time_clauses(self, held):
        return [f'for {held:.1f} s (min {self.dwell:g} s)']


@dataclass(frozen=True)
class Active(Condition):
    """active: the schedule (hours, days, time zone) in which the rule applies, by the image stamp."""
    keys: ClassVar = ('active',)
    needs_stamp: ClassVar = True
    schedule: Schedule

    @classmethod
    def parse(cls, raw, p):
        if 'active' not in raw:
            return None
        try:
            return cls(parse_schedule(raw['active']))
        except ScheduleError as e:
            p.fail(_key_line(raw, 'active'), f"rule {_q(p.rule_id)}: 'active': {e}")

    def applies(self, stamp, clocks):
        if stamp is None:
            return False
        tz = self.schedule.timezone
        if tz not in clocks:
            clocks[tz] = local_time(stamp, tz)
        return self.schedule.active_at(*clocks[tz])

    def time_clauses(self, held):
        return [f'during {self.schedule.text}']


# every condition, in the order of the sentence's clauses (and of the keys in messages)
CONDITIONS: tuple[type[Condition], ...] = (MinScore, EdgeMargin, Backgrounds, Zones, Crossing, Count, Speed, Direction,
                                           BoxSize, Dwell, Active)
