"""`vad-scene edit --topic /camera/image_raw` / `show --topic`: with no --image or --video, the frame to draw on is
the next one of a live camera topic (README.md, "A new camera, no model needed"); needs rclpy."""
import random
import threading

import cv2
import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy', reason='live topics need ROS 2 (tools/setup.sh ros)')

from vad_ros.scene_tools.cli import main, read_frame  # noqa: E402


def publish(stop: threading.Event, topic: str) -> None:
    """A 64x48 camera at 20 Hz."""
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image
    node = rclpy.create_node('fake_camera')
    publisher = node.create_publisher(Image, topic, 10)
    frame = bytes(np.full((48, 64, 3), 90, np.uint8).tobytes())
    node.create_timer(0.05, lambda: publisher.publish(Image(height=48, width=64, encoding='bgr8', step=64 * 3,
                                                            data=frame)))
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    while not stop.is_set():
        executor.spin_once(timeout_sec=0.02)
    node.destroy_node()


@pytest.fixture
def camera(monkeypatch):
    monkeypatch.setenv('ROS_AUTOMATIC_DISCOVERY_RANGE', 'OFF')           # this process only
    monkeypatch.setenv('ROS_DOMAIN_ID', str(random.randint(1, 101)))
    rclpy.init()
    stop = threading.Event()
    thread = threading.Thread(target=publish, args=(stop, '/cam/image_raw'), daemon=True)
    thread.start()
    yield '/cam/image_raw'
    stop.set()
    thread.join(5)
    rclpy.shutdown()


def test_the_frame_to_draw_on_comes_from_the_live_topic(camera, tmp_path):
    frame = read_frame(None, None, topic=camera)
    assert frame.shape == (48, 64, 3)
    (tmp_path / 'scene.yaml').write_text('image_size: [64, 48]\nregions:\n  - label: grass\n'
                                         '    polygon: [[0, 24], [64, 24], [64, 48], [0, 48]]\n')
    assert main(['show', str(tmp_path / 'scene.yaml'), '--topic', camera, '--out', str(tmp_path / 's.png')]) == 0
    assert cv2.imread(str(tmp_path / 's.png')).shape == (48, 64, 3)


def test_no_frame_given_says_the_three_ways(tmp_path, capsys):
    (tmp_path / 'scene.yaml').write_text('image_size: [64, 48]\nregions:\n  - label: grass\n'
                                         '    polygon: [[0, 24], [64, 24], [64, 48], [0, 48]]\n')
    assert main(['show', str(tmp_path / 'scene.yaml'), '--out', str(tmp_path / 's.png')]) == 2
    assert '--topic /camera/image_raw (a live camera)' in capsys.readouterr().err
