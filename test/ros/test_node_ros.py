"""vad_node as its own process on an isolated ROS domain, fed real frames of vtest.avi by this test.

Perception is the real default detector (NanoDet; HOG where its model is missing) with a scene map written
here that labels the whole image `road`, and a rule (person, {road}), so every person the detector finds is an anomaly.
"""
from __future__ import annotations

import numpy as np
import pytest
from rcl_interfaces.msg import ParameterType, ParameterValue
from sensor_msgs.msg import Image

from node_graph import image_msg, write_config
from vad_ros.media import image_codec


def test_real_frames_give_anomaly_arrays_with_the_image_headers(tmp_path, node_graph, vtest_frames):
    g = node_graph(write_config(tmp_path))
    got = []
    for i, frame in enumerate(vtest_frames):
        result = g.send_and_wait(image_msg(frame, i))
        assert result is not None, f'no AnomalyArray for frame {i}:\n{g.log()}'
        got.append(result)
    for i, result in enumerate(got):
        assert result.header.stamp.sec == 1000 + i
        assert result.header.frame_id == 'test_camera_optical_frame'
        assert result.is_anomalous == bool(result.anomalies)
        assert 0.0 <= result.score <= 1.0
    flagged = [a for r in got for a in r.anomalies]
    assert flagged, 'the detector found no person in 8 frames of people walking'
    for a in flagged:
        assert (a.object_class, a.background_class, a.rule_id) == ('person', 'road', 'no-people-on-road')
        assert 0 <= a.x_min < a.x_max <= 768 and 0 <= a.y_min < a.y_max <= 576
        assert 'person' in a.sentence and 'road' in a.sentence and 'pedestrians must not enter' in a.sentence
    assert any(r.score > 0 for r in got)

    assert g.peer.spin_until(lambda: len(g.debug) > 0, 10), 'no debug image'
    debug = g.debug[-1]
    assert (debug.width, debug.height, debug.encoding) == (768, 576, 'bgr8')
    assert debug.header.frame_id == 'test_camera_optical_frame'
    drawn = image_codec.to_bgr(debug.encoding, debug.height, debug.width, debug.step, debug.data)
    original = vtest_frames[[r.header.stamp for r in got].index(debug.header.stamp)]
    assert np.abs(drawn.astype(int) - original).sum() > 0, 'the debug image carries no drawing'

    assert g.peer.spin_until(lambda: any(
        kv.key == 'frames_processed' and int(kv.value) >= 8
        for d in g.diagnostics for s in d.status for kv in s.values), 5), 'diagnostics never counted the frames'
    assert g.procs.exited() == {}


def test_bad_frames_are_reported_and_skipped(tmp_path, node_graph, vtest_frames):
    g = node_graph(write_config(tmp_path))
    frame = vtest_frames[1]
    good = image_msg(frame, 0)
    for encoding in ('rgb8', 'mono8', 'bgra8', 'rgba8'):
        assert g.send_and_wait(image_msg(frame, {'rgb8': 1, 'mono8': 2, 'bgra8': 3, 'rgba8': 4}[encoding],
                                         encoding)) is not None, f'{encoding} frame not processed:\n{g.log()}'

    wrong_encoding = image_msg(frame, 10)
    wrong_encoding.encoding = 'yuv422'
    truncated = image_msg(frame, 11)
    truncated.data = truncated.data[: len(truncated.data) // 2]
    empty = Image(encoding='bgr8')
    empty.header.stamp.sec = 1012
    bad_step = image_msg(frame, 13)
    bad_step.step = 10
    for bad in (wrong_encoding, truncated, empty, bad_step):
        assert g.send_and_wait(bad, timeout=2.0) is None
    # The node is still serving: the next good frame is processed.
    good.header.stamp.sec = 1020
    assert g.send_and_wait(good) is not None, f'node stopped serving after bad frames:\n{g.log()}'
    log = g.log()
    assert "unsupported encoding 'yuv422'" in log
    assert 'truncated' in log
    assert 'empty image' in log
    assert 'step 10 is smaller' in log
    g.send_and_wait(wrong_encoding, timeout=1.0)
    assert g.log().count("unsupported encoding 'yuv422'") == 1, 'a cause must be logged once'
    assert g.procs.exited() == {}


def test_parameter_api_rejects_bad_values_with_a_reason(tmp_path, node_graph, vtest_frames):
    g = node_graph(write_config(tmp_path))
    bad = g.set_parameter('score_threshold', ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=2.0))
    assert not bad.successful and 'score_threshold' in bad.reason and 'between' in bad.reason
    ro = g.set_parameter('detector.backend', ParameterValue(type=ParameterType.PARAMETER_STRING,
                                                            string_value='mmdet'))
    assert not ro.successful and 'read-only' in ro.reason and 'detector.backend' in ro.reason
    rules = g.set_parameter('rules_file', ParameterValue(type=ParameterType.PARAMETER_STRING,
                                                         string_value=str(tmp_path / 'missing_rules.yaml')))
    assert not rules.successful and 'missing_rules.yaml' in rules.reason
    # A good runtime change takes effect: with the threshold at 1.0 nothing can be flagged.
    ok = g.set_parameter('score_threshold', ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=1.0))
    assert ok.successful, ok.reason
    result = g.send_and_wait(image_msg(vtest_frames[2], 0))
    assert result is not None and not result.is_anomalous and result.num_objects == 0
    assert g.procs.exited() == {}


