"""One camera served by vad_node: its input subscription and newest-frame slot, its pipeline (sharing the node's
models), its output publishers, its watched files and its counters.

A node serves one unnamed camera (input `image`, outputs `~/...`) or several named ones (parameter `cameras`):
camera `front` reads `front/image` and publishes under `front/<node name>/` (e.g. /front/vad_node/anomalies),
the same names a separate node per camera in namespace `front` would use.
"""
from __future__ import annotations

from typing import Any

import cv2
import rclpy
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header, String

from vad_ros.event_updates import EventUpdates
from vad_ros.media import image_codec
from vad_ros.msg import AnomalyArray, AnomalyEvent
from vad_ros.pipeline import Pipeline, build_pipeline
from vad_ros.reasoning.scene_map import SceneMapError
from vad_ros.rendering.drawing import draw_result
from vad_ros.rendering.scene_overlay import SceneOverlay
from vad_ros.ros import messages
from vad_ros.ros.diagnostics import NodeCounters
from vad_ros.ros.frame_slot import LatestFrameSlot
from vad_ros.ros.input_qos import QosWatch, image_qos
from vad_ros.rule_source import ERROR, WARN, file_stamp
from vad_ros.types import EVENT_STARTED, FrameResult

EVENTS_QOS = rclpy.qos.QoSProfile(depth=1000, reliability=rclpy.qos.ReliabilityPolicy.RELIABLE)
LATCHED_QOS = rclpy.qos.QoSProfile(depth=1, reliability=rclpy.qos.ReliabilityPolicy.RELIABLE,
                                   durability=rclpy.qos.DurabilityPolicy.TRANSIENT_LOCAL)
PER_CAMERA_PARAMS = ('rules_file', 'scene_map_file')


