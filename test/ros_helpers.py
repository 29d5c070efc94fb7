"""Helpers for multi-process ROS 2 tests: an isolated domain, a test-side rclpy context, waiting for messages."""
from __future__ import annotations

import os
import time
from pathlib import Path

import rclpy
from rclpy.executors import SingleThreadedExecutor

from vad_ros.launching.launcher import isolated_env as launcher_isolated_env

REPO = Path(__file__).resolve().parents[1]


def isolated_env() -> dict[str, str]:
    """Environment for child processes: a random domain, discovery on this host only, big SHM segments (this
    checkout's profile, whatever the caller's environment says)."""
    env = launcher_isolated_env()
    env['FASTDDS_DEFAULT_PROFILES_FILE'] = str(REPO / 'config' / 'fastdds_large_shm.xml')
    return env


class RosPeer:
    """An rclpy context + node + executor in the test process, on the domain of `env`."""

    def __init__(self, env: dict[str, str], name: str = 'test_peer'):
        # Discovery range and the Fast DDS profile are read from the environment when the context starts.
        for key in ('ROS_AUTOMATIC_DISCOVERY_RANGE', 'FASTDDS_DEFAULT_PROFILES_FILE'):
            os.environ[key] = env[key]
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=int(env['ROS_DOMAIN_ID']))
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def spin_until(self, condition, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            self.executor.spin_once(timeout_sec=0.05)
        return condition()

    def spin_for(self, seconds: float) -> None:
        self.spin_until(lambda: False, seconds)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)
