"""The launch files and `vad-launch` start the same graph.

`launch` and `launch_ros` cannot be installed here, so the launch files are executed against a stand-in
(StubLaunch, a mock named as such) that records the actions they create; the test then checks that every
launch_ros Node matches the command line `vad-launch` gives for the same arguments.
"""
from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest

from vad_ros.launching import graph, launcher
from vad_ros.paths import share_dir

REPO = Path(__file__).resolve().parents[2]


class StubLaunch:
    """Minimal stand-ins for launch / launch_ros, recording what a launch file builds."""

    class LaunchDescription(list):
        pass

    class DeclareLaunchArgument:
        def __init__(self, name, default_value=None, description=''):
            self.name, self.default_value, self.description = name, default_value, description

    class OpaqueFunction:
        def __init__(self, function):
            self.function = function

    class LaunchConfiguration:
        def __init__(self, name):
            self.name = name

        def perform(self, context):
            return context[self.name]

    class Node:
        def __init__(self, **kwargs):
            self.kwargs = kwargs

    class RegisterEventHandler:
        def __init__(self, handler):
            self.handler = handler

    class OnProcessExit:
        def __init__(self, target_action=None, on_exit=None):
            self.target_action, self.on_exit = target_action, on_exit

    class TimerAction:
        def __init__(self, period, actions):
            self.period, self.actions = period, actions

    class Shutdown:
        def __init__(self, **kwargs):
            self.kwargs = kwargs

    @classmethod
    def install(cls, monkeypatch):
        modules = {
            'launch': {'LaunchDescription': cls.LaunchDescription},
            'launch.actions': {'DeclareLaunchArgument': cls.DeclareLaunchArgument,
                               'OpaqueFunction': cls.OpaqueFunction, 'RegisterEventHandler': cls.RegisterEventHandler,
                               'Shutdown': cls.Shutdown, 'TimerAction': cls.TimerAction},
            'launch.event_handlers': {'OnProcessExit': cls.OnProcessExit},
            'launch.substitutions': {'LaunchConfiguration': cls.LaunchConfiguration},
            'launch_ros': {},
            'launch_ros.actions': {'Node': cls.Node},
        }
        for name, attrs in modules.items():
            module = types.ModuleType(name)
            module.__dict__.update(attrs)
            monkeypatch.setitem(sys.modules, name, module)


