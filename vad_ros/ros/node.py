"""vad_node: a managed (lifecycle) node that watches one camera topic and says what is anomalous in it.

Life cycle (rclpy lifecycle; `autostart: true` runs configure + activate at start):
  configure   build the models, scene map and rules (a failure is reported; the node stays unconfigured)
  activate    subscribe to the camera and publish; deactivate: unsubscribe, close open events
  cleanup     free the models (GPU memory back); shutdown: clean exit
Subscribes  image               sensor_msgs/Image (transport raw), or <image>/compressed sensor_msgs/CompressedImage
                                (transport compressed); QoS input.reliability / input.depth (sensor data default)
Publishes   ~/anomalies         vad_ros/AnomalyArray, one per processed frame (objects + anomalies), image header
            ~/events            vad_ros/AnomalyEvent, every event update (started / ongoing / ended), reliable
            ~/detections        vision_msgs/Detection2DArray, where vision_msgs is installed (publish_detections)
            ~/class_map         sensor_msgs/Image mono16 class ids, ~/class_names (latched JSON), publish_class_map
            ~/debug_image       sensor_msgs/Image bgr8, annotated frame (when publish_debug_image and subscribed)
            /diagnostics        diagnostic_msgs/DiagnosticArray (state, rates, latency, drops, models, rules)
Services    ~/enable            std_srvs/SetBool: pause / resume processing without unloading the models

Perception runs on a worker thread on the newest frame only (vad_ros.ros.frame_slot); frames that arrive while it
is busy replace the waiting one and are counted as dropped. Parameter changes are queued and applied between
frames, so the parameter service never waits for a frame. Parameters: vad_ros/params.py, config/vad.yaml.
"""
from __future__ import annotations

import gc
import os
import sys
import threading
import time
from typing import Any

import cv2
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import String
from std_srvs.srv import SetBool

from vad_ros import params as vparams
from vad_ros.errors import VadError
from vad_ros.media import image_codec
from vad_ros.msg import AnomalyArray, AnomalyEvent
from vad_ros.pipeline import Pipeline, build_pipeline
from vad_ros.reasoning.rules import RuleFileError
from vad_ros.reasoning.scene_map import SceneMapError
from vad_ros.rendering.drawing import draw_result
from vad_ros.rendering.scene_overlay import SceneOverlay
from vad_ros.ros import messages
from vad_ros.ros.diagnostics import NodeCounters, diagnostic_status
from vad_ros.ros.frame_slot import LatestFrameSlot
from vad_ros.ros.input_qos import QosWatch, image_qos
from vad_ros.ros.node_main import run_node
from vad_ros.rule_source import ERROR, WARN, file_stamp
from vad_ros.types import EVENT_STARTED

try:  # cv_bridge is used for encodings the package's codec lacks, where it is installed (a ROS 2 desktop).
    from cv_bridge import CvBridge
except ImportError:  # pragma: no cover - depends on the machine
    CvBridge = None

EVENTS_QOS = rclpy.qos.QoSProfile(depth=1000, reliability=rclpy.qos.ReliabilityPolicy.RELIABLE)
LATCHED_QOS = rclpy.qos.QoSProfile(depth=1, reliability=rclpy.qos.ReliabilityPolicy.RELIABLE,
                                   durability=rclpy.qos.DurabilityPolicy.TRANSIENT_LOCAL)