@pytest.mark.parametrize('content, expected', [
    (None, 'does not exist'),
    ('/**: [unbalanced', 'not valid YAML'),
])
def test_unusable_params_file_is_reported_and_node_runs_on_defaults(tmp_path, node_graph, vtest_frames,
                                                                    content, expected):
    path = tmp_path / 'broken.yaml'
    if content is not None:
        path.write_text(content)
    g = node_graph(str(path))
    assert g.send_and_wait(image_msg(vtest_frames[0], 0)) is not None, g.log()
    log = g.log()
    assert expected in log and 'broken.yaml' in log
    assert g.procs.exited() == {}


def test_bad_parameter_value_in_file_falls_back_to_default(tmp_path, node_graph, vtest_frames):
    params = write_config(tmp_path, extra='score_threshold: 7.5\nbackground:\n  region: everywhere\n'
                                          'score_treshold: 0.5\n')
    g = node_graph(params)
    result = g.send_and_wait(image_msg(vtest_frames[0], 0))
    assert result is not None, g.log()
    log = g.log()
    assert "'score_threshold': 7.5 must be between" in log
    assert "'background.region': 'everywhere' is not one of" in log
    assert "did you mean score_threshold" in log


def test_rule_file_changes_are_picked_up_and_bad_versions_rejected(tmp_path, node_graph, vtest_frames):
    g = node_graph(write_config(tmp_path))
    first = g.send_and_wait(image_msg(vtest_frames[1], 0))
    assert first is not None and first.is_anomalous, g.log()
    rules = tmp_path / 'rules.yaml'
    rules.write_text('rules:\n  - {id: no-people-on-grass, objects: [person], forbidden: [grass], sentence: x}\n')
    assert g.peer.spin_until(lambda: 'rule file changed: 1 rule(s) now in force' in g.log(), 10), g.log()
    after = g.send_and_wait(image_msg(vtest_frames[1], 1))
    assert after is not None and not after.is_anomalous          # everything here is road: nothing on grass
    rules.write_text('rules:\n  - {id: broken, objects: [persn], forbidden: [road], sentence: x}\n')
    assert g.peer.spin_until(lambda: 'change rejected, the previous rules stay in force' in g.log(), 10), g.log()
    assert "unknown object class 'persn'" in g.log()
    still = g.send_and_wait(image_msg(vtest_frames[1], 2))
    assert still is not None and not still.is_anomalous          # the grass rule is still the one in force
    assert g.procs.exited() == {}


def test_diagnostics_period_set_at_runtime_changes_the_rate(tmp_path, node_graph):
    g = node_graph(write_config(tmp_path))                # diagnostics every 0.5 s

    def rate_over(seconds: float) -> float:
        start = len(g.diagnostics)
        g.peer.spin_for(seconds)
        return (len(g.diagnostics) - start) / seconds

    assert g.peer.spin_until(lambda: len(g.diagnostics) >= 2, 10)
    assert 1.0 <= rate_over(3.0) <= 3.0                   # ~2 Hz
    ok = g.set_parameter('diagnostics_period', ParameterValue(type=ParameterType.PARAMETER_DOUBLE,
                                                              double_value=0.1))
    assert ok.successful, ok.reason
    assert rate_over(3.0) >= 6.0                          # ~10 Hz: the timer was recreated
    assert g.procs.exited() == {}
