"""The parameter table, params files, and config/vad.yaml staying in step with the table."""
import textwrap

import pytest

from vad_ros import params


def test_config_vad_yaml_lists_every_parameter_with_its_default(repo_root):
    values = params.read_params_file(str(repo_root / 'config' / 'vad.yaml'))
    assert set(values) == set(params.SPECS)
    assert {k: v for k, v in values.items()} == params.defaults()


def test_every_parameter_line_in_vad_yaml_has_a_comment(repo_root):
    lines = (repo_root / 'config' / 'vad.yaml').read_text().splitlines()
    leaves = [ln for ln in lines if ':' in ln and not ln.strip().startswith('#') and not ln.rstrip().endswith(':')]
    assert leaves and all('#' in ln for ln in leaves)


def test_values_are_checked_with_reasons():
    assert params.check_value('score_threshold', 1) == 1.0
    with pytest.raises(params.ParamError, match="'score_threshold': 1.5 must be between"):
        params.check_value('score_threshold', 1.5)
    with pytest.raises(params.ParamError, match="'detector.backend': 'yolo' is not one of"):
        params.check_value('detector.backend', 'yolo')
    with pytest.raises(params.ParamError, match="expected bool"):
        params.check_value('tracking.enabled', 'yes')
    with pytest.raises(params.ParamError, match="did you mean score_threshold"):
        params.check_value('score_treshold', 0.3)
    with pytest.raises(params.ParamError, match="cuda:N"):
        params.check_value('detector.device', 'gpu')
    assert params.check_value('events.update_period', 0) == 0.0
    with pytest.raises(params.ParamError, match="'events.update_period'"):
        params.check_value('events.update_period', -1.0)


def test_params_file_forms_and_relative_paths(tmp_path):
    (tmp_path / 'rules.yaml').write_text('rules: []\n')
    f = tmp_path / 'p.yaml'
    f.write_text(textwrap.dedent('''\
        /**:
          ros__parameters:
            rules_file: rules.yaml
            scene_map_file: not_here.yaml
        other_node:
          ros__parameters:
            score_threshold: 0.9
        /cam/vad_node:
          ros__parameters:
            background: {region: box}
        '''))
    values = params.read_params_file(str(f))
    assert values == {'rules_file': str(tmp_path / 'rules.yaml'), 'scene_map_file': 'not_here.yaml',
                      'background.region': 'box'}


@pytest.mark.parametrize('content, error', [
    (None, 'does not exist'),
    ('/**: [x', 'not valid YAML'),
    ('- a\n- b\n', 'expected a mapping'),
    ('/**:\n  score_threshold: 0.3\n', "needs a 'ros__parameters' mapping"),
    (b'\xff\xfe/**: {}\n', "p.yaml' cannot be read: 'utf-8' codec"),
])
def test_unusable_files_are_file_errors(tmp_path, content, error):
    f = tmp_path / 'p.yaml'
    if isinstance(content, bytes):
        f.write_bytes(content)
    elif content is not None:
        f.write_text(content)
    with pytest.raises(params.ParamFileError, match=error):
        params.read_params_file(str(f))


def test_bad_value_in_file_names_file_and_parameter(tmp_path):
    f = tmp_path / 'p.yaml'
    f.write_text('/**:\n  ros__parameters:\n    segmentation_interval: 0\n')
    with pytest.raises(params.ParamError, match=r"p\.yaml.*'segmentation_interval': 0 must be between 1 and 1000000") as info:
        params.read_params_file(str(f))
    assert not isinstance(info.value, params.ParamFileError)


def test_a_bool_is_refused_for_an_int_parameter_and_an_int_is_taken_for_a_float():
    with pytest.raises(params.ParamError, match="'segmentation_interval': expected int, got bool True"):
        params.check_value('segmentation_interval', True)
    assert params.check_value('diagnostics_period', 2) == 2.0


def test_who_applies_each_parameter_is_stated_once_and_everything_derives_from_it():
    from vad_ros.pipeline import RUNTIME_PARAMS
    owners = {name: spec.applies for name, spec in params.SPECS.items()}
    assert set(owners.values()) == {params.STARTUP, params.PIPELINE, params.NODE}
    assert set(RUNTIME_PARAMS) == {n for n, o in owners.items() if o == params.PIPELINE}
    assert {n for n, s in params.SPECS.items() if s.read_only} == set(params.applied_by(params.STARTUP))
    assert {'rules_file', 'publish_debug_image', 'diagnostics_period', 'events.snapshot', 'publish_detections',
            'publish_class_map', 'max_image_pixels', 'events.update_period'} <= set(params.applied_by(params.NODE))
    assert {'detector.backend', 'scene_map_file'} <= set(params.applied_by(params.STARTUP))


