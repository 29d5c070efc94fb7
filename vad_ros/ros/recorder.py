"""recorder: writes what vad_node publishes to a folder.

Subscribes  debug_image  sensor_msgs/Image (-> out_dir/annotated.mp4, H.264)
            anomalies    vad_ros/AnomalyArray (-> out_dir/anomalies.jsonl, out_dir/events.jsonl)
Parameters  out_dir, fps (of the written video, default 10), event_gap (frames without the anomaly after
            which an event ends, default 5)
Events: consecutive anomalous reports of one track under one rule; files are closed on shutdown.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

from vad_ros.media.image_codec import ImageFormatError, to_bgr
from vad_ros.msg import AnomalyArray
from vad_ros.media.writers import VideoWriter, anomaly_record, event_record
from vad_ros.reasoning.persistence import Persistence
from vad_ros.ros.node_main import run_node
from vad_ros.types import Anomaly


def anomalies_of(msg: AnomalyArray) -> list[Anomaly]:
    return [Anomaly(a.object_class, a.object_score, a.background_class, a.background_fraction,
                    (a.x_min, a.y_min, a.x_max, a.y_max), a.rule_id, a.severity, a.sentence, a.track_id,
                    a.duration_frames, float(msg.score)) for a in msg.anomalies]


class Recorder(Node):
    def __init__(self) -> None:
        super().__init__('recorder')
        self.out_dir = Path(self.declare_parameter('out_dir', 'out').value)
        fps = float(self.declare_parameter('fps', 10.0).value)
        gap = int(self.declare_parameter('event_gap', 5).value)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.video = VideoWriter(self.out_dir / 'annotated.mp4', fps)
        self.anomalies_file = open(self.out_dir / 'anomalies.jsonl', 'w', encoding='utf-8')
        self.events_file = open(self.out_dir / 'events.jsonl', 'w', encoding='utf-8')
        self.events = Persistence(min_frames=1, grace_frames=gap)
        self.frames = self.results = self.anomalous = self.event_count = 0
        self.create_subscription(Image, 'debug_image', self._on_image, qos_profile_sensor_data)
        self.create_subscription(AnomalyArray, 'anomalies', self._on_anomalies, 50)
        self.get_logger().info(f'recording into {self.out_dir}')

    def _on_image(self, msg: Image) -> None:
        try:
            self.video.write(to_bgr(msg.encoding, msg.height, msg.width, msg.step, msg.data))
            self.frames += 1
        except ImageFormatError as e:
            self.get_logger().warn(f'debug image skipped: {e}', throttle_duration_sec=10.0)

    def _on_anomalies(self, msg: AnomalyArray) -> None:
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        index = self.results
        self.results += 1
        anomalies = anomalies_of(msg)
        self.anomalous += int(msg.is_anomalous)
        for a in anomalies:
            self.anomalies_file.write(json.dumps(anomaly_record(index, stamp, a)) + '\n')
        _, _, ended = self.events.update(index, stamp, [(a, None) for a in anomalies])
        self._write_events(ended)

    def _write_events(self, events) -> None:
        for e in events:
            self.events_file.write(json.dumps(event_record(e)) + '\n')
            self.event_count += 1
        self.events_file.flush()

    def destroy_node(self) -> None:
        self.close()
        super().destroy_node()

    def close(self) -> None:
        self._write_events(self.events.flush())
        self.video.close()
        self.anomalies_file.close()
        self.events_file.close()
        self.get_logger().info(f'wrote {self.frames} annotated frames, {self.results} results '
                               f'({self.anomalous} anomalous), {self.event_count} events into {self.out_dir}')


def main(argv: list[str] | None = None) -> int:
    return run_node('recorder', Recorder, argv)


if __name__ == '__main__':
    sys.exit(main())
