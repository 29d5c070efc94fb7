"""The YAML files a user hands the package (params, rule files, scene maps) at the sizes a probe used to break
the node: each is refused with a VadError naming the file and line, in bounded time and memory, and with a
bounded message (vad_ros.files, vad_ros.limits)."""
import contextlib
import gc
import random
import re
import time
import tracemalloc
from pathlib import Path

import pytest

from vad_ros import files, limits
from vad_ros.devtools.hostile_yaml import alias_bomb
from vad_ros.errors import VadError
from vad_ros.files import parse_yaml, read_yaml
from vad_ros.offline import runner
from vad_ros.params import ParamError, check_value, read_params_file
from vad_ros.reasoning.rules import RuleFileError, load_rules
from vad_ros.reasoning.scene_map import SceneMapError, load_scene_map
from vad_ros.rule_source import ERROR, RuleSource

DEEP = 1000
RULE = '  - {id: r%d, objects: [person], forbidden: [grass], sentence: keep off the grass}\n'
SHORT_RULE = '- {id: r%d, objects: person, forbidden: grass, sentence: s}\n'     # 9 YAML values
SQUARE = '[[0, 0], [10, 0], [10, 10], [0, 10]]'


class Refused(VadError):
    pass


def measured(call):
    """(the VadError `call` raises, seconds, peak MB allocated meanwhile)."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(VadError) as info:
            call()
        return info.value, time.perf_counter() - start, tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def deep_flow(key: str = 'rules') -> str:
    """2 KB: a list nested DEEP times."""
    return f'{key}: ' + '[' * DEEP + ']' * DEEP + '\n'




# ---------------------------------------------------------------- the 1000-deep file (2 KB)
def test_the_deep_file_is_2_kb_and_refused_by_every_loader_with_file_and_line(tmp_path):
    rules = tmp_path / 'deep_rules.yaml'
    rules.write_text(deep_flow('rules'))
    scene = tmp_path / 'deep_scene.yaml'
    scene.write_text('image_size: [10, 10]\nregions: ' + '[' * DEEP + ']' * DEEP + '\n')
    params = tmp_path / 'deep_params.yaml'
    params.write_text('/**:\n  ros__parameters:\n    x: ' + '[' * DEEP + ']' * DEEP + '\n')
    assert 2000 <= rules.stat().st_size <= 2100
    for path, load, error, line in ((rules, load_rules, RuleFileError, 1), (scene, load_scene_map, SceneMapError, 2),
                                    (params, read_params_file, ParamError, 3)):
        e, seconds, peak_mb = measured(lambda: load(str(path)))
        assert isinstance(e, error)
        assert str(e).startswith(f'{path}:{line}: mappings and lists nested more than {limits.MAX_YAML_DEPTH} deep')
        assert 'write it flatter' in str(e) and len(str(e)) < 300
        assert seconds < 5 and peak_mb < 20, (path, seconds, peak_mb)      # ~0.2 s: the scanner reads ~1 KB


def test_block_style_nesting_names_the_first_line_too_deep(tmp_path):
    path = tmp_path / 'deep.yaml'
    path.write_text(''.join('  ' * i + f'k{i}:\n' for i in range(DEEP)))
    with pytest.raises(RuleFileError, match=rf"deep.yaml:{limits.MAX_YAML_DEPTH + 1}: mappings and lists nested"):
        load_rules(path)


def test_nesting_at_the_limit_is_read_and_one_more_is_refused():
    depth = limits.MAX_YAML_DEPTH
    assert parse_yaml('[' * depth + ']' * depth, 'ok.yaml', Refused) is not None
    with pytest.raises(Refused, match='ok.yaml:1: mappings and lists nested more than'):
        parse_yaml('[' * (depth + 1) + ']' * (depth + 1), 'ok.yaml', Refused)


def test_nesting_built_from_aliases_counts_too():
    """Each anchor wraps the previous one: shallow text, deep document."""
    lines = ['a0: &a0 [x]'] + [f'a{i}: &a{i} [*a{i - 1}]' for i in range(1, limits.MAX_YAML_DEPTH + 2)]
    with pytest.raises(Refused, match=r'alias.yaml:\d+: mappings and lists nested more than .*aliases included'):
        parse_yaml('\n'.join(lines), 'alias.yaml', Refused)


def test_the_deep_rule_file_through_hot_reload_and_the_parameter_api(tmp_path):
    good, deep = tmp_path / 'rules.yaml', tmp_path / 'deep.yaml'
    good.write_text('rules:\n' + RULE % 1)
    deep.write_text(deep_flow())
    source = RuleSource(str(good))
    with pytest.raises(RuleFileError, match='deep.yaml:1: mappings and lists nested'):     # ~/rules_file set
        source.switch(str(deep))
    assert source.path == str(good) and len(source.rules) == 1
    good.write_text(deep_flow())                                                        # the file edited in place
    change = source.poll()
    assert change.level == ERROR and 'rules.yaml:1: mappings and lists nested' in change.message
    assert len(source.rules) == 1                                                       # the old rules stay


def test_vad_video_with_the_deep_rule_file_prints_one_short_line_and_exits_2(tmp_path, capsys, vtest_path):
    deep = tmp_path / 'deep.yaml'
    deep.write_text(deep_flow())
    assert runner.main([str(vtest_path), '--rules', str(deep), '--out', str(tmp_path / 'out')]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and len(err) < 400, err[:2000]
    assert lines[0].startswith(f'vad-video: {deep}:1: mappings and lists nested') and 'Traceback' not in err


# ---------------------------------------------------------------- alias bombs
def test_the_382_byte_alias_bomb_is_refused_at_once(tmp_path):
    path = tmp_path / 'bomb.yaml'
    path.write_text(alias_bomb())
    assert path.stat().st_size == 382
    e, seconds, peak_mb = measured(lambda: load_rules(path))
    assert isinstance(e, RuleFileError)
    assert f'bomb.yaml:11: more than {limits.MAX_YAML_NODES} values' in str(e)
    assert 'an alias counts each time it is used' in str(e)
    assert len(str(e)) <= 10_000 and seconds < 2 and peak_mb < 20, (len(str(e)), seconds, peak_mb)


def test_an_aliased_structure_under_the_caps_is_quoted_as_a_short_excerpt(tmp_path):
    """9 ** 5 = 59049 strings reach the rule checks; the message quotes an excerpt, not 59049 strings."""
    path = tmp_path / 'bomb5.yaml'
    path.write_text(alias_bomb(5))
    e, seconds, peak_mb = measured(lambda: load_rules(path))
    assert "bomb5.yaml:5: rule 'bomb': 'objects' must be a non-empty list of object class names" in str(e)
    assert '[[...], [...], [...], [...], ...]' in str(e)
    assert len(str(e)) < 400 and seconds < 3 and peak_mb < 100, (len(str(e)), seconds, peak_mb)


def test_a_bomb_of_long_strings_is_bounded_by_the_character_cap():
    """Few values, but each alias repeats 200 KB of text: 10 x 10 x 200 KB = 20 MB of characters."""
    text = ('s: &s "' + 'x' * 200_000 + '"\n' + 'l: &l [' + ','.join(['*s'] * 10) + ']\n'
            + 'm: [' + ','.join(['*l'] * 10) + ']\n')
    with pytest.raises(Refused, match=rf's.yaml:3: more than {limits.MAX_YAML_CHARS} characters'):
        parse_yaml(text, 's.yaml', Refused)


def test_an_alias_that_contains_itself_is_refused():
    with pytest.raises(Refused, match='r.yaml:1: an alias refers to a mapping or list that contains it'):
        parse_yaml('a: &a [1, *a]\n', 'r.yaml', Refused)


def test_a_scene_map_of_aliased_polygons_is_refused_with_a_bounded_message(tmp_path):
    """A polygon built of aliases: ~2.4 million points when expanded, refused before any array."""
    path = tmp_path / 'scene.yaml'
    path.write_text('image_size: [10, 10]\nregions:\n  - label: a\n    polygon: &p0 [[0, 0], [1, 1], [2, 0]]\n'
                    + ''.join(f'  - {{label: b, polygon: &p{i} [' + ','.join([f'*p{i - 1}'] * 9) + ']}\n'
                              for i in range(1, 8)))
    e, seconds, peak_mb = measured(lambda: load_scene_map(path))
    assert isinstance(e, SceneMapError) and 'more than 200000 values' in str(e) and len(str(e)) < 400
    assert seconds < 2 and peak_mb < 20


# ---------------------------------------------------------------- file size
def test_the_13_mb_scene_map_of_a_million_vertices_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / 'huge.yaml'
    with open(path, 'w') as f:
        f.write('image_size: [768, 576]\nregions:\n  - label: road\n    polygon: [')
        f.write(', '.join(f'[{i % 768}.5, {i % 576}.25]' for i in range(1_000_000)))
        f.write(']\n')
    size = path.stat().st_size
    assert size > 13_000_000
    e, seconds, peak_mb = measured(lambda: load_scene_map(path))
    assert str(e).startswith(f"scene map '{path}' is {size} bytes, more than the {limits.MAX_YAML_BYTES} bytes")
    assert seconds < 0.5 and peak_mb < 5, (seconds, peak_mb)


def test_text_over_the_byte_cap_is_refused_before_it_is_parsed():
    with pytest.raises(Refused, match=rf"'posted' is {limits.MAX_YAML_BYTES + 1} bytes, more than"):
        parse_yaml('#' * (limits.MAX_YAML_BYTES + 1), 'posted', Refused)
    with pytest.raises(Refused, match=r"'posted' is \d+ bytes"):          # 4 bytes per character in utf-8
        parse_yaml('# ' + '\U0001F600' * (limits.MAX_YAML_BYTES // 4), 'posted', Refused)
    assert parse_yaml('# ' + 'x' * (limits.MAX_YAML_BYTES - 2), 'posted', Refused) is None


def test_the_value_count_is_checked_while_composing(monkeypatch):
    """The composer stops at MAX_YAML_NODES (here lowered to 1000; the mapping counts as one value)."""
    monkeypatch.setattr(limits, 'MAX_YAML_NODES', 1000)
    assert len(parse_yaml('[' + ','.join(['0'] * 999) + ']', 'many.yaml', Refused)) == 999
    with pytest.raises(Refused, match='many.yaml:2: more than 1000 values'):
        parse_yaml('[\n' + ','.join(['0'] * 1000) + ']', 'many.yaml', Refused)


# ---------------------------------------------------------------- values the converters refuse
@pytest.mark.parametrize('text, problem', [
    ('a: 2001-02-30\n', 'day is out of range for month'),
    ('a: ' + '1' * 5000 + '\n', 'cannot read this value'),
    ('a: 0x' + 'f' * 5000 + '\n', 'an integer of more than 4000 digits'),
    ('a: !!float abc\n', "'abc' is not a valid !!float"),
    # explicit tags on values not written as that type: PyYAML's converters raised IndexError / KeyError /
    # AttributeError from inside (found by test/reasoning/test_yaml_fuzz.py)
    ('p: [700, !!int ]\n', "'' is not a valid !!int"),
    ('a: !!float\n', "'' is not a valid !!float"),
    ('a: !!bool maybe\n', "'maybe' is not a valid !!bool"),
    ('a: !!timestamp soon\n', "'soon' is not a valid !!timestamp"),
    ('{[a]: 1}\n', 'a mapping or list cannot be a key'),
])
def test_values_the_converters_refuse_are_yaml_errors_with_the_line(text, problem):
    with pytest.raises(Refused, match=f'v.yaml:1: not valid YAML: .*{re.escape(problem)}'):
        parse_yaml(text, 'v.yaml', Refused)


def test_explicit_tags_on_well_written_values_still_read():
    assert parse_yaml('[!!int 1_000, !!float .inf, !!bool yes, !!int "12", !!timestamp 2001-12-14, !!null x]\n',
                      'v.yaml', Refused)[:4] == [1000, float('inf'), True, 12]


# ---------------------------------------------------------------- rules
def test_20000_rules_are_refused_with_the_count_and_the_fix(tmp_path):
    path = tmp_path / 'many_rules.yaml'
    path.write_text('rules:\n' + ''.join(SHORT_RULE % i for i in range(20_000)))
    assert path.stat().st_size < limits.MAX_YAML_BYTES
    start = time.perf_counter()
    with pytest.raises(RuleFileError) as info:
        load_rules(path)
    seconds = time.perf_counter() - start
    assert str(info.value).startswith(f'{path}:1: 20000 rules; at most {limits.MAX_RULES} are allowed')
    assert 'merge rules' in str(info.value)
    assert seconds < 60


def test_the_rule_limit_itself(tmp_path):
    path = tmp_path / 'rules.yaml'
    path.write_text('rules:\n' + ''.join(RULE % i for i in range(limits.MAX_RULES)))
    assert len(load_rules(path)) == limits.MAX_RULES
    path.write_text('rules:\n' + ''.join(RULE % i for i in range(limits.MAX_RULES + 1)))
    with pytest.raises(RuleFileError, match=f'{limits.MAX_RULES + 1} rules; at most {limits.MAX_RULES}'):
        load_rules(path)


# ---------------------------------------------------------------- scene-map geometry
def scene(tmp_path, body: str):
    path = tmp_path / 'scene.yaml'
    path.write_text('image_size: [100, 50]\n' + body)
    return path


@pytest.mark.parametrize('point, shown', [
    ('[1e12, 5]', '[1e+12, 5]'),               # YAML 1.1 reads 1e12 as a string; numpy as a number
    ('[1.0e+12, 5]', '[1e+12, 5]'),
    ('[5, 1.0e+300]', '[5, 1e+300]'),
    ('[-1.0e+300, 5]', '[-1e+300, 5]'),
    ('[.nan, 5]', '[nan, 5]'),
    ('[.inf, 5]', '[inf, 5]'),
    ('[201, 5]', '[201, 5]'),                  # just beyond one image size (COORDINATE_MARGIN) to the right
    ('[5, -51]', '[5, -51]'),
    ('[' + '9' * 400 + ', 5]', None),          # an int too large for a float
])
def test_absurd_coordinates_name_the_file_line_shape_and_fix(tmp_path, point, shown):
    path = scene(tmp_path, f'regions:\n  - label: grass\n    polygon: {SQUARE}\n'
                           f'  - label: road\n    polygon: [[0, 0], {point}, [10, 10]]\n')
    with pytest.raises(SceneMapError) as info:
        load_scene_map(path)
    message = str(info.value)
    assert message.startswith(f"scene map '{path}' line 5, region 1 ('road'): 'polygon' must be"), message
    if shown is not None:
        assert 'x in [-100, 200], y in [-50, 100]' in message and f'point 1 is {shown}: fix the point' in message
    assert len(message) < 400


def test_coordinates_within_the_margin_are_accepted(tmp_path):
    path = scene(tmp_path, 'regions:\n  - label: a\n    polygon: [[-100, -50], [200, -50], [200, 100]]\n')
    assert load_scene_map(path).regions[0][1].max() == 200


@pytest.mark.parametrize('section, what', [
    ('zones:\n  - name: z\n    polygon: [[0, 0], [1.0e+12, 0], [5, 5]]\n', "zone 0 ('z'): 'polygon' must be pixel"),
    ('ignore:\n  - polygon: [[0, 0], [5, .nan], [5, 5]]\n', "ignore mask 0 ('ignore mask 0'): 'polygon' must be pixel"),
    ('tripwires:\n  - name: t\n    points: [[0, 0], [-1.0e+300, 5]]\n', "tripwire 0 ('t'): 'points' must be pixel"),
    ('regions:\n  - {label: a, polygon: ' + SQUARE + '}\ncalibration:\n'
     + ''.join(f'  - {{image: [{x}, {y}], ground: [{x}, {y}]}}\n' for x, y in ((0, 0), (9, 0), (9, 9), (0, 1e7)))
     + '', "calibration: 'image' must be pixel"),
    ('regions:\n  - {label: a, polygon: ' + SQUARE + '}\ncalibration:\n'
     + ''.join(f'  - {{image: [{x}, {y}], ground: [{g}, 0]}}\n' for x, y, g in ((0, 0, 0), (9, 0, 1), (9, 9, 2),
                                                                               (0, 9, '1.0e+12')))
     + '', "calibration: point 3: 'ground' must be finite metres"),
])
def test_every_kind_of_shape_is_bounded(tmp_path, section, what):
    with pytest.raises(SceneMapError, match=what.replace('(', r'\(').replace(')', r'\)')):
        load_scene_map(scene(tmp_path, section))


@pytest.mark.parametrize('size', ['[1e20, 1e20]', '[1.0e+20, 1.0e+20]', '[100000000000000000000, 10]',
                                  f'[{limits.MAX_IMAGE_SIDE + 1}, 10]', '[10, -5]'])
def test_absurd_image_sizes_are_refused(tmp_path, size):
    path = tmp_path / 'scene.yaml'
    path.write_text(f'image_size: {size}\nregions:\n  - {{label: a, polygon: {SQUARE}}}\n')
    with pytest.raises(SceneMapError, match=rf"line 1: 'image_size' must be \[width, height\] in pixels \(positive "
                                            rf"integers, at most {limits.MAX_IMAGE_SIDE} each"):
        load_scene_map(path)


def test_the_largest_image_size_is_accepted(tmp_path):
    path = tmp_path / 'scene.yaml'
    side = limits.MAX_IMAGE_SIDE
    path.write_text(f'image_size: [{side}, {side}]\nregions:\n  - {{label: a, polygon: {SQUARE}}}\n')
    assert load_scene_map(path).image_size == (side, side)


def polygon(n: int, offset: int = 0) -> str:
    return '[' + ','.join(f'[{(i + offset) % 90},{i % 40}]' for i in range(n)) + ']'


def test_a_shape_over_the_vertex_cap_is_refused_before_arrays_are_built(tmp_path):
    path = scene(tmp_path, 'regions:\n  - {label: a, polygon: ' + SQUARE + '}\n'
                           f'  - {{label: b, polygon: {polygon(limits.MAX_POLYGON_VERTICES + 1)}}}\n')
    with pytest.raises(SceneMapError, match=rf"line 4, region 1: {limits.MAX_POLYGON_VERTICES + 1} points; a shape "
                                            rf"may have at most {limits.MAX_POLYGON_VERTICES} .*simplify"):
        load_scene_map(path)


def test_a_map_under_the_byte_cap_but_over_the_scene_vertex_cap_is_refused(tmp_path):
    per_shape = limits.MAX_POLYGON_VERTICES
    shapes = limits.MAX_SCENE_VERTICES // per_shape
    body = 'regions:\n' + ''.join(f'  - {{label: r{i}, polygon: {polygon(per_shape, i)}}}\n' for i in range(shapes))
    path = scene(tmp_path, body + '  - {label: last, polygon: ' + SQUARE + '}\n')
    assert path.stat().st_size < limits.MAX_YAML_BYTES
    with pytest.raises(SceneMapError) as info:
        load_scene_map(path)
    e = info.value
    assert str(e).startswith(f"scene map '{path}': {shapes * per_shape + 4} points in all shapes; a scene map may "
                             f"have at most {limits.MAX_SCENE_VERTICES}"), str(e)


# ---------------------------------------------------------------- messages
def test_parameter_messages_quote_an_excerpt():
    with pytest.raises(ParamError) as info:
        check_value('score_threshold', 'x' * 1_000_000)
    assert len(str(info.value)) < 300 and "got str 'xxxx" in str(info.value)
    with pytest.raises(ParamError) as info:
        check_value('score_threshold', 10 ** 5000)           # float(10 ** 5000) would raise OverflowError
    assert 'an integer of 16610 bits' in str(info.value)
    with pytest.raises(ParamError) as info:
        check_value('n' * 100_000, 1)
    assert len(str(info.value)) < 300


def test_read_yaml_errors_are_the_callers_type(tmp_path):
    path = tmp_path / 'x.yaml'
    path.write_bytes(b'a: \xff\n')
    with pytest.raises(Refused, match="file '.*x.yaml' cannot be read: 'utf-8' codec"):
        read_yaml(str(path), 'file', 'fix it', Refused)
    path.write_text('a: 1\r\nb: [2,\r\n 3]\r\n')
    assert read_yaml(str(path), 'file', 'fix it', Refused) == {'a': 1, 'b': [2, 3]}


# ---------------------------------------------------------------- libyaml and the pure-Python loader
# parse_yaml reads with libyaml where PyYAML has it, and leaves to the pure-Python loader (the reference) any
# text that libyaml refuses or may read otherwise: both must give the same value, lines included, or the same
# message, whatever the text.
needs_libyaml = pytest.mark.skipif(files._CLineLoader is None, reason='PyYAML is built without libyaml')
REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted((REPO / 'config').glob('*.yaml')) + sorted((REPO / 'vad_ros' / 'data').glob('*.yaml'))


def tree(value):
    """A loaded value as nested tuples with the type and line of every string, mapping and list."""
    if isinstance(value, dict):
        items = tuple((tree(k), tree(v)) for k, v in value.items())
    elif isinstance(value, (list, tuple)):
        items = tuple(tree(v) for v in value)
    else:
        items = 'nan' if value != value else value
    return type(value).__name__, getattr(value, 'line', None), items


def read(text: str):
    try:
        return 'value', tree(parse_yaml(text, 'x.yaml', Refused))
    except Refused as e:
        return 'refused', str(e)


def read_in_python(text: str):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(files, '_CLineLoader', None)          # as where PyYAML has no libyaml
        return read(text)


class NoPythonLoader:
    def __init__(self, text):
        raise AssertionError('read by the pure-Python loader')


@contextlib.contextmanager
def libyaml_only():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(files, '_LineLoader', NoPythonLoader)
        yield


TRICKY = [
    # where libyaml and the pure-Python scanner differ (found by reading both and by fuzzing them)
    '[a?b]', '{a?b: 1}', '[a ?b]', '[a\n ?b]', '[a:?b]', 'a: [x, y?]', '[? a]', '{? a: b}', 'a?b: [c]',
    'a:\t1', '[a,\tb]', 'k: a\tb', '- a\n-\tb', 'a: "x\ty"',
    'a: 1\n\ufeffb: 2', '\ufeffa: 1', 'a\x85b: 1', 'a: "x\u2028y"', 'a: x\u2029y',
    'a: |#c\n  x\n', 'a: >+2#\n   x\n', 'a: |\n  x\n  y\n\n', 'a: >-\n  x\n\n  y\n   z\n',
    '[!x,]', '[!,]', 'a: !!str 1', 'a: !!int "1"', 'a: !x 1', 'a: !<tag:yaml.org,2002:str> 1',
    'a: \x01', 'a: "\ud800"', 'a: "\\ud800"', 'a: "\x7f"',
    # composer errors, directives, documents
    'a: [1, *b]', 'a: &x 1\nb: &x 2', 'a: &x [1, *x]', 'a: 1\n---\nb: 2', '--- a\n...\n', '---\n', '',
    '# only a comment\n', '%YAML 1.1\n---\na: 1', '%YAML 2.0\n---\na: 1', '%FOO x\n---\na: 1',
    # plain, quoted, keys, line ends
    'a: 1\r\nb:\r  - 2\r', '[a:]', '{a:b}', '[a:b]', '[a: b, c]', '{a, b: c}', '? a\n: b\n', '? [a]\n: b\n',
    '\u00e9' * 600 + ': 1', 'x' * 1030 + ': 1', "'it''s'", '"\\x41\\u00e9\\U0001F600 \\N\\_"', 'a: "x\n\n  y"',
    "a: 'x\n  y'", 'a: x\n  y\n\n  z', '- [1, 2]\n- {a: 1}\n- - b\n  - c', 'a:\n- 1\n- 2', '<<: {a: 1}\nb: 2',
    'a: &m {x: 1}\nb: {<<: *m, y: 2}', 'a: {<<: [1]}', 'a: 0x1F\nb: 1_000\nc: .5\nd: 1e3\ne: 2001-12-14\nf: 12:30',
    'a: {b: {c: [d, {e: f}]}}', 'a: b: c', '- a\nb: c', 'a:\n  - b\n   - c', '[1, [2, [3]]', 'a: "x', "a: 'x",
    '[' * 40 + ']' * 40, '{a: ' * 40 + '}' * 40, '- ' * 40 + 'x', '[&x ' * 40, '{? ' * 40, '[' * 999 + ']' * 999,
    '[' * 1001, ''.join('  ' * i + f'k{i}:\n' for i in range(50)),
    '\n'.join(['a0: &a0 [x]'] + [f'a{i}: &a{i} [*a{i - 1}]' for i in range(1, 40)]),
] + [path.read_text() for path in SHIPPED]


@needs_libyaml
@pytest.mark.parametrize('text', TRICKY, ids=range(len(TRICKY)))
def test_libyaml_and_the_pure_python_loader_read_the_same(text):
    assert read(text) == read_in_python(text)


@needs_libyaml
@pytest.mark.parametrize('nodes, depth', [(None, None), (30, 4), (12, 2)])
def test_libyaml_and_the_pure_python_loader_read_the_same_on_random_text(monkeypatch, nodes, depth):
    """Random edits of the shipped files and random runs of YAML's tokens, under the real limits and under
    low ones (then most texts hit a limit, whose line must be the same)."""
    if nodes is not None:
        monkeypatch.setattr(limits, 'MAX_YAML_NODES', nodes)
        monkeypatch.setattr(limits, 'MAX_YAML_DEPTH', depth)
    pieces = ['[', ']', '{', '}', ',', ':', ': ', '? ', '?', '- ', '-', '\n', '\n', ' ', '  ', '\n  ', '\n- ', '\r',
              '#', ' #c', '&a ', '&b ', '*a', '*b', '!!str ', '!', '"', "'", '\\', '|', '>', '|-', '---', '...',
              'a', 'b', 'key', 'x y', '1', '0x1F', '.5', '1e3', 'true', '~', '\u00e9', '\U0001F600', '@', '%',
              '<<: ', '\\n', '""', "''", 'a:b', ':a', '2001-12-14', '12:30', '\t', '\ufeff', '\x85', '\x01']
    shipped = [path.read_text() for path in SHIPPED]
    rng = random.Random(f'{nodes}-{depth}')
    for _ in range(300):
        if rng.random() < 0.5:
            text = ''.join(rng.choice(pieces) for _ in range(rng.randint(0, 60)))
        else:
            text = rng.choice(shipped)
            for _ in range(rng.randint(1, 6)):
                at, cut = rng.randint(0, len(text)), rng.randint(0, 6)
                text = text[:at] + rng.choice(pieces) + text[at + cut:]
        assert read(text) == read_in_python(text), text


@needs_libyaml
@pytest.mark.parametrize('text', ['- [[a?b: [ ]]]', '[[[a?b: 1]]]', '[[[!x,]: 1]]]', '[[[x, !y,]: 1]]]'])
def test_a_cap_that_libyaml_meets_before_a_difference_is_left_to_the_pure_python_loader(monkeypatch, text):
    """libyaml opens a mapping for 'a?b: ' (pure Python: ',' or ']' expected before '?') and reads the tag '!x'
    (pure Python: '!x,]'), both after a cap met on an earlier event."""
    monkeypatch.setattr(limits, 'MAX_YAML_DEPTH', 3)
    assert read(text) == read_in_python(text)
    assert read(text)[1].startswith('x.yaml:1: not valid YAML: ')


@needs_libyaml
def test_libyaml_reads_the_shipped_files_and_the_largest_ones_alone():
    rules = 'rules:\n' + ''.join(SHORT_RULE % i for i in range(20_000))
    per_shape = limits.MAX_POLYGON_VERTICES
    scene_map = 'image_size: [100, 50]\nregions:\n' + ''.join(f'  - {{label: r{i}, polygon: {polygon(per_shape, i)}}}\n'
                                                             for i in range(limits.MAX_SCENE_VERTICES // per_shape))
    with libyaml_only():
        for text in [path.read_text() for path in SHIPPED] + [scene_map]:
            assert read(text)[0] == 'value'
        assert len(parse_yaml(rules, 'rules.yaml', Refused)['rules']) == 20_000
    small = 'rules:\n' + ''.join(SHORT_RULE % i for i in range(300)) + 'image_size: [1, 2]\nregions:\n' + ''.join(
        f'  - {{label: r{i}, polygon: {polygon(300, i)}}}\n' for i in range(3))
    assert read(small) == read_in_python(small)


@needs_libyaml
def test_the_caps_stop_libyaml_as_they_stop_the_pure_python_loader():
    """The value cap and the depth cap are checked on libyaml's events, before the graph grows."""
    text = '[' + '0,' * ((limits.MAX_YAML_BYTES - 3) // 2) + '0]'           # 2 MiB, a million values
    with libyaml_only():
        e, seconds, peak_mb = measured(lambda: parse_yaml(text, 'flat.yaml', Refused))
        deep = read('[' * 100 + ']' * 100)                                  # below libyaml's own cap (1000)
    assert str(e).startswith(f'flat.yaml:1: more than {limits.MAX_YAML_NODES} values')
    assert seconds < 20 and peak_mb < 100, (seconds, peak_mb)                 # ~1 s, 60 MB; pure Python: 118 MB
    assert deep == read_in_python('[' * 100 + ']' * 100)
    assert deep[1].startswith(f'x.yaml:1: mappings and lists nested more than {limits.MAX_YAML_DEPTH} deep')


def test_2_mib_of_brackets_is_refused_at_the_depth_cap_in_bounded_time_and_memory():
    e, seconds, peak_mb = measured(lambda: parse_yaml('[' * limits.MAX_YAML_BYTES, 'b.yaml', Refused))
    assert str(e).startswith(f'b.yaml:1: mappings and lists nested more than {limits.MAX_YAML_DEPTH} deep')
    assert seconds < 5 and peak_mb < 30, (seconds, peak_mb)                    # ~0.4 s, 6 MB


@pytest.mark.parametrize('enabled', [True, False])
def test_the_garbage_collector_is_as_it_was_after_reading(enabled):
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        parse_yaml('a: [1, 2]', 'ok.yaml', Refused)
        assert gc.isenabled() == enabled
        with pytest.raises(Refused):
            parse_yaml('a: [1, 2', 'bad.yaml', Refused)
        assert gc.isenabled() == enabled
    finally:
        (gc.enable if was else gc.disable)()
