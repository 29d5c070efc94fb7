"""vad_node: watches one camera topic and publishes what is anomalous in it.

Subscribes  image               sensor_msgs/Image (sensor-data QoS; remap to the camera topic)
Publishes   ~/anomalies         vad_ros/AnomalyArray, one per processed frame, header copied from the image
            ~/debug_image       sensor_msgs/Image bgr8, annotated frame (when publish_debug_image and subscribed)
            /diagnostics        diagnostic_msgs/DiagnosticArray (rates, latency, drops, models, rules)

Perception runs on a worker thread on the newest frame only (vad_ros.ros.frame_slot); frames that arrive while it
is busy replace the waiting one and are counted as dropped. Parameters: vad_ros/params.py, config/vad.yaml.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

from vad_ros import params as vparams
from vad_ros.media import image_codec
from vad_ros.msg import AnomalyArray
from vad_ros.pipeline import Pipeline, build_pipeline
from vad_ros.reasoning.rules import RuleFileError
from vad_ros.reasoning.scene_map import SceneMapError
from vad_ros.rendering.drawing import draw_result
from vad_ros.ros.frame_slot import LatestFrameSlot, RateMeter
from vad_ros.ros.messages import anomaly_array
from vad_ros.ros.node_main import run_node
from vad_ros.rule_source import ERROR, OK, WARN

try:  # cv_bridge is used where it is installed (a ROS 2 desktop install); the package's own codec otherwise.
    from cv_bridge import CvBridge
except ImportError:  # pragma: no cover - depends on the machine
    CvBridge = None

_LEVELS = {OK: DiagnosticStatus.OK, WARN: DiagnosticStatus.WARN, ERROR: DiagnosticStatus.ERROR}


class VadNode(Node):
    def __init__(self, params_file_dirs: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__('vad_node', **kwargs)
        self._param_dirs = params_file_dirs or []
        self._params = self._declare_parameters()
        self._bridge = CvBridge() if CvBridge is not None else None
        self._lock = threading.Lock()          # guards the pipeline against parameter updates
        self._scene_map_status = 'none'
        self._pipeline = self._build_pipeline()

        self._slot = LatestFrameSlot()
        self._skipped: dict[str, int] = {}
        self._in_rate, self._out_rate = RateMeter(), RateMeter()
        self._latency_ms = 0.0
        self._processing_ms = 0.0
        self._frames_done = 0

        self._pub = self.create_publisher(AnomalyArray, '~/anomalies', 10)
        self._debug_pub = self.create_publisher(Image, '~/debug_image', qos_profile_sensor_data)
        self._diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._sub = self.create_subscription(Image, 'image', self._on_image, qos_profile_sensor_data)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._diag_timer = self.create_timer(self._params['diagnostics_period'], self._publish_diagnostics)
        self._rules_timer = self.create_timer(1.0, self._poll_rule_file)

        self._worker = threading.Thread(target=self._work, name='vad_perception', daemon=True)
        self._worker.start()
        det, seg = self._pipeline.detector, self._pipeline.segmenter
        self.get_logger().info(
            f"watching '{self._sub.topic_name}': detector {det.name} on {det.device}, segmenter "
            f"{seg.name + ' on ' + seg.device if seg else 'none'}, scene map "
            f"{self._scene_map_status}, {self._pipeline.rule_source.status.message}; "
            f"publishing '{self._pub.topic_name}'")

    def _build_pipeline(self) -> Pipeline:
        """Models are built once (a failure stops the start-up with a VadError). A bad rule file or scene map
        is reported and left out (empty rule set / no scene map) so that the node runs; the rule source
        watches the rule file and picks it up once fixed."""
        params = dict(self._params)
        if params['scene_map_file']:
            self._scene_map_status = params['scene_map_file']
        while True:
            try:
                pipeline = build_pipeline(params, strict_rules=False)
                break
            except SceneMapError as e:
                self.get_logger().error(f'{e} -- running without a scene map')
                self._scene_map_status = f"missing: {params['scene_map_file']} could not be used"
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
        """Check every value first; then the pipeline applies its own parameters and the node its own."""
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
        with self._lock:
            if 'rules_file' in changed:
                try:
                    self._switch_rules(changed['rules_file'])
                except RuleFileError as e:
                    return SetParametersResult(successful=False, reason=f'rules_file rejected, old rules stay: {e}')
            pipeline_params = {k: v for k, v in changed.items() if k in vparams.applied_by(vparams.PIPELINE)}
            if pipeline_params:
                self._pipeline.update_params(pipeline_params)
            if 'diagnostics_period' in changed:
                self._set_diagnostics_period(changed['diagnostics_period'])
            self._params.update(changed)          # publish_debug_image is read from here for every frame
        return SetParametersResult(successful=True)

    def _switch_rules(self, value: str) -> None:
        """rules_file through the parameter API; RuleFileError leaves the rules in force."""
        rules = self._pipeline.rule_source.switch(value)
        self._pipeline.rules_changed()
        self.get_logger().info(f'{len(rules)} rule(s) now in force from {self._pipeline.rule_source.path}')

    def _set_diagnostics_period(self, period: float) -> None:
        self._diag_timer.cancel()
        self.destroy_timer(self._diag_timer)
        self._diag_timer = self.create_timer(period, self._publish_diagnostics)

    def _poll_rule_file(self) -> None:
        with self._lock:
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

    # ---------------------------------------------------------------- frames
    def _on_image(self, msg: Image) -> None:
        self._in_rate.tick(time.monotonic())
        self._slot.put(msg)

    def _to_bgr(self, msg: Image):
        """Decoded once: the package's codec for the encodings it knows, cv_bridge (where installed) for others."""
        if self._bridge is None or msg.encoding in image_codec.SUPPORTED_ENCODINGS:
            return image_codec.to_bgr(msg.encoding, msg.height, msg.width, msg.step, msg.data,
                                      bool(msg.is_bigendian))
        try:
            return self._bridge.imgmsg_to_cv2(msg, desired_encoding='bgr8')
        except Exception as e:  # noqa: BLE001 - cv_bridge raises its own and OpenCV's error types
            raise image_codec.ImageFormatError('encoding', f'cv_bridge cannot convert '
                                                           f'{image_codec.shown(msg.encoding)} to bgr8: {e}') from None

    def _work(self) -> None:
        while rclpy.ok():
            msg = self._slot.take(timeout=0.5)
            if msg is None:
                if self._slot_closed:
                    return
                continue
            try:
                self._process(msg)
            except image_codec.ImageFormatError as e:
                count = self._skipped.get(e.cause, 0)
                if count == 0:
                    self.get_logger().warn(f"skipping frames from '{self._sub.topic_name}': {e} "
                                           '(logged once for this cause; counted in diagnostics)')
                self._skipped[e.cause] = count + 1
            except Exception as e:  # noqa: BLE001 - a frame must never take the node down
                self.get_logger().error(f'frame skipped, processing failed: {type(e).__name__}: {e}')
                self._skipped['processing'] = self._skipped.get('processing', 0) + 1

    _slot_closed = False

    def _process(self, msg: Image) -> None:
        t0 = time.perf_counter()
        image = self._to_bgr(msg)
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        with self._lock:
            result = self._pipeline.process(image, stamp=stamp)
        out = anomaly_array(result, msg.header)
        self._pub.publish(out)
        if self._params['publish_debug_image'] and self._debug_pub.get_subscription_count() > 0:
            drawn = draw_result(image, result)
            h, w, step, data = image_codec.from_bgr(drawn)
            self._debug_pub.publish(Image(header=msg.header, height=h, width=w, encoding='bgr8', is_bigendian=0,
                                          step=step, data=data))
        now = time.monotonic()
        self._out_rate.tick(now)
        self._frames_done += 1
        self._processing_ms = (time.perf_counter() - t0) * 1e3
        age = self.get_clock().now().nanoseconds * 1e-9 - stamp
        self._latency_ms = age * 1e3 if 0 <= age < 3600 else float('nan')

    # ---------------------------------------------------------------- diagnostics
    def _publish_diagnostics(self) -> None:
        now = time.monotonic()
        det, seg = self._pipeline.detector, self._pipeline.segmenter
        status = DiagnosticStatus(name=f'vad_ros: {self.get_fully_qualified_name()}', hardware_id=det.device)
        level, message = DiagnosticStatus.OK, 'ok'
        rules = self._pipeline.rule_source.status
        if rules.level != OK:
            level, message = _LEVELS[rules.level], rules.message
        elif self._slot.received == 0:
            level, message = DiagnosticStatus.WARN, f"no image received yet on '{self._sub.topic_name}'"
        elif self._skipped:
            level, message = DiagnosticStatus.WARN, f'skipped frames: {self._skipped}'
        status.level, status.message = level, message
        values = {
            'input_rate_hz': f'{self._in_rate.rate(now):.2f}',
            'processing_rate_hz': f'{self._out_rate.rate(now):.2f}',
            'latency_ms': f'{self._latency_ms:.1f}',
            'processing_ms': f'{self._processing_ms:.1f}',
            'frames_received': str(self._slot.received),
            'frames_processed': str(self._frames_done),
            'frames_dropped_busy': str(self._slot.dropped),
            'frames_skipped_bad_input': str(sum(self._skipped.values())),
            'detector': f'{det.name} on {det.device}',
            'segmenter': f'{seg.name} on {seg.device}' if seg else 'none',
            'scene_map': self._scene_map_status,
            'rules': rules.message,
        }
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(array)

    def destroy_node(self) -> None:
        self._slot_closed = True
        self._slot.close()
        self._worker.join(timeout=5)
        super().destroy_node()


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


def main(argv: list[str] | None = None) -> int:
    args, problems, dirs = _checked_args(list(sys.argv if argv is None else argv))

    def make() -> VadNode:
        node = VadNode(params_file_dirs=dirs + [os.getcwd()])
        for p in problems:
            node.get_logger().error(p)
        return node

    return run_node('vad_node', make, args)


if __name__ == '__main__':
    sys.exit(main())
