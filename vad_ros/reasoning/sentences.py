"""The sentences of anomalies: what made the rule fire, then the rule's own sentence.

    person (0.87) on road (64% of footprint): people must not be on the road        (the paper's rules, as before)
    person (0.80) on grass (71% of footprint) for 12.4 s (min 10 s): keep off the grass
    person (0.74) in loading_bay at 2.3 m/s (min 1.5 m/s) during 22:00-06:00: running in the loading bay
    3 people crossed gate_line inward in the last 60 s (min 3): crowd entering
"""
from __future__ import annotations

from typing import NamedTuple

from vad_ros.reasoning.rules import Rule

PLURALS = {'person': 'people', 'bus': 'buses', 'sheep': 'sheep', 'skis': 'skis', 'scissors': 'scissors',
           'mouse': 'mice', 'knife': 'knives'}
DIRECTION_WORDS = {1: 'inward', -1: 'outward'}


def plural(name: str, count: int) -> str:
    if count == 1:
        return name
    return PLURALS.get(name, name + ('es' if name.endswith(('s', 'sh', 'ch', 'x')) else 's'))


def _bound(value: float, unit: str) -> str:
    return f'{value:.1f} {unit}' if unit == 'm/s' else f'{value:.0f} {unit}'


def limits(lo, hi, fmt) -> str:
    """'(min 3)', '(max 5)' or '(3-5)'."""
    if lo is not None and hi is not None:
        return f'({fmt(lo)} to {fmt(hi)})'
    return f'(min {fmt(lo)})' if lo is not None else f'(max {fmt(hi)})'


class Why(NamedTuple):
    """What one object showed when a per-object rule held for it (a named tuple: one per reported anomaly,
    every frame)."""
    object_class: str
    score: float
    background: str | None
    fraction: float
    region: str                        # background.region, for "% of footprint"
    zone: str = ''                     # the in_zone zone it is in
    speed: float | None = None         # in the rule's speed unit
    heading: float | None = None       # degrees
    crossed: int = 0                   # +1 in, -1 out
    area: float = 0.0
    ratio: float = 0.0


def object_clauses(rule: Rule, why: Why) -> list[str]:
    clauses = []
    if rule.uses_background:
        text = f'on {why.background} ({why.fraction * 100:.0f}% of {why.region})'
        if rule.allowed:
            text = text[:-1] + f'; allowed only on {", ".join(sorted(rule.allowed))})'
        clauses.append(text)
    if rule.in_zone:
        clauses.append(f'in {why.zone}')
    if rule.not_in_zone:
        clauses.append(f'outside {", ".join(rule.not_in_zone)}')
    if rule.crossing:
        clauses.append(f'crossed {rule.crossing} {DIRECTION_WORDS.get(why.crossed, "")}'.rstrip())
    if rule.min_speed is not None or rule.max_speed is not None:
        clauses.append(f'at {_bound(why.speed, rule.speed_unit)} '
                       f'{limits(rule.min_speed, rule.max_speed, lambda v: _bound(v, rule.speed_unit))}')
    if rule.heading is not None:
        clauses.append(f'heading {why.heading:.0f} deg ({rule.heading[0]:g}-{rule.heading[1]:g} deg)')
    if rule.towards:
        clauses.append(f'moving towards {rule.towards}')
    if rule.away_from:
        clauses.append(f'moving away from {rule.away_from}')
    if rule.min_area is not None or rule.max_area is not None:
        clauses.append(f'box {why.area:.0f} px {limits(rule.min_area, rule.max_area, lambda v: f"{v:g}")}')
    if rule.min_ratio is not None or rule.max_ratio is not None:
        clauses.append(f'width/height {why.ratio:.2f} {limits(rule.min_ratio, rule.max_ratio, lambda v: f"{v:g}")}')
    return clauses


def time_clauses(rule: Rule, duration: float) -> list[str]:
    clauses = []
    if rule.min_duration > 0:
        clauses.append(f'for {duration:.1f} s (min {rule.min_duration:g} s)')
    if rule.schedule is not None:
        clauses.append(f'during {rule.schedule.text}')
    return clauses


def object_sentence(rule: Rule, why: Why, duration: float) -> str:
    """The sentence of a per-object anomaly; the paper's rules give exactly the paper-mode sentence."""
    clauses = object_clauses(rule, why) + time_clauses(rule, duration)
    head = ' '.join([f'{why.object_class} ({why.score:.2f})'] + clauses)
    return f'{head}: {rule.explain(why.object_class, why.background or "", why.zone, rule.crossing or "")}'


def count_sentence(rule: Rule, object_class: str, count: int, zone: str, duration: float) -> str:
    """'6 people in loading_bay at once (min 5)', '3 people crossed gate_line inward in the last 60 s (min 3)'."""
    bounds = limits(rule.min_count, rule.max_count, str)
    if rule.crossing:
        direction = {'in': ' inward', 'out': ' outward'}.get(rule.crossing_direction, '')
        head = (f'{count} {plural(object_class, count)} crossed {rule.crossing}{direction} in the last '
                f'{rule.window:g} s {bounds}')
    else:
        where = f'in {zone}' if zone else 'in view'
        head = f'{count} {plural(object_class, count)} {where} at once {bounds}'
    head = ' '.join([head] + time_clauses(rule, duration))
    return f'{head}: {rule.explain(object_class, "", zone, rule.crossing or "", count)}'
