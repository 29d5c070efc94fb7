"""The image health check on real frames: a real camera's consecutive frames are never frozen or blank; the same
frame again and again is frozen, a covered lens blank, each once it lasted the hold time of image time, and live
again at the next real frame."""
from __future__ import annotations

import numpy as np
import pytest

from vad_ros.media.image_health import ImageHealth


@pytest.fixture(scope='module')
def consecutive(vtest_consecutive) -> list[np.ndarray]:
    return vtest_consecutive[:120]


def test_a_real_cameras_frames_are_never_frozen_or_blank(consecutive):
    health = ImageHealth()
    assert [health.update(frame, i / 10, 0.5) for i, frame in enumerate(consecutive)] == [''] * len(consecutive)
    assert health.since == {'frozen': None, 'blank': None}


def test_a_repeated_frame_is_frozen_after_the_hold_and_live_at_the_next_real_one(consecutive):
    health = ImageHealth()
    said = [health.update(consecutive[5], i * 0.5, 2.0) for i in range(7)]       # 0 .. 3 s of image time
    assert said[:5] == [''] * 5                                                   # frozen from 0.5 s: 2 s at 2.5 s
    assert said[5].startswith('the image has been frozen for 2 s') and said[6].startswith('the image has been frozen')
    assert health.update(consecutive[6], 3.5, 2.0) == ''
    assert health.update(consecutive[6], 1.0, 2.0) == ''                          # stamps went back: from anew


def test_a_covered_lens_is_blank_and_hold_zero_never_says_it():
    rng = np.random.default_rng(0)
    covered = [np.full((576, 768, 3), 12, np.uint8) + rng.integers(0, 5, (576, 768, 3), np.uint8) for _ in range(3)]
    health, off = ImageHealth(), ImageHealth()
    said = [health.update(covered[i % 3], i * 1.0, 2.0) for i in range(4)]
    assert said[:2] == ['', ''] and said[2].startswith('the image has been blank for 2 s (uniform, mean grey 14)')
    assert [off.update(covered[i % 3], i * 1.0, 0.0) for i in range(4)] == [''] * 4
