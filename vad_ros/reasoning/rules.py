"""Rule files: which objects must not be on which backgrounds, with a sentence for operators.

    groups:                                  # optional: names for sets of classes
      vehicle: [car, bus, truck, motorcycle]
    rules:
      - id: vehicle-on-sidewalk              # unique
        objects: [vehicle, bicycle]          # detector classes or group names
        forbidden: [sidewalk]                # background classes (segmenter / scene map) or group names
        sentence: vehicles must stay off the sidewalk
        severity: critical                   # info | warning | critical (default warning)
        min_score: 0.5                       # optional, on top of score_threshold
        min_fraction: 0.3                    # optional: background must cover this share of the region
        min_frames: 5                        # optional: consecutive frames before an anomaly is raised

Class names are checked against the vocabularies of the configured models: a name that no model and no
reference vocabulary (COCO, ADE20K, the scene map's labels) knows is an error naming the file, the line and
the closest known names; a real class that the configured models cannot produce is a warning.
"""
from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from vad_ros.reasoning.vocabulary import ADE20K_CLASSES, COCO_CLASSES

PAPER_RULES_PATH = Path(__file__).resolve().parents[1] / 'data' / 'rules_paper.yaml'
SEVERITY_WEIGHTS = {'info': 0.5, 'warning': 0.75, 'critical': 1.0}
_RULE_KEYS = {'id', 'objects', 'forbidden', 'sentence', 'severity', 'min_score', 'min_fraction', 'min_frames'}


class RuleFileError(ValueError):
    """A rule file cannot be used; the message names the file, the line and the fix."""


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

    def matches(self, object_class: str, background: str | None, score: float, fraction: float) -> bool:
        return (background is not None and object_class in self.objects and background in self.forbidden
                and score >= self.min_score and fraction >= self.min_fraction)


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    source: str
    warnings: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.rules)

    def __iter__(self):
        return iter(self.rules)

    def matching(self, object_class: str, background: str | None, score: float, fraction: float) -> list[Rule]:
        return [r for r in self.rules if r.matches(object_class, background, score, fraction)]


def empty_rules(source: str = '(none)') -> RuleSet:
    return RuleSet((), source, ('the rule set is empty: nothing will be flagged',))


# ---------------------------------------------------------------- YAML with line numbers
class _Str(str):
    line = 0


class _Dict(dict):
    line = 0


class _Loader(yaml.SafeLoader):
    pass


def _construct_str(loader, node):
    s = _Str(loader.construct_scalar(node))
    s.line = node.start_mark.line + 1
    return s


def _construct_map(loader, node):
    loader.flatten_mapping(node)
    keys = [loader.construct_object(k) for k, _ in node.value]
    dupes = {k for k in keys if keys.count(k) > 1}
    if dupes:
        raise yaml.constructor.ConstructorError(None, None, f'duplicate key {sorted(dupes)[0]!r}',
                                                node.start_mark)
    d = _Dict(loader.construct_mapping(node, deep=True))
    d.line = node.start_mark.line + 1
    return d


_Loader.add_constructor('tag:yaml.org,2002:str', _construct_str)
_Loader.add_constructor('tag:yaml.org,2002:map', _construct_map)


def _line(value, fallback: int) -> int:
    return getattr(value, 'line', 0) or fallback


# ---------------------------------------------------------------- loading
def load_rules(path: str | os.PathLike, object_vocab=None, background_vocab=None) -> RuleSet:
    """Read and check a rule file. Vocabularies None = do not check that side."""
    path = str(path)
    if not os.path.isfile(path):
        raise RuleFileError(f"rule file '{path}' does not exist (set rules_file to an existing YAML file, or "
                            f"to '' for the paper's rules)")
    with open(path, encoding='utf-8') as f:
        text = f.read()
    return parse_rules(text, path, object_vocab, background_vocab)


