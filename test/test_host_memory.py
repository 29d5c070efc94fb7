"""vad_ros.host_memory: memory freed after a frame is reused by the next one, in the worker thread too."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from vad_ros import host_memory

# A fresh process: the setting, then a worker thread that allocates and frees a 100 MB array per "frame"
# (as PyTorch does with a large activation) and counts the page faults of frames 2-5.
PROBE = """
import json, resource, sys, threading
import numpy as np
from vad_ros.host_memory import keep_freed_memory
applied = keep_freed_memory()
faults = []
def frames():
    for i in range(5):
        before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
        a = np.ones(25_000_000, np.float32)
        a += 1
        del a
        faults.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before)
t = threading.Thread(target=frames)
t.start(); t.join()
print(json.dumps({'applied': applied, 'faults': faults[1:]}))
"""


def probe(env_value: str | None) -> dict:
    env = dict(os.environ)
    env.pop(host_memory.ENV, None)
    if env_value is not None:
        env[host_memory.ENV] = env_value
    out = subprocess.run([sys.executable, '-c', PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc only')
def test_freed_memory_is_reused_by_the_next_frame_in_a_worker_thread():
    kept = probe(None)
    assert kept['applied'] is True
    assert max(kept['faults']) < 10          # the same pages again: no fresh ones from the kernel
    default = probe('0')
    assert default['applied'] is False
    # glibc's default: each 100 MB block is mapped anew (4 KB pages: ~24 000 faults; transparent huge
    # pages: ~50)
    assert min(default['faults']) >= 40


def test_once_per_process_and_off_by_environment(monkeypatch):
    monkeypatch.setattr(host_memory, '_applied', None)
    monkeypatch.setenv(host_memory.ENV, 'off')
    assert host_memory.keep_freed_memory() is False
    monkeypatch.setenv(host_memory.ENV, '1')
    assert host_memory.keep_freed_memory() is False      # decided once, at the first call
