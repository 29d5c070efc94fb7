"""recorder: writes what vad_node publishes to a folder, with the same writers as vad-video.

Subscribes  debug_image  sensor_msgs/Image (-> out_dir/annotated.mp4, H.264, fragmented: playable after a crash)
            anomalies    vad_ros/AnomalyArray (-> out_dir/frames.csv, out_dir/anomalies.jsonl)
            events       vad_ros/AnomalyEvent, reliable (-> out_dir/events.jsonl, one line per ended event)
Parameters  out_dir, fps (of the written video, default 10)
Events are the node's own (its persistence decided them); events still open when the recorder stops are
written as they were at the last frame with their anomalies. Every record is on disk before the next message is handled.
"""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

from vad_ros.media.image_codec import ImageFormatError, to_bgr
from vad_ros.media.writers import ResultWriter, VideoWriter
from vad_ros.msg import AnomalyArray, AnomalyEvent
from vad_ros.reasoning.persistence import advance
from vad_ros.ros.messages import event_from_msg, result_from_msg
from vad_ros.ros.camera import EVENTS_QOS
from vad_ros.ros.node_main import run_node
from vad_ros.types import EVENT_ENDED, Event


class Recorder(Node):
    def __init__(self) -> None:
        super().__init__('recorder')
        self.out_dir = Path(self.declare_parameter('out_dir', 'out').value)
        fps = float(self.declare_parameter('fps', 10.0).value)
        self.writer = ResultWriter(self.out_dir)
        self.video = VideoWriter(self.out_dir / 'annotated.mp4', fps)
        self.open_events: dict[int, Event] = {}
        self.frames = 0
        self.create_subscription(Image, 'debug_image', self._on_image, qos_profile_sensor_data)
        self.create_subscription(AnomalyArray, 'anomalies', self._on_anomalies, 50)
        self.create_subscription(AnomalyEvent, 'events', self._on_event, EVENTS_QOS)
        self.get_logger().info(f'recording into {self.out_dir}')

    def _on_image(self, msg: Image) -> None:
        try:
            self.video.write(to_bgr(msg.encoding, msg.height, msg.width, msg.step, msg.data))
            self.frames += 1
        except ImageFormatError as e:
            self.get_logger().warn(f'debug image skipped: {e}', throttle_duration_sec=10.0)

    def _on_anomalies(self, msg: AnomalyArray) -> None:
        result = result_from_msg(msg, self.writer.frames)
        self.writer.write_frame(result)
        # The node sends an open event's 'ongoing' update only every events.update_period seconds: keep the open
        # events current from the per-frame anomalies (their event ids), so that events still open when the
        # recording stops end where the node's would.
        by_event: dict[int, list] = {}
        for a in result.anomalies:
            if a.event_id in self.open_events:
                by_event.setdefault(a.event_id, []).append(a)
        for event_id, anomalies in by_event.items():
            self.open_events[event_id] = advance(self.open_events[event_id], anomalies, result.frame_index,
                                                 result.stamp)

    def _on_event(self, msg: AnomalyEvent) -> None:
        event = event_from_msg(msg)
        if event.state == EVENT_ENDED:
            self.open_events.pop(event.event_id, None)
            self.writer.write_events([event])
        elif not _newer(self.open_events.get(event.event_id), event):   # not behind what the anomalies showed
            self.open_events[event.event_id] = event

    def destroy_node(self) -> None:
        self.close()
        super().destroy_node()

    def close(self) -> None:
        still_open = sorted(self.open_events.values(), key=lambda e: e.event_id)
        self.writer.write_events([dataclasses.replace(e, state=EVENT_ENDED) for e in still_open])
        self.open_events.clear()
        self.video.close()
        self.writer.close()
        self.get_logger().info(f'wrote {self.frames} annotated frames, {self.writer.frames} results '
                               f'({self.writer.anomalous_frames} anomalous), {self.writer.events} events into '
                               f'{self.out_dir}')


def _newer(known: Event | None, update: Event) -> bool:
    """Whether the snapshot kept already covers a later frame than an update that arrives now."""
    if known is None:
        return False
    if known.end_stamp is not None and update.end_stamp is not None:
        return known.end_stamp > update.end_stamp
    return known.end_frame > update.end_frame


def main(argv: list[str] | None = None) -> int:
    return run_node('recorder', Recorder, argv)


if __name__ == '__main__':
    sys.exit(main())