def test_params_file_errors_name_the_line(tmp_path):
    f = tmp_path / 'p.yaml'
    f.write_text('/**:\n  ros__parameters:\n    score_threshold: 0.5\n    background:\n      region: middle\n')
    with pytest.raises(params.ParamError, match=r"p.yaml:5'.*'background.region': 'middle' is not one of"):
        params.read_params_file(str(f))


def test_a_bad_value_is_one_line_that_names_the_place_the_value_what_is_allowed_and_the_fix(tmp_path):
    f = tmp_path / 'p.yaml'
    f.write_text('/**:\n  ros__parameters:\n    score_threshold: 1.5\n    tracking:\n      tracker: sort\n'
                 '    score_treshold: 0.2\n    background: {region: box}\n')
    bad: list[str] = []
    values = params.read_params_file(str(f), bad_values=bad)
    assert values == {'background.region': 'box'}                 # the bad entries left out: defaults apply
    assert len(bad) == 3 and bad[:2] == [
        f"params file '{f}:3': parameter 'score_threshold': 1.5 must be between 0.0 and 1.0; fix the value or "
        'remove the line (default: 0.3)',
        f"params file '{f}:5': parameter 'tracking.tracker': 'sort' is not one of 'byte', 'iou'; fix the value or "
        "remove the line (default: 'byte')"]
    assert bad[2].startswith(f"params file '{f}:6': unknown parameter 'score_treshold' (did you mean "
                             'score_threshold') and bad[2].endswith('; fix the name or remove the line')
    with pytest.raises(params.ParamError) as strict:               # without the list (vad-check): refused, same line
        params.read_params_file(str(f))
    assert str(strict.value) == bad[0]


def test_offline_tools_go_on_with_the_default_and_say_so_as_the_node_does(tmp_path, caplog):
    from vad_ros.offline.runner import load_params
    f = tmp_path / 'p.yaml'
    f.write_text('/**:\n  ros__parameters:\n    score_threshold: 1.5\n    tracking: {enabled: "yes"}\n')
    with caplog.at_level('WARNING', logger='vad_ros.params'):
        values = load_params(str(f), lenient=True)                  # vad-video, vad-eval
    assert values['score_threshold'] == 0.3 and values['tracking.enabled'] is True
    assert [r.getMessage() for r in caplog.records] == [
        f"params file '{f}:3': parameter 'score_threshold': 1.5 must be between 0.0 and 1.0; fix the value or "
        'remove the line (default: 0.3)',
        f"params file '{f}:4': parameter 'tracking.enabled': expected bool, got str 'yes' (default: True); fix the "
        'value or remove the line']
    with pytest.raises(params.ParamError, match="'score_threshold': 1.5 must be between"):
        load_params(str(f))                                         # vad-check's way: refused


def test_wait_for_scene_map_is_off_by_default():
    assert params.SPECS['wait_for_scene_map'].default is False and params.SPECS['wait_for_scene_map'].read_only


def test_every_number_parameter_has_a_finite_range():
    """No value reaches OpenCV, numba, torch or the middleware as a number they cannot hold: huge and infinite
    values are refused by every int / float parameter (a new one without an upper bound fails here)."""
    numeric = [s for s in params.SPECS.values() if type(s.default) in (int, float) and s.choices is None]
    assert len(numeric) > 20
    for spec in numeric:
        assert params.check_value(spec.name, spec.default) == spec.default
        for value in (10 ** 19, -10 ** 19) + ((float('inf'), float('-inf'), 1e300) if type(spec.default) is float else ()):
            with pytest.raises(params.ParamError, match=f"'{spec.name}'"):
                params.check_value(spec.name, value)


def test_the_iou_tracker_gets_no_miss_count_it_cannot_hold():
    """tracking.max_missed beyond int64 made the iou tracker's compiled update fail on every frame."""
    with pytest.raises(params.ParamError, match="'tracking.max_missed': 9223372036854775808 must be between 0 and 10000"):
        params.check_value('tracking.max_missed', 2 ** 63)
    assert params.check_value('tracking.max_missed', 10000) == 10000
