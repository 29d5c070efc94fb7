"""Docs that cannot drift: every YAML example in README.md and docs/RULES.md goes through vad-check (as a rule
file, a rule list, a scene map or a params file, as the block is), every anomaly sentence they quote comes out
of the rule engine word for word, the README's example event is the one a real run gives, and every measured time
or frame rate in README.md and docs/*.md points to the bench/RESULTS.md section (by its title) or the bench script
that measures it (with the README's "What to expect on a new site" checked figure by figure against the alert
bench's new-defaults rows).

A block is classified by its content; an HTML comment right before its fence says more where needed:
`<!-- doc-check: example-map ... -->` (docs/RULES.md: the scene map the examples are checked against),
`<!-- doc-check: event ... -->` (the README's ~/events example), `<!-- doc-check: partial: why -->` (a snippet
that is deliberately not a whole file; keep these few: PARTIAL_BUDGET)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from vad_ros import check
from vad_ros.reasoning.engine import RuleEngine
from vad_ros.reasoning.rules import PAPER_RULES_PATH, load_rules, parse_rules
from vad_ros.reasoning.scene_map import scene_map_from_dict
from vad_ros.vocabulary import COCO_CLASSES
from vad_ros.types import ObjectReport

ROOT = Path(__file__).resolve().parents[1]
DOCS = ('README.md', 'docs/RULES.md')
PARTIAL_BUDGET = 2          # deliberately partial YAML snippets allowed in all the docs together
FENCE = re.compile(r'(?:<!--\s*doc-check:\s*(?P<mark>[^>]*?)\s*-->[ \t]*\n)?^```(?P<lang>\w*)[ \t]*\n(?P<body>.*?)^```',
                   re.S | re.M)


@dataclass(frozen=True)
class Block:
    doc: str
    line: int
    lang: str
    mark: str
    body: str

    @property
    def where(self) -> str:
        return f'{self.doc}:{self.line}'

    @property
    def kind(self) -> str:
        if self.mark:
            return self.mark.split()[0].rstrip(':')
        doc = yaml.safe_load(self.body)
        if isinstance(doc, list):
            return 'rule-list'
        if isinstance(doc, dict):
            if any(str(k).startswith('/') or 'ros__parameters' in (v or {}) for k, v in doc.items()
                   if isinstance(v, (dict, type(None)))):
                return 'params'
            if 'rules' in doc:
                return 'rules'
            if 'image_size' in doc:
                return 'scene'
        return 'unknown'


def blocks(doc: str) -> list[Block]:
    text = (ROOT / doc).read_text()
    return [Block(doc, text.count('\n', 0, m.start('body')), m['lang'], m['mark'] or '', m['body'])
            for m in FENCE.finditer(text)]


YAML_BLOCKS = [b for doc in DOCS for b in blocks(doc) if b.lang == 'yaml']


def the_block(kind: str) -> Block:
    found = [b for b in YAML_BLOCKS if b.mark.startswith(kind)]
    assert len(found) == 1, f'expected one block marked <!-- doc-check: {kind} -->, found {len(found)}'
    return found[0]


def test_every_yaml_block_is_of_a_known_kind_and_few_are_partial():
    assert len(YAML_BLOCKS) >= 10
    kinds = {b.where: b.kind for b in YAML_BLOCKS}
    unknown = [w for w, k in kinds.items() if k not in ('rule-list', 'rules', 'scene', 'params', 'example-map',
                                                          'event', 'partial')]
    assert not unknown, f'YAML blocks of no known kind (mark them, see the module doc): {unknown}'
    assert sum(k == 'partial' for k in kinds.values()) <= PARTIAL_BUDGET


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    """The params the examples are checked with: a detector with COCO's vocabulary (an exported model's
    metadata; the model itself is never loaded by vad-check), no segmenter, and the RULES.md example map."""
    pytest.importorskip('onnxruntime')
    from vad_ros.perception.onnx.runtime import FORMAT
    d = tmp_path_factory.mktemp('site')
    (d / 'coco.onnx').write_bytes(b'not loaded')
    (d / 'coco.json').write_text(json.dumps({'format': FORMAT, 'role': 'detector', 'decoder': 'dense',
                                             'class_names': list(COCO_CLASSES)}))
    params = d / 'params.yaml'
    params.write_text(f"/**:\n  ros__parameters:\n    detector: {{backend: onnx, checkpoint: {d / 'coco.onnx'}}}\n")
    scene = d / 'example_map.yaml'
    scene.write_text(the_block('example-map').body)
    return str(params), str(scene)


def as_file(block: Block, folder: Path) -> str:
    body = block.body if block.kind != 'rule-list' else 'rules:\n' + ''.join(
        '  ' + line + '\n' for line in block.body.splitlines())
    path = folder / f"{block.doc.replace('/', '_')}_{block.line}.yaml"
    path.write_text(body)
    return str(path)


@pytest.mark.parametrize('block', [b for b in YAML_BLOCKS if b.kind in ('rule-list', 'rules')],
                         ids=lambda b: b.where)
def test_rule_examples_pass_the_checker_with_no_warning(block, site, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    params, scene = site
    report = check.run(params, as_file(block, tmp_path), scene)
    assert report.error is None, f'{block.where}: {report.error}'
    assert report.warnings == [] and report.status(strict=True) == 0, f'{block.where}: {report.warnings}'


@pytest.mark.parametrize('block', [b for b in YAML_BLOCKS if b.kind in ('scene', 'example-map')],
                         ids=lambda b: b.where)
def test_scene_map_examples_pass_the_checker(block, site, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    params, _ = site
    keep_off = str(ROOT / 'config' / 'rules_keep_off_grass.yaml')
    report = check.run(params, keep_off if 'grass' in block.body else '', as_file(block, tmp_path))
    assert report.error is None, f'{block.where}: {report.error}'


@pytest.mark.parametrize('block', [b for b in YAML_BLOCKS if b.kind == 'params'], ids=lambda b: b.where)
def test_params_examples_pass_the_checker(block, tmp_path, monkeypatch):
    """Params files as the README gives them, with their paths as from the repository root."""
    monkeypatch.chdir(ROOT)
    report = check.run(as_file(block, tmp_path), None, None)
    assert report.error is None, f'{block.where}: {report.error}'


# ---------------------------------------------------------------- the sentences the docs quote
SENTENCE = re.compile(r'^(?:[a-z]+ \(\d\.\d\d\) on |\d+ people crossed )')


def documented_sentences() -> dict[str, str]:
    """Every anomaly sentence quoted in the docs (in quotes or backticks in the text, or a line of a plain code
    block), outside the YAML examples -> where."""
    found: dict[str, str] = {}
    for doc in DOCS:
        text = (ROOT / doc).read_text()
        plain = FENCE.sub(lambda m: m.group(0) if m['lang'] == '' else '\n' * m.group(0).count('\n'), text)
        for m in re.finditer(r'[`"]([^`"\n]+)[`"]', FENCE.sub(lambda m: '\n' * m.group(0).count('\n'), plain)):
            if SENTENCE.match(m[1]):
                found[m[1]] = f"{doc}:{text.count(chr(10), 0, m.start()) + 1}"
        for b in blocks(doc):
            if b.lang == '':
                for i, line in enumerate(b.body.splitlines()):
                    sentence = line.split('  #')[0].strip()
                    if SENTENCE.match(sentence):
                        found[sentence] = f'{doc}:{b.line + i + 1}'
    return found


def example_rules(*ids: str) -> str:
    """The rules of docs/RULES.md's examples with these ids, as a rule file."""
    lines = []
    for b in YAML_BLOCKS:
        if b.doc == 'docs/RULES.md' and b.kind in ('rule-list', 'rules'):
            doc = yaml.safe_load(b.body)
            for rule in doc if isinstance(doc, list) else doc['rules']:
                if rule['id'] in ids:
                    lines.append(rule)
    assert [r['id'] for r in lines] == list(ids)
    return yaml.safe_dump({'rules': lines})


