"""Rule files: which objects must not be where, when, or how, with a sentence for operators.

    groups:                                  # optional: names for sets of classes
      vehicle: [car, bus, truck, motorcycle]
    rules:
      - id: vehicle-on-sidewalk              # unique
        objects: [vehicle, bicycle]          # detector classes or group names
        sentence: vehicles must stay off the sidewalk   # may use {object} {background} {zone} {line} {count}
        severity: critical                   # info | warning | critical (default warning)
        min_frames: 5                        # optional: consecutive frames before an anomaly is raised
        cooldown: 60                         # optional: s before a new event of the same rule and object
        ...                                  # and at least one condition

This module reads a rule's own keys (above); every other key is a condition, parsed, judged and explained by
its class in vad_ros/reasoning/conditions.py (docs/RULES.md has the whole language).

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
from typing import TypeVar

from vad_ros.errors import VadError
from vad_ros.reasoning.conditions import CONDITIONS, Backgrounds, Condition, Count, Zones, condition_keys, main_keys
from vad_ros.vocabulary import ADE20K_CLASSES, COCO_CLASSES
from vad_ros.files import LineStr, key_line as _key_line, line_of as _line, parse_yaml, read_text
from vad_ros.limits import MAX_RULES, bounded_message, excerpt as _q

PAPER_RULES_PATH = Path(__file__).resolve().parents[1] / 'data' / 'rules_paper.yaml'
SEVERITY_WEIGHTS = {'info': 0.5, 'warning': 0.75, 'critical': 1.0}
SENTENCE_FIELDS = ('object', 'background', 'zone', 'line', 'count')
RULE_OWN_KEYS = ('id', 'objects', 'sentence', 'severity', 'min_frames', 'cooldown')   # the rest: conditions.py
CONDITION_KEYS = main_keys()
_RULE_KEYS = RULE_OWN_KEYS + condition_keys()
_REQUIRED_KEYS = ('id', 'objects', 'sentence')
_DURATION_UNITS = {'ms': 0.001, 's': 1.0, 'sec': 1.0, 'min': 60.0, 'h': 3600.0}
EMPTY_WARNING = 'the rule set is empty: nothing will be flagged'
CANNOT_PRODUCE = 'the configured {side} source cannot produce'   # a real class the model lacks (a warning)
UNCHECKED = _UNCHECKED = object()   # load_rules(scene=...) not given: zone and tripwire names are not checked
C = TypeVar('C', bound=Condition)


class RuleFileError(VadError):
    """A rule file cannot be used; the message names the file, the line and the fix."""


class NotARuleFile(RuleFileError):
    """The path is no rule file at all: missing, unreadable, not YAML, or a document that is not a rule
    set (not a mapping; no 'rules' key beside unknown top-level keys). Callers that answer untrusted parties
    (the node's parameter API) give these one message, so that it tells nothing about other files."""


@dataclass(frozen=True)
class Rule:
    """A rule: which objects, its sentence and severity, its persistence options and its conditions (one object
    per condition the rule uses, in the order of vad_ros/reasoning/conditions.py; all must hold at once)."""
    id: str
    objects: frozenset[str]
    sentence: str
    severity: str = 'warning'
    min_frames: int | None = None    # None: the persistence.min_frames parameter applies
    cooldown: float = 0.0            # s before a new event of the same rule and object
    conditions: tuple[Condition, ...] = ()
    line: int = field(default=0, compare=False)
    key_lines: tuple[tuple[str, int], ...] = field(default=(), compare=False, repr=False)

    def explain(self, object_class: str, background: str, zone: str = '', line: str = '', count: int = 0) -> str:
        """The rule's sentence with {object}, {background}, {zone}, {line} and {count} filled in."""
        if '{' not in self.sentence:
            return self.sentence
        return self.sentence.format(object=object_class, background=background, zone=zone, line=line,
                                    count=count)

    def condition(self, kind: type[C]) -> C | None:
        """The rule's condition of this class, None if it has none."""
        return next((c for c in self.conditions if type(c) is kind), None)

    # Derived facts, asked for per frame by the rule engine: computed once per rule (a frozen dataclass:
    # cached_property stores into the instance's __dict__, outside the compared fields).
    @cached_property
    def weight(self) -> float:
        return SEVERITY_WEIGHTS[self.severity]

    @cached_property
    def group(self) -> Count | None:
        """The count condition that makes this a group rule (one anomaly for the objects counted), or None."""
        return self.condition(Count)

    @cached_property
    def masks(self) -> tuple[Condition, ...]:
        """The conditions with a per-object part."""
        return tuple(c for c in self.conditions if type(c).mask is not Condition.mask)

    @cached_property
    def gates(self) -> tuple[Condition, ...]:
        """The conditions that switch the whole rule on and off by the stamp (schedules)."""
        return tuple(c for c in self.conditions if type(c).applies is not Condition.applies)

    @cached_property
    def described(self) -> tuple[Condition, ...]:
        """The conditions that add clauses about the object to the sentence."""
        return tuple(c for c in self.conditions if type(c).clauses is not Condition.clauses)

    @cached_property
    def timed(self) -> tuple[Condition, ...]:
        """The conditions that add clauses about time to the sentence."""
        return tuple(c for c in self.conditions if type(c).time_clauses is not Condition.time_clauses)

    @cached_property
    def scales_score(self) -> bool:
        return any(c.scales_score for c in self.conditions)

    @cached_property
    def needs_motion(self) -> bool:
        return any(c.needs_motion for c in self.conditions)

    @cached_property
    def needs_stamp(self) -> bool:
        return any(c.needs_stamp for c in self.conditions)

    @cached_property
    def dwell(self) -> float:
        """Seconds the rule must hold for an object before it is raised."""
        return max((c.dwell for c in self.conditions), default=0.0)

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


def empty_rules(source: str = '(none)') -> RuleSet:
    return RuleSet((), source, (f'{source}: {EMPTY_WARNING}',))


def _closest(name: str, candidates) -> str:
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=3, cutoff=0.6)
    return f" (closest known: {', '.join(close)})" if close else ''


