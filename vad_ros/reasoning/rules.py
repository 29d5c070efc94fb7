"""Rule files: which objects must not be where, when, or how, with a sentence for operators.

    groups:                                  # optional: names for sets of classes
      vehicle: [car, bus, truck, motorcycle]
    rules:
      - id: vehicle-on-sidewalk              # unique
        objects: [vehicle, bicycle]          # detector classes or group names
        forbidden: [sidewalk]                # background classes (segmenter / scene map) or group names
        sentence: vehicles must stay off the sidewalk   # may use {object} {background} {zone} {line} {count}
        severity: critical                   # info | warning | critical (default warning)
        min_score: 0.5                       # optional, on top of score_threshold
        min_fraction: 0.3                    # optional: background must cover this share of the region
        min_frames: 5                        # optional: consecutive frames before an anomaly is raised

Beyond the paper's (objects, forbidden) pair, a rule may use (docs/RULES.md has the whole language):
  allowed: [road]            the object is anomalous on any background but these (instead of forbidden)
  in_zone / not_in_zone      scene-map zone name(s) the ground point is in / in none of
  crossing: line, direction: in | out | any          a scene-map tripwire crossed by the track's ground point
  min_count / max_count (+ window with crossing)     objects at once (in the zone), or crossings in window s
  min_area, max_area (px of the box), min_ratio, max_ratio (width / height)      object filters
  min_speed / max_speed: '1.5 m/s' | '80 px/s' | '5 km/h';  direction: [from, to] degrees | towards Z | away from Z
  min_duration: 10 (s) dwell before raising;  cooldown: 60 (s) before a new event of the same rule and track
  active: ['07:00-19:00'] or {hours, days, timezone}: when the rule applies, by the image stamp

Class names are checked against the vocabularies given to load_rules (the detector's classes; the
segmenter's classes + the scene map's labels). A name that neither the vocabulary nor the reference
vocabulary of that side (COCO objects, ADE20K backgrounds) knows is a RuleFileError naming the file, the
line and the closest known names. A real COCO/ADE20K class that the configured model cannot produce is only
a warning (RuleSet.warnings): e.g. the paper's car rules with the person-only HOG detector. A vocabulary of
None means: do not check that side. Zone and tripwire names are checked against a scene map (load_rules'
`scene`, or check_places when the rules are put in force).
"""
from __future__ import annotations

import difflib
import os
import string
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from vad_ros.errors import VadError
from vad_ros.reasoning.schedule import Schedule, ScheduleError, parse_schedule
from vad_ros.reasoning.vocabulary import ADE20K_CLASSES, COCO_CLASSES
from vad_ros.files import LineStr, key_line as _key_line, line_of as _line, parse_yaml, read_text
from vad_ros.limits import MAX_RULES, bounded_message, excerpt as _q

PAPER_RULES_PATH = Path(__file__).resolve().parents[1] / 'data' / 'rules_paper.yaml'
SEVERITY_WEIGHTS = {'info': 0.5, 'warning': 0.75, 'critical': 1.0}
SENTENCE_FIELDS = ('object', 'background', 'zone', 'line', 'count')
CONDITION_KEYS = ('forbidden', 'allowed', 'in_zone', 'not_in_zone', 'crossing', 'min_count', 'max_count',
                  'min_area', 'max_area', 'min_ratio', 'max_ratio', 'min_speed', 'max_speed', 'direction',
                  'min_duration', 'active')
_RULE_KEYS = ('id', 'objects', 'sentence', 'severity', 'min_score', 'min_fraction', 'min_frames', 'cooldown',
              'window') + CONDITION_KEYS
_REQUIRED_KEYS = ('id', 'objects', 'sentence')
CROSSING_DIRECTIONS = ('in', 'out', 'any')
_DURATION_UNITS = {'ms': 0.001, 's': 1.0, 'sec': 1.0, 'min': 60.0, 'h': 3600.0}
_SPEED_UNITS = {'px/s': ('px/s', 1.0), 'm/s': ('m/s', 1.0), 'km/h': ('m/s', 1 / 3.6)}
EMPTY_WARNING = 'the rule set is empty: nothing will be flagged'
UNCHECKED = _UNCHECKED = object()   # load_rules(scene=...) not given: zone and tripwire names are not checked