def person(x, y, track=1, score=0.9, bg=None, fraction=1.0) -> ObjectReport:
    """A person whose ground point (bottom centre of the box) is (x, y)."""
    return ObjectReport('person', score, (x - 10, y - 60, x + 10, y), bg, fraction, track)


def last_sentences(engine: RuleEngine, frames) -> list[str]:
    """The anomaly sentences of the last frame; frames: [(stamp, [objects])]."""
    result = None
    for i, (stamp, objects) in enumerate(frames):
        result = engine.evaluate(objects, i, stamp, (768, 576))
    return [a.sentence for a in result.anomalies]


def example_map():
    return scene_map_from_dict(yaml.safe_load(the_block('example-map').body), 'example_map.yaml')


def on_the_road():
    engine = RuleEngine(parse_rules(example_rules('person-on-road'), 'r.yaml', scene=example_map()), example_map())
    return last_sentences(engine, [(0.0, [person(100, 250, score=0.87, bg='road', fraction=0.64)])])


def dwell_on_grass():
    rules = parse_rules('rules:\n  - {id: dwell, objects: [person], forbidden: [grass], min_duration: 10, '
                        'sentence: keep off the grass}\n', 'r.yaml')
    return last_sentences(RuleEngine(rules), [(i / 10, [person(400, 500, score=0.8, bg='grass', fraction=0.71)])
                                              for i in range(125)])


