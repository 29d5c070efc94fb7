"""Frames from a live ROS 2 image topic, for `vad-scene bootstrap ros:/camera/image_raw`.

Optional: rclpy is imported only here and only when a topic is asked for; the rest of the scene tools (and
the core) never import it. Frames are taken `duration / count` seconds apart so that they spread over time.
"""
from __future__ import annotations

import time

from vad_ros.media.sources import Frame
from vad_ros.scene_tools.errors import SceneToolError

PREFIX = 'ros:'


def is_topic(name: str) -> bool:
    return name.startswith(PREFIX)


def grab_frames(name: str, count: int, duration: float, timeout: float = 10.0) -> list[Frame]:
    """`count` frames of the sensor_msgs/Image topic `ros:/topic`, spread over `duration` seconds. Raises
    SceneToolError when rclpy is missing or no image arrives within `timeout` seconds."""
    topic = name[len(PREFIX):]
    if not topic:
        raise SceneToolError(f"'{name}': name the image topic after 'ros:', e.g. ros:/camera/image_raw")
    try:
        import rclpy
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import Image
    except ImportError:
        raise SceneToolError(f"reading the live topic '{topic}' needs ROS 2 (rclpy, sensor_msgs): source the "
                             'ROS environment first, or record a rosbag2 and bootstrap from it') from None
    from vad_ros.media.image_codec import to_bgr

    latest: list = []
    own_context = not rclpy.ok()
    if own_context:
        rclpy.init()
    node = rclpy.create_node('vad_scene_bootstrap')
    try:
        def keep_latest(msg) -> None:
            latest[:] = [msg]

        node.create_subscription(Image, topic, keep_latest, qos_profile_sensor_data)
        frames: list[Frame] = []
        period = duration / max(count - 1, 1)
        start = time.monotonic()
        next_at, deadline = start, start + timeout
        while len(frames) < count:
            rclpy.spin_once(node, timeout_sec=0.05)
            now = time.monotonic()
            if not latest:
                if not frames and now > deadline:
                    raise SceneToolError(f"no image arrived on '{topic}' within {timeout:.0f} s: is the camera "
                                         'publishing (ros2 topic hz), and is it a sensor_msgs/Image topic?')
                continue
            if now >= next_at:
                msg = latest[-1]
                image = to_bgr(msg.encoding, msg.height, msg.width, msg.step, bytes(msg.data),
                               bool(msg.is_bigendian))
                frames.append(Frame(len(frames), now - start, image))
                next_at += period
        return frames
    finally:
        node.destroy_node()
        if own_context:
            rclpy.shutdown()
