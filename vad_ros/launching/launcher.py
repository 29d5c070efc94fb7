"""`vad-launch`: start the graphs of vad_ros.launching.graph as processes, for machines without ros2 launch.

    vad-launch image:=/camera/image_raw params_file:=config/vad.yaml      # like: ros2 launch vad_ros vad.launch.py ...
    vad-launch demo video:=data/vtest.avi out:=out/demo                 # like: ros2 launch vad_ros demo.launch.py ...

Each node runs as `python -m vad_ros.<executable> --ros-args ...`, exactly the arguments the launch files give.
Ctrl-C (SIGINT, to vad-launch alone or to its whole process group as a terminal sends it) or SIGTERM stops all
of them (SIGINT, then SIGTERM after a grace period, then SIGKILL); further signals while they stop are ignored.
A node that exits with an error (a failed start: bad parameters, a model or file that cannot be used) stops the
others, and vad-launch exits with 1, as it does when a node does not stop cleanly after Ctrl-C; 2 for bad
launch arguments; 0 when every node ended cleanly (or stopped cleanly on Ctrl-C).
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

from vad_ros.launching import graph
from vad_ros.paths import SOURCE_ROOT, share_dir

MODULES = {'vad_node': 'vad_ros.ros.node', 'image_publisher': 'vad_ros.ros.image_publisher', 'recorder': 'vad_ros.ros.recorder'}
DEFAULT_VIDEO = SOURCE_ROOT / 'data' / 'vtest.avi'


def isolated_env() -> dict[str, str]:
    """The environment for a graph that must meet no other: a random ROS domain, discovery on this host only,
    the 16 MB shared-memory Fast DDS profile (unless one is set), unbuffered Python output."""
    env = dict(os.environ)
    env['ROS_DOMAIN_ID'] = str(random.randint(1, 101))
    env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    env.setdefault('FASTDDS_DEFAULT_PROFILES_FILE', str(share_dir() / 'config' / 'fastdds_large_shm.xml'))
    env['PYTHONUNBUFFERED'] = '1'
    return env


def node_command(spec: graph.NodeSpec) -> list[str]:
    return [sys.executable, '-m', MODULES[spec.executable], *spec.ros_arguments()]


class GraphProcesses:
    """The processes of one graph; a context manager that stops them on exit."""

    def __init__(self, nodes: list[graph.NodeSpec], env: dict[str, str] | None = None, stdout=None, stderr=None):
        self.nodes = nodes
        self.env = env
        self.stdout, self.stderr = stdout, stderr
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self) -> 'GraphProcesses':
        for spec in self.nodes:
            self.procs[spec.name] = subprocess.Popen(node_command(spec), env=self.env, stdout=self.stdout,
                                                     stderr=self.stderr)
        return self

    def __enter__(self) -> 'GraphProcesses':
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def exited(self) -> dict[str, int]:
        """Return codes of the nodes that have exited."""
        return {name: p.returncode for name, p in self.procs.items() if p.poll() is not None}

    def wait(self, name: str, timeout: float | None = None) -> int | None:
        try:
            return self.procs[name].wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace: float = 10.0) -> dict[str, int]:
        alive = [p for p in self.procs.values() if p.poll() is None]
        for p in alive:
            p.send_signal(signal.SIGINT)
        deadline = time.monotonic() + grace
        for p in alive:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.terminate()
                try:
                    p.wait(3)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        return {name: p.returncode for name, p in self.procs.items()}


def parse_launch_args(argv: list[str]) -> dict[str, str]:
    args = {}
    for item in argv:
        name, sep, value = item.partition(':=')
        if not sep or not name:
            raise ValueError(f"'{item}' is not a launch argument: write name:=value")
        args[name] = value
    return args


def _usage() -> str:
    lines = [__doc__.strip(), '', 'vad arguments:']
    lines += [f'  {a.name}:=  {a.description} (default: {a.default!r})' for a in graph.VAD_ARGS]
    lines += ['', 'demo arguments:']
    lines += [f'  {a.name}:=  {a.description} (default: {a.default!r})' for a in graph.DEMO_ARGS]
    return '\n'.join(lines)


def build_nodes(which: str, args: dict[str, str]) -> list[graph.NodeSpec]:
    if which == 'demo':
        return graph.demo_nodes(args, share_dir(), DEFAULT_VIDEO)
    return graph.vad_nodes(args, share_dir())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ('-h', '--help') for a in argv):
        print(_usage())
        return 0
    which = 'vad'
    if argv and argv[0] in ('vad', 'demo'):
        which, argv = argv[0], argv[1:]
    try:
        nodes = build_nodes(which, parse_launch_args(argv))
    except ValueError as e:
        print(f'vad-launch: {e}', file=sys.stderr)
        return 2
    stop: list[int] = []                   # the signal that asked vad-launch to stop, if one did
    handlers = {sig: signal.signal(sig, lambda signum, frame: stop.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    failed: dict[str, int] = {}
    try:
        with GraphProcesses(nodes) as g:
            while not stop and not failed and len(g.exited()) < len(nodes):
                time.sleep(0.2)
                failed = {name: code for name, code in g.exited().items() if code != 0}
            codes = g.stop()
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    if failed:
        print(f"vad-launch: {', '.join(f'{n} exited with code {c}' for n, c in sorted(failed.items()))}; "
              'the other nodes were stopped', file=sys.stderr)
        return 1
    unclean = {name: code for name, code in codes.items() if code != 0}
    if stop and unclean:
        print(f"vad-launch: stopped on {signal.Signals(stop[0]).name}, but "
              f"{', '.join(f'{n} exited with code {c}' for n, c in sorted(unclean.items()))}", file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
