"""Rule conditions as classes (vad_ros/reasoning/conditions.py): each class and its line in docs/RULES.md, each
key's one home, and the newest condition (edge_margin) end to end through the engine."""
import re
from pathlib import Path

import pytest

from vad_ros.reasoning import conditions
from vad_ros.reasoning.conditions import CONDITIONS, EdgeMargin
from vad_ros.reasoning.engine import RuleEngine
from vad_ros.reasoning.rules import RULE_OWN_KEYS, RuleFileError, parse_rules
from vad_ros.types import ObjectReport

REPO = Path(__file__).resolve().parents[2]
SIZE = (200, 100)


def key_table() -> dict[str, tuple[str, ...]]:
    """docs/RULES.md, section 'Every rule key': class name -> the keys of its line."""
    text = (REPO / 'docs' / 'RULES.md').read_text()
    section = text.split('\n## Every rule key\n', 1)[1].split('\n## ', 1)[0]
    rows = [line.split('|')[1:3] for line in section.splitlines() if line.startswith('| `')]
    return {cls.strip().strip('`'): tuple(re.findall(r'`([a-z_]+)`', keys)) for keys, cls in rows}


def test_every_condition_class_has_its_line_in_the_docs_and_every_line_a_class():
    table = key_table()
    assert table.pop('Rule') == RULE_OWN_KEYS
    assert table == {c.__name__: c.keys for c in CONDITIONS}
    keys = [k for c in CONDITIONS for k in c.keys]
    assert len(keys) == len(set(keys)) and not set(keys) & set(RULE_OWN_KEYS)     # one owner per key


def test_every_condition_class_is_listed():
    classes = {v for v in vars(conditions).values() if isinstance(v, type) and issubclass(v, conditions.Condition)}
    assert set(CONDITIONS) == classes - {conditions.Condition} and len(CONDITIONS) == len(set(CONDITIONS))


def test_no_other_rule_module_reads_a_condition_key():
    """The modules that once each knew every key (the rule's fields and parser, the engine's masks and 'why',
    the sentences, vad-check) neither spell a condition's key as a string nor read it as an attribute."""
    for path in ('vad_ros/reasoning/rules.py', 'vad_ros/reasoning/engine.py', 'vad_ros/reasoning/sentences.py',
                 'vad_ros/check.py'):
        code = (REPO / path).read_text()
        for key in (k for c in CONDITIONS for k in c.keys):
            assert not re.search(rf"""['"]{key}['"]|\.{key}\b""", code), f'{path} reads the rule key {key!r}'


def rule_file(extra: str) -> str:
    return f'rules:\n  - {{id: a, objects: [person], sentence: s, {extra}}}\n'


def box(x0, y0, x1, y1, bg='grass') -> ObjectReport:
    return ObjectReport('person', 0.9, (x0, y0, x1, y1), bg, 1.0, 0)


def fired(extra: str, objects, frame_size=SIZE) -> list[list[str]]:
    engine = RuleEngine(parse_rules(rule_file(extra), 'r.yaml'))
    engine.tracking = False
    return [a.sentence for a in engine.evaluate(objects, 0, None, frame_size).anomalies]


def test_edge_margin_judges_only_objects_clear_of_the_frame_edge():
    inside, touching_left, past_bottom = box(20, 10, 40, 60), box(5, 10, 25, 60), box(150, 60, 170, 96)
    assert fired('forbidden: [grass], edge_margin: 10', [inside, touching_left, past_bottom]) == [
        'person (0.90) on grass (100% of footprint): s']
    assert len(fired('forbidden: [grass], edge_margin: 0', [inside, touching_left, past_bottom])) == 3
    assert len(fired('forbidden: [grass], edge_margin: 4', [inside, touching_left, past_bottom])) == 3
    assert fired('forbidden: [grass], edge_margin: 5', [touching_left]) == ['person (0.90) on grass (100% of '
                                                                           'footprint): s']   # 5 px from the edge
    assert fired('forbidden: [grass], edge_margin: 10', [inside], frame_size=None) == []   # no frame: no margin


def test_edge_margin_is_parsed_and_checked():
    (rule,) = parse_rules(rule_file('in_zone: bay, edge_margin: 12'), 'r.yaml')
    assert rule.condition(EdgeMargin) == EdgeMargin(12.0)
    with pytest.raises(RuleFileError, match=r"^r.yaml:2: rule 'a': 'edge_margin' must be a number between 0 and "
                                            r"10000, got -1$"):
        parse_rules(rule_file('in_zone: bay, edge_margin: -1'), 'r.yaml')
    with pytest.raises(RuleFileError, match=r"r.yaml:2: rule is missing 'forbidden' or another condition"):
        parse_rules(rule_file('edge_margin: 10'), 'r.yaml')          # it narrows a rule, it is none


def test_a_rule_without_a_background_condition_fires_on_objects_without_a_background():
    """The engine's judgement (the only one): a background is needed only by a background condition."""
    assert fired('min_area: 100', [box(20, 10, 40, 60, bg=None)]) == ['person (0.90) box 1000 px (min 100): s']
    assert fired('forbidden: [grass]', [box(20, 10, 40, 60, bg=None)]) == []


def test_the_sentence_clauses_follow_the_order_of_the_conditions():
    (rule,) = parse_rules(rule_file('min_ratio: 0.1, forbidden: [grass], min_area: 10'), 'r.yaml')
    assert [type(c).__name__ for c in rule.conditions] == ['Backgrounds', 'BoxSize']
    assert fired('min_ratio: 0.1, forbidden: [grass], min_area: 10', [box(20, 10, 40, 60)]) == [
        'person (0.90) on grass (100% of footprint) box 1000 px (min 10) width/height 0.40 (min 0.1): s']
    assert conditions.CONDITIONS.index(conditions.Backgrounds) < conditions.CONDITIONS.index(conditions.BoxSize)
