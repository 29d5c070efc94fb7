"""Rule files: the paper's set, groups, vocabulary checks with file/line/suggestions, errors, hot reload."""
import textwrap

import pytest

from vad_ros.reasoning.conditions import Active, Backgrounds, Count, Crossing, Direction, Dwell, MinScore, Speed, Zones
from vad_ros.reasoning.engine import RuleEngine
from vad_ros.reasoning.rules import (PAPER_RULES_PATH, RuleFileError, load_rules,
                                     parse_rules)
from vad_ros.vocabulary import ADE20K_CLASSES, COCO_CLASSES
from vad_ros.types import ObjectReport


def text(body: str) -> str:
    return textwrap.dedent(body)


def parse(body: str, objects=COCO_CLASSES, backgrounds=ADE20K_CLASSES):
    return parse_rules(text(body), 'site.yaml', objects, backgrounds)


def fired(rules, object_class: str, background: str | None, score: float, fraction: float) -> list[str]:
    """The ids of the rules the engine fires for one object in one frame (no scene map, no stamp; untracked, so
    min_frames acts as 1)."""
    report = ObjectReport(object_class, score, (0.0, 0.0, 10.0, 30.0), background, fraction, 0)
    engine = RuleEngine(rules)
    engine.tracking = False
    return [a.rule_id for a in engine.evaluate([report], 0, None).anomalies]


def test_paper_rule_set_is_the_papers():
    rules = load_rules(PAPER_RULES_PATH, COCO_CLASSES, ADE20K_CLASSES)
    pairs = {(tuple(sorted(r.objects)), tuple(sorted(r.condition(Backgrounds).forbidden))) for r in rules}
    assert pairs == {
        (('person',), ('fence', 'road', 'water')), (('skateboard',), ('sidewalk',)), (('car',), ('sidewalk',)),
        (('bus',), ('sidewalk',)), (('truck',), ('sidewalk',)), (('bicycle',), ('sidewalk',)),
        (('motorcycle',), ('sidewalk',))}
    assert rules.warnings == () and not rules.is_empty
    assert all(r.condition(MinScore) is None and r.condition(Backgrounds).min_fraction == 0 and r.min_frames is None
               for r in rules)
    assert fired(rules, 'person', 'road', 0.31, 0.01) == ['person-on-road']
    assert fired(rules, 'person', 'fence', 0.31, 0.01) == ['person-on-road']
    assert fired(rules, 'person', 'sidewalk', 0.9, 1.0) == []
    assert fired(rules, 'car', None, 0.9, 1.0) == []
    assert fired(rules, 'car', 'sidewalk', 0.9, 1.0) == ['car-on-sidewalk']


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
    assert v.objects == {'car', 'bus', 'truck', 'motorcycle', 'bicycle'}
    assert v.condition(Backgrounds) == Backgrounds(frozenset({'sidewalk', 'path'}), frozenset(), 0.4)
    assert (v.severity, v.condition(MinScore), v.min_frames) == ('critical', MinScore(0.5), 5)
    assert (p.objects, p.severity, p.condition(MinScore), p.condition(Backgrounds).min_fraction, p.min_frames) == (
        {'person'}, 'warning', None, 0.0, None)
    assert fired(rules, 'bus', 'path', 0.6, 0.5) == ['v']
    assert fired(rules, 'bus', 'path', 0.4, 0.5) == [] and fired(rules, 'bus', 'path', 0.6, 0.3) == []
    assert fired(rules, 'person', 'path', 0.9, 1.0) == [] and fired(rules, 'bus', 'road', 0.9, 1.0) == []
    assert (v.weight, p.weight) == (1.0, 0.75)


