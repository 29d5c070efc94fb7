"""The life cycle every vad_ros node shares: init, build, spin, clean Ctrl-C, shutdown."""
from __future__ import annotations

import sys
from typing import Callable

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from vad_ros.errors import VadError


def run_node(name: str, make_node: Callable[[], Node], args: list[str] | None = None,
             done: Callable[[Node], bool] | None = None) -> int:
    """Build the node and spin it until Ctrl-C, an external shutdown or `done(node)`. A VadError while
    building (something the user can fix) is logged as one line and gives exit code 1."""
    rclpy.init(args=sys.argv if args is None else args)
    node = None
    try:
        try:
            node = make_node()
        except VadError as e:
            rclpy.logging.get_logger(name).fatal(f'cannot start: {e}')
            return 1
        if done is None:
            rclpy.spin(node)
        else:
            while rclpy.ok() and not done(node):
                rclpy.spin_once(node, timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0