class Camera:
    def __init__(self, node, name: str, params: dict[str, Any], own_files: set[str] = frozenset()):
        """params: the node's parameters with this camera's own rules_file / scene_map_file applied (own_files
        names those the camera has of its own)."""
        self.node, self.name, self.params, self.own_files = node, name, params, set(own_files)
        self.input_topic = f'{name}/image' if name else 'image'
        self.out = f'{name}/{node.get_name()}/' if name else '~/'
        self.label = node.resolve_topic_name(self.out.rstrip('/')) if name else node.get_fully_qualified_name()
        self.pipeline: Pipeline | None = None
        self.pending_pipeline: Pipeline | None = None
        self.scene_map_status = 'none'
        self.scene_stamp = None
        self.slot: LatestFrameSlot | None = None
        self.sub = None
        self.qos_watch: QosWatch | None = None
        self.counters = NodeCounters()
        self.pubs: dict[str, Any] = {}
        self.overlay: SceneOverlay | None = None
        self.event_updates = EventUpdates()
        self.class_names_sent: tuple[str, ...] | None = None

    def log_prefix(self) -> str:
        return f'[{self.name}] ' if self.name else ''

    # ---------------------------------------------------------------- configure / cleanup
    def build(self, detector, segmenter, base_dirs: tuple[str, ...]) -> None:
        """The pipeline on the shared models. A bad scene map is reported and left out; a bad rule file gives
        an empty rule set while the file is watched (models failing is the node's business)."""
        log, params = self.node.get_logger(), dict(self.params)
        self.scene_map_status = params['scene_map_file'] or 'none'
        while True:
            try:
                self.pipeline = build_pipeline(params, detector, segmenter, strict_rules=False, base_dirs=base_dirs)
                break
            except SceneMapError as e:
                log.error(f'{self.log_prefix()}{e} -- running without a scene map')
                self.scene_map_status = f"missing ({params['scene_map_file']} could not be used)"
                params['scene_map_file'] = ''
        status = self.pipeline.rule_source.status
        if status.level == ERROR:
            log.error(f'{self.log_prefix()}{status.message} -- running with an empty rule set until the file is fixed')
        elif status.level == WARN:
            log.warn(f'{self.log_prefix()}{status.message}')
        for warning in self.pipeline.rule_source.warnings:
            log.warn(f'{self.log_prefix()}{warning}')
        self.scene_stamp = file_stamp(self.params['scene_map_file'])
        self._create_publishers()

    def _create_publishers(self) -> None:
        node, sensor = self.node, rclpy.qos.qos_profile_sensor_data
        self.pubs = {
            'anomalies': node.create_lifecycle_publisher(AnomalyArray, self.out + 'anomalies', 10),
            'events': node.create_lifecycle_publisher(AnomalyEvent, self.out + 'events', EVENTS_QOS),
            'debug_image': node.create_lifecycle_publisher(Image, self.out + 'debug_image', sensor),
            'class_map': node.create_lifecycle_publisher(Image, self.out + 'class_map', sensor),
            'class_names': node.create_lifecycle_publisher(String, self.out + 'class_names', LATCHED_QOS),
        }
        if messages.Detection2DArray is not None:
            self.pubs['detections'] = node.create_lifecycle_publisher(messages.Detection2DArray,
                                                                      self.out + 'detections', 10)

    def release(self) -> None:
        for pub in self.pubs.values():
            self.node.destroy_lifecycle_publisher(pub)
        self.pubs = {}
        self.pipeline = self.pending_pipeline = None
        self.class_names_sent = self.overlay = None

    # ---------------------------------------------------------------- activate / deactivate
    def subscribe(self, slot: LatestFrameSlot, on_image) -> None:
        p = self.params
        compressed = p['transport'] == 'compressed'
        topic = self.node.resolve_topic_name(self.input_topic) + '/compressed' if compressed else self.input_topic
        self.slot = slot
        self.qos_watch = QosWatch(self.node, p['input.reliability'])
        self.sub = self.node.create_subscription(
            CompressedImage if compressed else Image, topic, lambda msg: on_image(self, msg),
            image_qos(p['input.reliability'], p['input.depth']), event_callbacks=self.qos_watch.callbacks())
        self.qos_watch.start(self.sub)

    def unsubscribe(self) -> None:
        if self.sub is not None:
            self.node.destroy_subscription(self.sub)
            self.sub = None
        if self.qos_watch is not None:
            self.qos_watch.stop()
        if self.slot is not None:
            self.slot.close()
            self.counters.dropped_before += self.slot.dropped
            self.slot = None

    # ---------------------------------------------------------------- files
    def poll_scene_map(self, base_dirs: tuple[str, ...]) -> None:
        """A changed scene map (e.g. saved by `vad-scene edit`) is loaded and checked here; the worker puts the
        new pipeline (same models, new map, rules re-checked against it) in force between two frames."""
        path, log = self.params['scene_map_file'], self.node.get_logger()
        stamp = file_stamp(path)
        if not path or stamp == self.scene_stamp or self.pipeline is None:
            return
        self.scene_stamp = stamp
        try:
            pipeline = build_pipeline(self.params, self.pipeline.detector, self.pipeline.segmenter,
                                      strict_rules=False, base_dirs=base_dirs)
        except SceneMapError as e:
            log.error(f'{self.log_prefix()}scene map change rejected, the previous map stays in force: {e}')
            return
        self.pending_pipeline = pipeline
        self.scene_map_status = path
        log.info(f'{self.log_prefix()}scene map changed: {len(pipeline.scene_map.regions)} region(s) from {path}')

    def poll_rule_file(self) -> None:
        change = self.pipeline.rule_source.poll()
        if change is None:
            return
        if change.level != ERROR:
            self.pipeline.rules_changed()
        log, text = self.node.get_logger(), self.log_prefix() + change.message
        if change.level == ERROR:       # one call site per severity: rclpy's logger requires it
            log.error(text)
        elif change.level == WARN:
            log.warn(text)
        else:
            log.info(text)

    def take_pending_pipeline(self) -> None:
        """Between frames (worker thread): a new pipeline prepared by poll_scene_map goes into force."""
        pipeline, self.pending_pipeline = self.pending_pipeline, None
        if pipeline is not None:
            self.close_events()            # tracks and events start afresh on the new map
            self.pipeline, self.overlay = pipeline, None

    # ---------------------------------------------------------------- frames
    def decode(self, msg, bridge, max_pixels: int = 0):
        """Decoded once: compressed payloads with OpenCV, raw images with the package's codec for the encodings
        it knows and with cv_bridge (where installed) for others. Frames above max_pixels (max_image_pixels;
        0 = no limit) raise ImageFormatError 'too_large': raw ones before decoding, compressed ones after."""
        if isinstance(msg, CompressedImage):
            image = image_codec.decode_compressed(msg.format, msg.data)
            image_codec.check_pixels(image.shape[1], image.shape[0], max_pixels)
            return image
        image_codec.check_pixels(msg.width, msg.height, max_pixels)
        if bridge is None or msg.encoding in image_codec.SUPPORTED_ENCODINGS:
            return image_codec.to_bgr(msg.encoding, msg.height, msg.width, msg.step, msg.data,
                                      bool(msg.is_bigendian))
        try:
            return bridge.imgmsg_to_cv2(msg, desired_encoding='bgr8')
        except Exception as e:  # noqa: BLE001 - cv_bridge raises its own and OpenCV's error types
            raise image_codec.ImageFormatError('encoding', f'cv_bridge cannot convert '
                                                           f'{image_codec.shown(msg.encoding)} to bgr8: {e}') from None

    def publish(self, result: FrameResult, header, image, node_params: dict[str, Any]) -> None:
        self.pubs['anomalies'].publish(messages.anomaly_array(result, header))
        self.event_updates.period = node_params['events.update_period']
        self.publish_events(self.event_updates.select(result.events), header, image, node_params['events.snapshot'])
        if 'detections' in self.pubs and node_params['publish_detections']:
            self.pubs['detections'].publish(messages.detections(result, header))
        if node_params['publish_class_map'] and result.class_map is not None:
            if result.class_map.class_names != self.class_names_sent:
                self.pubs['class_names'].publish(messages.class_names_msg(result.class_map))
                self.class_names_sent = result.class_map.class_names
            self.pubs['class_map'].publish(messages.class_map_image(result.class_map, header))
        if node_params['publish_debug_image'] and self.pubs['debug_image'].get_subscription_count() > 0:
            drawn = draw_result(self._under_results(image, node_params['debug_image_scene_map']), result)
            h, w, step, data = image_codec.from_bgr(drawn)
            self.pubs['debug_image'].publish(Image(header=header, height=h, width=w, encoding='bgr8',
                                                   is_bigendian=0, step=step, data=data))

    def publish_events(self, events, header, image, snapshots: bool) -> None:
        for event in events:
            snapshot = None
            if snapshots and event.state == EVENT_STARTED and image is not None:
                snapshot = snapshot_jpeg(image, event.box)
            self.pubs['events'].publish(messages.anomaly_event(event, header, snapshot))
            self.counters.events += 1

    def _under_results(self, image, wanted: bool):
        """The frame, with the scene map drawn on it when debug_image_scene_map is set."""
        scene_map = self.pipeline.scene_map
        if not wanted or scene_map is None:
            return image
        if self.overlay is None or self.overlay.scene_map is not scene_map:
            self.overlay = SceneOverlay(scene_map, places=False)   # zones/lines/masks: drawn by draw_result
        return self.overlay.draw(image)

    def close_events(self) -> None:
        """Events still open end now (deactivate, pause, shutdown, new scene map); their ended updates go out."""
        if self.pipeline is None:
            return
        ended = self.pipeline.flush_events()
        events_pub = self.pubs.get('events')
        if ended and events_pub is not None and events_pub.is_activated:
            self.publish_events(ended, Header(stamp=self.node.get_clock().now().to_msg()), None, False)
        self.event_updates.clear()


def snapshot_jpeg(image, box) -> bytes:
    """The frame with the event's box drawn, as JPEG bytes (for AnomalyEvent.snapshot)."""
    drawn = image.copy()
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    cv2.rectangle(drawn, (x0, y0), (x1, y1), (0, 0, 255), 2)
    ok, data = cv2.imencode('.jpg', drawn, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return data.tobytes() if ok else b''
