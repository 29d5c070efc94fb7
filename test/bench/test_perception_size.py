"""bench/perception_size.py's counting: code lines leave out blank lines, comments and docstrings, and flat files
of the old layout land in the family they moved to."""
from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location('perception_size', REPO / 'bench' / 'perception_size.py')
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)

SOURCE = '''"""Module doc,
two lines."""
import os   # a comment after code counts


def f(x):
    """Doc."""
    # only a comment
    text = """a string that is
    not a docstring"""
    return os.path.join(x, text)
'''


def test_code_lines_skip_blank_comment_and_docstring_lines():
    assert tool.code_lines(SOURCE) == 5              # import, def, the two-line string, return
    assert tool.code_lines(SOURCE, 6, 7) == 1        # def f only: its docstring is not code


def test_old_flat_files_are_put_in_their_family():
    assert [tool.family(tool.ROOT + name) for name in
            ('nanodet_onnx.py', 'tfjs_graph.py', 'onnx_export.py', 'model_backend.py', 'nms.py',
             'nanodet/detector.py', 'openmmlab/toolbox.py', 'hog.py')] == \
        ['nanodet', 'nanodet', 'onnx', 'openmmlab', 'top', 'nanodet', 'openmmlab', 'top']