class RuleFileError(VadError):
    """A rule file cannot be used; the message names the file, the line and the fix."""


class NotARuleFile(RuleFileError):
    """The path is no rule file at all: missing, unreadable, not YAML, or a document that is not a rule
    set (not a mapping; no 'rules' key beside unknown top-level keys). Callers that answer untrusted parties
    (the node's parameter API) give these one message, so that it tells nothing about other files."""


@dataclass(frozen=True)
class Rule:
    id: str
    objects: frozenset[str]
    forbidden: frozenset[str]
    sentence: str
    severity: str = 'warning'
    min_score: float = 0.0
    min_fraction: float = 0.0
    min_frames: int | None = None    # None: the persistence.min_frames parameter applies
    allowed: frozenset[str] = frozenset()
    in_zone: tuple[str, ...] = ()              # in any of these zones
    not_in_zone: tuple[str, ...] = ()          # in none of these zones
    crossing: str | None = None                # tripwire name
    crossing_direction: str = 'any'            # in | out | any
    min_count: int | None = None
    max_count: int | None = None
    window: float = 0.0                        # s: crossing counts over this window
    min_area: float | None = None              # px of the box
    max_area: float | None = None
    min_ratio: float | None = None             # width / height of the box
    max_ratio: float | None = None
    min_speed: float | None = None             # in speed_unit
    max_speed: float | None = None
    speed_unit: str = 'px/s'                   # px/s | m/s
    heading: tuple[float, float] | None = None   # compass range [from, to], clockwise
    towards: str | None = None                 # zone the object moves towards
    away_from: str | None = None               # zone the object moves away from
    min_duration: float = 0.0                  # s
    cooldown: float = 0.0                      # s
    schedule: Schedule | None = None
    line: int = field(default=0, compare=False)
    key_lines: tuple[tuple[str, int], ...] = field(default=(), compare=False, repr=False)

    def background_ok(self, background: str | None, fraction: float) -> bool:
        """The background part of the rule (forbidden / allowed with min_fraction); True without one."""
        if self.forbidden:
            return background is not None and background in self.forbidden and fraction >= self.min_fraction
        if self.allowed:
            return background is not None and background not in self.allowed and fraction >= self.min_fraction
        return True

    def matches(self, object_class: str, background: str | None, score: float, fraction: float) -> bool:
        """Class, score and background part only (the paper's rules); the rule engine judges the rest."""
        return (background is not None and object_class in self.objects and score >= self.min_score
                and self.background_ok(background, fraction))

    def explain(self, object_class: str, background: str, zone: str = '', line: str = '', count: int = 0) -> str:
        """The rule's sentence with {object}, {background}, {zone}, {line} and {count} filled in."""
        if '{' not in self.sentence:
            return self.sentence
        return self.sentence.format(object=object_class, background=background, zone=zone, line=line,
                                    count=count)

    # Derived facts, asked for per object and frame by the rule engine: computed once per rule (a frozen
    # dataclass: cached_property stores into the instance's __dict__, outside the compared fields).
    @cached_property
    def weight(self) -> float:
        return SEVERITY_WEIGHTS[self.severity]

    @cached_property
    def is_count(self) -> bool:
        return self.min_count is not None or self.max_count is not None

    @cached_property
    def uses_background(self) -> bool:
        return bool(self.forbidden or self.allowed)

    @cached_property
    def uses_motion(self) -> bool:
        return (self.min_speed is not None or self.max_speed is not None or self.heading is not None
                or self.towards is not None or self.away_from is not None)

    @property
    def zones_used(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.in_zone + self.not_in_zone +
                                   tuple(z for z in (self.towards, self.away_from) if z)))

    @property
    def is_paper_rule(self) -> bool:
        """Only the paper's keys: judged exactly as before this language grew."""
        return (not self.allowed and not self.is_count and not self.zones_used and self.crossing is None
                and not self.uses_motion and self.min_duration == 0 and self.schedule is None
                and self.min_area is None and self.max_area is None and self.min_ratio is None
                and self.max_ratio is None)

    def key_line(self, key: str) -> int:
        return dict(self.key_lines).get(key, self.line)


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    source: str
    warnings: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.rules)

    def __iter__(self):
        return iter(self.rules)

    @property
    def is_empty(self) -> bool:
        return not self.rules

    def matching(self, object_class: str, background: str | None, score: float, fraction: float) -> list[Rule]:
        return [r for r in self.rules if r.matches(object_class, background, score, fraction)]


