"""Rule files: the paper's set, groups, vocabulary checks with file/line/suggestions, errors, hot reload."""
import os
import textwrap

import pytest

from vad_ros.reasoning.rules import (PAPER_RULES_PATH, RuleFileError, RuleFileWatcher, load_rules,
                                     parse_rules)
from vad_ros.reasoning.vocabulary import ADE20K_CLASSES, COCO_CLASSES


def text(body: str) -> str:
    return textwrap.dedent(body)


def parse(body: str, objects=COCO_CLASSES, backgrounds=ADE20K_CLASSES):
    return parse_rules(text(body), 'site.yaml', objects, backgrounds)


def test_paper_rule_set_is_the_papers():
    rules = load_rules(PAPER_RULES_PATH, COCO_CLASSES, ADE20K_CLASSES)
    pairs = {(tuple(sorted(r.objects)), tuple(sorted(r.forbidden))) for r in rules}
    assert pairs == {
        (('person',), ('fence', 'road', 'water')), (('skateboard',), ('sidewalk',)), (('car',), ('sidewalk',)),
        (('bus',), ('sidewalk',)), (('truck',), ('sidewalk',)), (('bicycle',), ('sidewalk',)),
        (('motorcycle',), ('sidewalk',))}
    assert rules.warnings == () and not rules.is_empty
    assert all(r.min_score == 0 and r.min_fraction == 0 and r.min_frames is None for r in rules)
    assert [r.id for r in rules.matching('person', 'road', 0.31, 0.01)] == ['person-on-road']
    assert [r.id for r in rules.matching('person', 'fence', 0.31, 0.01)] == ['person-on-road']
    assert rules.matching('person', 'sidewalk', 0.9, 1.0) == []
    assert rules.matching('car', None, 0.9, 1.0) == []


def test_paper_rules_with_a_person_only_detector_load_with_warnings():
    rules = load_rules(PAPER_RULES_PATH, ('person',), ('grass', 'road', 'sidewalk'))
    assert len(rules) == 7
    assert any("cannot produce 'car'" in w for w in rules.warnings)
    assert any("cannot produce 'water'" in w and 'rules_paper.yaml:' in w for w in rules.warnings)
    assert not any("'person'" in w or "'road'" in w for w in rules.warnings)


def test_groups_options_and_defaults():
    rules = parse('''\
        groups:
          vehicle: [car, bus, truck, motorcycle]
          paved: [sidewalk, path]
        rules:
          - id: v
            objects: [vehicle, bicycle]
            forbidden: paved
            sentence: vehicles stay off paths
            severity: critical
            min_score: 0.5
            min_fraction: 0.4
            min_frames: 5
          - id: p
            objects: person
            forbidden: [railway]
            sentence: stay off the tracks
        ''', backgrounds=ADE20K_CLASSES + ('railway',))
    v, p = rules.rules
    assert v.objects == {'car', 'bus', 'truck', 'motorcycle', 'bicycle'} and v.forbidden == {'sidewalk', 'path'}
    assert (v.severity, v.min_score, v.min_fraction, v.min_frames) == ('critical', 0.5, 0.4, 5)
    assert (p.objects, p.severity, p.min_score, p.min_fraction, p.min_frames) == (
        {'person'}, 'warning', 0.0, 0.0, None)
    assert v.matches('bus', 'path', 0.6, 0.5)
    assert not v.matches('bus', 'path', 0.4, 0.5) and not v.matches('bus', 'path', 0.6, 0.3)
    assert not v.matches('person', 'path', 0.9, 1.0) and not v.matches('bus', 'road', 0.9, 1.0)
    assert (v.weight, p.weight) == (1.0, 0.75)


def test_sentence_templates():
    (rule,) = parse('''\
        rules:
          - {id: a, objects: [person, dog], forbidden: [road], sentence: 'no {object} on the {background}'}
        ''').rules
    assert rule.explain('dog', 'road') == 'no dog on the road'
    with pytest.raises(RuleFileError, match=r"site.yaml:2: rule 'a': 'sentence' uses \{who\}; only \{object\}, "
                                            r"\{background\} can be filled in"):
        parse("rules:\n  - {id: a, objects: [person], forbidden: [road], sentence: 'no {who}'}\n")


UNKNOWN = '''\
    rules:
      - id: a
        objects: [person]
        forbidden: [road]
        sentence: ok
      - id: b
        objects: [persn]
        forbidden: [road]
        sentence: typo
    '''


