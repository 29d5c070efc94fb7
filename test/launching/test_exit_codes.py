"""Every entry point tells a failed start by its exit status: the node executables as `ros2 run` and launch
files start them (lib/vad_ros/<executable> = scripts/), as `python -m`, and the console scripts. Each failure
case has a working counterpart in the same test, so a tool that always exits 0 (or always 1) fails here."""
from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pytest

from ros_helpers import REPO, isolated_env

SCRIPTS = REPO / 'scripts'


def run(cmd: list[str], timeout: float = 180, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=isolated_env(), capture_output=True, text=True, timeout=timeout, **kwargs)


def params_file(tmp_path, body: str) -> str:
    path = tmp_path / 'params.yaml'
    path.write_text('/**:\n  ros__parameters:\n' + textwrap.indent(textwrap.dedent(body), ' ' * 4))
    return str(path)


@pytest.mark.parametrize('how', ['ros2 run (scripts/vad_node)', 'python -m vad_ros.ros.node'])
@pytest.mark.parametrize('body, named', [
    ('detector:\n  backend: mmdet\n  config: /nonexistent/rtmdet.py\n  checkpoint: /nonexistent/rtmdet.pth\n',
     '/nonexistent/rtmdet.py'),
    ('detector:\n  backend: mmdet\n  config: {config}\n  checkpoint: /nonexistent/rtmdet.pth\n',
     '/nonexistent/rtmdet.pth'),
], ids=['bad detector.config', 'missing model file'])
def test_vad_node_that_cannot_start_exits_1(tmp_path, how, body, named):
    config = tmp_path / 'rtmdet.py'
    config.write_text('# stands in for an mmdet config: never read, the checkpoint is missing\n')
    params = params_file(tmp_path, body.format(config=config))
    cmd = [str(SCRIPTS / 'vad_node')] if how.startswith('ros2 run') else [sys.executable, '-m', 'vad_ros.ros.node']
    proc = run(cmd + ['--ros-args', '--params-file', params])
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert named in out and 'cannot start' in out


@pytest.mark.parametrize('how', ['ros2 run (scripts/recorder)', 'python -m vad_ros.ros.recorder'])
def test_recorder_that_cannot_write_exits_1(tmp_path, how):
    blocker = tmp_path / 'a_file'
    blocker.write_text('')
    cmd = [str(SCRIPTS / 'recorder')] if how.startswith('ros2 run') else [sys.executable, '-m', 'vad_ros.ros.recorder']
    proc = run(cmd + ['--ros-args', '-p', f'out_dir:={blocker / "out"}'])
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert 'cannot write results' in proc.stdout + proc.stderr


def test_image_publisher_script_with_a_bad_path_exits_1(tmp_path):
    proc = run([str(SCRIPTS / 'image_publisher'), '--ros-args', '-p', f'path:={tmp_path / "none.avi"}'])
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert 'does not exist' in proc.stdout + proc.stderr


def test_vad_launch_exits_1_when_a_node_cannot_start_and_2_for_bad_arguments(tmp_path):
    bad = params_file(tmp_path, 'detector:\n  backend: mmdet\n  config: /nonexistent/rtmdet.py\n')
    proc = run(['vad-launch', 'image:=/cam/image', f'params_file:={bad}'])
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert 'vad_node exited with code 1' in proc.stderr
    proc = run(['vad-launch', 'imgae:=/cam/image'])
    assert proc.returncode == 2 and 'imgae' in proc.stderr


def test_console_scripts_exit_non_zero_on_a_failed_start_and_0_on_success(vtest_path, tmp_path):
    missing = str(tmp_path / 'missing.avi')
    failures = {
        'vad-video': (['vad-video', missing, '--out', str(tmp_path / 'v')], 2),
        'vad-eval': (['vad-eval', '--dataset', 'nwpu', '--root', str(tmp_path / 'none'), '--out',
                      str(tmp_path / 'e')], 2),
        'vad-demo': (['vad-demo', '--video', missing, '--out', str(tmp_path / 'd')], 2),
        'vad-scene': (['vad-scene', 'show', str(tmp_path / 'no_scene.yaml'), '--video', missing, '--out',
                       str(tmp_path / 's.png')], 2),
    }
    procs = {name: subprocess.Popen(cmd, env=isolated_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True) for name, (cmd, _) in failures.items()}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == failures[name][1], f'{name}: {proc.returncode}\n{out}\n{err}'
        assert err.strip(), f'{name} failed without a word'
    ok = run(['vad-video', str(vtest_path), '--out', str(tmp_path / 'ok'), '--max-frames', '2'])
    assert ok.returncode == 0, ok.stderr


