"""The node and the offline tools say the same of the same files, over real DDS with the real node:

- a params file with values out of range: the node, vad-video (and vad-eval, through the same loader) log the
  same one line per value (params.bad_value_line: file:line, parameter, value, what is allowed, the fix) and go on
  with the default, the node showing it in /diagnostics at WARN until a good value is set; vad-check refuses the
  file with that line (exit 2);
- a rule file swapped through the parameter API: the node logs the vocabulary warnings ("cannot produce
  'sidewalk'") that vad-video prints for the same rule file.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap

from diagnostic_msgs.msg import DiagnosticStatus
from rcl_interfaces.msg import ParameterType, ParameterValue

from node_graph import image_msg, node_status, write_config
from vad_ros.check import main as check_main


def vad_video(vtest_path, tmp_path, params: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-m', 'vad_ros.offline.runner', str(vtest_path), '--params', params,
                           '--out', str(tmp_path / 'out'), '--max-frames', '2', *extra],
                          capture_output=True, text=True, timeout=300)


def warnings_of(stderr: str, prog: str = 'vad-video') -> list[str]:
    prefix = f'{prog}: WARNING: '
    return [line[len(prefix):] for line in stderr.splitlines() if line.startswith(prefix)]


def test_a_bad_value_is_one_line_everywhere_the_default_is_used_and_vad_check_refuses(tmp_path, node_graph,
                                                                                        vtest_frames, vtest_path,
                                                                                        capsys):
    params = write_config(tmp_path, 'detector:\n  backend: hog\nscore_threshold: 7.5\n')
    line_no = next(i for i, text in enumerate(open(params), 1) if 'score_threshold' in text)
    expected = (f"params file '{params}:{line_no}': parameter 'score_threshold': 7.5 must be between 0.0 and 1.0; "
                'fix the value or remove the line (default: 0.3)')

    video = vad_video(vtest_path, tmp_path, params)
    assert video.returncode == 0, video.stderr
    assert warnings_of(video.stderr) == [expected], video.stderr
    assert (tmp_path / 'out' / 'frames.csv').read_text().count('\n') == 3       # header + the 2 frames

    assert check_main(['--params', params]) == 2
    assert expected in capsys.readouterr().err

    g = node_graph(params)
    assert g.send_and_wait(image_msg(vtest_frames[2], 0)) is not None, g.log()
    assert g.log().count(expected) == 1, g.log()                # once, through the node's logger
    assert g.peer.spin_until(lambda: node_status(g) is not None and node_status(g).message == expected, 10), \
        (node_status(g), g.log())
    assert node_status(g).level == DiagnosticStatus.WARN and g.diagnostic('bad_params') == expected
    assert g.send_and_wait(image_msg(vtest_frames[2], 1)).anomalies, g.log()   # the default 0.3: people found

    assert g.set_parameter('score_threshold', ParameterValue(type=ParameterType.PARAMETER_DOUBLE,
                                                             double_value=0.4)).successful
    assert g.peer.spin_until(lambda: node_status(g).level == DiagnosticStatus.OK, 10), (node_status(g), g.log())
    assert g.diagnostic('bad_params') == 'none'
    assert g.procs.exited() == {}


def test_a_rule_file_swapped_through_the_parameter_api_logs_what_vad_video_prints(tmp_path, node_graph,
                                                                                  vtest_frames, vtest_path):
    params = write_config(tmp_path, 'detector:\n  backend: hog\n')      # scene map: everything `road`
    swapped = tmp_path / 'swapped.yaml'
    swapped.write_text(textwrap.dedent('''\
        rules:
          - id: people-off-the-road
            objects: [person]
            forbidden: [road, sidewalk]
            sentence: keep off
          - id: cars-off-the-grass
            objects: [car]
            forbidden: [grass]
            sentence: no cars on the grass
        '''))
    video = vad_video(vtest_path, tmp_path, params, '--rules', str(swapped))
    assert video.returncode == 0, video.stderr
    printed = warnings_of(video.stderr)
    assert any("cannot produce 'sidewalk'" in w for w in printed) and \
        any("cannot produce 'grass'" in w for w in printed) and \
        any("cannot produce 'car'" in w for w in printed), video.stderr        # HOG finds people only

    g = node_graph(params)
    assert g.send_and_wait(image_msg(vtest_frames[2], 0)) is not None, g.log()
    assert not any(w in g.log() for w in printed), g.log()
    result = g.set_parameter('rules_file', ParameterValue(type=ParameterType.PARAMETER_STRING,
                                                          string_value=str(swapped)))
    assert result.successful, result.reason
    assert g.peer.spin_until(lambda: all(w in g.log() for w in printed), 10), (printed, g.log())
    assert all(g.log().count(w) == 1 for w in printed), g.log()
    assert g.procs.exited() == {}
