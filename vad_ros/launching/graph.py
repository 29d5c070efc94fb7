"""The node graphs of vad_ros, described once and started two ways.

`launch/vad.launch.py` and `launch/demo.launch.py` turn these NodeSpecs into launch_ros Node actions on a
real ROS 2 install; `vad-launch` (vad_ros.launching.launcher) starts the same NodeSpecs as processes where the launch
packages are not available. Both read the same launch arguments (name:=value).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class LaunchArg:
    name: str
    default: str
    description: str


@dataclass
class NodeSpec:
    executable: str                      # in lib/vad_ros (also a module vad_ros.<executable>)
    name: str
    namespace: str = ''
    params_files: list[str] = field(default_factory=list)
    params: dict[str, object] = field(default_factory=dict)
    remappings: list[tuple[str, str]] = field(default_factory=list)
    log_level: str = 'info'

    def ros_arguments(self) -> list[str]:
        """The `--ros-args ...` part of the node's command line."""
        out = ['--ros-args', '-r', f'__node:={self.name}', '--log-level', self.log_level]
        if self.namespace:
            out += ['-r', f'__ns:=/{self.namespace.strip("/")}']
        for f in self.params_files:
            out += ['--params-file', f]
        for key, value in self.params.items():
            out += ['-p', f'{key}:={_yaml_scalar(value)}']
        for src, dst in self.remappings:
            out += ['-r', f'{src}:={dst}']
        return out


def _yaml_scalar(value: object) -> str:
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return str(value)


