"""The demo graph end to end (image_publisher -> vad_node -> recorder) on a real cut of vtest.avi, and the
image publisher on its own. Frames 640-719 of vtest.avi: a person crosses the foreground lawn while others
walk on the road."""
from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

from ros_helpers import RosPeer, isolated_env
from video_helpers import cut
from vad_ros.launching import demo
from vad_ros.media import image_codec
from vad_ros.offline import runner
from vad_ros.reasoning.scene_map import load_scene_map


def test_demo_flags_the_lawn_walker_and_not_the_road(vtest_path, tmp_path, repo_root, capsys):
    out = tmp_path / 'demo'
    clip = cut(vtest_path, tmp_path, 640, 720)
    assert demo.main(['--video', clip, '--out', str(out)]) == 0
    printed = capsys.readouterr().out
    assert 'annotated.mp4' in printed and 'events.jsonl' in printed

    cap = cv2.VideoCapture(str(out / 'annotated.mp4'))
    ok, frame = cap.read()
    cap.release()
    assert ok and frame.shape == (576, 768, 3)
    # Paced by the node's results: every one of the 80 frames was processed, none dropped.
    assert len((out / 'frames.csv').read_text().splitlines()) == 1 + 80

    # The node's own events, recorded from ~/events, are exactly what vad-video decides on the same clip.
    offline = tmp_path / 'offline'
    assert runner.main([clip, '--params', str(repo_root / 'config' / 'demo_vtest.yaml'), '--out', str(offline)]) == 0
    assert (out / 'events.jsonl').read_text() == (offline / 'events.jsonl').read_text()
    assert (out / 'anomalies.jsonl').read_text() == (offline / 'anomalies.jsonl').read_text()

    events = [json.loads(line) for line in (out / 'events.jsonl').read_text().splitlines()]
    assert events and all(e['rule_id'] == 'keep-off-the-grass' for e in events)
    assert any(e['end_frame'] - e['start_frame'] >= 10 for e in events), events

    # Every flagged person stands (bottom centre of the box) on the lawn of the scene map, not on the road.
    scene = load_scene_map(repo_root / 'config' / 'scene_vtest.yaml').class_map(768, 576)
    anomalies = [json.loads(line) for line in (out / 'anomalies.jsonl').read_text().splitlines()]
    assert anomalies
    for a in anomalies:
        x0, _, x1, y1 = a['box']
        x, y = int((x0 + x1) / 2), min(int(y1) - 1, 575)
        assert scene.class_names[scene.labels[y, x]] != 'road', a
        assert a['sentence'].endswith('keep off the grass') and a['background_class'] == 'grass'


def test_demo_without_video_says_what_to_do(tmp_path, capsys):
    assert demo.main(['--video', str(tmp_path / 'none.avi'), '--out', str(tmp_path)]) == 2
    assert 'tools/setup.sh data' in capsys.readouterr().err


def test_image_publisher_plays_a_video(vtest_path, tmp_path):
    path = cut(vtest_path, tmp_path, 0, 12)
    env = isolated_env()
    peer = RosPeer(env)
    received: list[Image] = []
    peer.node.create_subscription(Image, '/cam/image', received.append, qos_profile_sensor_data)
    proc = subprocess.Popen([sys.executable, '-m', 'vad_ros.ros.image_publisher', '--ros-args', '-p', f'path:={path}',
                             '-p', 'fps:=20.0', '-p', 'wait_for_subscribers:=1', '-p', 'frame_id:=cam_optical',
                             '-r', 'image:=/cam/image'], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert peer.spin_until(lambda: proc.poll() is not None, 40), 'image_publisher did not finish'
        peer.spin_for(0.5)
    finally:
        if proc.poll() is None:
            proc.kill()
        peer.close()
    assert proc.returncode == 0, proc.stdout.read().decode()
    assert len(received) == 12
    msg = received[0]
    assert (msg.width, msg.height, msg.encoding, msg.header.frame_id) == (768, 576, 'bgr8', 'cam_optical')
    first = image_codec.to_bgr(msg.encoding, msg.height, msg.width, msg.step, msg.data)
    source = cv2.VideoCapture(path).read()[1]
    assert np.abs(first.astype(int) - source).mean() < 1.0


@pytest.mark.parametrize('path, expected', [('/nonexistent/video.avi', "'/nonexistent/video.avi' does not exist"),
                                            (None, "parameter 'path' is empty")])
def test_image_publisher_refuses_a_bad_path(path, expected):
    args = ['--ros-args', '-p', f'path:={path}'] if path else []
    proc = subprocess.run([sys.executable, '-m', 'vad_ros.ros.image_publisher', *args],
                          env=isolated_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert expected in proc.stderr + proc.stdout
