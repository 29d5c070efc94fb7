"""The moved-camera check on real frames: vtest.avi's own frames never move; the same frames shifted by a
bumped mount's (30, 12) px are reported after three checks and clear when the view is back; a shift under the
threshold, fraction 0, no scene map, or a new scene map (a new reference) say nothing."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from vad_ros.media.view_shift import CHECK_EVERY_S, CONFIRMATIONS, WIDTH, ViewShift, edges, write_reference


@pytest.fixture(scope='module')
def frames(vtest_consecutive) -> list[np.ndarray]:
    return vtest_consecutive[:400]


def shifted(frame: np.ndarray, dx: float, dy: float) -> np.ndarray:
    return cv2.warpAffine(frame, np.float32([[1, 0, dx], [0, 1, dy]]), frame.shape[1::-1],
                          borderMode=cv2.BORDER_REFLECT)


def run(view: ViewShift, frames, scene, fraction=0.03, start=0) -> list[str]:
    return [view.update(f, (start + i) / 10, scene, fraction) for i, f in enumerate(frames)]


def test_a_still_camera_never_moves(frames):
    view = ViewShift()
    assert set(run(view, frames, scene='map')) == {''}
    assert view.measured.startswith('(') and 'peak' in view.measured


def test_a_bumped_camera_is_reported_after_three_checks_and_clears_when_back(frames):
    view, scene = ViewShift(), 'map'
    run(view, frames[:100], scene)                                  # the reference: frame 0, at 0 s
    said = run(view, [shifted(f, 30, 12) for f in frames[100:300]], scene, start=100)
    first = next(i for i, text in enumerate(said) if text)
    assert 100 + first == 10 * (10 + (CONFIRMATIONS - 1) * CHECK_EVERY_S)     # checks at 10, 15, 20 s
    assert said[-1].startswith('the view has moved by (')
    dx, dy = (float(v) for v in said[-1].split('(')[1].split(')')[0].split(','))
    assert abs(dx - 30) <= 8 and abs(dy - 12) <= 8, said[-1]
    back = run(view, frames[300:400], scene, start=300)
    assert back[-1] == ''                                          # the next check finds the view in place


def test_small_shifts_no_map_fraction_zero_and_a_new_map_say_nothing(frames):
    small = [shifted(f, 8, 3) for f in frames[100:300]]                  # ~1 % of the width, under 3 %
    view = ViewShift()
    assert set(run(view, frames[:100], 'map') + run(view, small, 'map', start=100)) == {''}
    big = [shifted(f, 30, 12) for f in frames[100:300]]
    for scene, fraction in ((None, 0.03), ('map', 0.0)):
        view = ViewShift()
        assert set(run(view, frames[:100], scene, fraction) + run(view, big, scene, fraction, start=100)) == {''}
    view = ViewShift()
    run(view, frames[:100], 'old map')
    assert set(run(view, big, 'new map', start=100)) == {''}             # drawn on the moved view: its reference


def test_with_the_picture_saved_with_the_map_a_camera_bumped_before_the_start_is_seen(frames, tmp_path):
    """vad-scene edit saves the frame the map was drawn on next to it; the node compares with that picture, so a
    camera moved while the node was down is reported from its first frames. Without the picture the first frame
    is the reference and the move goes unseen; a picture of another size is not used."""
    scene_file = str(tmp_path / 'scene.yaml')
    write_reference(scene_file, cv2.imencode('.jpg', frames[0], [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
    bumped = [shifted(f, 30, 12) for f in frames[100:220]]
    view = ViewShift()
    said = [view.update(f, i / 10, 'map', 0.03, scene_file) for i, f in enumerate(bumped)]
    first = next(i for i, text in enumerate(said) if text)
    assert first == 10 * (CONFIRMATIONS - 1) * CHECK_EVERY_S                 # checks at 0, 5, 10 s
    assert said[-1].startswith('the view has moved by (') and 'since the scene map was drawn' in said[-1]
    assert set(run(ViewShift(), bumped, 'map')) == {''}                      # no picture: unseen
    write_reference(scene_file, cv2.imencode('.jpg', frames[0][:300])[1].tobytes())
    assert set(ViewShift().update(f, i / 10, 'map', 0.03, scene_file) for i, f in enumerate(bumped)) == {''}


@pytest.mark.parametrize('shape', [(100_000, 1, 3), (1, 100_000, 3), (1, 1, 3), (3000, 2, 3)])
def test_odd_shaped_frames_stay_small(shape):
    """A hostile 1-pixel-wide frame (100,000 pixels, under max_image_pixels) once asked for a 19-million-row
    copy (15 GB): the compared copy is at most 2 * WIDTH rows."""
    image = np.random.default_rng(0).integers(0, 255, shape, np.uint8)
    small = edges(image)
    assert small.shape[1] == WIDTH and 8 <= small.shape[0] <= 2 * WIDTH
    view = ViewShift()
    assert [view.update(image, t, 'map', 0.03) for t in (0.0, 5.0, 10.0, 15.0)] == [''] * 4
