"""The tripwire arrow, read back from the pixels of `vad-scene show` (scene_overlay) and the debug image
(drawing), agrees with the engine: a track moving the way the arrow points crosses "in", the other way "out"."""
import textwrap

import numpy as np
import pytest
from geometry_helpers import polyline_distance

from vad_ros.reasoning.scene_map import Tripwire, load_scene_map
from vad_ros.reasoning.tripwires import IN, OUT, CrossingDetector, in_arrow
from vad_ros.rendering.drawing import DARK, draw_result
from vad_ros.rendering.scene_overlay import draw_scene_map
from vad_ros.types import FrameResult, RuleOverlay

SIZE = 600
NEAR = 80          # px around the middle of the first segment searched for the arrow (it is ~50 px long)
WIRES = {
    'top to bottom': [[300, 50], [300, 550]],
    'bottom to top': [[300, 550], [300, 50]],
    'left to right': [[50, 300], [550, 300]],
    'right to left': [[550, 300], [50, 300]],
    'diagonal down right': [[60, 60], [540, 540]],
    'diagonal up right': [[60, 540], [540, 60]],
    'shallow': [[40, 360], [560, 240]],
    'bent, first segment steep': [[250, 40], [350, 560], [560, 560]],
}


def first_middle(points) -> np.ndarray:
    return (np.asarray(points[0], float) + np.asarray(points[1], float)) / 2


def arrow_pixels(out: np.ndarray, points, wire_width: float):
    """(yellow, dark) pixel coordinates (x, y) near the middle of the first segment but off the wire itself:
    the arrow's shaft, head and "in" text (yellow), and the dark backing of the "in" label."""
    ys, xs = np.mgrid[:out.shape[0], :out.shape[1]]
    xy = np.column_stack([xs.ravel(), ys.ravel()]).astype(float)
    near = np.hypot(*(xy - first_middle(points)).T) < NEAR
    off_wire = polyline_distance(xy, np.asarray(points, float)) > wire_width
    b, g, r = (out.reshape(-1, 3).astype(int)[:, k] for k in range(3))
    yellow = (g > 60) & (r > 60) & (b < g // 2)                  # the scene's yellow, anti-aliased edges too
    dark = (b == DARK[0]) & (g == DARK[1]) & (r == DARK[2])
    return xy[near & off_wire & yellow], xy[near & off_wire & dark]


def arrow_from_pixels(out: np.ndarray, points, wire_width: float) -> np.ndarray:
    """Unit vector from the middle of the first segment to the centroid of the arrow's pixels off the wire: the
    head (and the "in" label) lie on one side, only the short tail on the other."""
    yellow, dark = arrow_pixels(out, points, wire_width)
    assert len(yellow) > 30, 'no arrow drawn near the middle of the first segment'
    offset = yellow.mean(axis=0) - first_middle(points)
    assert np.hypot(*offset) > 5, f'the arrow is not lopsided: {offset}'
    direction = offset / np.hypot(*offset)
    # the "in" label's dark backing is beyond the head: every pixel of it on the head side
    assert len(dark) > 20, 'no "in" label next to the arrow'
    assert ((dark - first_middle(points)) @ direction > 15).all()
    return direction


def crossing_along(direction: np.ndarray, points) -> int:
    """What the engine's crossing detector reports for a track moving 40 px along `direction` through the
    middle of the first segment (three frames: before, on the line, beyond)."""
    wire = (Tripwire('w', np.asarray(points, float), tolerance=4.0),)
    detector = CrossingDetector()
    mid = first_middle(points)
    results = [int(detector.update([7], (mid + k * direction)[None], wire)[0, 0]) for k in (-40.0, 0.0, 40.0)]
    assert results[:2] == [0, 0]
    return results[2]


def scene_with(tmp_path, points):
    path = tmp_path / 'scene.yaml'
    path.write_text(textwrap.dedent(f'''\
        image_size: [{SIZE}, {SIZE}]
        tripwires:
          - name: gate
            points: {points}
        '''))
    return load_scene_map(path)


@pytest.mark.parametrize('name', WIRES)
def test_vad_scene_show_arrow_points_the_way_the_engine_counts_in(tmp_path, name):
    points = WIRES[name]
    out = draw_scene_map(np.zeros((SIZE, SIZE, 3), np.uint8), scene_with(tmp_path, points), labels=False)
    direction = arrow_from_pixels(out, points, wire_width=5)
    assert crossing_along(direction, points) == IN
    assert crossing_along(-direction, points) == OUT
    np.testing.assert_allclose(direction, in_arrow(points)[1], atol=0.25)   # roughly square to the wire


@pytest.mark.parametrize('name', WIRES)
def test_debug_image_arrow_points_the_way_the_engine_counts_in(name):
    points = WIRES[name]
    overlay = RuleOverlay(tripwires=(('gate', np.asarray(points, float), 2, 1),))
    out = draw_result(np.zeros((SIZE, SIZE, 3), np.uint8), FrameResult(0, 1.0, [], [], 0.0, overlay=overlay))
    direction = arrow_from_pixels(out, points, wire_width=4)
    assert crossing_along(direction, points) == IN
    assert crossing_along(-direction, points) == OUT


def test_reversing_the_points_turns_the_arrow_round(tmp_path):
    points = WIRES['left to right']
    forward = arrow_from_pixels(draw_scene_map(np.zeros((SIZE, SIZE, 3), np.uint8), scene_with(tmp_path, points),
                                               labels=False), points, 5)
    back = points[::-1]
    backward = arrow_from_pixels(draw_scene_map(np.zeros((SIZE, SIZE, 3), np.uint8), scene_with(tmp_path, back),
                                                labels=False), back, 5)
    assert forward[1] < -0.9 and backward[1] > 0.9          # drawn left to right: "in" is up the image


def test_a_stretched_frame_keeps_the_arrow_on_the_in_side(tmp_path):
    """vad-scene show rescales the map to the frame (here 2 x wider): the arrow is computed on the drawn line."""
    points = WIRES['diagonal down right']
    out = draw_scene_map(np.zeros((SIZE, 2 * SIZE, 3), np.uint8), scene_with(tmp_path, points), labels=False)
    drawn = (np.asarray(points, float) * [2, 1]).tolist()
    direction = arrow_from_pixels(out, drawn, wire_width=5)
    assert crossing_along(direction, drawn) == IN
