"""Names that vulture (test/test_lint.py) cannot see being used: the frameworks call them by name."""
# ruff: noqa
_ = object()

# rclpy's lifecycle node calls its transition callbacks (vad_ros/ros/node.py)
_.on_configure
_.on_error
_.on_cleanup
_.on_shutdown
# http.server calls the request handlers of the scene editor (vad_ros/scene_tools/editor.py), and io its reader's
_.do_GET
_.do_POST
_.readable
_.readinto
# ros2 launch / vad-launch call a launch file's entry point
generate_launch_description
# ONNX Runtime's quantiser reads the calibration inputs through get_next (vad_ros/perception/nanodet/onnx_file.py)
_.get_next
# parameters that an overridden signature must keep: context managers' __exit__, yaml's Dumper.increase_indent
exc
indentless
# public API of the pure-Python core (pip-installable, README "How the package is laid out"): a program that
# embeds a Pipeline without ROS changes its parameters at run time with update_params (the node shares a RuntimeParams)
_.update_params