def test_sentence_templates():
    (rule,) = parse('''\
        rules:
          - {id: a, objects: [person, dog], forbidden: [road], sentence: 'no {object} on the {background}'}
        ''').rules
    assert rule.explain('dog', 'road') == 'no dog on the road'
    with pytest.raises(RuleFileError, match=r"site.yaml:2: rule 'a': 'sentence' uses \{who\}; only \{object\}, "
                                            r"\{background\}, \{zone\}, \{line\}, \{count\} can be filled in"):
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
    # values of any type and size: a RuleFileError quoting a short excerpt, never a TypeError or OverflowError
    ('rules:\n  - {id: a, objects: [person], forbidden: [road], sentence: s, severity: [high]}\n',
     r"^r.yaml:2: rule 'a': severity \['high'\] is not one of"),
    ('rules:\n  - {id: a, objects: [person], forbidden: [road], sentence: s, min_duration: 1' + '0' * 400 + '}\n',
     r"^r.yaml:2: rule 'a': 'min_duration' must be a duration.*got <an integer of 1329 bits>$"),
    ('rules:\n  - {id: ' + 'x' * 100_000 + ', objects: [person], forbidden: [road], sentence: s, min_score: 2}\n',
     r"^r.yaml:2: rule 'x{30,40}\.\.\.x{30,40}': 'min_score' must be a number between 0.0 and 1.0, got 2$"),
    ('rules:\n  - {id: a, objects: [[' + ', '.join(['person'] * 100_000) + ']], forbidden: [road], sentence: s}\n',
     r"^r.yaml:2: rule 'a': 'objects' .*got \[\['person', 'person', 'person', 'person', \.\.\.\]\]$"),
])
def test_malformed_files_are_clear_errors(body, error):
    with pytest.raises(RuleFileError, match=error):
        parse_rules(body, 'r.yaml', COCO_CLASSES, ADE20K_CLASSES)


def test_empty_rule_set_is_allowed_and_distinguishable():
    for body in ('', '# nothing yet\n', 'rules: []\n', 'rules:\n'):
        rules = parse_rules(body, 'r.yaml')
        assert rules.is_empty and len(rules) == 0
        assert any(w.startswith('r.yaml: ') and 'empty' in w for w in rules.warnings)
        assert fired(rules, 'person', 'road', 1.0, 1.0) == []


def test_missing_file_is_named(tmp_path):
    with pytest.raises(RuleFileError, match="rule file '/nope/r.yaml' does not exist"):
        load_rules('/nope/r.yaml')
    with pytest.raises(RuleFileError, match='does not exist'):
        load_rules(tmp_path)                       # a folder is not a rule file


# ---------------------------------------------------------------- the newer keys
def rule_line(extra: str) -> str:
    return 'rules:\n  - id: a\n    objects: [person]\n    sentence: s\n' + ''.join(f'    {x}\n' for x in extra.split(';'))


@pytest.mark.parametrize('extra, error', [
    ('forbidden: [road];allowed: [road, grass]', r"^r.yaml:6: rule 'a': 'road' is both allowed and forbidden"),
    ('forbidden: [road];allowed: [grass]', r"r.yaml:6: rule 'a': give either 'allowed' or 'forbidden'"),
    ("active: ['7-19']", r"r.yaml:5: rule 'a': 'active': '7' is not a time of day"),
    ("active: {hours: ['07:00-19:00'], timezone: Mars/Base}", r"r.yaml:5: .*unknown time zone 'Mars/Base'"),
    ('in_zone: bay;not_in_zone: [bay]', r"r.yaml:6: rule 'a': zone 'bay' is in both in_zone and not_in_zone"),
    ('in_zone: bay;min_count: 5;max_count: 2', r"r.yaml:7: rule 'a': min_count 5 is above max_count 2"),
    ('in_zone: bay;min_area: 500;max_area: 100', r"min_area 500 is above max_area 100"),
    ('min_speed: 3', r"'min_speed' must be a speed .*got 3 \(a speed needs a unit"),
    ("min_speed: '2 m/s';max_speed: '50 px/s'", r"min_speed is in m/s and max_speed in px/s"),
    ("min_speed: '20 px/s';max_speed: '10 px/s'", r"min_speed is above max_speed"),
    ('direction: in', r"r.yaml:5: rule 'a': direction 'in' applies to tripwires: add 'crossing"),
    ('direction: [10]', r"'direction' must be a compass range"),
    ('crossing: gate;direction: north', r"with 'crossing', 'direction' is one of in, out, any"),
    ('crossing: gate;min_count: 3', r"r.yaml:5: rule 'a': counting crossings needs 'window'"),
    ('in_zone: bay;min_count: 3;window: 10', r"'window' is the time over which crossings are counted"),
    ('crossing: gate;min_duration: 3', r"a crossing happens in one frame"),
    ("min_duration: 'ten s'", r"'min_duration' must be a duration"),
    ('cooldown: -1;in_zone: bay', r"'cooldown' must be a duration"),
    ('in_zon: bay', r"unknown rule key 'in_zon' \(did you mean 'in_zone'\?\)"),
    ('in_zone: []', r"'in_zone' must be a zone name or a list"),
])
def test_newer_keys_contradictions_and_typos_are_clear_errors(extra, error):
    with pytest.raises(RuleFileError, match=error):
        parse_rules(rule_line(extra), 'r.yaml')


