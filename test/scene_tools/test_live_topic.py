"""vad-scene bootstrap from a live image topic (optional; needs rclpy): frames spread over a duration."""
import random
import threading
import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy', reason='live topics need ROS 2 (tools/setup.sh ros)')

from vad_ros.scene_tools.errors import SceneToolError  # noqa: E402
from vad_ros.scene_tools.live_topic import grab_frames  # noqa: E402


@pytest.fixture
def ros_context(monkeypatch):
    monkeypatch.setenv('ROS_AUTOMATIC_DISCOVERY_RANGE', 'OFF')           # this process only
    monkeypatch.setenv('ROS_DOMAIN_ID', str(random.randint(1, 101)))
    rclpy.init()
    yield
    rclpy.shutdown()


def publish_counter(stop: threading.Event, topic: str) -> None:
    """A camera at 20 Hz whose frames carry their number in the pixel values."""
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image
    node = rclpy.create_node('fake_camera')
    publisher = node.create_publisher(Image, topic, 10)
    count = [0]

    def tick():
        msg = Image(height=48, width=64, encoding='bgr8', step=64 * 3)
        msg.data = bytes(np.full((48, 64, 3), count[0] % 256, np.uint8).tobytes())
        publisher.publish(msg)
        count[0] += 1

    node.create_timer(0.05, tick)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    while not stop.is_set():
        executor.spin_once(timeout_sec=0.02)
    node.destroy_node()


def test_frames_spread_over_the_duration(ros_context):
    stop = threading.Event()
    thread = threading.Thread(target=publish_counter, args=(stop, '/cam/image_raw'), daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        frames = grab_frames('ros:/cam/image_raw', 4, duration=1.5, timeout=10)
        took = time.monotonic() - started
    finally:
        stop.set()
        thread.join(5)
    assert len(frames) == 4 and frames[0].image.shape == (48, 64, 3)
    numbers = [int(f.image[0, 0, 0]) for f in frames]
    assert numbers == sorted(numbers) and numbers[-1] - numbers[0] >= 20      # ~1.5 s of a 20 Hz camera
    assert 1.3 < frames[-1].timestamp - frames[0].timestamp < 3 and took < 12


def test_silent_topic_is_a_clear_error(ros_context):
    with pytest.raises(SceneToolError, match="no image arrived on '/nobody'"):
        grab_frames('ros:/nobody', 3, duration=1, timeout=0.5)
