"""Property-based fuzzing of the rule-file and scene-map loaders: random trees of mappings, lists and scalars
(with anchors and aliases, cycles included), random nesting, random text and random edits of the shipped files.
Every case ends, within the deadline, in a result or a VadError that names the file; never another exception."""
import json
import math
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from vad_ros.errors import VadError
from vad_ros.files import parse_yaml
from vad_ros.limits import MAX_MESSAGE_CHARS
from vad_ros.reasoning.rules import CONDITION_KEYS, SENTENCE_FIELDS, parse_rules
from vad_ros.reasoning.scene_map import SceneMapError, scene_map_from_dict
from vad_ros.vocabulary import ADE20K_CLASSES, COCO_CLASSES

REPO = Path(__file__).resolve().parents[2]
SHIPPED = [REPO / 'config' / 'rules_keep_off_grass.yaml', REPO / 'vad_ros' / 'data' / 'rules_paper.yaml',
           REPO / 'config' / 'scene_vtest.yaml']
SOURCE = 'fuzz.yaml'
FUZZ = settings(max_examples=200, derandomize=True, deadline=timedelta(seconds=3), database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Words the loaders know, so that random documents get past the first checks.
WORDS = (['rules', 'groups', 'id', 'objects', 'forbidden', 'allowed', 'sentence', 'severity', 'critical', 'min_score',
          'min_fraction', 'min_frames', 'cooldown', 'window', 'in', 'out', 'any', '1 m/s', '80 px/s', '10 s', '2 min',
          '07:00-19:00', '22:00-06:00', 'mon-fri', 'Europe/Berlin', 'hours', 'days', 'timezone', 'towards z',
          'away from z', 'image_size', 'regions', 'zones', 'tripwires', 'ignore', 'calibration', 'label', 'polygon',
          'name', 'points', 'tolerance', 'image', 'ground', 'z', 'g', 'vehicle', '{object} on {background}']
         + list(CONDITION_KEYS) + list(SENTENCE_FIELDS) + list(COCO_CLASSES[:5]) + list(ADE20K_CLASSES[:5]))

numbers = st.one_of(st.integers(-2000, 2000), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0, 1, 10, 100, 1e12, -1e300, 1e300, 10 ** 400]))
scalars = st.one_of(st.none(), st.booleans(), numbers, st.sampled_from(WORDS), st.text(max_size=12))
# Plain scalars that the YAML converters turn into other types, or refuse.
RAW = st.sampled_from(['2001-02-30', '2001-12-14t21:59:43.10-05:00', '1' * 5000, '0x' + 'f' * 5000, '!!float x',
                       '!!int 1', '!!binary aGk=', '!!set {a, b}', '!!omap [{a: 1}]', '1_000', '0o777', '190:20:30',
                       '~', '.NaN', '-.inf', '1e12', '!!str 5', '!!python/name:os.system', '!custom x'])


def scalar_text(value) -> str:
    if value is None or isinstance(value, bool):
        return {None: 'null', True: 'true', False: 'false'}[value]
    if isinstance(value, str):
        return json.dumps(value)                  # a JSON string is a YAML double-quoted string
    if isinstance(value, float) and math.isnan(value):
        return '.nan'
    if isinstance(value, float) and math.isinf(value):
        return '.inf' if value > 0 else '-.inf'
    return repr(value)


class Anchors:
    """The anchors of one document: names handed out, and those an alias may use."""

    def __init__(self):
        self.count, self.usable = 0, []

    def new(self) -> str:
        self.count += 1
        return f'a{self.count}'


@st.composite
def node(draw, anchors: Anchors, depth: int = 0) -> str:
    """Flow-style YAML: a scalar, an alias of an anchor drawn earlier (rarely one still open: a cycle), or a
    list or mapping (sometimes anchored) of such nodes."""
    kind = draw(st.integers(0, 11))
    if anchors.usable and kind == 0:
        return '*' + draw(st.sampled_from(anchors.usable))
    if kind in (1, 2):
        return draw(RAW)
    if depth >= 6 or kind <= 5:
        return scalar_text(draw(scalars))
    name = anchors.new() if draw(st.booleans()) else ''
    cycle = name and draw(st.integers(0, 9)) == 0
    if cycle:
        anchors.usable.append(name)               # usable inside: a collection that contains itself
    children = draw(st.lists(node(anchors, depth + 1), max_size=9))
    if name and not cycle:
        anchors.usable.append(name)
    anchor = f'&{name} ' if name else ''
    if kind <= 8:
        return anchor + '[' + ', '.join(children) + ']'
    keys = draw(st.lists(st.sampled_from(WORDS) | st.text(max_size=6), min_size=len(children),
                         max_size=len(children), unique=True))
    keys = [json.dumps(k) if draw(st.integers(0, 3)) else draw(node(anchors, depth + 1)) for k in keys]
    return anchor + '{' + ', '.join(f'{k}: {v}' for k, v in zip(keys, children)) + '}'


