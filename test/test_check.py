"""vad-check (vad_ros.check) against the node's own path: the same bad files are refused by the checker (a
subprocess, as a user runs it) and by build_pipeline on the real models with strict rules, as the node's
configure builds each camera (vad_ros/ros/camera.py build), with the same message; the vocabularies the
checker uses without loading models are the ones the models have once loaded."""
from __future__ import annotations

import json
import os
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from vad_ros import params as vparams
from vad_ros.check import main as check_main
from vad_ros.offline.runner import load_params
from vad_ros.perception.base import PerceptionError
from vad_ros.perception.factory import build_detector, build_segmenter, detector_vocabulary, vocabularies
from vad_ros.pipeline import build_pipeline
from vad_ros.reasoning.rules import RuleFileError
from vad_ros.reasoning.scene_map import SceneMapError

ROOT = Path(__file__).resolve().parents[1]
DEMO = str(ROOT / 'config' / 'demo_vtest.yaml')
CALIBRATED_SCENE = """image_size: [768, 576]
regions:
  - {label: grass, polygon: [[0, 238], [768, 498], [768, 576], [0, 576]]}
zones:
  - {name: lawn, polygon: [[0, 238], [768, 498], [768, 576], [0, 576]]}
calibration:
  - {image: [0, 576], ground: [0, 0]}
  - {image: [768, 576], ground: [10, 0]}
  - {image: [768, 300], ground: [10, 20]}
  - {image: [0, 300], ground: [0, 20]}
"""


def vad_check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-m', 'vad_ros.check', *args], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)