def crowd_entering():
    engine = RuleEngine(parse_rules(example_rules('rush'), 'r.yaml', scene=example_map()), example_map())
    frames = []
    for k in range(3):                # three people walk up through the gate, one after the other
        frames += [(len(frames) / 10, [person(420, y, track=k + 1)]) for y in (170, 160, 140, 130)]
    return last_sentences(engine, frames)


def papers_rule():
    return last_sentences(RuleEngine(load_rules(PAPER_RULES_PATH)),
                          [(0.0, [person(100, 250, score=0.87, bg='road', fraction=0.64)])])


def keep_off_the_grass():
    rules = load_rules(ROOT / 'config' / 'rules_keep_off_grass.yaml')
    return last_sentences(RuleEngine(rules), [(0.0, [person(400, 500, score=0.99, bg='grass')])])


SCENARIOS = {
    'person (0.87) on road (64% of footprint): people must not be on the road': on_the_road,
    'person (0.80) on grass (71% of footprint) for 12.4 s (min 10 s): keep off the grass': dwell_on_grass,
    '3 people crossed gate_line inward in the last 60 s (min 3): crowd entering': crowd_entering,
    'person (0.87) on road (64% of footprint): people must not be on the road, in the water or on a fence':
        papers_rule,
    'person (0.99) on grass (100% of footprint): keep off the grass': keep_off_the_grass,
}


def test_every_quoted_sentence_has_a_scenario():
    assert set(documented_sentences()) == set(SCENARIOS), documented_sentences()


@pytest.mark.parametrize('sentence', list(SCENARIOS))
def test_the_engine_says_the_quoted_sentence(sentence):
    assert SCENARIOS[sentence]() == [sentence]


# ---------------------------------------------------------------- the README's example event, from a real run
START_TIME = '2026-03-01T17:47:00Z'
EVENT_FRAMES = 40            # the first event of the demo (frames 3-5) ends within them


