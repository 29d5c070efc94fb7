"""The node's parameters live in one RuntimeParams (vad_ros/runtime_params.py): a change through the parameter
API reaches every camera and its pipeline, a camera's own file stays its own, and a pipeline built later (a new
scene map) follows too; nothing is copied or re-synchronised by hand. The node runs in this process (its own
rclpy context, not activated: no frames travel), with its real models."""
from __future__ import annotations

import os
import textwrap

import numpy as np
import rclpy
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter

from node_graph import write_config
from ros_helpers import isolated_env
from vad_ros.ros.node import VadNode

FRAME = np.zeros((576, 768, 3), np.uint8)


def test_a_parameter_change_reaches_every_camera_and_pipeline_but_not_a_cameras_own_file(tmp_path):
    rule = 'rules:\n  - {{id: {0}, objects: [person], forbidden: [road], sentence: {0}}}\n'
    (tmp_path / 'rear_rules.yaml').write_text(rule.format('rear'))
    (tmp_path / 'other_rules.yaml').write_text(rule.format('other'))
    params_file = write_config(tmp_path, textwrap.dedent('''\
        cameras: front,rear
        rear:
          rules_file: rear_rules.yaml
        '''))
    context = rclpy.Context()
    rclpy.init(args=['vad_node', '--ros-args', '--params-file', params_file], context=context,
               domain_id=int(isolated_env()['ROS_DOMAIN_ID']))
    node = VadNode(params_file_dirs=[str(tmp_path)], context=context)
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS, node.startup_error
        front, rear = node.cameras
        results = node.set_parameters([Parameter('score_threshold', value=0.9),
                                       Parameter('rules_file', value=str(tmp_path / 'other_rules.yaml'))])
        assert all(r.successful for r in results), [r.reason for r in results]
        assert [r.id for r in front.pipeline.rules] == ['other'] and [r.id for r in rear.pipeline.rules] == ['rear']
        assert (front.params['rules_file'], rear.params['rules_file']) == (
            str(tmp_path / 'other_rules.yaml'), str(tmp_path / 'rear_rules.yaml'))
        for camera in (front, rear):              # in force from each pipeline's next frame
            assert camera.pipeline.params['score_threshold'] == 0.3
            camera.pipeline.process(FRAME)
            assert camera.pipeline.params['score_threshold'] == 0.9

        scene = tmp_path / 'scene.yaml'           # a new scene map: a new pipeline, prepared by the file watcher
        scene.write_text(scene.read_text() + '\n')
        os.utime(scene, (1, 1))
        front.poll_scene_map((str(tmp_path),))
        assert front.pending_pipeline is not None
        node.set_parameters([Parameter('score_threshold', value=0.5)])
        front.take_pending_pipeline()
        front.pipeline.process(FRAME)
        assert front.pipeline.params['score_threshold'] == 0.5
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)