def parse_rules(text: str, source: str, object_vocab=None, background_vocab=None) -> RuleSet:
    def fail(line: int, message: str):
        raise RuleFileError(f'{source}:{line}: {message}')

    try:
        doc = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, 'problem_mark', None) or getattr(e, 'context_mark', None)
        line = mark.line + 1 if mark else 0
        problem = getattr(e, 'problem', None) or str(e)
        fail(line, f'not valid YAML: {problem}')
    if doc is None:
        return empty_rules(source)
    if not isinstance(doc, dict):
        fail(1, "expected a mapping with a 'rules:' list (and optionally 'groups:')")
    unknown_top = set(doc) - {'rules', 'groups'}
    if unknown_top:
        key = sorted(unknown_top)[0]
        fail(_line(key, doc.line), f"unknown top-level key '{key}' (expected 'rules' and optionally 'groups')")

    groups: dict[str, frozenset[str]] = {}
    raw_groups = doc.get('groups') or {}
    if not isinstance(raw_groups, dict):
        fail(_line(raw_groups, doc.line), "'groups' must map group names to lists of classes")
    for name, members in raw_groups.items():
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members) or not members:
            fail(_line(name, doc.line), f"group '{name}' must be a non-empty list of class names")
        groups[str(name)] = frozenset(str(m) for m in members)

    raw_rules = doc.get('rules')
    if raw_rules is None:
        raw_rules = []
    if not isinstance(raw_rules, list):
        fail(doc.line, "'rules' must be a list of rules")
    known_objects = set(object_vocab or ()) | set(COCO_CLASSES)
    known_backgrounds = set(background_vocab or ()) | set(ADE20K_CLASSES)
    warnings: list[str] = []
    rules: list[Rule] = []
    seen_ids: dict[str, int] = {}
    for raw in raw_rules:
        line = _line(raw, doc.line)
        if not isinstance(raw, dict):
            fail(line, 'each rule must be a mapping with id, objects, forbidden, sentence')
        extra = set(raw) - _RULE_KEYS
        if extra:
            key = sorted(extra)[0]
            close = difflib.get_close_matches(key, _RULE_KEYS, n=1)
            fail(_line(key, line), f"unknown rule key '{key}'" + (f" (did you mean '{close[0]}'?)" if close else ''))
        for key in ('id', 'objects', 'forbidden', 'sentence'):
            if key not in raw:
                fail(line, f"rule is missing '{key}'")
        rule_id = raw['id']
        if not isinstance(rule_id, str) or not rule_id:
            fail(line, "'id' must be a non-empty string")
        if rule_id in seen_ids:
            fail(_line(rule_id, line), f"duplicate rule id '{rule_id}' (first at line {seen_ids[rule_id]})")
        seen_ids[rule_id] = _line(rule_id, line)

        def classes(key: str, vocab, known: set[str], what: str) -> frozenset[str]:
            value = raw[key]
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
                fail(_line(value, line), f"rule '{rule_id}': '{key}' must be a non-empty list of class names")
            out: set[str] = set()
            for name in value:
                if name in groups:
                    members = groups[name]
                else:
                    members = frozenset([str(name)])
                for member in members:
                    if member not in known and member not in groups:
                        candidates = sorted(known | set(groups))
                        close = difflib.get_close_matches(member, candidates, n=3, cutoff=0.6)
                        hint = f"; closest known: {', '.join(close)}" if close else ''
                        fail(_line(name, line), f"rule '{rule_id}': unknown {what} class '{member}'{hint}")
                    if vocab is not None and member not in vocab:
                        warnings.append(f"{source}:{_line(name, line)}: rule '{rule_id}': the configured "
                                        f"{what} source cannot produce '{member}', so that part never fires")
                out |= members
            return frozenset(out)

        objects = classes('objects', object_vocab, known_objects, 'object')
        forbidden = classes('forbidden', background_vocab, known_backgrounds, 'background')
        sentence = raw['sentence']
        if not isinstance(sentence, str) or not sentence.strip():
            fail(_line(sentence, line), f"rule '{rule_id}': 'sentence' must be a non-empty string")
        severity = raw.get('severity', 'warning')
        if severity not in SEVERITY_WEIGHTS:
            fail(_line(severity, line), f"rule '{rule_id}': severity '{severity}' is not one of "
                                        f"{', '.join(SEVERITY_WEIGHTS)}")

        def number(key: str, default, lo: float, hi: float, integer: bool = False):
            value = raw.get(key, default)
            ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
            if value is default:
                return value
            if isinstance(value, bool) or not ok_type or not lo <= value <= hi:
                kind = 'an integer' if integer else 'a number'
                fail(line, f"rule '{rule_id}': '{key}' must be {kind} between {lo} and {hi}, got {value!r}")
            return value

        rules.append(Rule(
            id=str(rule_id), objects=objects, forbidden=forbidden, sentence=str(sentence).strip(),
            severity=str(severity), min_score=float(number('min_score', 0.0, 0.0, 1.0)),
            min_fraction=float(number('min_fraction', 0.0, 0.0, 1.0)),
            min_frames=number('min_frames', None, 1, 1_000_000, integer=True)))
    if not rules:
        warnings.append(f'{source}: the rule set is empty: nothing will be flagged')
    return RuleSet(tuple(rules), source, tuple(warnings))


class RuleFileWatcher:
    """Holds the rules of one file and re-reads it when it changes on disk (mtime or size).

    The constructor raises RuleFileError for a bad file (unless given the rules in force); poll() returns the new RuleSet after a change, None
    when nothing changed, and raises RuleFileError for a bad new version (the caller keeps its rules)."""

    def __init__(self, path: str | os.PathLike, object_vocab=None, background_vocab=None,
                 current: RuleSet | None = None):
        """current: the rules in force when the file is known to be broken; it is then read at its next change."""
        self.path = str(path)
        self._vocabs = (object_vocab, background_vocab)
        self.current = current if current is not None else load_rules(self.path, *self._vocabs)
        self._stamp = self._file_stamp()

    def _file_stamp(self):
        try:
            st = os.stat(self.path)
            return st.st_mtime_ns, st.st_size
        except OSError:
            return None

    def poll(self) -> RuleSet | None:
        stamp = self._file_stamp()
        if stamp == self._stamp:
            return None
        self._stamp = stamp
        rules = load_rules(self.path, *self._vocabs)
        self.current = rules
        return rules