def test_newer_keys_are_parsed_with_units():
    (r,) = parse_rules(rule_line("allowed: [road];in_zone: [bay, dock];min_duration: '2 min';cooldown: 500 ms;"
                                 "max_speed: '18 km/h';direction: [300, 60];active: {days: [mon-fri], "
                                 "hours: ['22:00-06:00']}"), 'r.yaml')
    assert (r.condition(Backgrounds).allowed, r.condition(Zones).inside, r.dwell, r.cooldown) == (
        {'road'}, ('bay', 'dock'), 120.0, 0.5)
    assert r.condition(Speed) == Speed(None, pytest.approx(5.0), 'm/s')
    assert r.condition(Direction).heading == (300.0, 60.0)
    schedule = r.condition(Active).schedule
    assert schedule.days == frozenset(range(5)) and schedule.text == '22:00-06:00 on mon, tue, wed, thu, fri'
    assert [type(c) for c in r.conditions] == [Backgrounds, Zones, Speed, Direction, Dwell, Active]
    assert r.needs_motion and r.needs_stamp and r.gates == (r.condition(Active),) and r.group is None
    (t,) = parse_rules(rule_line('crossing: gate;direction: out;min_count: 3;window: 60'), 'r.yaml')
    assert (t.condition(Crossing), t.group) == (Crossing('gate', 'out'), Count(3, None, 60.0))
    assert t.condition(Direction) is None                  # with crossing, 'direction' is the crossing's
    (m,) = parse_rules(rule_line('direction: away from loading bay'), 'r.yaml')
    assert m.condition(Direction) == Direction(zone='loading bay', sign=-1.0) and m.needs_motion


def test_the_paper_rules_have_background_conditions_only():
    assert all([type(c) for c in r.conditions] == [Backgrounds] for r in load_rules(PAPER_RULES_PATH))


def test_load_rules_with_a_scene_checks_places(tmp_path):
    from vad_ros.reasoning.scene_map import scene_map_from_dict
    scene = scene_map_from_dict({'image_size': [10, 10], 'zones': [{'name': 'bay', 'polygon': [[0, 0], [5, 0],
                                                                                               [5, 5]]}]}, 's.yaml')
    path = tmp_path / 'r.yaml'
    path.write_text('rules:\n  - {id: a, objects: [person], in_zone: bay, sentence: s}\n')
    assert load_rules(path, scene=scene).rules[0].condition(Zones).inside == ('bay',)
    path.write_text('rules:\n  - {id: a, objects: [person], in_zone: bya, sentence: s}\n')
    assert load_rules(path).rules[0].condition(Zones).inside == ('bya',)                 # no scene given: not checked
    with pytest.raises(RuleFileError, match=r"r.yaml:2: rule 'a': unknown zone 'bya'.*closest known: bay"):
        load_rules(path, scene=scene)
    with pytest.raises(RuleFileError, match="set scene_map_file to a scene map with zones"):
        load_rules(path, scene=None)
