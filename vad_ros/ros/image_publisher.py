"""image_publisher: plays a video file or an image folder to a sensor_msgs/Image topic.

Publishes   image   sensor_msgs/Image bgr8 (sensor-data QoS), frame_id from the parameter
Subscribes  results vad_ros/AnomalyArray, only with pace_by_results
Parameters  path (video or folder), fps (0 = the file's own rate; folders: 10), loop (bool),
            frame_id (default camera_optical_frame, REP-103 optical frame),
            wait_for_subscribers (start playing once this many subscribers are connected; default 0),
            stamps: now (clock time, like a camera) | source (the frame's time in the file, from 0 s: the
                    same stamps vad-video gives the same file),
            pace_by_results (bool): publish the next frame only once vad_node's result for the previous one
                    arrived on 'results' (every frame processed, none dropped: replays that must match
                    vad-video exactly); a frame with no result after 5 s is sent again
Exits 0 after the last frame of a non-looping input, 1 with a clear message when the input is unusable.
"""
from __future__ import annotations

import sys

from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

from vad_ros.media.image_codec import from_bgr
from vad_ros.media.sources import SourceError, open_source
from vad_ros.msg import AnomalyArray
from vad_ros.ros.messages import to_time
from vad_ros.ros.node_main import run_node

RESEND_AFTER_S = 5.0


class ImagePublisher(Node):
    def __init__(self) -> None:
        super().__init__('image_publisher')
        self.path = self.declare_parameter('path', '').value
        self.loop = bool(self.declare_parameter('loop', False).value)
        self.frame_id = self.declare_parameter('frame_id', 'camera_optical_frame').value
        fps = float(self.declare_parameter('fps', 0.0).value)
        self.wait_for = int(self.declare_parameter('wait_for_subscribers', 0).value)
        self.stamps = self.declare_parameter('stamps', 'now').value
        self.pace = bool(self.declare_parameter('pace_by_results', False).value)
        if not self.path:
            raise SourceError("parameter 'path' is empty: set it to a video file or an image folder")
        if self.stamps not in ('now', 'source'):
            raise SourceError(f"parameter 'stamps' is {self.stamps!r}: use 'now' or 'source'")
        self.waiting: Image | None = None          # pace_by_results: the frame whose result is awaited
        self.sent_at = 0.0
        if self.pace:
            self.create_subscription(AnomalyArray, 'results', self._on_result, 10)
        self.source = open_source(self.path, fps=fps or None)
        self.fps = fps or self.source.fps or 10.0
        self.frames = iter(self.source)
        self.published = 0
        self.finished = False
        self.pub = self.create_publisher(Image, 'image', qos_profile_sensor_data)
        self.timer = self.create_timer(1.0 / self.fps, self._tick)
        self.get_logger().info(f"playing '{self.path}' at {self.fps:g} fps on '{self.pub.topic_name}'"
                               f"{' in a loop' if self.loop else ''}")

    def _on_result(self, msg: AnomalyArray) -> None:
        if self.waiting is not None and msg.header.stamp == self.waiting.header.stamp:
            self.waiting = None

    def _tick(self) -> None:
        if self.waiting is not None:
            now = self.get_clock().now().nanoseconds * 1e-9
            if now - self.sent_at > RESEND_AFTER_S:      # lost on the way (best effort): send it again
                self.pub.publish(self.waiting)
                self.sent_at = now
            return
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
        msg.header.stamp = self.get_clock().now().to_msg() if self.stamps == 'now' else to_time(frame.timestamp)
        msg.header.frame_id = self.frame_id
        self.pub.publish(msg)
        self.published += 1
        if self.pace:
            self.waiting, self.sent_at = msg, self.get_clock().now().nanoseconds * 1e-9


def main(argv: list[str] | None = None) -> int:
    return run_node('image_publisher', ImagePublisher, argv, done=lambda n: n.finished)


if __name__ == '__main__':
    sys.exit(main())