class VadNode(LifecycleNode):
    def __init__(self, params_file_dirs: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__('vad_node', **kwargs)
        self._param_dirs = params_file_dirs or []
        self._params = self._declare_parameters()
        self._bridge = CvBridge() if CvBridge is not None else None
        self._pipeline: Pipeline | None = None
        self._scene_map_status = 'none'
        self._rules_lock = threading.Lock()        # rule source: parameter API vs file polling
        self._pending_lock = threading.Lock()      # parameter changes waiting for the worker
        self._pending: dict[str, Any] = {}
        self._pending_pipeline: Pipeline | None = None
        self._enabled = True
        self._active = False
        self._slot: LatestFrameSlot | None = None
        self._worker: threading.Thread | None = None
        self._sub = None
        self._qos_watch: QosWatch | None = None
        self._class_names_sent: tuple[str, ...] | None = None
        self._overlay: SceneOverlay | None = None
        self.counters = NodeCounters()
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._diag_timer = self.create_timer(self._params['diagnostics_period'], self._publish_diagnostics)
        self._enable_srv = self.create_service(SetBool, '~/enable', self._on_enable)

    # ---------------------------------------------------------------- life cycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self._pipeline = self._build_pipeline()
        except VadError as e:
            self.get_logger().error(f'configure failed: {e}')
            self.startup_error = str(e)
            return TransitionCallbackReturn.FAILURE
        self._pub = self.create_lifecycle_publisher(AnomalyArray, '~/anomalies', 10)
        self._events_pub = self.create_lifecycle_publisher(AnomalyEvent, '~/events', EVENTS_QOS)
        self._debug_pub = self.create_lifecycle_publisher(Image, '~/debug_image', rclpy.qos.qos_profile_sensor_data)
        self._class_map_pub = self.create_lifecycle_publisher(Image, '~/class_map', rclpy.qos.qos_profile_sensor_data)
        self._class_names_pub = self.create_lifecycle_publisher(String, '~/class_names', LATCHED_QOS)
        self._detections_pub = None
        if messages.Detection2DArray is not None:
            self._detections_pub = self.create_lifecycle_publisher(messages.Detection2DArray, '~/detections', 10)
        self._scene_stamp = file_stamp(self._params['scene_map_file'])
        self._rules_timer = self.create_timer(1.0, self._poll_files)
        det, seg = self._pipeline.detector, self._pipeline.segmenter
        self.get_logger().info(
            f"configured: detector {det.name} on {det.device}, segmenter "
            f"{seg.name + ' on ' + seg.device if seg else 'none'}, scene map {self._scene_map_status}, "
            f"{self._pipeline.rule_source.status.message}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._slot = LatestFrameSlot()
        self._worker = threading.Thread(target=self._work, args=(self._slot,), name='vad_perception', daemon=True)
        self._worker.start()
        self._subscribe()
        self._active = True
        result = super().on_activate(state)          # activates the lifecycle publishers
        self.get_logger().info(f"active: watching '{self._sub.topic_name}', publishing '{self._pub.topic_name}'")
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active = False
        self._stop_input()
        self._close_events()
        result = super().on_deactivate(state)
        self.get_logger().info('inactive: not subscribed, not publishing')
        return result

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        self.get_logger().info('cleaned up: models freed')
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self._active:
            self._active = False
            self._stop_input()
            self._close_events()
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def _subscribe(self) -> None:
        qos = image_qos(self._params['input.reliability'], self._params['input.depth'])
        compressed = self._params['transport'] == 'compressed'
        topic = self.resolve_topic_name('image') + '/compressed' if compressed else 'image'
        self._qos_watch = QosWatch(self, self._params['input.reliability'])
        self._sub = self.create_subscription(CompressedImage if compressed else Image, topic, self._on_image, qos,
                                             event_callbacks=self._qos_watch.callbacks())
        self._qos_watch.start(self._sub)

    def _stop_input(self) -> None:
        if self._sub is not None:
            self.destroy_subscription(self._sub)
            self._sub = None
        if self._qos_watch is not None:
            self._qos_watch.stop()
        if self._slot is not None:
            self._slot.close()
            self.counters.dropped_before += self._slot.dropped
        if self._worker is not None:
            self._worker.join(timeout=30)
        self._slot = self._worker = None

    def _release(self) -> None:
        """Drop the pipeline and its models, and give GPU memory back."""
        if getattr(self, '_rules_timer', None) is not None:
            self.destroy_timer(self._rules_timer)
            self._rules_timer = None
        for name in ('_pub', '_events_pub', '_debug_pub', '_class_map_pub', '_class_names_pub', '_detections_pub'):
            pub = getattr(self, name, None)
            if pub is not None:
                self.destroy_lifecycle_publisher(pub)
                setattr(self, name, None)
        self._pipeline = None
        self._class_names_sent = None
        gc.collect()
        torch = sys.modules.get('torch')
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _build_pipeline(self) -> Pipeline:
        """Models are built once per configure (a failure raises VadError). A bad rule file or scene map is
        reported and left out (empty rule set / no scene map) so that the node runs; the rule source watches
        the rule file and picks it up once fixed."""
        params = dict(self._params)
        self._scene_map_status = params['scene_map_file'] or 'none'
        while True:
            try:
                pipeline = build_pipeline(params, strict_rules=False, base_dirs=tuple(self._param_dirs))
                break
            except SceneMapError as e:
                self.get_logger().error(f'{e} -- running without a scene map')
                self._scene_map_status = f"missing ({params['scene_map_file']} could not be used)"
                params['scene_map_file'] = ''
        status = pipeline.rule_source.status
        if status.level == ERROR:
            self.get_logger().error(f'{status.message} -- running with an empty rule set until the file is fixed')
        elif status.level == WARN:
            self.get_logger().warn(status.message)
        for warning in pipeline.rule_source.warnings:
            self.get_logger().warn(warning)
        return pipeline

    # ---------------------------------------------------------------- parameters
    def _declare_parameters(self) -> dict[str, Any]:
        """Declare every parameter of vad_ros/params.py; a bad value from the params file or the command line
        is reported and replaced by the default."""
        values = {}
        overrides = self._parameter_overrides   # what --params-file / -p gave, before declaration
        for name, spec in vparams.SPECS.items():
            value = spec.default
            if name in overrides:
                try:
                    value = vparams.check_value(name, overrides[name].value)
                except vparams.ParamError as e:
                    self.get_logger().error(f'{e}; using the default {spec.default!r}')
            # Declared with the checked value: a bad override never reaches the parameter server.
            descriptor = ParameterDescriptor(description=spec.description, read_only=spec.read_only)
            self.declare_parameter(name, value, descriptor, ignore_override=True)
            if name in vparams.PATH_PARAMS:
                value = vparams.resolve_path(value, self._param_dirs)
            values[name] = value
        for name in sorted(set(overrides) - set(vparams.SPECS)):
            try:
                vparams.check_value(name, overrides[name].value)
            except vparams.ParamError as e:
                self.get_logger().warn(f'{e}: ignored')
        return values

    def _on_set_parameters(self, parameters) -> SetParametersResult:
        """Check every value first; the rule file is switched at once, the rest is applied between frames."""
        changed = {}
        for p in parameters:
            spec = vparams.SPECS.get(p.name)
            if spec is None:
                return SetParametersResult(successful=False, reason=f"unknown parameter '{p.name}'")
            if spec.read_only:
                return SetParametersResult(successful=False,
                                           reason=f"'{p.name}' is read-only: it needs a restart of the node")
            try:
                changed[p.name] = vparams.check_value(p.name, p.value)
            except vparams.ParamError as e:
                return SetParametersResult(successful=False, reason=str(e))
        if 'rules_file' in changed and self._pipeline is not None:
            try:
                self._switch_rules(changed['rules_file'])
            except RuleFileError as e:
                return SetParametersResult(successful=False, reason=f'rules_file rejected, old rules stay: {e}')
        if 'diagnostics_period' in changed:
            self._set_diagnostics_period(changed['diagnostics_period'])
        with self._pending_lock:
            self._pending.update({k: v for k, v in changed.items() if k in vparams.applied_by(vparams.PIPELINE)})
        self._params.update(changed)        # node outputs (debug image, snapshots, ...) are read from here
        return SetParametersResult(successful=True)

    def _switch_rules(self, value: str) -> None:
        """rules_file through the parameter API; RuleFileError leaves the rules in force."""
        with self._rules_lock:
            rules = self._pipeline.rule_source.switch(value)
            self._pipeline.rules_changed()
        self.get_logger().info(f'{len(rules)} rule(s) now in force from {self._pipeline.rule_source.path}')

    def _set_diagnostics_period(self, period: float) -> None:
        self.destroy_timer(self._diag_timer)
        self._diag_timer = self.create_timer(period, self._publish_diagnostics)

    def _poll_files(self) -> None:
        if self._pipeline is None:
            return
        self._poll_rule_file()
        self._poll_scene_map()

    def _poll_scene_map(self) -> None:
        """A changed scene map (e.g. saved by `vad-scene edit`) is loaded and checked here; the worker puts the
        new pipeline (same models, new map, rules re-checked against it) in force between two frames."""
        path = self._params['scene_map_file']
        stamp = file_stamp(path)
        if not path or stamp == self._scene_stamp:
            return
        self._scene_stamp = stamp
        try:
            pipeline = build_pipeline(self._params, self._pipeline.detector, self._pipeline.segmenter,
                                      strict_rules=False, base_dirs=tuple(self._param_dirs))
        except SceneMapError as e:
            self.get_logger().error(f'scene map change rejected, the previous map stays in force: {e}')
            return
        with self._pending_lock:
            self._pending_pipeline = pipeline
        self._scene_map_status = path
        self.get_logger().info(f'scene map changed: {len(pipeline.scene_map.regions)} region(s) from {path}')

    def _poll_rule_file(self) -> None:
        with self._rules_lock:
            change = self._pipeline.rule_source.poll()
            if change is None:
                return
            if change.level != ERROR:
                self._pipeline.rules_changed()
        if change.level == ERROR:       # one call site per severity: rclpy's logger requires it
            self.get_logger().error(change.message)
        elif change.level == WARN:
            self.get_logger().warn(change.message)
        else:
            self.get_logger().info(change.message)

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        self._enabled = bool(request.data)
        if not self._enabled:
            self._close_events()
        response.success = True
        response.message = ('processing' if self._enabled else 'paused (models stay loaded)') + \
            ('' if self._active else '; the node is not active: activate it to process frames')
        self.get_logger().info(f'~/enable: {response.message}')
        return response

    # ---------------------------------------------------------------- frames
    def _on_image(self, msg) -> None:
        self.counters.received(time.monotonic())
        if self._enabled and self._slot is not None:
            self._slot.put(msg)
        else:
            self.counters.paused += 1

    def _to_bgr(self, msg):
        """Decoded once: compressed payloads with OpenCV, raw images with the package's codec for the
        encodings it knows and with cv_bridge (where installed) for others. Frames above max_image_pixels
        are skipped (ImageFormatError 'too_large'), raw ones before decoding."""
        limit = self._params['max_image_pixels']
        if isinstance(msg, CompressedImage):
            image = image_codec.decode_compressed(msg.format, msg.data)
            image_codec.check_pixels(image.shape[1], image.shape[0], limit)
            return image
        image_codec.check_pixels(msg.width, msg.height, limit)    # before decoding: too big = skipped
        if self._bridge is None or msg.encoding in image_codec.SUPPORTED_ENCODINGS:
            return image_codec.to_bgr(msg.encoding, msg.height, msg.width, msg.step, msg.data,
                                      bool(msg.is_bigendian))
        try:
            return self._bridge.imgmsg_to_cv2(msg, desired_encoding='bgr8')
        except Exception as e:  # noqa: BLE001 - cv_bridge raises its own and OpenCV's error types
            raise image_codec.ImageFormatError('encoding', f'cv_bridge cannot convert '
                                                           f'{image_codec.shown(msg.encoding)} to bgr8: {e}') from None

    def _work(self, slot: LatestFrameSlot) -> None:
        while rclpy.ok():
            msg = slot.take(timeout=0.5)
            if msg is None:
                if slot.closed:
                    return
                continue
            try:
                self._apply_pending()
                self._process(msg)
            except image_codec.ImageFormatError as e:
                if self.counters.skip(e.cause):
                    self.get_logger().warn(f"skipping frames from '{self._sub.topic_name if self._sub else 'image'}'"
                                           f': {e} (logged once per cause; counted in diagnostics)')
            except Exception as e:  # noqa: BLE001 - a frame must never take the node down
                self.get_logger().error(f'frame skipped, processing failed: {type(e).__name__}: {e}')
                self.counters.skip('processing')

    def _apply_pending(self) -> None:
        with self._pending_lock:
            pending, self._pending = self._pending, {}
            pipeline, self._pending_pipeline = self._pending_pipeline, None
        if pipeline is not None:
            self._close_events()            # tracks and events start afresh on the new map
            self._pipeline = pipeline
            self._overlay = None
        if pending:
            self._pipeline.update_params(pending)

    def _process(self, msg) -> None:
        t0 = time.perf_counter()
        image = self._to_bgr(msg)
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        result = self._pipeline.process(image, stamp=stamp)
        self._pub.publish(messages.anomaly_array(result, msg.header))
        self._publish_events(result.events, msg.header, image)
        self._publish_extras(result, msg.header, image)
        self.counters.processed(time.monotonic(), (time.perf_counter() - t0) * 1e3,
                                self.get_clock().now().nanoseconds * 1e-9 - stamp)

    def _publish_events(self, events, header, image) -> None:
        for event in events:
            snapshot = None
            if self._params['events.snapshot'] and event.state == EVENT_STARTED and image is not None:
                snapshot = snapshot_jpeg(image, event.box)
            self._events_pub.publish(messages.anomaly_event(event, header, snapshot))
            self.counters.events += 1

    def _publish_extras(self, result, header, image) -> None:
        if self._detections_pub is not None and self._params['publish_detections']:
            self._detections_pub.publish(messages.detections(result, header))
        if self._params['publish_class_map'] and result.class_map is not None:
            if result.class_map.class_names != self._class_names_sent:
                self._class_names_pub.publish(messages.class_names_msg(result.class_map))
                self._class_names_sent = result.class_map.class_names
            self._class_map_pub.publish(messages.class_map_image(result.class_map, header))
        if self._params['publish_debug_image'] and self._debug_pub.get_subscription_count() > 0:
            h, w, step, data = image_codec.from_bgr(draw_result(self._under_results(image), result))
            self._debug_pub.publish(Image(header=header, height=h, width=w, encoding='bgr8', is_bigendian=0,
                                          step=step, data=data))

    def _under_results(self, image):
        """The frame, with the scene map drawn on it when debug_image_scene_map is set."""
        scene_map = self._pipeline.scene_map
        if not self._params['debug_image_scene_map'] or scene_map is None:
            return image
        if self._overlay is None or self._overlay.scene_map is not scene_map:
            self._overlay = SceneOverlay(scene_map, places=False)   # zones/lines/masks: drawn by draw_result
        return self._overlay.draw(image)

    def _close_events(self) -> None:
        """Events still open end now (deactivate, pause, shutdown); their ended updates are published."""
        if self._pipeline is None:
            return
        header = messages.Header(stamp=self.get_clock().now().to_msg())
        ended = self._pipeline.flush_events()
        if ended and self._events_pub is not None and self._events_pub.is_activated:
            self._publish_events(ended, header, None)

    # ---------------------------------------------------------------- diagnostics
    def _publish_diagnostics(self) -> None:
        state = 'active' if self._active else ('inactive' if self._pipeline is not None else 'unconfigured')
        if self._active and not self._enabled:
            state = 'paused (~/enable false)'
        array = DiagnosticArray(status=[diagnostic_status(self, state)])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(array)

    def destroy_node(self) -> None:
        if self._active:
            self._active = False
            self._stop_input()
        super().destroy_node()


def snapshot_jpeg(image, box) -> bytes:
    """The frame with the event's box drawn, as JPEG bytes (for AnomalyEvent.snapshot)."""
    drawn = image.copy()
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    cv2.rectangle(drawn, (x0, y0), (x1, y1), (0, 0, 255), 2)
    ok, data = cv2.imencode('.jpg', drawn, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return data.tobytes() if ok else b''


def _checked_args(argv: list[str]) -> tuple[list[str], list[str], list[str]]:
    """Remove `--params-file F` entries that rcl could not read (missing file, bad YAML), which would stop
    rclpy.init; return the remaining args, the problems, and the folders of the good params files."""
    out, problems, dirs = [], [], []
    i = 0
    while i < len(argv):
        if argv[i] == '--params-file' and i + 1 < len(argv):
            path = argv[i + 1]
            try:
                vparams.read_params_file(path)
            except vparams.ParamFileError as e:
                problems.append(f'{e}; starting without it (defaults apply)')
                i += 2
                continue
            except vparams.ParamError:
                pass   # a bad value: the node reports it when declaring the parameter and uses the default
            dirs.append(os.path.dirname(os.path.abspath(path)))
        out.append(argv[i])
        i += 1
    return out, problems, dirs


class StartupFailed(VadError):
    """autostart could not configure or activate the node."""


def main(argv: list[str] | None = None) -> int:
    args, problems, dirs = _checked_args(list(sys.argv if argv is None else argv))

    def make() -> VadNode:
        node = VadNode(params_file_dirs=dirs + [os.getcwd()])
        for p in problems:
            node.get_logger().error(p)
        if node._params['autostart']:
            autostart(node)
        return node

    return run_node('vad_node', make, args)


def autostart(node: VadNode) -> None:
    """configure + activate, as a lifecycle manager would; raises StartupFailed (exit code 1) on failure."""
    node.startup_error = ''
    if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
        node.destroy_node()
        raise StartupFailed(node.startup_error or 'configure failed')
    if node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
        node.destroy_node()
        raise StartupFailed('activate failed')


if __name__ == '__main__':
    sys.exit(main())
