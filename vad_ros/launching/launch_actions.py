"""NodeSpec (vad_ros.launching.graph) -> launch_ros Node action, for the launch files of a real ROS 2 install."""
from __future__ import annotations

from vad_ros.launching.graph import NodeSpec


def launch_node(spec: NodeSpec):
    from launch_ros.actions import Node   # only on a ROS 2 install with launch_ros

    return Node(
        package='vad_ros',
        executable=spec.executable,
        name=spec.name,
        namespace=spec.namespace,
        parameters=[*spec.params_files, spec.params] if spec.params else list(spec.params_files),
        remappings=list(spec.remappings),
        arguments=['--ros-args', '--log-level', spec.log_level],
        output='screen',
        emulate_tty=True,
    )
