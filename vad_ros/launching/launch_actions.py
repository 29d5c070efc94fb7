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


class NodeFailed(RuntimeError):
    """A node of the launch exited with an error code."""


def exit_code_check(name: str):
    """on_exit of an OnProcessExit handler: a node that exits with an error code while the launch is not
    shutting down raises, which makes launch stop everything and `ros2 launch` exit with 1 (launch otherwise
    exits 0 whatever its processes return)."""
    def check(event, context):
        if event.returncode and not context.is_shutdown:
            raise NodeFailed(f'{name} exited with code {event.returncode} (see its output above): stopping the launch')
        return None
    return check


def fail_launch_on_error(node_action, name: str):
    """RegisterEventHandler that fails the launch when `node_action` exits with an error (exit_code_check)."""
    from launch.actions import RegisterEventHandler
    from launch.event_handlers import OnProcessExit

    return RegisterEventHandler(OnProcessExit(target_action=node_action, on_exit=exit_code_check(name)))