SCENE = 'image_size: [768, 576]\nregions:\n  - {label: road, polygon: [[0, 0], [768, 0], [768, 576], [0, 576]]}\n'
RULES = 'rules:\n  - {id: no-people-on-road, objects: [person], forbidden: [road], sentence: keep off the road}\n'
BROKEN_FILES = {      # case: (file, its content (None: missing), what the reason says)
    'missing scene map': ('scene.yaml', None, "does not exist (set scene_map_file"),
    'invalid scene map': ('scene.yaml', 'image_size: [768, 576]\nregions: [oops]\n', 'region 0'),
    'missing rule file': ('rules.yaml', None, 'does not exist (set rules_file'),
    'invalid rule file': ('rules.yaml', RULES.replace('[person]', '[persn]'), "unknown object class 'persn'"),
}


def files_and_params(folder, broken: str | None = None) -> str:
    """scene.yaml + rules.yaml (one of them missing or broken) and a params file naming them (relative paths)."""
    folder.mkdir()
    contents = {'scene.yaml': SCENE, 'rules.yaml': RULES}
    if broken is not None:
        name, content, _ = BROKEN_FILES[broken]
        contents[name] = content
    for name, content in contents.items():
        if content is not None:
            (folder / name).write_text(content)
    return params_file(folder, 'detector:\n  backend: hog\nscene_map_file: scene.yaml\nrules_file: rules.yaml\n')


def test_vad_node_whose_params_name_a_missing_or_invalid_file_exits_1_with_one_line(tmp_path):
    """A node that could never fire does not start: the reason in one line, exit status 1 (also through
    vad-launch). The same params with good files start, and Ctrl-C stops that node with 0."""
    node = [sys.executable, '-m', 'vad_ros.ros.node', '--ros-args', '--params-file']
    good_log = tmp_path / 'good.log'
    with open(good_log, 'w') as out:
        good = subprocess.Popen(node + [files_and_params(tmp_path / 'good')], env=isolated_env(), stdout=out,
                                stderr=subprocess.STDOUT, text=True)
        procs = {case: subprocess.Popen(node + [files_and_params(tmp_path / case.replace(' ', '_'), case)],
                                        env=isolated_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for case in BROKEN_FILES}
        launch = subprocess.Popen(['vad-launch', 'image:=/cam/image', 'params_file:=' +
                                   str(tmp_path / 'missing_scene_map' / 'params.yaml')],
                                  env=isolated_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for case, proc in procs.items():
            out_text = proc.communicate(timeout=180)[0]
            name, _, reason = BROKEN_FILES[case]
            assert proc.returncode == 1, f'{case}: {proc.returncode}\n{out_text}'
            lines = [line for line in out_text.splitlines() if name in line]
            assert len(lines) == 1, f'{case}: the reason in one line, not {len(lines)}:\n{out_text}'
            assert 'cannot start' in lines[0] and reason in lines[0], f'{case}: {lines[0]}'
            assert 'Traceback' not in out_text
        stdout, stderr = launch.communicate(timeout=180)
        assert launch.returncode == 1 and 'vad_node exited with code 1' in stderr, stdout + stderr
        assert 'scene.yaml' in stdout + stderr and 'Traceback' not in stdout + stderr

        deadline = time.monotonic() + 120           # the working counterpart
        while 'active: watching' not in good_log.read_text() and good.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert 'active: watching' in good_log.read_text(), good_log.read_text()
        good.send_signal(signal.SIGINT)
        assert good.wait(60) == 0, good_log.read_text()
    assert 'Traceback' not in good_log.read_text()