def test_the_readmes_example_event_is_what_a_real_run_publishes(vtest_path):
    """vad-video's pipeline (the demo's params: NanoDet, the vtest scene map, keep off the grass) on the first
    frames of vtest.avi stamped from START_TIME; the first event's 'ended' update as the node publishes it
    (ros/messages.anomaly_event) against the README's `ros2 topic echo` example, field by field."""
    pytest.importorskip('vad_ros.msg', reason='needs the colcon build (tools/setup.sh ros)')
    from std_msgs.msg import Header

    from vad_ros.media.sources import VideoSource
    from vad_ros.offline.runner import load_params
    from vad_ros.pipeline import build_pipeline
    from vad_ros.reasoning.schedule import parse_start_time
    from vad_ros.ros.messages import anomaly_event, to_time
    from vad_ros.types import EVENT_ENDED

    pipeline = build_pipeline(load_params(str(ROOT / 'config' / 'demo_vtest.yaml')))
    if not pipeline.detector.name.startswith('nanodet'):
        pytest.skip('the NanoDet model is not fetched (tools/setup.sh nanodet)')
    ended = first_anomaly = None
    for frame in VideoSource(str(vtest_path), parse_start_time(START_TIME)):
        result = pipeline.process(frame.image, frame_index=frame.index, stamp=frame.timestamp)
        first_anomaly = first_anomaly or next(iter(result.anomalies), None)
        ended = next((e for e in result.events if e.state == EVENT_ENDED), None)
        if ended is not None or frame.index >= EVENT_FRAMES:
            break
    assert ended is not None, f'no event ended within {EVENT_FRAMES} frames'
    msg = anomaly_event(ended, Header(stamp=to_time(frame.timestamp), frame_id='camera_optical_frame'))

    doc = yaml.safe_load(the_block('event').body)
    stamp = lambda t: t.sec + t.nanosec * 1e-9          # noqa: E731
    assert set(doc) <= {f for f in msg.get_fields_and_field_types()}, 'a documented field the message lacks'
    assert doc['header']['stamp']['sec'] + doc['header']['stamp']['nanosec'] * 1e-9 == \
        pytest.approx(stamp(msg.header.stamp), abs=1e-3)
    for key in ('first_stamp', 'last_stamp'):
        assert doc[key]['sec'] + doc[key]['nanosec'] * 1e-9 == pytest.approx(stamp(getattr(msg, key)), abs=1e-3)
    for key in ('event_id', 'state', 'rule_id', 'severity', 'track_id', 'object_class', 'background_class',
                'sentence', 'end_reason'):
        assert doc[key] == getattr(msg, key), key
    for key in ('duration', 'peak_score', 'score'):
        if key in doc:
            assert doc[key] == pytest.approx(getattr(msg, key), abs=5e-4), key
    # the README's score formula: object score x background fraction x severity weight (warning 0.75)
    object_score, fraction = re.match(r'\w+ \((\d\.\d\d)\) on \w+ \((\d+)% ', doc['sentence']).groups()
    assert doc['peak_score'] <= 0.75 * float(object_score) * int(fraction) / 100 + 0.005

    # the files vad-video writes from the same run: their keys as docs/EVALUATION.md lists them
    from vad_ros.media.writers import FRAME_COLUMNS, anomaly_record, event_record
    records = {'anomalies.jsonl': anomaly_record(3, 0.3, first_anomaly), 'events.jsonl': event_record(ended)}
    text = ' '.join((ROOT / 'docs' / 'EVALUATION.md').read_text().split())
    for name, record in records.items():
        listed = re.search(rf'- `{re.escape(name)}`: (.*?)(?: - `|$)', text)[1]
        assert re.findall(r'`(\w+)`', listed) == list(record), name
    assert f"`frames.csv`: `{','.join(FRAME_COLUMNS)}`" in text


