"""The vad_node graph used by the ROS tests: the node started exactly as `vad-launch` starts it, plus a test
peer on the same isolated domain (publisher of camera frames, subscribers of every output)."""
from __future__ import annotations

import re
import subprocess
import textwrap
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rcl_interfaces.msg import Parameter as ParameterMsg, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

from ros_helpers import RosPeer, isolated_env
from vad_ros.launching import graph
from vad_ros.launching.launcher import GraphProcesses
from vad_ros.media import image_codec
from vad_ros.msg import AnomalyArray, AnomalyEvent
from vad_ros.paths import share_dir
from vad_ros.ros.camera import EVENTS_QOS, LATCHED_QOS  # noqa: F401 (used by the tests)

CAMERA = '/test_cam/image_raw'


CONFIRM_OFF = 'confirm:\n  enabled: false\n'
WATCH_OFF = {'timeout': '0.0', 'blind_seconds': '0.0'}     # input.*: the lost / frozen-camera checks


def input_watch_off(extra: str) -> str:
    """`extra` with input.timeout, input.blind_seconds and view_moved_fraction at 0 where it does not set them
    (into its own input: mapping where it has one, so that the file has one)."""
    if not re.search(r'^view_moved_fraction:', extra, re.M):
        extra += 'view_moved_fraction: 0.0\n'
    keys = ''.join(f'  {key}: {value}\n' for key, value in WATCH_OFF.items() if f'  {key}:' not in extra)
    if not keys:
        return extra
    if re.search(r'^input:\n', extra, re.M):
        return re.sub(r'^input:\n', lambda m: 'input:\n' + keys, extra, count=1, flags=re.M)
    return extra + 'input:\n' + keys


def node_status(g) -> DiagnosticStatus | None:
    """The latest /diagnostics status the node published (its name starts with vad_ros)."""
    for array in reversed(g.diagnostics):
        for s in array.status:
            if s.name.startswith('vad_ros'):
                return s
    return None


READ_ONLY_SERVICES = {'GetState', 'GetParameters', 'ListParameters', 'DescribeParameters', 'GetAvailableStates'}


def write_config(tmp_path, extra: str = '', confirm: bool = False, watch_input: bool = False) -> str:
    """scene.yaml (everything `road`), rules.yaml (the rule (person, {road})) and params.yaml in tmp_path; returns
    the params file. confirm=False (tests of the node's mechanics, which send a frame a second) turns object
    confirmation off: every person found fires in the first frame. confirm=True keeps the node's default (an
    object fires once confirmed, a few frames), for tests of what an operator sees with the defaults.
    watch_input=False turns the lost, frozen and moved-camera checks off (input.timeout, input.blind_seconds,
    view_moved_fraction 0, unless `extra` sets them): a test that sends a frame now and then, the same frame again
    and again, or made-up frames, is no camera."""
    (tmp_path / 'scene.yaml').write_text(textwrap.dedent('''\
        image_size: [768, 576]
        regions:
          - label: road
            polygon: [[0, 0], [768, 0], [768, 576], [0, 576]]
        '''))
    (tmp_path / 'rules.yaml').write_text(textwrap.dedent('''\
        rules:
          - id: no-people-on-road
            objects: [person]
            forbidden: [road]
            sentence: pedestrians must not enter the road
            severity: critical
        '''))
    params = tmp_path / 'params.yaml'
    params.write_text(textwrap.dedent('''\
        /**:
          ros__parameters:
            scene_map_file: scene.yaml
            rules_file: rules.yaml
            diagnostics_period: 0.5
        ''') + textwrap.indent((extra if watch_input else input_watch_off(extra)) + ('' if confirm else CONFIRM_OFF),
                               ' ' * 4))
    return str(params)


def image_msg(frame: np.ndarray, index: int, encoding: str = 'bgr8') -> Image:
    h, w, step, data = image_codec.from_bgr(frame, encoding)
    msg = Image(height=h, width=w, encoding=encoding, is_bigendian=0, step=step, data=data)
    msg.header.stamp.sec = 1000 + index
    msg.header.frame_id = 'test_camera_optical_frame'
    return msg


