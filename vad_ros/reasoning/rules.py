"""Rule files: which objects must not be on which backgrounds, with a sentence for operators.

    groups:                                  # optional: names for sets of classes
      vehicle: [car, bus, truck, motorcycle]
    rules:
      - id: vehicle-on-sidewalk              # unique
        objects: [vehicle, bicycle]          # detector classes or group names
        forbidden: [sidewalk]                # background classes (segmenter / scene map) or group names
        sentence: vehicles must stay off the sidewalk   # may use {object} and {background}
        severity: critical                   # info | warning | critical (default warning)
        min_score: 0.5                       # optional, on top of score_threshold
        min_fraction: 0.3                    # optional: background must cover this share of the region
        min_frames: 5                        # optional: consecutive frames before an anomaly is raised

Class names are checked against the vocabularies given to load_rules (the detector's classes; the
segmenter's classes + the scene map's labels). A name that neither the vocabulary nor the reference
vocabulary of that side (COCO objects, ADE20K backgrounds) knows is a RuleFileError naming the file, the
line and the closest known names. A real COCO/ADE20K class that the configured model cannot produce is only
a warning (RuleSet.warnings): e.g. the paper's car rules with the person-only HOG detector. A vocabulary of
None means: do not check that side.
"""
from __future__ import annotations

import difflib
import os
import string
from dataclasses import dataclass
from pathlib import Path

import yaml

from vad_ros.reasoning.vocabulary import ADE20K_CLASSES, COCO_CLASSES
from vad_ros.files import read_text

PAPER_RULES_PATH = Path(__file__).resolve().parents[1] / 'data' / 'rules_paper.yaml'
SEVERITY_WEIGHTS = {'info': 0.5, 'warning': 0.75, 'critical': 1.0}
SENTENCE_FIELDS = ('object', 'background')
_RULE_KEYS = ('id', 'objects', 'forbidden', 'sentence', 'severity', 'min_score', 'min_fraction', 'min_frames')
_REQUIRED_KEYS = ('id', 'objects', 'forbidden', 'sentence')
EMPTY_WARNING = 'the rule set is empty: nothing will be flagged'


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

    def explain(self, object_class: str, background: str) -> str:
        """The rule's sentence with {object} and {background} filled in."""
        if '{' not in self.sentence:
            return self.sentence
        return self.sentence.format(object=object_class, background=background)

    @property
    def weight(self) -> float:
        return SEVERITY_WEIGHTS[self.severity]


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


# ---------------------------------------------------------------- YAML with line numbers
class _Str(str):
    line = 0


class _Dict(dict):
    line = 0


class _List(list):
    line = 0


class _Loader(yaml.SafeLoader):
    """SafeLoader whose strings, mappings and lists remember their line (1-based); duplicate keys fail."""


def _construct_str(loader, node):
    s = _Str(loader.construct_scalar(node))
    s.line = node.start_mark.line + 1
    return s


def _construct_map(loader, node):
    loader.flatten_mapping(node)
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f'duplicate key {key!r}', key_node.start_mark)
        seen.add(key)
    d = _Dict(loader.construct_mapping(node, deep=True))
    d.line = node.start_mark.line + 1
    return d


def _construct_seq(loader, node):
    seq = _List(loader.construct_sequence(node, deep=True))
    seq.line = node.start_mark.line + 1
    return seq


_Loader.add_constructor('tag:yaml.org,2002:str', _construct_str)
_Loader.add_constructor('tag:yaml.org,2002:map', _construct_map)
_Loader.add_constructor('tag:yaml.org,2002:seq', _construct_seq)


def _line(value, fallback: int) -> int:
    return getattr(value, 'line', 0) or fallback


def _key_line(mapping: dict, key: str, fallback: int) -> int:
    """Line of `key` in a mapping read by _Loader (numbers and booleans do not keep their own line)."""
    for k in mapping:
        if k == key:
            return _line(k, fallback)
    return fallback


