"""One camera served by vad_node: its input subscription and newest-frame slot, its pipeline (sharing the node's
models), its output publishers, its watched files and its counters.

A node serves one unnamed camera (input `image`, outputs `~/...`) or several named ones (parameter `cameras`):
camera `front` reads `front/image` and publishes under `front/<node name>/` (e.g. /front/vad_node/anomalies),
the same names a separate node per camera in namespace `front` would use.
"""
from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

import cv2
import rclpy
from rclpy.duration import Duration
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header, String

from vad_ros.background_hint import no_background_hint, rule_set_warnings
from vad_ros.event_updates import EventUpdates
from vad_ros.limits import bounded_message
from vad_ros.media import image_codec
from vad_ros.media.image_health import ImageHealth
from vad_ros.media.view_shift import ViewShift
from vad_ros.msg import AnomalyArray, AnomalyEvent
from vad_ros.params import CAMERA_FILES, map_to_wait_for, resolve_path
from vad_ros.pipeline import Pipeline, build_camera_pipeline, build_pipeline
from vad_ros.reasoning.rules import RuleFileError
from vad_ros.reasoning.scene_map import SceneMapError
from vad_ros.rendering.drawing import draw_result
from vad_ros.rendering.scene_overlay import SceneOverlay
from vad_ros.ros import messages
from vad_ros.ros.diagnostics import NodeCounters, lost_message
from vad_ros.ros.frame_slot import LatestFrameSlot
from vad_ros.ros.input_qos import QosWatch, image_qos
from vad_ros.rule_source import ERROR, WARN, file_stamp
from vad_ros.runtime_params import RuntimeParams
from vad_ros.types import END_CAMERA_LOST, END_SCENE_MAP_CHANGED, EVENT_STARTED, FrameResult

# ~/events: reliable, and AUTOMATIC liveliness with a lease: the middleware asserts it while the process lives
# (whether or not events happen), so a subscriber notices a node that died without a word (SIGKILL, a crash, a
# frozen host) within EVENTS_LEASE_S: its liveliness-changed callback reports the writer lost. A subscriber may
# ask for this lease or a longer one (or none: the default), not a shorter one.
EVENTS_LEASE_S = 2.0
EVENTS_QOS = rclpy.qos.QoSProfile(depth=1000, reliability=rclpy.qos.ReliabilityPolicy.RELIABLE,
                                  liveliness=rclpy.qos.LivelinessPolicy.AUTOMATIC,
                                  liveliness_lease_duration=Duration(seconds=EVENTS_LEASE_S))
ACK_TIMEOUT_S = 2.0        # at most this long for the subscribers of ~/events to confirm the last updates
LATCHED_QOS = rclpy.qos.QoSProfile(depth=1, reliability=rclpy.qos.ReliabilityPolicy.RELIABLE,
                                   durability=rclpy.qos.DurabilityPolicy.TRANSIENT_LOCAL)
PER_CAMERA_PARAMS = CAMERA_FILES       # a named camera's own files (vad_ros/params.py; vad-check reads them too)