def flow(values) -> str:
    return '[' + ', '.join(scalar_text(v) for v in values) + ']'


# Values a rule key could well have; the fuzz mixes them with random nodes.
PLAUSIBLE = {
    'id': st.sampled_from(['a', 'b', 'r1']) | st.text(max_size=8),
    'objects': st.lists(st.sampled_from(COCO_CLASSES[:4] + ('vehicle',)), min_size=1, max_size=3).map(flow),
    'forbidden': st.lists(st.sampled_from(ADE20K_CLASSES[:6]), min_size=1, max_size=3).map(flow),
    'allowed': st.lists(st.sampled_from(ADE20K_CLASSES[:6]), min_size=1, max_size=3).map(flow),
    'sentence': st.sampled_from(['x', '{object} on {background}', '{count} in {zone}', '{bad}', '{']).map(json.dumps),
    'severity': st.sampled_from(['info', 'warning', 'critical', 'loud']),
    'min_score': numbers.map(scalar_text), 'min_fraction': numbers.map(scalar_text),
    'min_frames': numbers.map(scalar_text), 'min_count': numbers.map(scalar_text),
    'max_count': numbers.map(scalar_text), 'min_area': numbers.map(scalar_text),
    'max_area': numbers.map(scalar_text), 'min_ratio': numbers.map(scalar_text), 'max_ratio': numbers.map(scalar_text),
    'cooldown': st.sampled_from(['10', '"2 min"', '"1 week"', '-1', '1e999']),
    'window': st.sampled_from(['10', '"30 s"', '0']), 'min_duration': st.sampled_from(['5', '"1 h"', '.nan']),
    'min_speed': st.sampled_from(['"1 m/s"', '"80 px/s"', '"5 km/h"', '3', '"fast"']),
    'max_speed': st.sampled_from(['"2 m/s"', '"10 px/s"', '"1e300 px/s"']),
    'direction': st.sampled_from(['in', 'out', 'any', '[0, 90]', '[10, 400]', '"towards z"', '"away from g"']),
    'crossing': st.sampled_from(['g', 'h', '""']),
    'in_zone': st.sampled_from(['z', '[z, g]', '[]']), 'not_in_zone': st.sampled_from(['z', '[g]']),
    'active': st.sampled_from(['["07:00-19:00"]', '"22:00-06:00"', '{hours: ["07:00-19:00"], days: [mon-fri]}',
                               '{timezone: Europe/Berlin}', '["25:00-26:00"]', '{days: [funday]}']),
}


@st.composite
def rule_files(draw) -> str:
    anchors = Anchors()
    groups = ''
    if draw(st.booleans()):                       # drawn first: written first, so its anchors can be used
        groups = f'groups: {{vehicle: [car, bus], x: {draw(node(anchors))}}}\n'
    rules = []
    for _ in range(draw(st.integers(0, 3))):
        keys = ['id', 'objects', 'sentence'] + draw(st.lists(st.sampled_from(sorted(PLAUSIBLE)), max_size=5,
                                                             unique=True))
        values = [draw(node(anchors)) if draw(st.integers(0, 5)) == 0 else draw(PLAUSIBLE[k]) for k in keys]
        rules.append('{' + ', '.join(f'{k}: {v}' for k, v in dict(zip(keys, values)).items()) + '}')
    return groups + 'rules: [' + ', '.join(rules) + ']\n'