def empty_rules(source: str = '(none)') -> RuleSet:
    return RuleSet((), source, (f'{source}: {EMPTY_WARNING}',))


def _closest(name: str, candidates) -> str:
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=3, cutoff=0.6)
    return f" (closest known: {', '.join(close)})" if close else ''


# ---------------------------------------------------------------- loading
def load_rules(path: str | os.PathLike, object_vocab=None, background_vocab=None, scene=_UNCHECKED) -> RuleSet:
    """Read and check a rule file against the object (detector) and background (segmenter + scene map)
    vocabularies; None = do not check that side. With `scene` (a SceneMap, or None for no scene map) the
    zone and tripwire names and m/s speeds are checked too (check_places). Raises RuleFileError naming the
    file and line."""
    path = str(path)
    text = read_text(path, 'rule file', "set rules_file to an existing YAML file, or to '' for the paper's rules",
                     NotARuleFile)
    return parse_rules(text, path, object_vocab, background_vocab, scene)


class _Parser:
    def __init__(self, source: str, object_vocab, background_vocab):
        self.source = source
        self.vocabs = {'object': (None if object_vocab is None else set(object_vocab), set(COCO_CLASSES)),
                       'background': (None if background_vocab is None else set(background_vocab),
                                      set(ADE20K_CLASSES))}
        self.groups: dict[str, tuple[LineStr, ...]] = {}
        self.warnings: list[str] = []

    def fail(self, line: int, message: str):
        raise RuleFileError(bounded_message(f'{self.source}:{line}: {message}'))

    def warn(self, line: int, message: str) -> None:
        self.warnings.append(bounded_message(f'{self.source}:{line}: {message}'))

    def parse(self, text: str) -> RuleSet:
        doc = parse_yaml(text, self.source, NotARuleFile)
        if doc is None:
            return empty_rules(self.source)
        if not isinstance(doc, dict):
            raise NotARuleFile(f"{self.source}:{_line(doc, 1)}: expected a mapping with a 'rules:' list (and "
                               "optionally 'groups:')")
        for key in doc:
            if key not in ('rules', 'groups'):
                error = RuleFileError if 'rules' in doc else NotARuleFile
                raise error(bounded_message(f"{self.source}:{_line(key, doc.line)}: unknown top-level key "
                                            f"{_q(key)} (expected 'rules' and optionally 'groups')"))
        self.parse_groups(doc)
        raw_rules = doc.get('rules')
        if raw_rules is None:
            raw_rules = []
        if not isinstance(raw_rules, list):
            self.fail(_key_line(doc, 'rules', doc.line), "'rules' must be a list of rules (each a mapping with "
                                                         "id, objects, forbidden, sentence)")
        if len(raw_rules) > MAX_RULES:
            self.fail(_key_line(doc, 'rules', doc.line), f"{len(raw_rules)} rules; at most {MAX_RULES} are allowed "
                                                         f"in one file (vad_ros.limits.MAX_RULES): merge rules that "
                                                         f"differ only in their classes (list several objects or a "
                                                         f"group in one rule)")
        rules: list[Rule] = []
        first_line: dict[str, int] = {}
        for raw in raw_rules:
            rule = self.parse_rule(raw, _line(raw_rules, doc.line))
            line = _key_line(raw, 'id', raw.line)
            if rule.id in first_line:
                self.fail(line, f"duplicate rule id {_q(rule.id)} (first at line {first_line[rule.id]}): ids "
                                f"must be unique")
            first_line[rule.id] = line
            rules.append(rule)
        if not rules:
            self.warnings.append(f'{self.source}: {EMPTY_WARNING}')
        return RuleSet(tuple(rules), self.source, tuple(self.warnings))

    def parse_groups(self, doc: dict) -> None:
        raw = doc.get('groups')
        if raw is None:
            return
        if not isinstance(raw, dict):
            self.fail(_key_line(doc, 'groups', doc.line), "'groups' must map group names to lists of classes, "
                                                          "e.g. 'vehicle: [car, bus]'")
        for name, members in raw.items():
            line = _line(name, raw.line)
            if not isinstance(name, str):
                self.fail(line, f'group name {_q(name)} must be a string')
            if isinstance(members, str):
                members = [members]
            if not isinstance(members, list) or not members or not all(isinstance(m, str) for m in members):
                self.fail(line, f"group {_q(name)} must be a non-empty list of class names")
            for member in members:
                if member in raw:
                    self.fail(_line(member, line), f"group {_q(name)} contains the group {_q(member)}: list its "
                                                   f"classes instead (groups do not nest)")
            self.groups[str(name)] = tuple(members)

    def parse_rule(self, raw, fallback_line: int) -> Rule:
        if not isinstance(raw, dict):
            self.fail(_line(raw, fallback_line), 'each rule must be a mapping with id, objects, forbidden, '
                                                 'sentence')
        line = raw.line
        for key in raw:
            if key not in _RULE_KEYS:
                close = difflib.get_close_matches(str(key), _RULE_KEYS, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else f" (known keys: {', '.join(_RULE_KEYS)})"
                self.fail(_line(key, line), f"unknown rule key {_q(key)}{hint}")
        for key in _REQUIRED_KEYS:
            if key not in raw:
                self.fail(line, f"rule is missing '{key}' (every rule needs {', '.join(_REQUIRED_KEYS)} and a "
                                f"condition such as forbidden)")
        if not any(key in raw for key in CONDITION_KEYS):
            self.fail(line, f"rule is missing 'forbidden' or another condition ({', '.join(CONDITION_KEYS[1:])})")
        rule_id = raw['id']
        if not isinstance(rule_id, str) or not rule_id.strip():
            self.fail(_key_line(raw, 'id', line), f"'id' must be a non-empty string, got {_q(rule_id)}")
        rule_id = str(rule_id).strip()
        objects = self.classes(raw, 'objects', 'object', rule_id)
        forbidden = self.classes(raw, 'forbidden', 'background', rule_id) if 'forbidden' in raw else frozenset()
        allowed = self.classes(raw, 'allowed', 'background', rule_id) if 'allowed' in raw else frozenset()
        if forbidden and allowed:
            both = sorted(forbidden & allowed)
            what = (f"{_q(both[0])} is both allowed and forbidden" if both else
                    "give either 'allowed' or 'forbidden', not both (everything not allowed is already "
                    "forbidden)")
            self.fail(_key_line(raw, 'allowed', line), f"rule {_q(rule_id)}: {what}")
        sentence = self.sentence(raw, rule_id)
        severity = raw.get('severity', 'warning')
        if not isinstance(severity, str) or severity not in SEVERITY_WEIGHTS:
            self.fail(_key_line(raw, 'severity', line), f"rule {_q(rule_id)}: severity {_q(severity)} is not one of "
                                                        f"{', '.join(SEVERITY_WEIGHTS)}")
        fields = dict(
            min_score=float(self.number(raw, 'min_score', 0.0, 0.0, 1.0, rule_id)),
            min_fraction=float(self.number(raw, 'min_fraction', 0.0, 0.0, 1.0, rule_id)),
            min_frames=self.number(raw, 'min_frames', None, 1, 1_000_000, rule_id, integer=True),
            allowed=allowed, min_duration=self.duration(raw, 'min_duration', rule_id),
            cooldown=self.duration(raw, 'cooldown', rule_id), window=self.duration(raw, 'window', rule_id),
            in_zone=self.names(raw, 'in_zone', rule_id), not_in_zone=self.names(raw, 'not_in_zone', rule_id),
            schedule=self.schedule(raw, rule_id), line=line,
            key_lines=tuple((str(k), _line(k, line)) for k in raw))
        fields.update(self.filters(raw, rule_id))
        fields.update(self.counts(raw, rule_id))
        fields.update(self.speeds(raw, rule_id))
        fields.update(self.crossing_and_direction(raw, rule_id))
        self.check_combinations(raw, rule_id, fields)
        return Rule(rule_id, objects, forbidden, sentence, str(severity), **fields)

    # ---------------------------------------------------------------- the newer keys
    def duration(self, raw: dict, key: str, rule_id: str) -> float:
        """Seconds from a number or '<n> ms|s|min|h'."""
        if key not in raw:
            return 0.0
        value = raw[key]
        line = _key_line(raw, key, raw.line)
        seconds = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            seconds = float(value) if abs(value) < 1e300 else float('inf')     # float(10**400) would raise
        elif isinstance(value, str):
            parts = value.replace(' ', '')
            for unit in sorted(_DURATION_UNITS, key=len, reverse=True):
                if parts.endswith(unit):
                    try:
                        seconds = float(parts[:-len(unit)]) * _DURATION_UNITS[unit]
                    except ValueError:
                        pass
                    break
        if seconds is None or not 0 <= seconds <= 7 * 86400 or seconds != seconds:
            self.fail(line, f"rule {_q(rule_id)}: '{key}' must be a duration: seconds (e.g. 10) or a number with "
                            f"ms, s, min or h (e.g. '2 min'), at most a week; got {_q(value)}")
        return seconds

    def names(self, raw: dict, key: str, rule_id: str) -> tuple[str, ...]:
        if key not in raw:
            return ()
        value = raw[key]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
            self.fail(_key_line(raw, key, raw.line), f"rule {_q(rule_id)}: '{key}' must be a zone name or a list "
                                                     f"of zone names, got {_q(value)}")
        return tuple(str(v).strip() for v in value)

    def schedule(self, raw: dict, rule_id: str) -> Schedule | None:
        if 'active' not in raw:
            return None
        try:
            return parse_schedule(raw['active'])
        except ScheduleError as e:
            self.fail(_key_line(raw, 'active', raw.line), f"rule {_q(rule_id)}: 'active': {e}")

    def filters(self, raw: dict, rule_id: str) -> dict:
        out = {}
        for key, hi in (('min_area', 1e9), ('max_area', 1e9), ('min_ratio', 1e3), ('max_ratio', 1e3)):
            value = self.number(raw, key, None, 0, hi, rule_id)
            out[key] = None if value is None else float(value)
        for what in ('area', 'ratio'):
            lo, hi = out[f'min_{what}'], out[f'max_{what}']
            if lo is not None and hi is not None and lo > hi:
                self.fail(_key_line(raw, f'max_{what}', raw.line), f"rule {_q(rule_id)}: min_{what} {lo:g} is "
                                                                   f"above max_{what} {hi:g}: nothing can match")
        return out

    def counts(self, raw: dict, rule_id: str) -> dict:
        lo = self.number(raw, 'min_count', None, 1, 1_000_000, rule_id, integer=True)
        hi = self.number(raw, 'max_count', None, 0, 1_000_000, rule_id, integer=True)
        if lo is not None and hi is not None and lo > hi:
            self.fail(_key_line(raw, 'max_count', raw.line), f"rule {_q(rule_id)}: min_count {lo} is above "
                                                             f"max_count {hi}: the count can never be both")
        return {'min_count': lo, 'max_count': hi}

    def speed(self, raw: dict, key: str, rule_id: str) -> tuple[float, str] | None:
        if key not in raw:
            return None
        value = raw[key]
        line = _key_line(raw, key, raw.line)
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
        self.fail(line, f"rule {_q(rule_id)}: '{key}' must be a speed such as '80 px/s', '1.5 m/s' or '5 km/h', "
                        f"got {_q(value)}{hint}")

    def speeds(self, raw: dict, rule_id: str) -> dict:
        lo, hi = self.speed(raw, 'min_speed', rule_id), self.speed(raw, 'max_speed', rule_id)
        if lo and hi:
            if lo[1] != hi[1]:
                self.fail(_key_line(raw, 'max_speed', raw.line), f"rule {_q(rule_id)}: min_speed is in {lo[1]} and "
                                                                 f"max_speed in {hi[1]}: use one kind of unit")
            if lo[0] > hi[0]:
                self.fail(_key_line(raw, 'max_speed', raw.line), f"rule {_q(rule_id)}: min_speed is above "
                                                                 f"max_speed: nothing can match")
        unit = (lo or hi or (None, 'px/s'))[1]
        return {'min_speed': lo[0] if lo else None, 'max_speed': hi[0] if hi else None, 'speed_unit': unit}

    def crossing_and_direction(self, raw: dict, rule_id: str) -> dict:
        out = {}
        line = _key_line(raw, 'direction', raw.line)
        if 'crossing' in raw:
            name = raw['crossing']
            if not isinstance(name, str) or not name.strip():
                self.fail(_key_line(raw, 'crossing', raw.line), f"rule {_q(rule_id)}: 'crossing' must be a tripwire "
                                                                f"name, got {_q(name)}")
            out['crossing'] = name.strip()
            direction = raw.get('direction', 'any')
            if direction not in CROSSING_DIRECTIONS:
                self.fail(line, f"rule {_q(rule_id)}: with 'crossing', 'direction' is one of in, out, any; got "
                                f"{_q(direction)}")
            out['crossing_direction'] = str(direction)
            return out
        if 'direction' not in raw:
            return out
        value = raw['direction']
        if isinstance(value, str):
            words = value.split()
            if value in CROSSING_DIRECTIONS:
                self.fail(line, f"rule {_q(rule_id)}: direction '{value}' applies to tripwires: add 'crossing: "
                                f"<tripwire>' (for the direction of motion give [from, to] degrees, 'towards "
                                f"<zone>' or 'away from <zone>')")
            if len(words) >= 2 and words[0] == 'towards':
                out['towards'] = ' '.join(words[1:])
                return out
            if len(words) >= 3 and words[:2] == ['away', 'from']:
                out['away_from'] = ' '.join(words[2:])
                return out
        elif (isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) and not
              isinstance(v, bool) and 0 <= v <= 360 for v in value)):
            out['heading'] = (float(value[0]) % 360, float(value[1]) % 360)
            return out
        self.fail(line, f"rule {_q(rule_id)}: 'direction' must be a compass range [from, to] in degrees (0 = up "
                        f"in the image, clockwise), 'towards <zone>' or 'away from <zone>'; got {_q(value)}")

    def check_combinations(self, raw: dict, rule_id: str, f: dict) -> None:
        line = raw.line
        both = set(f['in_zone']) & set(f['not_in_zone'])
        if both:
            self.fail(_key_line(raw, 'not_in_zone', line), f"rule {_q(rule_id)}: zone {_q(sorted(both)[0])} is in both "
                                                           f"in_zone and not_in_zone: nothing can match")
        counting = f['min_count'] is not None or f['max_count'] is not None
        if 'window' in raw and not (counting and f.get('crossing')):
            self.fail(_key_line(raw, 'window', line), f"rule {_q(rule_id)}: 'window' is the time over which "
                                                      f"crossings are counted: it needs 'crossing' and "
                                                      f"'min_count' or 'max_count'")
        if f.get('crossing') and counting and f['window'] <= 0:
            self.fail(_key_line(raw, 'crossing', line), f"rule {_q(rule_id)}: counting crossings needs 'window' "
                                                        f"(seconds over which they are counted, e.g. 60)")
        if f.get('crossing') and f['min_duration'] > 0:
            self.fail(_key_line(raw, 'min_duration', line), f"rule {_q(rule_id)}: a crossing happens in one frame, "
                                                            f"so min_duration cannot be reached (count crossings "
                                                            f"with min_count and window instead)")

    def classes(self, raw: dict, key: str, side: str, rule_id: str) -> frozenset[str]:
        value = raw[key]
        line = _key_line(raw, key, raw.line)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            self.fail(line, f"rule {_q(rule_id)}: '{key}' must be a non-empty list of {side} class names or "
                            f"group names, got {_q(value)}")
        out: set[str] = set()
        for name in value:
            if name in self.groups:
                for member in self.groups[name]:
                    self.check_class(member, side, rule_id, f" in group {_q(name)} (used at line "
                                                            f"{_line(name, line)})")
                    out.add(str(member))
            else:
                self.check_class(name, side, rule_id, '')
                out.add(str(name))
        return frozenset(out)

    def check_class(self, name: str, side: str, rule_id: str, where: str) -> None:
        vocab, reference = self.vocabs[side]
        if vocab is None or name in vocab:
            return
        line = _line(name, 0)
        if name in reference:
            self.warn(line, f"rule {_q(rule_id)}: the configured {side} source cannot produce {_q(name)}, so this "
                            f"part of the rule never fires")
            return
        self.fail(line, f"rule {_q(rule_id)}: unknown {side} class {_q(name)}{where}"
                        f"{_closest(name, vocab | reference | set(self.groups))}")

    def sentence(self, raw: dict, rule_id: str) -> str:
        sentence = raw['sentence']
        line = _key_line(raw, 'sentence', raw.line)
        if not isinstance(sentence, str) or not sentence.strip():
            self.fail(line, f"rule {_q(rule_id)}: 'sentence' must be a non-empty string that explains the rule "
                            f"to an operator, got {_q(sentence)} (quote it if YAML reads it as a number or yes/no)")
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(sentence) if f is not None]
        except ValueError as e:
            self.fail(line, f"rule {_q(rule_id)}: 'sentence' is not a valid template ({e}); write {{{{ and }}}} "
                            f"for literal braces")
        for name in fields:
            if name not in SENTENCE_FIELDS:
                self.fail(line, f"rule {_q(rule_id)}: 'sentence' uses {{{name}}}; only "
                                f"{', '.join('{' + f + '}' for f in SENTENCE_FIELDS)} can be filled in")
        return str(sentence).strip()

    def number(self, raw: dict, key: str, default, lo, hi, rule_id: str, integer: bool = False):
        if key not in raw:
            return default
        value = raw[key]
        ok = isinstance(value, int) if integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok or not lo <= value <= hi:
            kind = 'an integer' if integer else 'a number'
            self.fail(_key_line(raw, key, raw.line), f"rule {_q(rule_id)}: '{key}' must be {kind} between {lo} "
                                                     f"and {hi}, got {_q(value)}")
        return value


