"""Shared fixtures: the real sample video (fetched by `tools/setup.sh data`)."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
VTEST = REPO / 'data' / 'vtest.avi'


@pytest.fixture(scope='session')
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope='session')
def vtest_path() -> Path:
    if not VTEST.is_file():
        pytest.fail(f'{VTEST} is missing: run `tools/setup.sh data` (make test does it)')
    return VTEST


def read_frames(path: os.PathLike, indices: list[int]) -> list[np.ndarray]:
    """Frames of a video by index, as BGR uint8 arrays."""
    cap = cv2.VideoCapture(str(path))
    frames, wanted, i = [], set(indices), 0
    try:
        while len(frames) < len(wanted):
            ok, frame = cap.read()
            if not ok:
                break
            if i in wanted:
                frames.append(frame)
            i += 1
    finally:
        cap.release()
    if len(frames) != len(wanted):
        raise RuntimeError(f'{path}: could read only {len(frames)} of frames {sorted(wanted)}')
    return frames


@pytest.fixture(scope='session')
def vtest_frames(vtest_path) -> list[np.ndarray]:
    """Eight real frames (768x576 BGR) spread over the sample video."""
    return read_frames(vtest_path, [0, 100, 200, 300, 400, 500, 600, 700])


@pytest.fixture(scope='session')
def vtest_consecutive(vtest_path) -> list[np.ndarray]:
    """The first 400 frames of the sample video, in order (40 s of a still camera at 10 fps)."""
    return read_frames(vtest_path, list(range(400)))
