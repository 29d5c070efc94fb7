"""The sentences of anomalies: what made the rule fire, then the rule's own sentence.

    person (0.87) on road (64% of footprint): people must not be on the road        (the paper's rules, as before)
    person (0.80) on grass (71% of footprint) for 12.4 s (min 10 s): keep off the grass
    person (0.74) in loading_bay at 2.3 m/s (min 1.5 m/s) during 22:00-06:00: running in the loading bay
    3 people crossed gate_line inward in the last 60 s (min 3): crowd entering

The clauses come from the rule's conditions (vad_ros/reasoning/conditions.py), in their order: first what the
object showed (clauses), then time (time_clauses).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:                      # conditions.py imports this module's helpers
    from vad_ros.reasoning.rules import Rule

PLURALS = {'person': 'people', 'bus': 'buses', 'sheep': 'sheep', 'skis': 'skis', 'scissors': 'scissors',
           'mouse': 'mice', 'knife': 'knives'}


def plural(name: str, count: int) -> str:
    if count == 1:
        return name
    return PLURALS.get(name, name + ('es' if name.endswith(('s', 'sh', 'ch', 'x')) else 's'))


def limits(lo, hi, fmt) -> str:
    """'(min 3)', '(max 5)' or '(3 to 5)'."""
    if lo is not None and hi is not None:
        return f'({fmt(lo)} to {fmt(hi)})'
    return f'(min {fmt(lo)})' if lo is not None else f'(max {fmt(hi)})'


def _time_clauses(rule: 'Rule', held: float) -> list[str]:
    return [clause for c in rule.timed for clause in c.time_clauses(held)]


def object_sentence(rule: 'Rule', f, i: int, held: float) -> str:
    """The sentence of a per-object anomaly (object i of the frame's facts f, held: seconds the rule has held
    for it); the paper's rules give exactly the paper-mode sentence."""
    o = f.objects[i]
    fields = {}
    clauses = [clause for c in rule.described for clause in c.clauses(f, i, fields)]
    head = ' '.join([f'{o.object_class} ({o.score:.2f})'] + clauses + (_time_clauses(rule, held) if rule.timed else []))
    explained = rule.explain(o.object_class, o.background_class or '', fields.get('zone', ''), fields.get('line', ''))
    return f'{head}: {explained}'


def count_sentence(rule: 'Rule', object_class: str, count: int, held: float) -> str:
    """'6 people in loading_bay at once (min 5)', '3 people crossed gate_line inward in the last 60 s (min 3)'."""
    fields = {}
    for c in rule.conditions:
        fields.update(c.group_fields())
    zone, line = fields.get('zone', ''), fields.get('line', '')
    head = ' '.join([rule.group.describe_group(rule, object_class, count, zone)] + _time_clauses(rule, held))
    return f'{head}: {rule.explain(object_class, "", zone, line, count)}'