def test_unknown_object_class_names_class_file_line_and_suggestion():
    with pytest.raises(RuleFileError) as info:
        parse(UNKNOWN)
    message = str(info.value)
    assert message.startswith('site.yaml:7:')
    assert "unknown object class 'persn'" in message and 'closest known: person' in message


def test_unknown_background_class_names_its_line():
    with pytest.raises(RuleFileError, match=r"^site.yaml:4: rule 'a': unknown background class 'raod' "
                                            r"\(closest known: road"):
        parse(UNKNOWN.replace('[road]', '[raod]', 1))


def test_unknown_class_in_a_group_names_the_group_and_its_line():
    body = '''\
        groups:
          vehicle: [car, buss]
        rules:
          - {id: v, objects: [vehicle], forbidden: [sidewalk], sentence: s}
        '''
    with pytest.raises(RuleFileError, match=r"^site.yaml:2: rule 'v': unknown object class 'buss' in group "
                                            r"'vehicle' \(used at line 4\) \(closest known: bus"):
        parse(body)


def test_classes_are_checked_against_the_given_vocabularies():
    body = "rules:\n  - {id: f, objects: [forklift], forbidden: [loading bay], sentence: s}\n"
    rules = parse_rules(body, 'r.yaml')                                 # None: not checked
    assert rules.rules[0].objects == {'forklift'}
    assert len(parse_rules(body, 'r.yaml', ('forklift',), ('loading bay',))) == 1   # a custom model's classes
    with pytest.raises(RuleFileError, match=r"r.yaml:2: rule 'f': unknown object class 'forklift'"):
        parse_rules(body, 'r.yaml', COCO_CLASSES, None)
    with pytest.raises(RuleFileError, match=r"unknown background class 'loading bay'"):
        parse_rules(body, 'r.yaml', None, ('grass', 'road'))


def test_nested_groups_are_refused():
    with pytest.raises(RuleFileError, match=r"site.yaml:3: group 'all' contains the group 'vehicle'"):
        parse('groups:\n  vehicle: [car]\n  all: [person, vehicle]\nrules: []\n')


@pytest.mark.parametrize('body, error', [
    ('rules: [x', r'^r.yaml:1: not valid YAML'),
    ('rules:\n  - id: a\n   objects: [person]\n', r'^r.yaml:3: not valid YAML'),
    ('- a', r"^r.yaml:1: expected a mapping with a 'rules:' list"),
    ('rulez: []', r"^r.yaml:1: unknown top-level key 'rulez'"),
    ('rules: {a: 1}\n', r"^r.yaml:1: 'rules' must be a list"),
    ('rules:\n  - just a string\n', r"^r.yaml:2: each rule must be a mapping"),
    ('rules:\n  - id: a\n    objects: [person]\n    sentence: s\n', r"^r.yaml:2: rule is missing 'forbidden'"),
    ('rules:\n  - id: a\n    objects: []\n    forbidden: [road]\n    sentence: s\n',
     r"^r.yaml:3: rule 'a': 'objects' must be a non-empty list"),
    ('rules:\n  - id: a\n    objects: [1]\n    forbidden: [road]\n    sentence: s\n', r"'objects' must be a non-empty"),
    ('rules:\n  - id: 7\n    objects: [person]\n    forbidden: [road]\n    sentence: s\n',
     r"^r.yaml:2: 'id' must be a non-empty string, got 7"),
    ('rules:\n  - id: a\n    objects: [person]\n    forbidden: [road]\n    sentence: ""\n',
     r"^r.yaml:5: rule 'a': 'sentence' must be a non-empty string"),
    ('rules:\n  - {id: a, objects: [person], forbidden: [road], sentence: no}\n',
     r"^r.yaml:2: rule 'a': 'sentence' must be a non-empty string .* got False \(quote it"),
    ('rules:\n  - id: a\n    objects: [person]\n    forbidden: [road]\n    sentence: s\n    severity: high\n',
     r"^r.yaml:6: rule 'a': severity 'high' is not one of info, warning, critical"),
    ('rules:\n  - id: a\n    objects: [person]\n    forbidden: [road]\n    sentence: s\n    min_frame: 3\n',
     r"^r.yaml:6: unknown rule key 'min_frame' \(did you mean 'min_frames'\?\)"),
    ('rules:\n  - id: a\n    objects: [person]\n    forbidden: [road]\n    sentence: s\n    min_score: 2\n',
     r"^r.yaml:6: rule 'a': 'min_score' must be a number between 0.0 and 1.0, got 2"),
    ('rules:\n  - id: a\n    objects: [person]\n    forbidden: [road]\n    sentence: s\n    min_frames: 0\n',
     r"^r.yaml:6: rule 'a': 'min_frames' must be an integer between 1"),
    ('rules:\n  - id: a\n    objects: [person]\n    forbidden: [road]\n    sentence: s\n    min_frames: 2.5\n',
     r"'min_frames' must be an integer"),
    ('rules:\n  - id: a\n    objects: [person]\n    forbidden: [road]\n    sentence: s\n    min_fraction: true\n',
     r"'min_fraction' must be a number"),
    ('rules:\n  - {id: a, objects: [person], forbidden: [road], sentence: s}\n'
     '  - {id: a, objects: [person], forbidden: [water], sentence: s}\n',
     r"^r.yaml:3: duplicate rule id 'a' \(first at line 2\)"),
    ('rules:\n  - id: a\n    objects: [person]\n    id: b\n', r"^r.yaml:4: not valid YAML: duplicate key 'id'"),
    ('groups:\n  g: []\nrules: []\n', r"^r.yaml:2: group 'g' must be a non-empty list"),
    ('groups: [car]\nrules: []\n', r"^r.yaml:1: 'groups' must map group names"),
])
def test_malformed_files_are_clear_errors(body, error):
    with pytest.raises(RuleFileError, match=error):
        parse_rules(body, 'r.yaml', COCO_CLASSES, ADE20K_CLASSES)