def parse_rules(text: str, source: str, object_vocab=None, background_vocab=None, scene=_UNCHECKED) -> RuleSet:
    """Rules from YAML text; `source` names the file in messages. See load_rules."""
    rules = _Parser(source, object_vocab, background_vocab).parse(text)
    if scene is not _UNCHECKED:
        check_places(rules, scene)
    return rules


def check_places(rules: RuleSet, scene) -> None:
    """The zones and tripwires the rules name exist in `scene` (a SceneMap or None), and m/s speeds have a
    ground-plane calibration; RuleFileError (file:line, closest names) otherwise."""
    zones = tuple(getattr(scene, 'zone_names', ()))
    wires = tuple(getattr(scene, 'tripwire_names', ()))
    where = f"scene map '{scene.source}'" if scene is not None and getattr(scene, 'source', '') else 'the scene map'
    for rule in rules:
        motion_zones = tuple(z for z in (rule.towards, rule.away_from) if z)
        for key, names in (('in_zone', rule.in_zone), ('not_in_zone', rule.not_in_zone),
                           ('direction', motion_zones)):
            for name in names:
                if name not in zones:
                    _place_error(rules, rule, key, 'zone', name, zones, where, scene)
        if rule.crossing is not None and rule.crossing not in wires:
            _place_error(rules, rule, 'crossing', 'tripwire', rule.crossing, wires, where, scene)
        if rule.speed_unit == 'm/s' and (rule.min_speed is not None or rule.max_speed is not None) \
                and getattr(scene, 'calibration', None) is None:
            key = 'min_speed' if rule.min_speed is not None else 'max_speed'
            raise RuleFileError(bounded_message(
                f"{rules.source}:{rule.key_line(key)}: rule {_q(rule.id)}: a speed in m/s needs a ground-plane "
                f"calibration in {where} (calibration: >= 4 image points with their ground positions), or give "
                f"the speed in px/s"))


def _place_error(rules: RuleSet, rule: Rule, key: str, kind: str, name: str, known, where: str, scene):
    if scene is None:
        fix = f'set scene_map_file to a scene map with {kind}s'
    elif not known:
        fix = f'{where} has no {kind}s'
    else:
        fix = f"{where} has {', '.join(known)}{_closest(name, known)}"
    raise RuleFileError(bounded_message(f"{rules.source}:{rule.key_line(key)}: rule {_q(rule.id)}: unknown {kind} "
                                        f"{_q(name)} ({fix})"))
