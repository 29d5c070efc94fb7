"""ros2 launch vad_ros vad.launch.py image:=/my/camera/image_raw [params_file:=...] [namespace:=cam_front]
[device:=cuda:0] [debug_image:=false] [cameras:=front=/front/image_raw,rear=/rear/image_raw]

One vad_node per camera (`image`, or each name=topic of `cameras`). For cameras with different parameters,
include this file once per camera with its own namespace. The graph is described in vad_ros/graph.py, which
`vad-launch` also starts where ros2 launch is not installed, so both stay the same.
"""
from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration

from vad_ros.launching import graph
from vad_ros.launching.launch_actions import fail_launch_on_error, launch_node


def _nodes(context, *args, **kwargs):
    values = {a.name: LaunchConfiguration(a.name).perform(context) for a in graph.VAD_ARGS}
    share = Path(get_package_share_directory('vad_ros'))
    actions = []
    for spec in graph.vad_nodes(values, share):
        node = launch_node(spec)
        # A node that cannot start (exit code 1) stops the launch, and ros2 launch exits non-zero.
        actions += [node, fail_launch_on_error(node, f'{spec.namespace + "/" if spec.namespace else ""}{spec.name}')]
    return actions


def generate_launch_description():
    return LaunchDescription(
        [DeclareLaunchArgument(a.name, default_value=a.default, description=a.description) for a in graph.VAD_ARGS]
        + [OpaqueFunction(function=_nodes)])
