"""vad_node over real DDS: frames above max_image_pixels are skipped and counted under a fixed cause; rule-file
errors through the parameter API tell a participant how to fix a rule file and nothing about other files; numbers
beyond a parameter's range (which used to reach the middleware as a queue depth or a timer it cannot hold) are
refused, in a params file and through the parameter API, and the node keeps running."""
from __future__ import annotations

import cv2
from rcl_interfaces.msg import ParameterType, ParameterValue

from node_graph import image_msg, write_config


def test_frames_above_max_image_pixels_are_skipped_counted_and_the_limit_applies_at_once(tmp_path, node_graph,
                                                                                          vtest_frames):
    g = node_graph(write_config(tmp_path, 'max_image_pixels: 500000\n'))
    assert g.send_and_wait(image_msg(vtest_frames[1], 0)) is not None, g.log()        # 768x576 = 442368 px
    big = image_msg(cv2.resize(vtest_frames[1], (1024, 768)), 1)                       # 786432 px
    for i in range(3):
        big.header.stamp.sec = 1001 + i
        assert g.send_and_wait(big, timeout=2.0) is None
    assert g.peer.spin_until(lambda: int(g.diagnostic('skipped_too_large') or 0) >= 3, 5), g.log()
    assert int(g.diagnostic('frames_skipped_bad_input')) == int(g.diagnostic('skipped_too_large'))
    log = g.log()
    assert log.count('above max_image_pixels = 500000') == 1, log            # logged once per cause

    # Applied by the node between frames: the next big frame is processed.
    result = g.set_parameter('max_image_pixels', ParameterValue(type=ParameterType.PARAMETER_INTEGER,
                                                                integer_value=0))
    assert result.successful, result.reason
    big.header.stamp.sec = 1010
    processed = g.send_and_wait(big)
    assert processed is not None, g.log()
    bad = g.set_parameter('max_image_pixels', ParameterValue(type=ParameterType.PARAMETER_INTEGER,
                                                             integer_value=-1))
    assert not bad.successful and 'max_image_pixels' in bad.reason


def test_rule_file_errors_through_the_parameter_api_reveal_nothing_about_other_files(tmp_path, node_graph):
    g = node_graph(write_config(tmp_path))
    secret = tmp_path / 'secret.yaml'
    secret.write_text('db_password: hunter2\nadmin_token: abc\n')
    listing = tmp_path / 'list.yaml'
    listing.write_text('- hunter2\n- abc\n')
    not_yaml = tmp_path / 'key.pem'
    not_yaml.write_text('-----BEGIN KEY-----\n{[hunter2: :\n')
    unreadable = tmp_path / 'unreadable.yaml'
    unreadable.write_bytes(b'\xff\xfe\x00hunter2')
    candidates = [tmp_path / 'missing.yaml', secret, listing, not_yaml, unreadable, tmp_path]
    reasons = []
    for path in candidates:
        result = g.set_parameter('rules_file', ParameterValue(type=ParameterType.PARAMETER_STRING,
                                                              string_value=str(path)))
        assert not result.successful
        reasons.append(result.reason.replace(str(path), '<path>'))
    assert len(set(reasons)) == 1, reasons                       # missing, unreadable, other files: one answer
    for leak in ('hunter2', 'db_password', 'admin_token', 'does not exist', 'cannot be read', 'YAML:', 'line'):
        assert leak not in reasons[0], reasons[0]
    assert "top-level 'rules:' list" in reasons[0] and 'vad-check --params' in reasons[0]

    # A rule file with a mistake: the file, the line and the fix, as for a file on disk.
    bad = tmp_path / 'bad_rules.yaml'
    bad.write_text('rules:\n  - id: typo\n    objects: [persn]\n    forbidden: [road]\n    sentence: s\n')
    result = g.set_parameter('rules_file', ParameterValue(type=ParameterType.PARAMETER_STRING,
                                                          string_value=str(bad)))
    assert not result.successful
    assert f'{bad}:3' in result.reason and "'persn'" in result.reason and 'person' in result.reason
    typo_key = tmp_path / 'typo_key.yaml'
    typo_key.write_text('rules: []\ngroup: {}\n')
    result = g.set_parameter('rules_file', ParameterValue(type=ParameterType.PARAMETER_STRING,
                                                          string_value=str(typo_key)))
    assert not result.successful and "unknown top-level key 'group'" in result.reason
    assert 'hunter2' not in g.log() and 'db_password' not in g.log()


def test_numbers_beyond_a_parameters_range_are_refused_and_the_node_keeps_running(tmp_path, node_graph,
                                                                                   vtest_frames):
    g = node_graph(write_config(tmp_path, 'input:\n  depth: 1000000000000000000\n'))
    assert g.send_and_wait(image_msg(vtest_frames[1], 0)) is not None, g.log()       # default depth: running
    assert "parameter 'input.depth': 1000000000000000000 must be between 1 and 1000" in g.log()
    for value in (1e10, float('inf')):                  # 1e10 s overflowed the timer's int64 nanoseconds
        result = g.set_parameter('diagnostics_period', ParameterValue(type=ParameterType.PARAMETER_DOUBLE,
                                                                      double_value=value))
        assert not result.successful and 'must be between 0.1 and 3600.0' in result.reason, result.reason
    assert g.send_and_wait(image_msg(vtest_frames[2], 1)) is not None, g.log()
    assert g.peer.spin_until(lambda: g.diagnostic('frames_processed') is not None, 5), g.log()