# ---------------------------------------------------------------- lists in the docs that must match the code
def test_the_readme_names_every_console_script():
    import ast
    setup = ast.parse((ROOT / 'setup.py').read_text())
    scripts = {node.value.split('=')[0].strip() for node in ast.walk(setup)
               if isinstance(node, ast.Constant) and isinstance(node.value, str) and ' = vad_ros.' in node.value}
    assert {'vad-video', 'vad-check', 'vad-scene', 'vad-export'} <= scripts
    text = ' '.join((ROOT / 'README.md').read_text().split())
    listed = re.search(r'offline console scripts \(([^)]*)\)', text)
    assert listed is not None and set(re.findall(r'`([\w-]+)`', listed[1])) == scripts


def test_the_readmes_parameter_table_names_every_parameter_once():
    from vad_ros.params import SPECS
    text = (ROOT / 'README.md').read_text()
    table = text[text.index('| parameter | default | meaning |'):]
    table = table[:table.index('\n\n')]
    names = [n for line in table.splitlines()[2:] for n in re.findall(r'`([^`]+)`', line.split('|')[1])]
    wildcards = [n[:-1] for n in names if n.endswith('.*')]
    plain = [n for n in names if not n.endswith('.*')]
    assert sorted(set(plain) - set(SPECS)) == [], 'rows for parameters that do not exist'
    assert len(plain) == len(set(plain)), 'a parameter with two rows'
    assert [s for s in SPECS if s not in plain and not any(s.startswith(w) for w in wildcards)] == []


def tree_modules() -> dict[str, set[str]]:
    """Folder ('' = the core, 'perception/nanodet' for a nested one) -> the modules docs/ARCHITECTURE.md's
    layer tree names in it."""
    text = (ROOT / 'docs' / 'ARCHITECTURE.md').read_text()
    tree = text[text.index('```\nvad_ros/\n') + 4:]
    tree = tree[:tree.index('```')]
    folders: dict[str, set[str]] = {}
    folder = ''
    for line in tree.splitlines()[1:]:
        head = re.match(r'  (\(core\)|[a-z_]+/)\s', line)
        nested = re.match(r'    ([a-z_]+/)\s', line)
        if head:
            folder = '' if head[1] == '(core)' else head[1].rstrip('/')
        elif nested:
            folder = folder.split('/')[0] + '/' + nested[1].rstrip('/')
        folders.setdefault(folder, set()).update(re.findall(r'\b(\w+\.py)\b', line))
    return folders


def test_the_architecture_layer_tree_names_every_module():
    named = tree_modules()
    package = ROOT / 'vad_ros'
    for folder in [package, *sorted(p for p in package.rglob('*') if p.is_dir() and (p / '__init__.py').is_file())]:
        modules = {p.name for p in folder.glob('*.py') if p.name != '__init__.py'}
        key = folder.relative_to(package).as_posix() if folder != package else ''
        if not modules:
            continue
        assert named.get(key, set()) == modules, (key or '(core)', modules ^ named.get(key, set()))


def test_nanodets_frame_time_is_the_benchs_figure_everywhere():
    """One figure for NanoDet's time per frame on 2 CPU cores, the detect() median of the default runner in
    bench/RESULTS.md's "NanoDet runners" table, wherever the README or the demo's params give one, each pointing
    to that bench section."""
    results = (ROOT / 'bench' / 'RESULTS.md').read_text()
    row = re.search(r'^\| \*\*ONNX Runtime fp32 \(default\)\*\* \| [\d.]+ \| [\d.]+ \| [\d.]+ \| ([\d.]+) \|', results, re.M)
    figure = f'{float(row[1]):.1f} ms'
    places = 0
    for doc in ('README.md', 'config/demo_vtest.yaml'):
        for line in (ROOT / doc).read_text().splitlines():
            for m in re.finditer(r'~?([\d.]+) ms per (?:768x576 )?frame on 2 cores', line):
                places += 1
                assert f'{m[1]} ms' == figure, f'{doc}: {m[0]} (bench: {figure})'
                assert '"NanoDet runners"' in line, f'{doc}: {m[0]} does not point to its bench section'
    assert places >= 2


