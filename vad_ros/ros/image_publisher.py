"""image_publisher: plays a video file or an image folder to a sensor_msgs/Image topic.

Publishes   image   sensor_msgs/Image bgr8 (sensor-data QoS), stamp = now, frame_id from the parameter
Parameters  path (video or folder), fps (0 = the file's own rate; folders: 10), loop (bool),
            frame_id (default camera_optical_frame, REP-103 optical frame),
            wait_for_subscribers (start playing once this many subscribers are connected; default 0)
Exits 0 after the last frame of a non-looping input, 1 with a clear message when the input is unusable.
"""
from __future__ import annotations

import sys

from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

from vad_ros.media.image_codec import from_bgr
from vad_ros.media.sources import SourceError, open_source
from vad_ros.ros.node_main import run_node


class ImagePublisher(Node):
    def __init__(self) -> None:
        super().__init__('image_publisher')
        self.path = self.declare_parameter('path', '').value
        self.loop = bool(self.declare_parameter('loop', False).value)
        self.frame_id = self.declare_parameter('frame_id', 'camera_optical_frame').value
        fps = float(self.declare_parameter('fps', 0.0).value)
        self.wait_for = int(self.declare_parameter('wait_for_subscribers', 0).value)
        if not self.path:
            raise SourceError("parameter 'path' is empty: set it to a video file or an image folder")
        self.source = open_source(self.path, fps=fps or None)
        self.fps = fps or self.source.fps or 10.0
        self.frames = iter(self.source)
        self.published = 0
        self.finished = False
        self.pub = self.create_publisher(Image, 'image', qos_profile_sensor_data)
        self.timer = self.create_timer(1.0 / self.fps, self._tick)
        self.get_logger().info(f"playing '{self.path}' at {self.fps:g} fps on '{self.pub.topic_name}'"
                               f"{' in a loop' if self.loop else ''}")

    def _tick(self) -> None:
        if self.wait_for and self.published == 0:
            if self.pub.get_subscription_count() < self.wait_for:
                return
            self.get_logger().info(f'{self.wait_for} subscriber(s) connected: playing')
            self.wait_for = 0
        frame = next(self.frames, None)
        if frame is None and self.loop:
            self.frames = iter(self.source)
            frame = next(self.frames, None)
        if frame is None:
            self.get_logger().info(f'end of input after {self.published} frames')
            self.finished = True
            self.timer.cancel()
            return
        h, w, step, data = from_bgr(frame.image)
        msg = Image(height=h, width=w, encoding='bgr8', is_bigendian=0, step=step, data=data)
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = self.frame_id
        self.pub.publish(msg)
        self.published += 1


def main(argv: list[str] | None = None) -> int:
    return run_node('image_publisher', ImagePublisher, argv, done=lambda n: n.finished)


if __name__ == '__main__':
    sys.exit(main())
