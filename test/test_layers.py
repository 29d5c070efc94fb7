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


def test_the_pipeline_runs_without_numba(repo_root):
    """numba is optional (it only compiles vad_ros/reasoning/kernels.py): with it unimportable, the embedded
    scene map and rules give the same anomalies as with it."""
    code = ('import sys\n'
            "if sys.argv[1] == 'without':\n"
            "    sys.modules['numba'] = None\n"
            'import numpy as np\n'
            'from vad_ros.pipeline import Pipeline\n'
            'from vad_ros.reasoning import kernels\n'
            'from vad_ros.reasoning.rules import load_rules\n'
            'from vad_ros.reasoning.scene_map import load_scene_map\n'
            'from vad_ros.types import Detections\n'
            "assert kernels.COMPILED == (sys.argv[1] == 'with')\n"
            'class Fixed:\n'
            "    name, device, class_names = 'fixed', 'cpu', ('person',)\n"
            '    def detect(self, image):\n'
            '        return self.d\n'
            f"root = {str(repo_root)!r}\n"
            "p = Pipeline(Fixed(), None, load_rules(root + '/config/rules_keep_off_grass.yaml'),\n"
            "             load_scene_map(root + '/config/scene_vtest.yaml'))\n"
            'image = np.zeros((576, 768, 3), np.uint8)\n'
            'out = []\n'
            'for i in range(12):\n'
            '    x = 100.0 + 20 * i\n'
            '    p.detector.d = Detections(np.array([[x, 400, x + 40, 500], [300, 150, 330, 230]], np.float32),\n'
            '                              np.zeros(2, np.int64), np.full(2, 0.9, np.float32), ("person",))\n'
            '    r = p.process(image, i, i / 10)\n'
            '    out.append([(a.track_id, a.sentence, a.event_id) for a in r.anomalies])\n'
            'print(out)\n')
    runs = [subprocess.run([sys.executable, '-c', code, mode], capture_output=True, text=True, timeout=300)
            for mode in ('with', 'without')]
    assert all(r.returncode == 0 for r in runs), [r.stderr[-2000:] for r in runs]
    assert runs[0].stdout == runs[1].stdout and 'keep off the grass' in runs[0].stdout