# ---------------------------------------------------------------- measured figures point to their measurement
CLAIM_DOCS = ('README.md', 'docs/RULES.md', 'docs/EVALUATION.md', 'docs/ARCHITECTURE.md')
# A time or a rate: "12.1 ms", "~80 ms", "116 -> 74 ms", "10 us", "26.3 fps", "35.7 frames/s" (not inside `code`).
TIME_FIGURE = re.compile(r'(?<![\w.])~?\d[\d.,]*(?: ?-> ?~?\d[\d.,]*)? ?(?:ms|us|µs|fps|frames/s)\b')
# Where a measurement lives: a named section of bench/RESULTS.md, a bench script, or a bench's raw results file.
SECTION_POINTER = re.compile(r'RESULTS\.md(?:\)|\]\([^)]*\))?,\s*"([^"]+)"')
SCRIPT_POINTER = re.compile(r'\bbench/[\w/]+\.(?:py|sh)\b|\bbench_\w+\.py\b|\bresults_\w+\.(?:json|md)\b')
# Items with a time figure that is no measurement; each needs its reason. Keep this list short.
NOT_MEASUREMENTS = {
    'Below ~5 fps: confirmation needs': 'arithmetic on the defaults (3 of 5 frames at 2 fps), not a measurement',
}


def claim_items(text: str) -> list[tuple[int, str]]:
    """(first line, text) of each paragraph, list item and table row of a markdown text, code blocks left out.
    A list item also carries the paragraph that leads into its list (a pointer there covers the list)."""
    text = re.sub(r'^```.*?^```', lambda m: '\n' * m[0].count('\n'), text, flags=re.S | re.M)
    items: list[tuple[int, str, str]] = []           # (line, kind, text)
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped:
            items.append((number, 'blank', ''))
        elif stripped.startswith(('|', '#')):
            items.append((number, 'row', stripped))
        elif re.match(r'[-*] |\d+\. ', stripped):
            items.append((number, 'item', stripped))
        elif items and items[-1][1] in ('para', 'item'):          # a wrapped line goes on its paragraph or item
            items[-1] = (items[-1][0], items[-1][1], items[-1][2] + ' ' + stripped)
        else:
            items.append((number, 'para', stripped))
    out, lead = [], ''
    for number, kind, body in items:
        if kind == 'para':
            lead = body
        elif kind != 'item':
            lead = ''
        if kind in ('para', 'row'):
            out.append((number, body))
        elif kind == 'item':
            out.append((number, body + ' [list lead: ' + lead + ']' if lead else body))
    return out


def time_figures(item: str) -> list[str]:
    return [m[0] for m in TIME_FIGURE.finditer(re.sub(r'`[^`]*`', '``', item))]


def results_sections() -> list[str]:
    text = (ROOT / 'bench' / 'RESULTS.md').read_text()
    return [h.strip() for h in re.findall(r'^#{2,4} (.+)$', text, re.M)]


def test_the_claim_splitter_lets_a_list_inherit_its_leads_pointer_and_skips_code():
    text = ('Measured (bench/RESULTS.md, "X"):\n- fast: 3 ms\n  more of it\n- slow\n\n'
            'Lead without pointer:\n- 5 fps here\n\n```\n9 ms in a code block\n```\n| a | 7 ms |\n'
            'Quoted `500 ms` is syntax.\n')
    items = claim_items(text)
    assert [n for n, _ in items] == [1, 2, 4, 6, 7, 12, 13]
    assert items[1][1] == '- fast: 3 ms more of it [list lead: Measured (bench/RESULTS.md, "X"):]'
    assert SECTION_POINTER.search(items[1][1])[1] == 'X'
    assert 'list lead: Lead without pointer' in items[4][1] and not SECTION_POINTER.search(items[4][1])
    assert [time_figures(b) for _, b in items] == [[], ['3 ms'], [], [], ['5 fps'], ['7 ms'], []]