class Graph:
    """The node started exactly as `vad-launch` starts it, plus a test peer on the same isolated domain."""

    def __init__(self, tmp_path, params_file: str, launch_args: dict[str, str] | None = None,
                 connect: bool = True, camera_qos=qos_profile_sensor_data, camera_type=Image, camera_topic=CAMERA):
        self.env = isolated_env()
        self.log_path = tmp_path / 'node.log'
        self._log = open(self.log_path, 'w')
        args = {'image': CAMERA, 'params_file': params_file, 'namespace': 'cam', **(launch_args or {})}
        nodes = graph.vad_nodes(args, share_dir())
        self.procs = GraphProcesses(nodes, env=self.env, stdout=self._log, stderr=subprocess.STDOUT).start()
        self.peer = RosPeer(self.env)
        node = self.peer.node
        self.pub = node.create_publisher(camera_type, camera_topic, camera_qos)
        self.results: list[AnomalyArray] = []
        self.events: list[AnomalyEvent] = []
        self.debug: list[Image] = []
        self.diagnostics: list[DiagnosticArray] = []
        self.sub = node.create_subscription(AnomalyArray, '/cam/vad_node/anomalies', self.results.append, 10)
        # Liveliness changes of ~/events, watched from before the node exists: a subscription created once the
        # node's writer is known may match it and find it alive within its own creation, before rclpy attached its
        # event handler, and that first change is then never reported (seen 1 in 8 tries with rmw_fastrtps).
        self.liveliness: list = []
        self.events_sub = node.create_subscription(AnomalyEvent, '/cam/vad_node/events', self.events.append,
                                                   EVENTS_QOS, event_callbacks=SubscriptionEventCallbacks(
                                                       liveliness=self.liveliness.append))
        node.create_subscription(Image, '/cam/vad_node/debug_image', self.debug.append, qos_profile_sensor_data)
        node.create_subscription(DiagnosticArray, '/diagnostics', self.diagnostics.append, 10)
        if connect:
            assert self.peer.spin_until(
                lambda: self.pub.get_subscription_count() > 0 and self.sub.get_publisher_count() > 0, 40), \
                f'vad_node did not connect to {camera_topic}:\n{self.log()}'

    def diagnostic(self, key: str) -> str | None:
        """The latest value of `key` in the node's /diagnostics status."""
        for array in reversed(self.diagnostics):
            for status in array.status:
                for kv in status.values:
                    if kv.key == key:
                        return kv.value
        return None

    def call(self, srv_type, name: str, request, timeout: float = 30.0):   # semantics, not latency: a loaded CI machine
        """The service's answer. A read-only request is sent again (up to 3 times in `timeout`) where no answer
        comes: right after the service appears, DDS may not yet have matched the server's reply writer with this
        client's reader, and that reply is lost (seen once in a full run on 2 loaded cores). A request that
        changes state is sent once."""
        client = self.peer.node.create_client(srv_type, name)
        assert client.wait_for_service(timeout_sec=timeout), f'service {name} not available:\n{self.log()}'
        attempts = 3 if srv_type.__name__ in READ_ONLY_SERVICES else 1
        for _ in range(attempts):
            future = client.call_async(request)
            if self.peer.spin_until(future.done, timeout / attempts):
                return future.result()
            client.remove_pending_request(future)
        raise AssertionError(f'{name} did not answer')

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def send_and_wait(self, msg: Image, timeout: float = 20.0) -> AnomalyArray | None:
        """Publish one frame (again every 2 s: the image topic is best effort, and the first messages after
        discovery can be lost) and wait for the AnomalyArray whose header is that frame's."""
        match = lambda: next((r for r in self.results if r.header.stamp == msg.header.stamp), None)  # noqa: E731
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.pub.publish(msg)
            if self.peer.spin_until(lambda: match() is not None, min(2.0, deadline - time.monotonic())):
                break
        return match()

    def set_parameter(self, name: str, value: ParameterValue):
        request = SetParameters.Request(parameters=[ParameterMsg(name=name, value=value)])
        return self.call(SetParameters, '/cam/vad_node/set_parameters', request).results[0]

    def close(self) -> dict[str, int]:
        self.peer.close()
        codes = self.procs.stop()
        self._log.close()
        return codes