def _known_here(name: str, known) -> str:
    """Suggestions for an unknown name from the names in use here (the configured models' and scene map's, and
    the groups), never from a reference vocabulary that nothing configured produces; a short list in full when
    none is close."""
    known = set(known)
    close = _closest(name, known)
    if close or not known:
        return close or ' (none is known here)'
    return f" (known here: {', '.join(sorted(known))})" if len(known) <= 12 else ''


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
    def __init__(self, source: str, object_vocab, background_vocab, scene=None):
        self.source = source
        self.zone_names = set(getattr(scene, 'zone_names', ()))     # for "that is a zone, not a background class"
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
            self.fail(_key_line(doc, 'rules', doc.line), f"'rules' must be a list of rules (each a mapping with "
                                                         f"id, objects, {CONDITION_KEYS[0]}, sentence)")
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
            self.fail(_line(raw, fallback_line), f'each rule must be a mapping with id, objects, '
                                                 f'{CONDITION_KEYS[0]}, sentence')
        line = raw.line
        for key in raw:
            if key not in _RULE_KEYS:
                close = difflib.get_close_matches(str(key), _RULE_KEYS, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else f" (known keys: {', '.join(_RULE_KEYS)})"
                self.fail(_line(key, line), f"unknown rule key {_q(key)}{hint}")
        for key in _REQUIRED_KEYS:
            if key not in raw:
                self.fail(line, f"rule is missing '{key}' (every rule needs {', '.join(_REQUIRED_KEYS)} and a "
                                f"condition such as {CONDITION_KEYS[0]})")
        if not any(key in raw for key in CONDITION_KEYS):
            self.fail(line, f"rule is missing '{CONDITION_KEYS[0]}' or another condition "
                            f"({', '.join(CONDITION_KEYS[1:])})")
        rule_id = raw['id']
        if not isinstance(rule_id, str) or not rule_id.strip():
            self.fail(_key_line(raw, 'id', line), f"'id' must be a non-empty string, got {_q(rule_id)}")
        self.rule_id = rule_id = str(rule_id).strip()
        objects = self.classes(raw, 'objects', 'object')
        sentence = self.sentence(raw, rule_id)
        severity = raw.get('severity', 'warning')
        if not isinstance(severity, str) or severity not in SEVERITY_WEIGHTS:
            self.fail(_key_line(raw, 'severity', line), f"rule {_q(rule_id)}: severity {_q(severity)} is not one of "
                                                        f"{', '.join(SEVERITY_WEIGHTS)}")
        min_frames = self.number(raw, 'min_frames', None, 1, 1_000_000, integer=True)
        cooldown = self.duration(raw, 'cooldown')
        conditions = tuple(c for c in (kind.parse(raw, self) for kind in CONDITIONS) if c is not None)
        return Rule(rule_id, objects, sentence, str(severity), min_frames, cooldown, conditions, line,
                    tuple((str(k), _line(k, line)) for k in raw))

    # ---------------------------------------------------------------- values (also for conditions.py)
    def duration(self, raw: dict, key: str) -> float:
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
            self.fail(line, f"rule {_q(self.rule_id)}: '{key}' must be a duration: seconds (e.g. 10) or a number with "
                            f"ms, s, min or h (e.g. '2 min'), at most a week; got {_q(value)}")
        return seconds

    def classes(self, raw: dict, key: str, side: str) -> frozenset[str]:
        value = raw[key]
        line = _key_line(raw, key, raw.line)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            self.fail(line, f"rule {_q(self.rule_id)}: '{key}' must be a non-empty list of {side} class names or "
                            f"group names, got {_q(value)}")
        out: set[str] = set()
        for name in value:
            if name in self.groups:
                for member in self.groups[name]:
                    self.check_class(member, side, self.rule_id, f" in group {_q(name)} (used at line "
                                                            f"{_line(name, line)})")
                    out.add(str(member))
            else:
                self.check_class(name, side, self.rule_id, '')
                out.add(str(name))
        return frozenset(out)

    def check_class(self, name: str, side: str, rule_id: str, where: str) -> None:
        vocab, reference = self.vocabs[side]
        if vocab is None or name in vocab:
            return
        line = _line(name, 0)
        if name in reference:
            self.warn(line, f"rule {_q(rule_id)}: {CANNOT_PRODUCE.format(side=side)} {_q(name)}, so this part of "
                            f"the rule never fires")
            return
        zone = (f"; {_q(name)} is a zone of the scene map, which a rule names with {' / '.join(Zones.keys)}: "
                f"{side} classes are the labels of its regions (or the segmenter's classes)"
                if side == 'background' and name in self.zone_names else '')
        self.fail(line, f"rule {_q(rule_id)}: unknown {side} class {_q(name)}{where}"
                        f"{_known_here(name, vocab | set(self.groups))}{zone}")

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

    def number(self, raw: dict, key: str, default, lo, hi, integer: bool = False):
        if key not in raw:
            return default
        value = raw[key]
        ok = isinstance(value, int) if integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok or not lo <= value <= hi:
            kind = 'an integer' if integer else 'a number'
            self.fail(_key_line(raw, key, raw.line), f"rule {_q(self.rule_id)}: '{key}' must be {kind} between {lo} "
                                                     f"and {hi}, got {_q(value)}")
        return value


def parse_rules(text: str, source: str, object_vocab=None, background_vocab=None, scene=_UNCHECKED) -> RuleSet:
    """Rules from YAML text; `source` names the file in messages. See load_rules."""
    rules = _Parser(source, object_vocab, background_vocab, None if scene is _UNCHECKED else scene).parse(text)
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
        for condition in rule.conditions:
            for key, kind, name in condition.places():
                known = zones if kind == 'zone' else wires
                if name not in known:
                    _place_error(rules, rule, key, kind, name, known, where, scene)
        for condition in rule.conditions:
            key = condition.calibration_key()
            if key is not None and getattr(scene, 'calibration', None) is None:
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
    if kind == 'zone' and name in getattr(scene, 'labels', ()):
        fix += (f"; {_q(name)} is a region label there (a background class: {' / '.join(Backgrounds.main_keys)}); a "
                f"zone is a shape of its own, under zones:")
    raise RuleFileError(bounded_message(f"{rules.source}:{rule.key_line(key)}: rule {_q(rule.id)}: unknown {kind} "
                                        f"{_q(name)} ({fix})"))