@st.composite
def scene_maps(draw) -> str:
    anchors = Anchors()
    clean = st.one_of(st.integers(-20, 120), st.floats(-50, 150))
    dirty = st.one_of(clean, numbers, st.sampled_from([1e12, -1e300, math.nan, math.inf, 10 ** 400, '1e12', 201]))
    point = st.lists(clean, min_size=2, max_size=2).map(flow)
    clean_points, dirty_points = (st.lists(st.lists(c, min_size=2, max_size=2).map(flow), min_size=3, max_size=7)
                                  .map(lambda ps: '[' + ', '.join(ps) + ']') for c in (clean, dirty))
    polygon = st.one_of(clean_points, clean_points, dirty_points, dirty_points, node(anchors))
    shape = st.builds(lambda n, p: f'{{name: {n}, polygon: {p}}}', st.sampled_from(['z', 'g', '"x"']), polygon)
    sizes = st.one_of(st.just('[100, 80]'), st.just('[100, 80]'), st.just('[100, 80]'),
                      st.sampled_from(['[1, 1]', '[16384, 16384]', '[0, 5]']), node(anchors))
    lines = [f'image_size: {draw(sizes)}']
    keys = ['regions'] * draw(st.booleans()) + draw(st.lists(st.sampled_from(['zones', 'ignore', 'tripwires',
                                                                                'calibration']), unique=True))
    for key in keys + ['other'] * (draw(st.integers(0, 19)) == 0):
        if key == 'regions':
            items = draw(st.lists(st.builds(lambda l, p: f'{{label: {l}, polygon: {p}}}', st.sampled_from(WORDS),
                                            polygon), min_size=1, max_size=3))
        elif key == 'tripwires':
            items = draw(st.lists(st.builds(lambda n, p, t: f'{{name: {n}, points: {p}, tolerance: {t}}}',
                                            st.sampled_from(['g', 'h']), polygon, numbers.map(scalar_text)),
                                  max_size=2))
        elif key == 'calibration':
            items = draw(st.lists(st.builds(lambda a, b: f'{{image: {a}, ground: {b}}}', point, point), max_size=5))
        else:
            items = draw(st.lists(shape | node(anchors), max_size=3))
        lines.append(f'{key}: [' + ', '.join(items) + ']')
    return '\n'.join(lines) + '\n'


@st.composite
def nested(draw) -> str:
    """A short random pattern of brackets, braces and keys (some anchored) repeated up to 1500 deep, closed or
    not (the probe's file: 1000 deep)."""
    depth = draw(st.integers(0, 1500))
    pattern = draw(st.lists(st.sampled_from(['[', '{a: ', '[&x ', '{? ', '- ']), min_size=1, max_size=4))
    opens = [o.replace('&x', f'&x{i}') for i, o in enumerate((pattern * depth)[:depth])]
    return draw(st.sampled_from(['rules: ', 'image_size: [1, 1]\nregions: ', ''])) + ''.join(opens) \
        + draw(st.sampled_from(['', '1', '*x0', ']' * depth]))


@st.composite
def bare_trees(draw) -> str:
    return f'rules: {draw(node(Anchors()))}\n'


@st.composite
def edited_shipped_files(draw) -> str:
    text = draw(st.sampled_from(SHIPPED)).read_text()
    pieces = st.sampled_from(['', '[', ']', '{', '}', ':', '- ', '\n', '  ', '&a ', '*a', '"', '1e300', '.nan',
                              '!!int ', '<<: ', '? ', '#']) | st.text(max_size=4)
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 8))
        text = text[:at] + draw(pieces) + text[at + cut:]
    return text


anything = st.one_of(nested(), edited_shipped_files(), bare_trees(), st.text(max_size=200), rule_files(),
                     scene_maps())


def check_message(error: VadError) -> None:
    message = str(error)
    assert SOURCE in message, message
    assert len(message) <= 2 * MAX_MESSAGE_CHARS, len(message)


def load_rules(text: str) -> None:
    try:
        rules = parse_rules(text, SOURCE, COCO_CLASSES, ADE20K_CLASSES + ('z', 'g'))
    except VadError as e:
        check_message(e)
    else:
        assert all(rule.id and rule.objects for rule in rules)


def load_scene_map(text: str) -> None:
    try:
        scene = scene_map_from_dict(parse_yaml(text, SOURCE, SceneMapError), SOURCE)
    except VadError as e:
        check_message(e)
    else:
        scene.class_map(64, 48)                   # what the node does with it next
        scene.geometry(64, 48)


@FUZZ
@given(rule_files())
def test_rule_files_end_in_rules_or_a_vad_error(text):
    load_rules(text)


@FUZZ
@given(scene_maps())
def test_scene_maps_end_in_a_map_or_a_vad_error(text):
    load_scene_map(text)


@FUZZ
@given(anything)
def test_any_text_ends_in_a_result_or_a_vad_error_in_both_loaders(text):
    load_rules(text)
    load_scene_map(text)