def _closest(name: str, candidates) -> str:
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=3, cutoff=0.6)
    return f" (closest known: {', '.join(close)})" if close else ''


# ---------------------------------------------------------------- loading
def load_rules(path: str | os.PathLike, object_vocab=None, background_vocab=None) -> RuleSet:
    """Read and check a rule file against the object (detector) and background (segmenter + scene map)
    vocabularies; None = do not check that side. Raises RuleFileError naming the file and line."""
    path = str(path)
    text = read_text(path, 'rule file', "set rules_file to an existing YAML file, or to '' for the paper's rules",
                     RuleFileError)
    return parse_rules(text, path, object_vocab, background_vocab)


class _Parser:
    def __init__(self, source: str, object_vocab, background_vocab):
        self.source = source
        self.vocabs = {'object': (None if object_vocab is None else set(object_vocab), set(COCO_CLASSES)),
                       'background': (None if background_vocab is None else set(background_vocab),
                                      set(ADE20K_CLASSES))}
        self.groups: dict[str, tuple[_Str, ...]] = {}
        self.warnings: list[str] = []

    def fail(self, line: int, message: str):
        raise RuleFileError(f'{self.source}:{line}: {message}')

    def warn(self, line: int, message: str) -> None:
        self.warnings.append(f'{self.source}:{line}: {message}')

    def parse(self, text: str) -> RuleSet:
        try:
            doc = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as e:
            mark = getattr(e, 'problem_mark', None) or getattr(e, 'context_mark', None)
            problem = getattr(e, 'problem', None) or str(e)
            self.fail(mark.line + 1 if mark else 1, f'not valid YAML: {problem}')
        if doc is None:
            return empty_rules(self.source)
        if not isinstance(doc, dict):
            self.fail(_line(doc, 1), "expected a mapping with a 'rules:' list (and optionally 'groups:')")
        for key in doc:
            if key not in ('rules', 'groups'):
                self.fail(_line(key, doc.line), f"unknown top-level key '{key}' (expected 'rules' and "
                                                f"optionally 'groups')")
        self.parse_groups(doc)
        raw_rules = doc.get('rules')
        if raw_rules is None:
            raw_rules = []
        if not isinstance(raw_rules, list):
            self.fail(_key_line(doc, 'rules', doc.line), "'rules' must be a list of rules (each a mapping with "
                                                         "id, objects, forbidden, sentence)")
        rules: list[Rule] = []
        first_line: dict[str, int] = {}
        for raw in raw_rules:
            rule = self.parse_rule(raw, _line(raw_rules, doc.line))
            line = _key_line(raw, 'id', raw.line)
            if rule.id in first_line:
                self.fail(line, f"duplicate rule id '{rule.id}' (first at line {first_line[rule.id]}): ids "
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
                self.fail(line, f'group name {name!r} must be a string')
            if isinstance(members, str):
                members = [members]
            if not isinstance(members, list) or not members or not all(isinstance(m, str) for m in members):
                self.fail(line, f"group '{name}' must be a non-empty list of class names")
            for member in members:
                if member in raw:
                    self.fail(_line(member, line), f"group '{name}' contains the group '{member}': list its "
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
                self.fail(_line(key, line), f"unknown rule key '{key}'{hint}")
        for key in _REQUIRED_KEYS:
            if key not in raw:
                self.fail(line, f"rule is missing '{key}' (every rule needs {', '.join(_REQUIRED_KEYS)})")
        rule_id = raw['id']
        if not isinstance(rule_id, str) or not rule_id.strip():
            self.fail(_key_line(raw, 'id', line), f"'id' must be a non-empty string, got {rule_id!r}")
        rule_id = str(rule_id).strip()
        objects = self.classes(raw, 'objects', 'object', rule_id)
        forbidden = self.classes(raw, 'forbidden', 'background', rule_id)
        sentence = self.sentence(raw, rule_id)
        severity = raw.get('severity', 'warning')
        if severity not in SEVERITY_WEIGHTS:
            self.fail(_key_line(raw, 'severity', line), f"rule '{rule_id}': severity {severity!r} is not one of "
                                                        f"{', '.join(SEVERITY_WEIGHTS)}")
        return Rule(rule_id, objects, forbidden, sentence, str(severity),
                    min_score=float(self.number(raw, 'min_score', 0.0, 0.0, 1.0, rule_id)),
                    min_fraction=float(self.number(raw, 'min_fraction', 0.0, 0.0, 1.0, rule_id)),
                    min_frames=self.number(raw, 'min_frames', None, 1, 1_000_000, rule_id, integer=True))

    def classes(self, raw: dict, key: str, side: str, rule_id: str) -> frozenset[str]:
        value = raw[key]
        line = _key_line(raw, key, raw.line)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            self.fail(line, f"rule '{rule_id}': '{key}' must be a non-empty list of {side} class names or "
                            f"group names, got {value!r}")
        out: set[str] = set()
        for name in value:
            if name in self.groups:
                for member in self.groups[name]:
                    self.check_class(member, side, rule_id, f" in group '{name}' (used at line "
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
            self.warn(line, f"rule '{rule_id}': the configured {side} source cannot produce '{name}', so this "
                            f"part of the rule never fires")
            return
        self.fail(line, f"rule '{rule_id}': unknown {side} class '{name}'{where}"
                        f"{_closest(name, vocab | reference | set(self.groups))}")

    def sentence(self, raw: dict, rule_id: str) -> str:
        sentence = raw['sentence']
        line = _key_line(raw, 'sentence', raw.line)
        if not isinstance(sentence, str) or not sentence.strip():
            self.fail(line, f"rule '{rule_id}': 'sentence' must be a non-empty string that explains the rule "
                            f"to an operator, got {sentence!r} (quote it if YAML reads it as a number or yes/no)")
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(sentence) if f is not None]
        except ValueError as e:
            self.fail(line, f"rule '{rule_id}': 'sentence' is not a valid template ({e}); write {{{{ and }}}} "
                            f"for literal braces")
        for field in fields:
            if field not in SENTENCE_FIELDS:
                self.fail(line, f"rule '{rule_id}': 'sentence' uses {{{field}}}; only "
                                f"{', '.join('{' + f + '}' for f in SENTENCE_FIELDS)} can be filled in")
        return str(sentence).strip()

    def number(self, raw: dict, key: str, default, lo, hi, rule_id: str, integer: bool = False):
        if key not in raw:
            return default
        value = raw[key]
        ok = isinstance(value, int) if integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok or not lo <= value <= hi:
            kind = 'an integer' if integer else 'a number'
            self.fail(_key_line(raw, key, raw.line), f"rule '{rule_id}': '{key}' must be {kind} between {lo} "
                                                     f"and {hi}, got {value!r}")
        return value


def parse_rules(text: str, source: str, object_vocab=None, background_vocab=None) -> RuleSet:
    """Rules from YAML text; `source` names the file in messages. See load_rules."""
    return _Parser(source, object_vocab, background_vocab).parse(text)


class RuleFileWatcher:
    """Holds the rules of one file and re-reads it when it changes on disk (mtime or size).

    The constructor raises RuleFileError for a bad file unless given `current` (the rules in force while the
    file is known to be broken; it is then read at its next change). poll() returns the new RuleSet after a
    change, None when nothing changed, and raises RuleFileError for a bad new version: `current` stays, and
    that version is not read again until the file changes once more."""

    def __init__(self, path: str | os.PathLike, object_vocab=None, background_vocab=None,
                 current: RuleSet | None = None):
        self.path = str(path)
        self._vocabs = (object_vocab, background_vocab)
        self._stamp = self._file_stamp()
        self.current = current if current is not None else load_rules(self.path, *self._vocabs)

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
