"""The layer rules of docs/ARCHITECTURE.md, enforced: the core never imports ROS; user-fixable errors are one
family."""
import importlib
import pkgutil
import subprocess
import sys

import vad_ros
from vad_ros.errors import VadError

# Folders that may import rclpy or launch (the ROS adapters and the launch-file glue).
ROS_LAYERS = ('vad_ros.ros', 'vad_ros.msg', 'vad_ros.launching.launch_actions')


def core_modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(vad_ros.__path__, 'vad_ros.')]
    return sorted(n for n in names if not n.startswith(ROS_LAYERS))


def test_the_core_imports_without_ros():
    modules = core_modules()
    assert {'vad_ros.pipeline', 'vad_ros.rule_source', 'vad_ros.reasoning.rules', 'vad_ros.media.sources',
            'vad_ros.offline.runner', 'vad_ros.perception.factory', 'vad_ros.rendering.drawing'} <= set(modules)
    code = ('import importlib, sys\n'
            f'for name in {modules!r}:\n'
            '    importlib.import_module(name)\n'
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('rclpy', 'launch', 'launch_ros'))\n"
            'print(bad)\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == '[]', f'the core imported ROS modules: {out.stdout}'


def test_every_user_fixable_error_is_a_vad_error():
    names = {
        'vad_ros.params': ['ParamError', 'ParamFileError'],
        'vad_ros.reasoning.rules': ['RuleFileError'],
        'vad_ros.reasoning.scene_map': ['SceneMapError'],
        'vad_ros.perception.base': ['PerceptionError'],
        'vad_ros.media.image_codec': ['ImageFormatError'],
        'vad_ros.media.sources': ['SourceError'],
        'vad_ros.media.writers': ['OutputError'],
    }
    for module, classes in names.items():
        for cls in classes:
            assert issubclass(getattr(importlib.import_module(module), cls), VadError), f'{module}.{cls}'