def rule_file(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / f'{name}.yaml'
    path.write_text('rules:\n' + body)
    return str(path)


@pytest.fixture(scope='module')
def demo_models():
    """The demo's models, built once, as the node's configure builds them for all of its cameras."""
    params = load_params(DEMO)
    return build_detector(params), build_segmenter(params)


def node_refuses(params: dict, models) -> str:
    """The error of the node's path (build_pipeline on the models, strict rules) for these params."""
    with pytest.raises((RuleFileError, SceneMapError)) as refused:
        build_pipeline(params, *models, strict_rules=True)
    return str(refused.value)


# the probe's cases: (name, rule body, the error both must give; {path} = the rule file)
PROBE = [
    ('persn', "  - {id: r, objects: [persn], forbidden: [grass], sentence: s}\n",
     "{path}:2: rule 'r': unknown object class 'persn' (closest known: person"),
    ('gras', "  - {id: r, objects: [person], forbidden: [gras], sentence: s}\n",
     "{path}:2: rule 'r': unknown background class 'gras' (closest known: grass"),
    ('zone', "  - id: r\n    objects: [person]\n    in_zone: [loading_bay]\n    sentence: s\n",
     "{path}:4: rule 'r': unknown zone 'loading_bay' (scene map '" + str(ROOT / 'config' / 'scene_vtest.yaml')
     + "' has no zones)"),
    ('speed', "  - id: r\n    objects: [person]\n    min_speed: 3 m/s\n    sentence: running\n",
     "{path}:4: rule 'r': a speed in m/s needs a ground-plane calibration in scene map"),
]


@pytest.mark.parametrize('name, body, error', PROBE, ids=[p[0] for p in PROBE])
def test_the_probes_files_are_refused_by_the_checker_and_by_the_node(tmp_path, demo_models, name, body, error):
    path = rule_file(tmp_path, name, body)
    expected = error.format(path=path)
    out = vad_check('--params', DEMO, '--rules', path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert expected in out.stderr and 'the node would not start' in out.stderr
    assert expected in node_refuses(load_params(DEMO, path), demo_models)


def test_the_same_rules_pass_where_the_scene_map_has_the_zone_and_the_calibration(tmp_path, demo_models):
    scene = tmp_path / 'scene.yaml'
    scene.write_text(CALIBRATED_SCENE)
    path = rule_file(tmp_path, 'ok', "  - {id: in-lawn, objects: [person], in_zone: [lawn], sentence: s}\n"
                                     "  - {id: running, objects: [person], min_speed: 3 m/s, sentence: s}\n")
    out = vad_check('--params', DEMO, '--rules', path, '--scene', str(scene))
    assert out.returncode == 0, out.stdout + out.stderr
    assert 'rules: 2 rule(s)' in out.stdout and 'zones: lawn' in out.stdout
    assert 'ground-plane calibration: 4 points' in out.stdout
    assert len(build_pipeline(load_params(DEMO, path, str(scene)), *demo_models, strict_rules=True).rules) == 2


def test_a_missing_scene_map_is_refused_by_both(tmp_path, demo_models):
    missing = str(tmp_path / 'no_scene.yaml')
    out = vad_check('--params', DEMO, '--scene', missing)
    node = node_refuses(load_params(DEMO, scene=missing), demo_models)
    assert out.returncode == 2 and missing in node and node in out.stderr


def test_the_demo_set_is_usable_and_says_what_is_in_force():
    out = vad_check('--params', DEMO)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert f"rules: 1 rule(s) from '{ROOT / 'config' / 'rules_keep_off_grass.yaml'}': keep-off-the-grass" in lines
    assert f"scene map: '{ROOT / 'config' / 'scene_vtest.yaml'}' (768x576)" in lines
    assert '  regions: 6 (road, grass, sidewalk)' in lines and '  zones: none' in lines
    assert "background: 3 classes from the scene map's labels (road, grass, sidewalk)" in lines
    assert 'segmenter: none' in lines
    assert lines[-1].startswith('vad-check: usable: the node would start with 1 of 1 rule(s) able to fire')


def test_help_is_help_not_a_file_name():
    out = vad_check('--help')
    assert out.returncode == 0 and out.stdout.startswith('usage: '), out.stderr
    assert '--params' in out.stdout and '--strict' in out.stdout and 'does not exist' not in out.stdout
    assert 'Exit status' in out.stdout


def hog_params(tmp_path: Path) -> str:
    path = tmp_path / 'hog.yaml'
    path.write_text('/**:\n  ros__parameters:\n    detector: {backend: hog}\n'
                    f"    scene_map_file: {ROOT / 'config' / 'scene_vtest.yaml'}\n")
    return str(path)


def test_warnings_pass_unless_strict_and_a_set_that_cannot_fire_is_refused(tmp_path, capsys):
    params = hog_params(tmp_path)
    mixed = rule_file(tmp_path, 'mixed', "  - {id: people, objects: [person, car], forbidden: [grass], sentence: s}\n")
    assert check_main(['--params', params, '--rules', mixed]) == 0
    out = capsys.readouterr().out
    assert "detector: hog, 1 class (person) from OpenCV's HOG people detector" in out
    assert "warning: " + mixed + ":2: rule 'people': the configured object source cannot produce 'car'" in out
    assert check_main(['--params', params, '--rules', mixed, '--strict']) == 2
    assert 'refused (--strict): 1 warning(s)' in capsys.readouterr().err

    cars = rule_file(tmp_path, 'cars', "  - {id: cars, objects: [car], forbidden: [grass], sentence: s}\n")
    assert check_main(['--params', params, '--rules', cars]) == 2
    captured = capsys.readouterr()
    assert "rule 'cars' can never fire: the detector has none of its objects (car)" in captured.out
    assert 'no rule could ever fire' in captured.err
    lawn_ok = rule_file(tmp_path, 'allowed', "  - {id: a, objects: [person], allowed: [road, grass, sidewalk], "
                                             "sentence: s}\n")
    assert check_main(['--params', params, '--rules', lawn_ok]) == 2
    assert "every background that can be produced (grass, road, sidewalk) is allowed" in capsys.readouterr().out
    empty = tmp_path / 'empty.yaml'
    empty.write_text('rules: []\n')
    assert check_main(['--params', params, '--rules', str(empty)]) == 2
    assert 'the rule set is empty' in capsys.readouterr().err


def test_no_background_source_means_no_background_rule_can_fire(tmp_path, capsys):
    params = tmp_path / 'bare.yaml'
    params.write_text('/**:\n  ros__parameters:\n    detector: {backend: hog}\n')
    grass = rule_file(tmp_path, 'grass', "  - {id: g, objects: [person], forbidden: [grass], sentence: s}\n")
    assert check_main(['--params', str(params), '--rules', grass]) == 2
    out = capsys.readouterr().out
    assert 'background: none' in out and 'warning: no background source' in out
    assert "rule 'g' can never fire: its 'forbidden' backgrounds need a background source" in out
    speed = rule_file(tmp_path, 'speed', "  - {id: fast, objects: [person], min_speed: 80 px/s, sentence: s}\n")
    assert check_main(['--params', str(params), '--rules', speed]) == 0      # needs no background


def test_a_bad_params_file_is_refused_with_its_line(tmp_path, capsys):
    params = tmp_path / 'typo.yaml'
    params.write_text('/**:\n  ros__parameters:\n    score_treshold: 0.5\n')
    assert check_main(['--params', str(params)]) == 2
    err = capsys.readouterr().err
    assert f"params file '{params}:3': unknown parameter 'score_treshold'" in err and 'score_threshold' in err


# ---------------------------------------------------------------- vocabularies without models
def test_the_detectors_vocabulary_is_the_built_detectors(tmp_path, monkeypatch, caplog):
    for overrides in ({'detector.backend': 'hog'}, {'detector.backend': 'nanodet'}):
        params = vparams.resolve(overrides)
        assert detector_vocabulary(params).class_names == tuple(build_detector(params).class_names)
    monkeypatch.setenv('VAD_ROS_MODEL_CACHE', str(tmp_path))        # no fetched NanoDet: the node runs HOG
    with caplog.at_level(logging.WARNING, logger='vad_ros.perception'):
        fallback = detector_vocabulary(vparams.resolve({}))
    assert (fallback.backend, fallback.class_names) == ('hog', ('person',))
    assert [r.getMessage() for r in caplog.records] == [
        f'detector.backend nanodet: the model file {tmp_path}/human-models-3.0.4/nanodet.json is missing (run '
        'tools/setup.sh nanodet); using the HOG people detector instead']
    named = vparams.resolve({'detector.nanodet.model': str(tmp_path / 'gone.json')})
    with pytest.raises(PerceptionError) as checked:
        detector_vocabulary(named)
    with pytest.raises(PerceptionError) as built:
        build_detector(named)
    assert str(checked.value) == str(built.value) and 'gone.json' in str(checked.value)


def exported(tmp_path: Path, backend: str, meta: dict | None = None) -> dict:
    """Params naming an exported model for `backend` (role): a placeholder .onnx (never loaded here) and its
    metadata, with `meta` over the good metadata."""
    from vad_ros.perception.onnx.runtime import FORMAT
    role = backend
    onnx = tmp_path / f'{role}.onnx'
    onnx.write_bytes(b'not loaded')
    doc = {'format': FORMAT, 'role': role, 'class_names': ['road', 'grass'],
           'decoder': 'dense' if role == 'detector' else 'label_map', **(meta or {})}
    (tmp_path / f'{role}.json').write_text(json.dumps(doc))
    return vparams.resolve({f'{role}.backend': 'onnx', f'{role}.checkpoint': str(onnx)})


def test_exported_models_give_their_metadatas_vocabulary_and_its_errors(tmp_path):
    pytest.importorskip('onnxruntime')
    detector, segmenter = vocabularies(exported(tmp_path, 'segmenter'))
    assert segmenter.class_names == ('road', 'grass') and "segmenter.json'" in segmenter.source
    from vad_ros.perception.onnx.detector import OnnxDetector
    from vad_ros.perception.onnx.segmenter import OnnxSegmenter
    for role, backend, meta, error in (
            ('detector', OnnxDetector, {'decoder': 'yolo'}, "needs decoder 'yolo'"),
            ('segmenter', OnnxSegmenter, {'class_names': []}, 'names no classes'),
            ('detector', OnnxDetector, {'role': 'segmenter'}, 'is an exported segmenter, not a detector')):
        params = exported(tmp_path, role, meta)
        with pytest.raises(PerceptionError, match=error) as checked:
            vocabularies(params)
        with pytest.raises(PerceptionError) as built:          # the backend's own check, before any session
            backend.from_params(params)
        assert str(checked.value) == str(built.value)


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    pytest.importorskip('mmdet', reason='needs onedl-mmdetection (tools/setup.sh models)')
    pytest.importorskip('mmseg', reason='needs onedl-mmsegmentation (tools/setup.sh models)')
    from vad_ros.devtools.random_checkpoints import make_random_checkpoint
    out = str(tmp_path_factory.mktemp('models'))
    return {'det': make_random_checkpoint('det', out), 'seg': make_random_checkpoint('seg', out)}


def mm_params(checkpoints, **overrides) -> dict:
    (dc, dk), (sc, sk) = checkpoints['det'], checkpoints['seg']
    return vparams.resolve({'detector.backend': 'mmdet', 'detector.config': dc, 'detector.checkpoint': dk,
                            'detector.device': 'cpu', 'segmenter.backend': 'mmseg', 'segmenter.config': sc,
                            'segmenter.checkpoint': sk, 'segmenter.device': 'cpu', **overrides})


def test_toolbox_models_vocabularies_come_from_their_files_without_loading_weights(checkpoints, monkeypatch):
    import torch
    params = mm_params(checkpoints)
    loads = []
    real_load = torch.load
    monkeypatch.setattr(torch, 'load', lambda *a, **k: loads.append(k.get('mmap')) or real_load(*a, **k))
    detector, segmenter = vocabularies(params)
    assert loads == [True, True]                      # tensors memory-mapped, never read
    monkeypatch.undo()
    assert detector.class_names == tuple(build_detector(params).class_names)
    assert segmenter.class_names == tuple(build_segmenter(params).class_names)
    assert len(detector.class_names) == 80 and len(segmenter.class_names) == 150
    assert "meta.dataset_meta of '" + checkpoints['det'][1] + "'" in detector.source
    # a model name to download: the names of the dataset its shipped config tests on
    named = vocabularies(mm_params(checkpoints, **{'detector.config': 'rtmdet_tiny_8xb32-300e_coco',
                                                    'detector.checkpoint': ''}))[0]
    assert named.class_names == detector.class_names and 'downloads its weights' in named.source


def test_toolbox_files_the_node_refuses_are_refused_with_its_message(checkpoints, tmp_path):
    import torch
    ckpt = torch.load(checkpoints['det'][1], map_location='cpu', weights_only=True)
    ckpt['meta']['dataset_meta']['classes'] = ['person', 'bicycle', 'car']
    three = tmp_path / 'three_classes.pth'
    torch.save(ckpt, three)
    for overrides in ({'detector.checkpoint': str(three)}, {'detector.config': '/nope/model.py'},
                      {'detector.checkpoint': ''}, {'segmenter.checkpoint': str(tmp_path / 'none.pth')},
                      {'detector.config': 'no_such_model_xyz', 'detector.checkpoint': 'x.pth'}):
        params = mm_params(checkpoints, **overrides)
        with pytest.raises(PerceptionError) as checked:
            vocabularies(params)
        with pytest.raises(PerceptionError) as built:
            build_detector(params), build_segmenter(params)
        assert str(checked.value) == str(built.value)


# ---------------------------------------------------------------- several cameras: each camera's own files
def node_configure_error(params_file: str) -> str:
    """The real vad_node (in this process, its own rclpy context on an isolated domain) configured from
    `params_file`, as `vad-launch params_file:=...` starts it: its startup error ('' when it configures)."""
    rclpy = pytest.importorskip('rclpy')
    pytest.importorskip('vad_ros.msg', reason='needs the colcon build (tools/setup.sh ros)')
    from rclpy.lifecycle import TransitionCallbackReturn

    from ros_helpers import isolated_env
    from vad_ros.ros.node import VadNode
    env = isolated_env()
    saved = {k: os.environ.get(k) for k in ('ROS_AUTOMATIC_DISCOVERY_RANGE', 'FASTDDS_DEFAULT_PROFILES_FILE')}
    os.environ.update({k: env[k] for k in saved})
    context = rclpy.Context()
    rclpy.init(args=['vad_node', '--ros-args', '-p', 'autostart:=false', '--params-file', params_file],
               context=context, domain_id=int(env['ROS_DOMAIN_ID']))
    try:
        node = VadNode(params_file_dirs=[os.path.dirname(params_file), os.getcwd()], context=context)
        try:
            return '' if node.trigger_configure() == TransitionCallbackReturn.SUCCESS else node.startup_error
        finally:
            node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def two_cameras(tmp_path: Path, front: str) -> str:
    """A params file: HOG, cameras front and rear on the shared demo files, `front` giving front's own ones."""
    path = tmp_path / 'cameras.yaml'
    path.write_text('/**:\n  ros__parameters:\n    detector: {backend: hog}\n    cameras: front,rear\n'
                    f"    scene_map_file: {ROOT / 'config' / 'scene_vtest.yaml'}\n"
                    f"    rules_file: {ROOT / 'config' / 'rules_keep_off_grass.yaml'}\n"
                    f'    front: {{{front}}}\n')
    return str(path)


CAMERA_CASES = [
    ('rules', lambda d: f"rules_file: {rule_file(d, 'persn', PROBE[0][1])}",
     "camera 'front': {dir}/persn.yaml:2: rule 'r': unknown object class 'persn' (closest known: person"),
    ('zone', lambda d: f"rules_file: {rule_file(d, 'zone', PROBE[2][1])}",
     "camera 'front': {dir}/zone.yaml:4: rule 'r': unknown zone 'loading_bay'"),
    ('scene', lambda d: 'scene_map_file: no_scene.yaml',
     "camera 'front': scene map"),
    ('relative-rules', lambda d: (rule_file(d, 'speed', PROBE[3][1]), 'rules_file: speed.yaml')[1],
     "camera 'front': {dir}/speed.yaml:4: rule 'r': a speed in m/s needs a ground-plane calibration"),
]


@pytest.mark.parametrize('name, front, error', CAMERA_CASES, ids=[c[0] for c in CAMERA_CASES])
def test_a_cameras_own_bad_files_are_refused_by_the_checker_and_by_the_node(tmp_path, name, front, error):
    params = two_cameras(tmp_path, front(tmp_path))
    expected = error.format(dir=tmp_path)
    node = node_configure_error(params)
    assert expected in node, node
    out = vad_check('--params', params)
    assert out.returncode == 2, out.stdout + out.stderr
    assert f'the node would not start: {node}' in out.stderr


def test_each_camera_is_checked_with_its_own_files_and_unnamed_cameras_files_are_reported(tmp_path, capsys):
    scene = tmp_path / 'scene.yaml'
    scene.write_text(CALIBRATED_SCENE)
    own = rule_file(tmp_path, 'lawn', "  - {id: in-lawn, objects: [person], in_zone: [lawn], sentence: s}\n")
    params = two_cameras(tmp_path, f'rules_file: lawn.yaml, scene_map_file: {scene}')
    with open(params, 'a') as f:
        f.write('    side: {rules_file: lawn.yaml}\n')
    assert node_configure_error(params) == ''
    assert check_main(['--params', params]) == 0
    out = capsys.readouterr().out
    front, rear = out.index("camera 'front':"), out.index("camera 'rear':")
    assert f"  rules: 1 rule(s) from '{own}': in-lawn" in out[front:rear]
    assert "    zones: lawn" in out[front:rear] and '    zones: none' in out[rear:]
    assert 'keep-off-the-grass' in out[rear:]
    assert ("side.rules_file: a file of camera 'side', which parameter cameras does not name (front,rear): the "
            "node ignores it") in out
    # one tool, one camera: vad-video says how to run a camera's own files
    with pytest.raises(vparams.ParamError, match=r"'front.rules_file' is camera 'front''s own file .* pass that "
                                                 r"camera's files with --rules / --scene"):
        load_params(params)
    # a camera whose rules can never fire makes the set unusable, as for one camera
    cars = rule_file(tmp_path, 'cars', "  - {id: cars, objects: [car], forbidden: [grass], sentence: s}\n")
    assert check_main(['--params', two_cameras(tmp_path, f'rules_file: {cars}')]) == 2
    assert "no rule could ever fire for camera 'front'" in capsys.readouterr().err


def test_a_map_not_drawn_yet_is_waited_for_by_both(tmp_path):
    """wait_for_scene_map: the node starts without the map (and loads it once saved); the checker says so, and
    that no background rule can fire until then."""
    params = tmp_path / 'new_camera.yaml'
    params.write_text('/**:\n  ros__parameters:\n    detector: {backend: hog}\n    wait_for_scene_map: true\n'
                      f"    scene_map_file: scene.yaml\n    rules_file: {ROOT / 'config' / 'rules_keep_off_grass.yaml'}\n")
    assert node_configure_error(str(params)) == ''
    out = vad_check('--params', str(params))
    assert out.returncode == 2 and 'would not start' not in out.stderr
    assert f"scene map: '{tmp_path / 'scene.yaml'}' not drawn yet" in out.stdout
    assert 'no rule could ever fire' in out.stderr
    (tmp_path / 'scene.yaml').write_text(CALIBRATED_SCENE)          # drawn: in force
    assert vad_check('--params', str(params)).returncode == 0


def test_name_suggestions_come_from_the_vocabulary_in_use(tmp_path, capsys):
    """No segmenter: the background classes are the scene map's labels, and so are the suggestions (not
    ADE20K's); a zone named where a background class belongs, or a region label where a zone does, says so."""
    params = hog_params(tmp_path)
    cases = [("  - {id: cars, objects: [person], allowed: [road, parking], sentence: s}\n",
              "unknown background class 'parking' (known here: grass, road, sidewalk)"),
             ("  - {id: g, objects: [person], forbidden: [gras], sentence: s}\n",
              "unknown background class 'gras' (closest known: grass)"),
             ("  - {id: crowd, objects: [person], in_zone: road, min_count: 4, sentence: s}\n",
              "unknown zone 'road' (scene map '" + str(ROOT / 'config' / 'scene_vtest.yaml') + "' has no zones; "
              "'road' is a region label there (a background class: forbidden / allowed); a zone is a shape of "
              "its own, under zones:)")]
    for i, (body, error) in enumerate(cases):
        assert check_main(['--params', params, '--rules', rule_file(tmp_path, f'r{i}', body)]) == 2
        assert error in capsys.readouterr().err
    scene = tmp_path / 'scene.yaml'
    scene.write_text(CALIBRATED_SCENE)
    lawn = rule_file(tmp_path, 'lawn', "  - {id: l, objects: [person], forbidden: [lawn], sentence: s}\n")
    assert check_main(['--params', params, '--rules', lawn, '--scene', str(scene)]) == 2
    assert ("unknown background class 'lawn' (known here: grass); 'lawn' is a zone of the scene map, which a rule "
            "names with in_zone / not_in_zone") in capsys.readouterr().err


def one_camera(tmp_path: Path, rules: str) -> str:
    path = tmp_path / 'one.yaml'
    path.write_text('/**:\n  ros__parameters:\n    detector: {backend: hog}\n'
                    f"    scene_map_file: {ROOT / 'config' / 'scene_vtest.yaml'}\n    rules_file: {rules}\n")
    return str(path)


@pytest.mark.parametrize('name, body, error', PROBE + [('missing', None, "{path}' does not exist")],
                         ids=[p[0] for p in PROBE] + ['missing'])
def test_the_node_itself_refuses_what_the_checker_refuses(tmp_path, name, body, error):
    """The probe's files (and a rule file that is not there) through the real node's configure and vad-check:
    both refuse, with the same message."""
    path = rule_file(tmp_path, name, body) if body is not None else str(tmp_path / 'gone.yaml')
    params = one_camera(tmp_path, path)
    node = node_configure_error(params)
    assert error.format(path=path) in node
    out = vad_check('--params', params)
    assert out.returncode == 2 and f'the node would not start: {node}' in out.stderr


@pytest.mark.parametrize('role, offered', [('detector', 'hog, nanodet, mmdet, onnx'), ('segmenter', 'none, mmseg, onnx')])
def test_an_unknown_backend_is_refused_alike_by_the_builder_and_the_vocabulary(role, offered):
    """The backend names live in one place (vad_ros.params); a dict that skipped params.resolve still gets them."""
    params = {**vparams.resolve({}), f'{role}.backend': 'yolo'}
    build = build_detector if role == 'detector' else build_segmenter
    vocabulary = (lambda p: vocabularies(p)[0]) if role == 'detector' else (lambda p: vocabularies(p)[1])
    for call in (build, vocabulary):
        with pytest.raises(PerceptionError, match=f"{role}.backend 'yolo' is not one of: {offered}$"):
            call(params)