class Camera:
    def __init__(self, node, name: str, params: RuntimeParams, own_files: dict[str, str] | None = None):
        """params: the node's parameters (vad_ros.runtime_params); own_files: this camera's own rules_file /
        scene_map_file, where it has them. The camera reads a child of params with those pinned (self.params),
        so a change through the parameter API reaches it, and its pipeline, with nothing copied by hand."""
        self.node, self.name, self._node_params = node, name, params
        self._own = dict(own_files or {})
        self.own_files = set(self._own)
        self.params = params.child(self._own)
        self.input_topic = f'{name}/image' if name else 'image'
        self.out = f'{name}/{node.get_name()}/' if name else '~/'
        self.label = node.resolve_topic_name(self.out.rstrip('/')) if name else node.get_fully_qualified_name()
        self.pipeline: Pipeline | None = None
        self.pending_pipeline: Pipeline | None = None
        self._pending_lock = threading.Lock()       # pending_pipeline: file watcher thread vs worker
        self.scene_map_status = 'none'
        self.scene_map_error = ''                   # why the latest change of the scene map was rejected
        self.waiting_for_map = ''                   # wait_for_scene_map: the map file not drawn yet ('' = none)
        self.scene_stamp = None
        self.slot: LatestFrameSlot | None = None
        self.sub = None
        self.qos_watch: QosWatch | None = None
        self.counters = NodeCounters()
        self.lost = False                  # no image for input.timeout seconds (watch_input; /diagnostics ERROR)
        self.health, self.blind = ImageHealth(), ''      # frozen or blank for input.blind_seconds (watch_image)
        self.view, self.moved = ViewShift(), ''          # the view moved since the scene map (watch_image)
        self.pubs: dict[str, Any] = {}
        self.overlay: SceneOverlay | None = None
        self.event_updates = EventUpdates()
        self.class_names_sent: tuple[str, ...] | None = None

    def log_prefix(self) -> str:
        return f'[{self.name}] ' if self.name else ''

    # ---------------------------------------------------------------- configure / cleanup
    def build(self, detector, segmenter, base_dirs: tuple[str, ...]) -> None:
        """The pipeline on the shared models. A scene map or rule file that is missing or cannot be used raises
        its SceneMapError / RuleFileError (the node's configure fails with the reason: a node that could never
        fire must not start); at run time a bad new version is rejected instead (poll_scene_map, poll_rule_file).
        Models failing is the node's business."""
        with self._pending_lock:
            self.pending_pipeline = None
        # Looked up again (a file that was missing at start may exist by now); a map not drawn yet is watched from
        # where it will be saved, next to the params file. The rule file follows the parameter API unless own.
        files = {key: resolve_path(self.params[key], list(base_dirs)) for key in PER_CAMERA_PARAMS}
        self.waiting_for_map = map_to_wait_for(self.params, base_dirs)
        self.params = self._node_params.child({**{k: files[k] for k in self._own},
                                               'scene_map_file': self.waiting_for_map or files['scene_map_file']})
        self.scene_map_status, self.scene_map_error = self.params['scene_map_file'] or 'none', ''
        self.scene_stamp = (file_stamp(self.params['scene_map_file']), None)   # before reading it: a save is seen
        if self.waiting_for_map:
            self.scene_map_status += ' (not drawn yet: loaded as soon as it is saved)'
        # vad-check's path too; the rule set's warnings are said here, with the camera's name and the map waited for
        self.pipeline = build_camera_pipeline(self.params.child({'scene_map_file': ''}) if self.waiting_for_map
                                              else self.params, detector, segmenter, base_dirs, warn=None)
        self.log_rule_warnings()
        self._create_publishers()

    def no_background_message(self) -> str:
        """The line the node gives while no background source is there (no segmenter, no scene-map region): logged
        once and shown in /diagnostics at WARN; '' once there is one."""
        pipeline = self.pipeline
        if pipeline is None or pipeline.background_vocab:
            return ''
        waiting = self.waiting_for_map if pipeline.scene_map is None else ''
        return no_background_hint(waiting, self.camera_topic() if waiting else '')

    def camera_topic(self) -> str:
        """The input topic after remapping (what `vad-scene edit --topic` must read)."""
        try:
            return self.node.resolve_topic_name(self.input_topic)
        except Exception:  # noqa: BLE001 - a name rclpy cannot resolve: shown as configured
            return self.input_topic

    def log_rule_warnings(self, pipeline: Pipeline | None = None) -> None:
        """The rule set's warnings of `pipeline` (default: the camera's), as vad-video gives them
        (background_hint.rule_set_warnings), each with the camera's name: at configure, after the rules changed at
        run time (parameter API, file changed on disk) and with a new scene map."""
        pipeline = pipeline or self.pipeline
        waiting = self.waiting_for_map if pipeline.scene_map is None else ''
        for warning in rule_set_warnings(pipeline.rule_source.warnings, pipeline.background_vocab, waiting,
                                         self.camera_topic() if waiting else ''):
            self.node.get_logger().warn(self.log_prefix() + warning)

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

    def release(self, deadline: float | None = None) -> None:
        """Destroy the publishers, once the subscribers of ~/events have confirmed the updates sent (until
        `deadline`, time.monotonic(); default ACK_TIMEOUT_S from now), then drop the pipelines."""
        self.wait_events_acked(time.monotonic() + ACK_TIMEOUT_S if deadline is None else deadline)
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
        if self.counters.last_received is not None:      # input.timeout counts from this activation
            self.counters.last_received = time.monotonic()

    def watch_input(self) -> None:
        """Whether the camera is lost (input.timeout: images came, then none for that long; /diagnostics says it
        at ERROR while `lost`): one log line, and its open events end ('camera lost'); one line when images come
        again.
        Called by the node's worker between rounds (at least every 0.5 s), where no frame is half processed."""
        timeout = self.params['input.timeout']
        silent = self.counters.silent_for(time.monotonic(), timeout) if self.sub is not None else None
        if silent is not None and not self.lost:
            self.node.get_logger().error(self.log_prefix() + lost_message(self, silent))
            self.close_events(END_CAMERA_LOST)
        elif silent is None and self.lost and self.sub is not None and timeout > 0:
            self.node.get_logger().info(f"{self.log_prefix()}images again on '{self.sub.topic_name}'")
        self.lost = silent is not None

    def watch_image(self, image, stamp: float) -> None:
        """What the frame says of the camera (/diagnostics WARN meanwhile, one log line when it starts, one when it
        ends): frozen or blank for input.blind_seconds (vad_ros.media.image_health), or its view moved since the
        scene map was drawn (the picture saved with it) or put in force (view_moved_fraction;
        vad_ros.media.view_shift)."""
        p, scene = self.params, self.pipeline.scene_map if self.pipeline is not None else None
        self.blind = self._say(self.blind, self.health.update(image, stamp, p['input.blind_seconds']),
                               'the image is live again')
        self.moved = self._say(self.moved, self.view.update(image, stamp, scene, p['view_moved_fraction'],
                                                            p['scene_map_file']),
                               'the view matches the scene map again')

    def _say(self, before: str, now: str, back: str) -> str:
        if now and not before:
            self.node.get_logger().warn(self.log_prefix() + now)
        elif before and not now:
            self.node.get_logger().info(self.log_prefix() + back)
        return now

    def unsubscribe(self) -> None:
        if self.sub is not None:
            self.node.destroy_subscription(self.sub)
            self.sub = None
        self.lost = False                  # an inactive camera is not watched
        if self.qos_watch is not None:
            self.qos_watch.stop()
        if self.slot is not None:
            self.slot.close()
            self.counters.dropped_before += self.slot.dropped
            self.slot = None

    # ---------------------------------------------------------------- files
    def poll_scene_map(self, base_dirs: tuple[str, ...]) -> None:
        """A changed scene map (e.g. saved by `vad-scene edit`) is loaded and checked here, on the node's file
        watcher thread (never the executor's: a big file must not hold up services and diagnostics); the worker
        puts the new pipeline (same models, new map, rules re-checked against it) in force between two frames.
        A version that cannot be used (missing, invalid, or the rules name a zone or tripwire it lacks) is
        rejected: the previous map stays in force, and scene_map_error (diagnostics: ERROR) says why until a
        usable version is saved, or the rule file changes while it is the rules that do not fit."""
        path, log, pipeline = self.params['scene_map_file'], self.node.get_logger(), self.pipeline
        if not path or pipeline is None:
            return
        rules_stamp = file_stamp(pipeline.rule_source.path)    # read before the files: a save meanwhile is seen
        stamp = file_stamp(path)
        if (stamp, rules_stamp if self.scene_map_error else None) == self.scene_stamp:
            return
        try:
            new = build_pipeline(self.params, pipeline.detector, pipeline.segmenter, base_dirs=base_dirs, warn=None)
        except (SceneMapError, RuleFileError) as e:
            self.scene_map_error = bounded_message(f'scene map change rejected, the previous map stays in force: {e}')
            self.scene_stamp = (stamp, rules_stamp)         # tried again when either file changes
            log.error(self.log_prefix() + self.scene_map_error)
            return
        with self._pending_lock:
            self.pending_pipeline = new
        self.scene_stamp, self.scene_map_error, self.scene_map_status = (stamp, None), '', path
        self.waiting_for_map = ''
        log.info(f'{self.log_prefix()}scene map changed: {len(new.scene_map.regions)} region(s) from {path}')
        self.log_rule_warnings(new)

    def poll_rule_file(self) -> None:
        change = self.pipeline.rule_source.poll()
        if change is None:
            return
        log, text = self.node.get_logger(), self.log_prefix() + change.message
        if change.level == ERROR:       # one call site per severity: rclpy's logger requires it
            log.error(text)
        elif change.level == WARN:
            log.warn(text)
        else:
            log.info(text)
        if change.level != ERROR:
            self.log_rule_warnings()

    def take_pending_pipeline(self) -> None:
        """Between frames (worker thread): a new pipeline prepared by poll_scene_map goes into force."""
        with self._pending_lock:
            pipeline, self.pending_pipeline = self.pending_pipeline, None
        if pipeline is not None:
            self.close_events(END_SCENE_MAP_CHANGED)   # tracks and events start afresh on the new map
            self.pipeline, self.overlay = pipeline, None

    # ---------------------------------------------------------------- frames
    def decode(self, msg, bridge, max_pixels: int = 0):
        """Decoded once: compressed payloads with OpenCV, raw images with the package's codec for the encodings
        it knows and with cv_bridge (where installed) for others. Frames above max_pixels (max_image_pixels;
        0 = no limit) raise ImageFormatError 'too_large' before decoding: raw ones on their width and height,
        compressed ones on the size their PNG / JPEG header declares (checked against their 'format' field too)."""
        if isinstance(msg, CompressedImage):
            return image_codec.decode_compressed(msg.format, msg.data, max_pixels)
        image_codec.check_pixels(msg.width, msg.height, max_pixels)
        if bridge is None or msg.encoding in image_codec.SUPPORTED_ENCODINGS:
            return image_codec.to_bgr(msg.encoding, msg.height, msg.width, msg.step, msg.data,
                                      bool(msg.is_bigendian))
        try:
            return bridge.imgmsg_to_cv2(msg, desired_encoding='bgr8')
        except Exception as e:  # noqa: BLE001 - cv_bridge raises its own and OpenCV's error types
            raise image_codec.ImageFormatError('encoding', f'cv_bridge cannot convert '
                                                           f'{image_codec.shown(msg.encoding)} to bgr8: {e}') from None

    def publish(self, result: FrameResult, header, image) -> None:
        node_params = self.params                   # the outputs' parameters, as the parameter API last set them
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
            drawn = draw_result(self._under_results(image, node_params['debug_image_scene_map']), result,
                                warning=self.blind or self.moved)
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
            if event.state == EVENT_STARTED:     # the operator's first sign that the node flags (one per visit)
                self.node.get_logger().info(f'{self.log_prefix()}event {event.event_id} started: {event.sentence} '
                                            f'(rule {event.rule_id}, {event.severity}, track {event.track_id})')

    def _under_results(self, image, wanted: bool):
        """The frame, with the scene map drawn on it when debug_image_scene_map is set."""
        scene_map = self.pipeline.scene_map
        if not wanted or scene_map is None:
            return image
        if self.overlay is None or self.overlay.scene_map is not scene_map:
            self.overlay = SceneOverlay(scene_map, places=False)   # zones/lines/masks: drawn by draw_result
        return self.overlay.draw(image)

    def close_events(self, reason: str) -> None:
        """Events still open end now (deactivate, pause, shutdown, new scene map: `reason`, one of the END_*
        of vad_ros.types); their ended updates go out, saying why."""
        if self.pipeline is None:
            return
        ended = [dataclasses.replace(e, end_reason=reason) for e in self.pipeline.flush_events()]
        events_pub = self.pubs.get('events')
        if ended and events_pub is not None and events_pub.is_activated:
            self.publish_events(ended, Header(stamp=self.node.get_clock().now().to_msg()), None, False)
        self.event_updates.clear()

    def wait_events_acked(self, deadline: float) -> bool:
        """Until every subscriber of ~/events has acknowledged what was published (reliable QoS), or until
        `deadline` (time.monotonic()); True when all did. Called before the publisher goes (cleanup, shutdown,
        Ctrl-C), so that the last ended updates reach subscribers in other processes."""
        events_pub = self.pubs.get('events')
        if events_pub is None:
            return True
        left = max(0.0, deadline - time.monotonic())
        return events_pub.wait_for_all_acked(Duration(nanoseconds=int(left * 1e9)))


def snapshot_jpeg(image, box) -> bytes:
    """The frame with the event's box drawn, as JPEG bytes (for AnomalyEvent.snapshot)."""
    drawn = image.copy()
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    cv2.rectangle(drawn, (x0, y0), (x1, y1), (0, 0, 255), 2)
    ok, data = cv2.imencode('.jpg', drawn, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return data.tobytes() if ok else b''
