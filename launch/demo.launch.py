"""ros2 launch vad_ros demo.launch.py video:=/path/to/vtest.avi out:=/tmp/vad_demo

The demo graph: image_publisher plays the video into /camera/image_raw, vad_node (HOG people detector +
the static scene map of vtest.avi + "keep off the grass") watches it, recorder writes annotated.mp4 and
events.jsonl into `out`. The launch ends when the video has been played. Without `video`, Debian/Ubuntu's
opencv-doc copy of vtest.avi is used. Same graph as `vad-launch demo` (vad_ros/graph.py).
"""
from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, RegisterEventHandler, Shutdown, TimerAction
from launch.event_handlers import OnProcessExit
from launch.substitutions import LaunchConfiguration

from vad_ros.launching import graph
from vad_ros.launching.launch_actions import fail_launch_on_error, launch_node

OPENCV_DOC_VTEST = Path('/usr/share/doc/opencv-doc/examples/data/vtest.avi')


def _nodes(context, *args, **kwargs):
    values = {a.name: LaunchConfiguration(a.name).perform(context) for a in graph.DEMO_ARGS}
    share = Path(get_package_share_directory('vad_ros'))
    actions = []
    for spec in graph.demo_nodes(values, share, OPENCV_DOC_VTEST):
        node = launch_node(spec)
        actions += [node, fail_launch_on_error(node, spec.name)]     # a failed node: ros2 launch exits non-zero
        if spec.executable == 'image_publisher':
            # Give vad_node and the recorder a moment to finish the last frames, then end the launch.
            actions.append(RegisterEventHandler(OnProcessExit(target_action=node, on_exit=[
                TimerAction(period=3.0, actions=[Shutdown(reason='the demo video has been played')])])))
    return actions


def generate_launch_description():
    return LaunchDescription(
        [DeclareLaunchArgument(a.name, default_value=a.default, description=a.description) for a in graph.DEMO_ARGS]
        + [OpaqueFunction(function=_nodes)])