def run_launch_file(path: Path, monkeypatch, given: dict[str, str]):
    StubLaunch.install(monkeypatch)
    spec = importlib.util.spec_from_file_location(f'launch_file_{path.stem.replace(".", "_")}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    declared = {a.name: a.default_value for a in description if isinstance(a, StubLaunch.DeclareLaunchArgument)}
    context = {**declared, **given}
    nodes = []
    for action in description:
        if isinstance(action, StubLaunch.OpaqueFunction):
            nodes += [n for n in action.function(context) if isinstance(n, StubLaunch.Node)]
    return declared, nodes, description


def command_of_launch_node(node: StubLaunch.Node) -> list[str]:
    """The `--ros-args` command line launch_ros would give this Node."""
    kw = node.kwargs
    params_files = [p for p in kw['parameters'] if isinstance(p, str)]
    params = {k: v for p in kw['parameters'] if isinstance(p, dict) for k, v in p.items()}
    log_level = kw['arguments'][kw['arguments'].index('--log-level') + 1]
    spec = graph.NodeSpec(executable=kw['executable'], name=kw['name'], namespace=kw['namespace'],
                          params_files=params_files, params=params, remappings=kw['remappings'], log_level=log_level)
    return launcher.node_command(spec)


@pytest.mark.parametrize('given', [
    {},
    {'image': '/front/image_raw', 'namespace': 'front', 'device': 'cpu', 'debug_image': 'false'},
    {'cameras': 'front=/front/image_raw,rear=/rear/image_raw', 'namespace': 'robot'},
])
def test_vad_launch_file_matches_vad_launch(monkeypatch, given):
    declared, nodes, _ = run_launch_file(REPO / 'launch' / 'vad.launch.py', monkeypatch, given)
    assert declared == {a.name: a.default for a in graph.VAD_ARGS}
    expected = [launcher.node_command(s) for s in launcher.build_nodes('vad', given)]
    assert [command_of_launch_node(n) for n in nodes] == expected
    assert all(n.kwargs['package'] == 'vad_ros' for n in nodes)


def test_vad_graph_arguments_reach_the_node():
    (spec,) = graph.vad_nodes({'image': '/cam/image', 'namespace': 'cam', 'device': 'cuda:1',
                               'debug_image': 'off'}, share_dir())
    args = spec.ros_arguments()
    assert ['-r', 'image:=/cam/image'] == args[args.index('image:=/cam/image') - 1:args.index('image:=/cam/image') + 1]
    assert '__ns:=/cam' in args and 'detector.device:=cuda:1' in args and 'publish_debug_image:=false' in args
    assert spec.params_files == [str(share_dir() / 'config' / 'vad.yaml')]


def test_several_cameras_are_served_by_one_node():
    (spec,) = graph.vad_nodes({'cameras': 'front=/front/image_raw, rear=/rear/image_raw', 'device': 'cpu'},
                              share_dir())
    assert (spec.namespace, spec.name, spec.params['cameras']) == ('', 'vad_node', 'front,rear')
    assert spec.remappings == [('front/image', '/front/image_raw'), ('rear/image', '/rear/image_raw')]
    assert spec.params['detector.device'] == 'cpu'
    (inner,) = graph.vad_nodes({'cameras': 'front=/f', 'namespace': 'robot1'}, share_dir())
    assert '__ns:=/robot1' in inner.ros_arguments() and 'front/image:=/f' in inner.ros_arguments()
    for bad, why in [('front', 'is not name=topic'), ('front=/a,front=/b', 'given twice'),
                     ('2nd=/a', 'must be a ROS name'), ('fr-ont=/a', 'must be a ROS name')]:
        with pytest.raises(ValueError, match=f"'cameras'.*{why}"):
            graph.vad_nodes({'cameras': bad}, share_dir())


def test_bad_launch_arguments_are_named():
    with pytest.raises(ValueError, match="unknown launch argument.*imgae"):
        graph.vad_nodes({'imgae': '/x'}, share_dir())
    with pytest.raises(ValueError, match="'debug_image': expected true or false"):
        graph.vad_nodes({'debug_image': 'maybe'}, share_dir())
    assert launcher.main(['image=/x']) == 2


def test_demo_launch_file_matches_vad_launch_demo(monkeypatch):
    path = REPO / 'launch' / 'demo.launch.py'
    if not path.exists():
        pytest.fail('launch/demo.launch.py is missing')
    given = {'video': '/tmp/some.avi', 'out': '/tmp/out'}
    declared, nodes, description = run_launch_file(path, monkeypatch, given)
    assert declared == {a.name: a.default for a in graph.DEMO_ARGS}
    expected = [launcher.node_command(s) for s in launcher.build_nodes('demo', given)]
    assert sorted(command_of_launch_node(n) for n in nodes) == sorted(expected)
    # The launch ends (after a grace period) when the image publisher has played the video.
    handlers = [a for a in nodes_and_actions(description, declared, given)
                if isinstance(a, StubLaunch.RegisterEventHandler)]
    ends = [h for h in handlers if isinstance(h.handler.on_exit, list)]
    assert len(ends) == 1 and ends[0].handler.target_action.kwargs['executable'] == 'image_publisher'
    (timer,) = ends[0].handler.on_exit
    assert isinstance(timer.actions[0], StubLaunch.Shutdown)
    # Every node of the demo fails the launch when it exits with an error.
    checked = sorted(h.handler.target_action.kwargs['executable'] for h in handlers if callable(h.handler.on_exit))
    assert checked == sorted(n.kwargs['executable'] for n in nodes)


def test_vad_launch_file_fails_the_launch_when_a_node_exits_with_an_error(monkeypatch):
    """ros2 launch exits 0 whatever its processes return, unless an event handler raises: the launch files
    register exit_code_check for each node."""
    from vad_ros.launching.launch_actions import NodeFailed, exit_code_check
    declared, _, description = run_launch_file(REPO / 'launch' / 'vad.launch.py', monkeypatch, {})
    actions = nodes_and_actions(description, declared, {})
    nodes = [a for a in actions if isinstance(a, StubLaunch.Node)]
    handlers = [a for a in actions if isinstance(a, StubLaunch.RegisterEventHandler)]
    assert nodes and [h.handler.target_action for h in handlers] == nodes
    assert all(callable(h.handler.on_exit) for h in handlers)

    check = exit_code_check('vad_node')
    running, stopping = types.SimpleNamespace(is_shutdown=False), types.SimpleNamespace(is_shutdown=True)
    assert check(types.SimpleNamespace(returncode=0), running) is None
    assert check(types.SimpleNamespace(returncode=-15), stopping) is None      # stopped by the launch itself
    with pytest.raises(NodeFailed, match='vad_node exited with code 1'):
        check(types.SimpleNamespace(returncode=1), running)


def nodes_and_actions(description, declared, given):
    context = {**declared, **given}
    return [x for a in description if isinstance(a, StubLaunch.OpaqueFunction) for x in a.function(context)]