def test_empty_rule_set_is_allowed_and_distinguishable():
    for body in ('', '# nothing yet\n', 'rules: []\n', 'rules:\n'):
        rules = parse_rules(body, 'r.yaml')
        assert rules.is_empty and len(rules) == 0
        assert any(w.startswith('r.yaml: ') and 'empty' in w for w in rules.warnings)
        assert rules.matching('person', 'road', 1.0, 1.0) == []


def test_missing_file_is_named(tmp_path):
    with pytest.raises(RuleFileError, match="rule file '/nope/r.yaml' does not exist"):
        load_rules('/nope/r.yaml')
    with pytest.raises(RuleFileError, match='does not exist'):
        load_rules(tmp_path)                       # a folder is not a rule file


def touch(path, second: int) -> None:
    os.utime(path, ns=(second * 10**9, second * 10**9))


def test_watcher_reloads_on_change_and_keeps_rules_on_a_bad_file(tmp_path):
    path = tmp_path / 'rules.yaml'
    path.write_text('rules:\n  - {id: a, objects: [person], forbidden: [road], sentence: s}\n')
    touch(path, 1000)
    watcher = RuleFileWatcher(path, COCO_CLASSES, ADE20K_CLASSES)
    assert watcher.poll() is None and [r.id for r in watcher.current] == ['a']
    path.write_text('rules:\n  - {id: b, objects: [person], forbidden: [grass], sentence: keep off}\n')
    touch(path, 2000)
    assert [r.id for r in watcher.poll()] == ['b']
    assert watcher.poll() is None
    path.write_text('rules:\n  - {id: c, objects: [persn], forbidden: [grass], sentence: x}\n')
    touch(path, 3000)
    with pytest.raises(RuleFileError, match=r"rules.yaml:2: .*'persn'"):
        watcher.poll()
    assert [r.id for r in watcher.current] == ['b']
    assert watcher.poll() is None            # the bad version is not re-read until it changes again
    path.unlink()
    with pytest.raises(RuleFileError, match='does not exist'):
        watcher.poll()
    assert [r.id for r in watcher.current] == ['b']
    path.write_text('rules: []\n')
    touch(path, 4000)
    assert watcher.poll().is_empty


def test_watcher_refuses_a_bad_file_unless_given_the_rules_in_force(tmp_path):
    path = tmp_path / 'rules.yaml'
    path.write_text('rules: [')
    with pytest.raises(RuleFileError, match='not valid YAML'):
        RuleFileWatcher(path)
    in_force = load_rules(PAPER_RULES_PATH)
    watcher = RuleFileWatcher(path, current=in_force)
    assert watcher.current is in_force and watcher.poll() is None
    path.write_text('rules:\n  - {id: fixed, objects: [person], forbidden: [road], sentence: s}\n')
    touch(path, 5000)
    assert [r.id for r in watcher.poll()] == ['fixed']
