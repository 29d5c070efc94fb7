"""The habits that keep the tree clean, run in the suite: ruff (ruff.toml: pyflakes and pycodestyle's error
checks) over the code and the tests, and vulture for code that nothing calls (tools/vulture_whitelist.py names
what frameworks call by name). Both pinned in tools/constraints.txt and installed by tools/setup.sh."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUFF_PATHS = ['vad_ros', 'test', 'bench', 'launch']
VULTURE_PATHS = ['vad_ros', 'launch', 'bench', 'scripts', 'tools/vulture_whitelist.py']
# what vulture reports as dead: code (functions, methods, classes, properties, imports) and whatever it is sure of;
# attributes and variables at 60 % are mostly fields set for libraries (message slots, session options)
DEAD = re.compile(r'unused (function|method|class|property|import)|\(100% confidence\)')


def tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.skip(f'{name} is not installed (tools/setup.sh ros installs it)')
    return found


def test_ruff_finds_nothing():
    out = subprocess.run([tool('ruff'), 'check', '--no-cache', '--output-format', 'concise', *RUFF_PATHS],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr


def dead_code() -> list[str]:
    scripts = [str(p.relative_to(ROOT)) for p in (ROOT / 'scripts').iterdir() if p.is_file()]
    out = subprocess.run([tool('vulture'), *VULTURE_PATHS[:3], *scripts, VULTURE_PATHS[-1],
                          '--exclude', 'vad_ros/devtools'], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode in (0, 3), out.stderr            # 3: vulture found something
    return [line for line in out.stdout.splitlines() if DEAD.search(line)]


def test_vulture_reads_the_tree_and_its_whitelist():
    """The check can fail: it reports a function nothing calls (the whitelist names only framework callbacks)."""
    found = '\n'.join(dead_code())
    assert 'on_configure' not in found and 'do_GET' not in found        # whitelisted framework callbacks
    assert DEAD.search("vad_ros/x.py:3: unused function 'f' (60% confidence)")
    assert not DEAD.search("vad_ros/x.py:3: unused attribute 'size_x' (60% confidence)")


def test_vulture_finds_no_dead_code():
    """Code that only tests use is dead too: remove it and test what production uses, or, for the public API of
    the pure-Python core, name it in tools/vulture_whitelist.py with the reason."""
    assert dead_code() == []