@pytest.mark.parametrize('doc', CLAIM_DOCS)
def test_every_measured_time_points_to_the_bench_that_measures_it(doc):
    """A time or a frame rate in the docs (ms, us, fps) names where it was measured: a bench/RESULTS.md section
    by its title (`bench/RESULTS.md, "Section"`, in the same paragraph, list item, table row or the paragraph
    that leads into the list) or a bench script / raw results file; a quoted section must exist."""
    sections = results_sections()
    bare, unknown = [], []
    for number, item in claim_items((ROOT / doc).read_text()):
        for name in SECTION_POINTER.findall(item):
            if not any(s.startswith(' '.join(name.split())) for s in sections):
                unknown.append(f'{doc}:{number}: "{name}"')
        figures = time_figures(item)
        if not figures or any(key in item for key in NOT_MEASUREMENTS):
            continue
        if not SECTION_POINTER.search(item) and not SCRIPT_POINTER.search(item):
            bare.append(f'{doc}:{number}: {figures} in "{item[:100]}..."')
    assert unknown == [], 'sections that bench/RESULTS.md does not have (titles start so)'
    assert bare == [], 'measured figures without a pointer to their bench/RESULTS.md section or bench script'


def test_the_exceptions_to_the_pointer_rule_are_still_in_the_docs():
    items = [item for doc in CLAIM_DOCS for _, item in claim_items((ROOT / doc).read_text())]
    for key, reason in NOT_MEASUREMENTS.items():
        assert reason and any(key in item and time_figures(item) for item in items), f'stale exception: {key}'


def new_defaults_rows() -> dict[str, list[str]]:
    """bench/RESULTS.md's issue-23 second round: the "new defaults" row of each run, cells without markup."""
    text = (ROOT / 'bench' / 'RESULTS.md').read_text()
    second = text[text.index('### Second round: one id per person'):]
    second = second[:second.index('\n### ')]
    rows = {}
    for line in second.splitlines():
        cells = [c.strip().replace('**', '') for c in line.strip().strip('|').split('|')]
        if len(cells) == 9 and cells[1] == 'new defaults':
            rows[cells[0]] = cells
    return rows


def test_what_to_expect_on_a_new_site_quotes_the_alert_benchs_new_defaults():
    """The README's "What to expect on a new site" gives the figures of bench/RESULTS.md's "Alert quality with
    the defaults" (second round, new defaults) at 10 fps, 5 fps and half size."""
    rows = new_defaults_rows()
    assert list(rows) == ['10 fps', '5 fps', 'half size']
    runs = list(rows.values())
    readme = ' '.join((ROOT / 'README.md').read_text().split())
    section = readme[readme.index('### What to expect on a new site'):readme.index('What to tune, and when')]
    assert '"Alert quality with the defaults"' in section
    precision = {r[2].split(' / ')[0] for r in runs}
    recalls = sorted(r[2].split(' / ')[1] for r in runs)
    assert len(precision) == 1
    assert f'frame precision {precision.pop()} and recall {recalls[0]}-{recalls[-1]}' in section
    assert {r[4] for r in runs} == {'4/4'} and 'all 4 visits to the lawn caught' in section
    assert {r[6] for r in runs} == {'0'} and 'no false events' in section
    assert f'{" / ".join(r[8] for r in runs)} id switches' in section
    medians = [r[7].split(' / ')[0] for r in runs]
    longest = max(float(r[7].split(' / ')[1].rstrip(' s')) for r in runs)
    assert f'median {" / ".join(medians)} s, at most {longest:g} s' in section
    per_visit = {run: re.search(r'\(([\d.]+)\)', r[5])[1] for run, r in rows.items()}
    assert per_visit['10 fps'] == per_visit['half size']
    assert (f'{per_visit["10 fps"]} events per visit measured at 10 fps and half size, {per_visit["5 fps"]} at 5 fps'
            in section)
