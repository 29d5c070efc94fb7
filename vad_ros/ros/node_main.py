"""The life cycle every vad_ros node shares: init, build, spin, a clean stop on Ctrl-C or SIGTERM, shutdown.

rclpy's own signal handler shuts the context down the moment SIGINT arrives, before the node can say goodbye
(its publishers are dead: open events would never be ended), and then calls Python's handler, so that a
second SIGINT raises KeyboardInterrupt wherever the process happens to be (a terminal's Ctrl-C reaches
vad-launch and its nodes, and vad-launch forwards one more). Here rclpy installs no handler: SIGINT and SIGTERM
only ask the spin loop to stop, the node is destroyed while the context is still valid (vad_node ends its open
events and waits until their subscribers have them), and only then is the context shut down. Signals that
arrive while the process stops are ignored; one that arrives while the node is still being built (models
loading) interrupts the build. Either way the exit status is 0 and no traceback is printed.
"""
from __future__ import annotations

import logging
import signal
import sys
from typing import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from vad_ros.errors import VadError

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
SPIN_PERIOD_S = 0.1        # how often the spin loop looks at the stop request (a signal's Python handler runs
                           # only when the executor's wait returns)


class _ToRosLogger(logging.Handler):
    """Python logging records of the package, given to a ROS logger (one call site per severity: rclpy wants it)."""

    def __init__(self, ros_logger) -> None:
        super().__init__(logging.INFO)
        self.ros_logger = ros_logger

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a record that cannot be formatted: logging's own report
            self.handleError(record)
            return
        if record.levelno >= logging.ERROR:
            self.ros_logger.error(message)
        elif record.levelno >= logging.WARNING:
            self.ros_logger.warn(message)
        else:
            self.ros_logger.info(message)


def log_to_ros(ros_logger, package: str = 'vad_ros') -> None:
    """From now on the package's Python logging (rule warnings, model fallbacks, ...) goes through `ros_logger`
    only, at info and above: one logger, each message once (without it Python's last-resort handler printed
    the warnings on stderr as well). Called once per process, by the node's main()."""
    logger = logging.getLogger(package)
    for handler in [h for h in logger.handlers if isinstance(h, _ToRosLogger)]:
        logger.removeHandler(handler)
    logger.addHandler(_ToRosLogger(ros_logger))
    logger.setLevel(logging.INFO)
    logger.propagate = False


class StopRequest:
    """The process's handler of SIGINT and SIGTERM while a node runs: remembers the first signal."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self.building = True          # while the node is built, a signal interrupts the build
        self._previous: dict[int, object] = {}

    def install(self) -> 'StopRequest':
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame) -> None:
        if self.signal is not None:
            return                    # already stopping: a second Ctrl-C (or the launcher's) changes nothing
        self.signal = signum
        if self.building:
            raise KeyboardInterrupt   # caught in run_node: nothing was published yet, nothing to end

    @property
    def requested(self) -> bool:
        return self.signal is not None


def run_node(name: str, make_node: Callable[[], Node], args: list[str] | None = None,
             done: Callable[[Node], bool] | None = None) -> int:
    """Build the node and spin it until SIGINT / SIGTERM, an external shutdown or `done(node)`; then destroy the
    node (while the context is valid: its last messages still go out) and shut down. A VadError while
    building (something the user can fix) is logged as one line and gives exit code 1; otherwise 0."""
    stop = StopRequest().install()
    node = executor = None
    try:
        rclpy.init(args=sys.argv if args is None else args, signal_handler_options=SignalHandlerOptions.NO)
        try:
            node = make_node()
        except VadError as e:
            rclpy.logging.get_logger(name).fatal(f'cannot start: {e}')
            return 1
        stop.building = False
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        while not stop.requested and rclpy.ok() and (done is None or not done(node)):
            executor.spin_once(timeout_sec=SPIN_PERIOD_S)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        stop.building = False
        if stop.requested and node is not None:
            node.get_logger().info(f'{signal.Signals(stop.signal).name}: stopping')
        if executor is not None:
            executor.shutdown(timeout_sec=1.0)
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
        stop.restore()
    return 0