def _truthy(text: str, name: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ('true', '1', 'yes', 'on'):
        return True
    if lowered in ('false', '0', 'no', 'off'):
        return False
    raise ValueError(f"launch argument '{name}': expected true or false, got '{text}'")


def _number(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"launch argument '{name}': expected a number, got '{text}'") from None
    if value < 0:
        raise ValueError(f"launch argument '{name}': must be >= 0, got {value}")
    return value


VAD_ARGS = (
    LaunchArg('image', 'image', 'camera image topic to watch (sensor_msgs/Image), e.g. /camera/image_raw'),
    LaunchArg('params_file', '', 'parameters YAML; empty = share/vad_ros/config/vad.yaml'),
    LaunchArg('namespace', '', 'namespace of the node, one per camera (e.g. cam_front)'),
    LaunchArg('node_name', 'vad_node', 'name of the node'),
    LaunchArg('device', '', 'override detector.device and segmenter.device (auto, cpu, cuda, cuda:N); '
              'empty = as in the params file'),
    LaunchArg('debug_image', 'true', 'publish ~/debug_image for rviz (true/false)'),
    LaunchArg('autostart', 'true', 'configure and activate the (lifecycle) node at start; false = leave it '
              'unconfigured for a lifecycle manager or `ros2 lifecycle set`'),
    LaunchArg('log_level', 'info', 'ROS log level (debug, info, warn, error)'),
    LaunchArg('cameras', '', 'several cameras at once: comma-separated name=topic pairs, e.g. '
              "'front=/front/image_raw,rear=/rear/image_raw'; one vad_node serves them all with one set of "
              'models, publishing under <namespace>/<name>/<node_name>/; empty = the one camera of image'),
)

DEMO_ARGS = (
    LaunchArg('video', '', "video file or image folder to play; empty = data/vtest.avi of this checkout"),
    LaunchArg('out', 'out/demo', 'folder for annotated.mp4 and events.jsonl'),
    LaunchArg('params_file', '', 'parameters YAML; empty = share/vad_ros/config/demo_vtest.yaml'),
    LaunchArg('loop', 'false', 'play the video in a loop (true/false)'),
    LaunchArg('fps', '0', "highest playback rate in frames per second; 0 = the file's own rate (vtest.avi: 10). "
              'The publisher waits for vad_node\'s result for each frame, so every frame is processed and the '
              'outputs equal vad-video\'s on the same file'),
    LaunchArg('log_level', 'info', 'ROS log level'),
)


def with_defaults(spec: tuple[LaunchArg, ...], given: dict[str, str]) -> dict[str, str]:
    known = {a.name for a in spec}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ValueError(f"unknown launch argument(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return {a.name: given.get(a.name, a.default) for a in spec}


def _cameras(text: str) -> list[tuple[str, str]]:
    """'front=/front/image_raw,rear=/rear/image_raw' -> [('front', '/front/image_raw'), ...]."""
    pairs: list[tuple[str, str]] = []
    for item in filter(None, (part.strip() for part in text.split(','))):
        name, sep, topic = (x.strip() for x in item.partition('='))
        if not sep or not name or not topic:
            raise ValueError(f"launch argument 'cameras': '{item}' is not name=topic "
                             "(e.g. cameras:=front=/front/image_raw,rear=/rear/image_raw)")
        if not name.replace('_', 'a').isalnum() or name[0].isdigit():
            raise ValueError(f"launch argument 'cameras': camera name '{name}' must be a ROS name "
                             '(letters, digits, underscores; not starting with a digit)')
        if name in (n for n, _ in pairs):
            raise ValueError(f"launch argument 'cameras': camera name '{name}' is given twice")
        pairs.append((name, topic))
    return pairs


def vad_nodes(args: dict[str, str], share: Path) -> list[NodeSpec]:
    """The detection graph: one vad_node for the `image` topic, or one vad_node serving every camera of
    `cameras` with one set of models (camera <name> reads <name>/image, remapped to its topic, and publishes
    under <namespace>/<name>/<node_name>/)."""
    a = with_defaults(VAD_ARGS, args)
    params: dict[str, object] = {'publish_debug_image': _truthy(a['debug_image'], 'debug_image'),
                                 'autostart': _truthy(a['autostart'], 'autostart')}
    if a['device']:
        params['detector.device'] = a['device']
        params['segmenter.device'] = a['device']
    cameras = _cameras(a['cameras'])
    if cameras:
        params['cameras'] = ','.join(name for name, _ in cameras)
    remappings = [(f'{name}/image', topic) for name, topic in cameras] or [('image', a['image'])]
    return [NodeSpec(executable='vad_node', name=a['node_name'], namespace=a['namespace'],
                     params_files=[a['params_file'] or str(share / 'config' / 'vad.yaml')],
                     params=params, remappings=remappings, log_level=a['log_level'])]


def demo_nodes(args: dict[str, str], share: Path, default_video: Path) -> list[NodeSpec]:
    """The demo graph: video -> /camera/image_raw -> vad_node -> recorder (annotated.mp4, events.jsonl)."""
    a = with_defaults(DEMO_ARGS, args)
    camera_topic = '/camera/image_raw'
    return [
        NodeSpec(executable='image_publisher', name='image_publisher',
                 params={'path': a['video'] or str(default_video), 'loop': _truthy(a['loop'], 'loop'),
                         'fps': _number(a['fps'], 'fps'), 'frame_id': 'camera_optical_frame',
                         'wait_for_subscribers': 1, 'stamps': 'source', 'pace_by_results': True},
                 remappings=[('image', camera_topic), ('results', '/vad_node/anomalies')], log_level=a['log_level']),
        NodeSpec(executable='vad_node', name='vad_node',
                 params_files=[a['params_file'] or str(share / 'config' / 'demo_vtest.yaml')],
                 remappings=[('image', camera_topic)], log_level=a['log_level']),
        NodeSpec(executable='recorder', name='recorder',
                 params={'out_dir': a['out'], 'fps': _number(a['fps'], 'fps') or 10.0},
                 remappings=[('anomalies', '/vad_node/anomalies'), ('debug_image', '/vad_node/debug_image'),
                             ('events', '/vad_node/events')],
                 log_level=a['log_level']),
    ]
