"""Rule files: the paper's set, groups, vocabulary checks with file/line/suggestions, hot reload."""
import os
import textwrap

import pytest

from vad_ros.reasoning.rules import (PAPER_RULES_PATH, RuleFileError, RuleFileWatcher, load_rules,
                                     parse_rules)
from vad_ros.reasoning.vocabulary import ADE20K_CLASSES, COCO_CLASSES


def rules_text(body: str) -> str:
    return textwrap.dedent(body)


def test_paper_rule_set_is_the_papers():
    rules = load_rules(PAPER_RULES_PATH, COCO_CLASSES, ADE20K_CLASSES)
    pairs = {(tuple(sorted(r.objects)), tuple(sorted(r.forbidden))) for r in rules}
    assert pairs == {
        (('person',), ('fence', 'road', 'water')), (('skateboard',), ('sidewalk',)), (('car',), ('sidewalk',)),
        (('bus',), ('sidewalk',)), (('truck',), ('sidewalk',)), (('bicycle',), ('sidewalk',)),
        (('motorcycle',), ('sidewalk',))}
    assert rules.warnings == ()
    assert [r.id for r in rules.matching('person', 'road', 0.31, 0.01)] == ['person-on-road']
    assert rules.matching('person', 'sidewalk', 0.9, 1.0) == []
    assert rules.matching('car', None, 0.9, 1.0) == []


def test_groups_options_and_defaults():
    rules = parse_rules(rules_text('''\
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
            objects: [person]
            forbidden: [railway]
            sentence: stay off the tracks
        '''), 'site.yaml', COCO_CLASSES, ADE20K_CLASSES + ('railway',))
    v, p = rules.rules
    assert v.objects == {'car', 'bus', 'truck', 'motorcycle', 'bicycle'} and v.forbidden == {'sidewalk', 'path'}
    assert (v.severity, v.min_score, v.min_fraction, v.min_frames) == ('critical', 0.5, 0.4, 5)
    assert (p.severity, p.min_score, p.min_fraction, p.min_frames) == ('warning', 0.0, 0.0, None)
    assert v.matches('bus', 'path', 0.6, 0.5)
    assert not v.matches('bus', 'path', 0.4, 0.5) and not v.matches('bus', 'path', 0.6, 0.3)


def test_unknown_class_names_class_file_line_and_suggestion():
    text = rules_text('''\
        rules:
          - id: a
            objects: [person]
            forbidden: [road]
            sentence: ok
          - id: b
            objects: [persn]
            forbidden: [road]
            sentence: typo
        ''')
    with pytest.raises(RuleFileError) as info:
        parse_rules(text, 'site.yaml', COCO_CLASSES, ADE20K_CLASSES)
    message = str(info.value)
    assert message.startswith('site.yaml:7:') and "'persn'" in message and 'closest known: person' in message
    with pytest.raises(RuleFileError, match=r"site.yaml:4: rule 'a': unknown background class 'raod'.*road"):
        parse_rules(text.replace('[road]', '[raod]', 1), 'site.yaml', COCO_CLASSES, ADE20K_CLASSES)


def test_known_class_the_models_cannot_produce_is_a_warning():
    rules = parse_rules(rules_text('''\
        rules:
          - id: cars
            objects: [car]
            forbidden: [sidewalk]
            sentence: no cars on the sidewalk
        '''), 'r.yaml', ('person',), ('grass', 'road'))
    assert len(rules) == 1
    assert any("cannot produce 'car'" in w for w in rules.warnings)
    assert any("cannot produce 'sidewalk'" in w for w in rules.warnings)


@pytest.mark.parametrize('body, error', [
    ('rules: [x', r'r.yaml:1: not valid YAML'),
    ('- a', r"expected a mapping with a 'rules:' list"),
    ('rulez: []', r"unknown top-level key 'rulez'"),
    ('rules:\n  - id: a\n    objects: [person]\n    sentence: s\n', r"r.yaml:2: rule is missing 'forbidden'"),
    ('rules:\n  - id: a\n    objects: []\n    forbidden: [road]\n    sentence: s\n', r"'objects' must be a non-empty"),
    ('rules:\n  - id: a\n    objects: [person]\n    forbidden: [road]\n    sentence: s\n    severity: high\n',
     r"r.yaml:6: rule 'a': severity 'high' is not one of info, warning, critical"),
    ('rules:\n  - id: a\n    objects: [person]\n    forbidden: [road]\n    sentence: s\n    min_frame: 3\n',
     r"unknown rule key 'min_frame' \(did you mean 'min_frames'\?\)"),
    ('rules:\n  - id: a\n    objects: [person]\n    forbidden: [road]\n    sentence: s\n    min_score: 2\n',
     r"'min_score' must be a number between 0.0 and 1.0"),
    ('rules:\n  - {id: a, objects: [person], forbidden: [road], sentence: s}\n'
     '  - {id: a, objects: [person], forbidden: [water], sentence: s}\n', r"r.yaml:3: duplicate rule id 'a'"),
    ('groups:\n  g: []\nrules: []\n', r"group 'g' must be a non-empty list"),
])
def test_malformed_files_are_clear_errors(body, error):
    with pytest.raises(RuleFileError, match=error):
        parse_rules(body, 'r.yaml', COCO_CLASSES, ADE20K_CLASSES)


def test_empty_rule_set_is_allowed_with_a_warning():
    for text in ('', 'rules: []\n'):
        rules = parse_rules(text, 'r.yaml')
        assert len(rules) == 0 and any('empty' in w for w in rules.warnings)
        assert rules.matching('person', 'road', 1.0, 1.0) == []


def test_missing_file_is_named():
    with pytest.raises(RuleFileError, match="rule file '/nope/r.yaml' does not exist"):
        load_rules('/nope/r.yaml')


def test_watcher_reloads_on_change_and_keeps_rules_on_a_bad_file(tmp_path):
    path = tmp_path / 'rules.yaml'
    path.write_text('rules:\n  - {id: a, objects: [person], forbidden: [road], sentence: s}\n')
    watcher = RuleFileWatcher(path, COCO_CLASSES, ADE20K_CLASSES)
    assert watcher.poll() is None and [r.id for r in watcher.current] == ['a']
    path.write_text('rules:\n  - {id: b, objects: [person], forbidden: [grass], sentence: keep off}\n')
    os.utime(path, ns=(1, 10**18))
    assert [r.id for r in watcher.poll()] == ['b']
    path.write_text('rules:\n  - {id: c, objects: [persn], forbidden: [grass], sentence: x}\n')
    os.utime(path, ns=(1, 2 * 10**18))
    with pytest.raises(RuleFileError, match="persn"):
        watcher.poll()
    assert [r.id for r in watcher.current] == ['b']
    assert watcher.poll() is None            # the bad version is not re-read until it changes again
