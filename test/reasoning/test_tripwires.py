"""Tripwire crossings of ground points: exactly on the line, jitter, vanishing tracks, directions, polylines."""
import numpy as np
from geometry_helpers import polyline_distance
from hypothesis import given, settings, strategies as st

from vad_ros.reasoning.scene_map import Tripwire
from vad_ros.reasoning.tripwires import IN, OUT, CrossingDetector, in_arrow

# A line drawn left to right at y = 100: "in" is a move up the image (to the line's left-hand side).
LINE = Tripwire('gate', np.array([[0.0, 100.0], [200.0, 100.0]]), tolerance=2.0)


def walk(ys, x=50.0, track=1, wires=(LINE,), detector=None):
    """Crossing values per frame for a track whose ground point goes through the y positions (None = not
    seen in that frame)."""
    detector = detector or CrossingDetector()
    out = []
    for y in ys:
        if y is None:
            detector.update([], np.zeros((0, 2)), wires)
            out.append(None)
            continue
        out.append(int(detector.update([track], np.array([[x, y]]), wires)[0, 0]))
    return out


def test_walking_up_across_is_in_and_down_is_out():
    assert walk([130, 110, 90, 70]) == [0, 0, 1, 0]
    assert walk([70, 90, 110, 130]) == [0, 0, -1, 0]


def test_a_point_exactly_on_the_line_does_not_cross_and_does_not_move_the_anchor():
    assert walk([110, 100, 90]) == [0, 0, 1]        # crosses once, when it is clear of the line again
    assert walk([110, 100, 110]) == [0, 0, 0]       # onto the line and back: no crossing
    assert walk([100, 100, 90]) == [0, 0, 0]        # appears on the line: nowhere to cross from


def test_jitter_within_the_tolerance_never_counts():
    assert walk([110, 101, 99, 101.5, 98.5, 100, 110]) == [0] * 7


def test_a_track_that_vanishes_and_comes_back_crosses_from_its_last_anchor():
    assert walk([120, 110, None, None, 80]) == [0, 0, None, None, 1]


def test_outside_the_segment_ends_is_no_crossing():
    assert walk([120, 80], x=250.0) == [0, 0]


def test_untracked_objects_never_cross():
    assert walk([120, 80], track=0) == [0, 0]


def test_tracks_are_independent():
    d = CrossingDetector()
    d.update([1, 2], np.array([[50.0, 120.0], [60.0, 80.0]]), (LINE,))
    out = d.update([1, 2], np.array([[50.0, 80.0], [60.0, 70.0]]), (LINE,))
    assert out[:, 0].tolist() == [1, 0]


def test_through_a_vertex_of_a_polyline_counts_once():
    bent = np.array([[0.0, 100.0], [100.0, 100.0], [200.0, 50.0]])
    assert crossing_of(bent, [100.0, 130.0], [100.0, 70.0]) == IN            # to the line's left: once


def test_a_u_shaped_line_crossed_in_and_out_again_is_no_crossing():
    u = np.array([[0.0, 0.0], [0.0, 100.0], [100.0, 100.0], [100.0, 0.0]])
    assert crossing_of(u, [-10.0, 50.0], [110.0, 50.0]) == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1.9, 1.9), min_size=1, max_size=30), st.floats(0, 200))
def test_property_jitter_on_the_line_never_crosses(offsets, x):
    assert walk([100 + d for d in offsets], x=x) == [0] * len(offsets)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(2.5, 40), min_size=1, max_size=10), st.lists(st.floats(-1.9, 1.9), max_size=5),
       st.lists(st.floats(2.5, 40), min_size=1, max_size=10))
def test_property_below_then_jitter_then_above_is_exactly_one_crossing_in(below, jitter, above):
    ys = [100 + b for b in below] + [100 + j for j in jitter] + [100 - a for a in above]
    values = walk(ys)
    assert sum(values) == 1 and values.count(1) == 1 and values[len(below) + len(jitter)] == 1


def test_several_tracks_appear_and_vanish_in_any_order():
    d = CrossingDetector()
    d.update([5, 3], np.array([[50.0, 120.0], [60.0, 80.0]]), (LINE,))
    d.update([9], np.array([[70.0, 120.0]]), (LINE,))
    out = d.update([9, 3, 5], np.array([[70.0, 80.0], [60.0, 120.0], [50.0, 121.0]]), (LINE,))
    assert out[:, 0].tolist() == [1, -1, 0]


# ---------------------------------------------------------------- in_arrow: the direction the drawings show
def test_in_arrow_for_the_documented_orientations():
    cases = {((0, 100), (200, 100)): (0, -1),       # drawn left to right: "in" is up the image
             ((200, 100), (0, 100)): (0, 1),        # right to left: down
             ((300, 0), (300, 400)): (1, 0),        # top to bottom: left to right
             ((300, 400), (300, 0)): (-1, 0)}       # bottom to top: right to left
    for points, expected in cases.items():
        middle, direction = in_arrow(np.array(points, float))
        np.testing.assert_allclose(direction, expected, atol=1e-12)
        np.testing.assert_allclose(middle, np.mean(points, axis=0))


def test_in_arrow_skips_zero_length_segments_and_has_none_for_a_point():
    middle, direction = in_arrow([[5, 5], [5, 5], [5, 105], [80, 105]])
    np.testing.assert_allclose(middle, [5, 55])
    np.testing.assert_allclose(direction, [1, 0])
    assert in_arrow([[5, 5], [5, 5]]) is None


def crossing_of(points, start, end) -> int:
    wire = (Tripwire('w', np.asarray(points, float), tolerance=1.0),)
    detector = CrossingDetector()
    detector.update([1], np.asarray([start], float), wire)
    return int(detector.update([1], np.asarray([end], float), wire)[0, 0])


coordinate = st.floats(0, 1000, allow_nan=False)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(coordinate, coordinate), min_size=2, max_size=5), st.floats(5, 60))
def test_property_a_move_along_the_in_arrow_is_counted_in_by_the_engine(points, step):
    """The drawn arrow and the engine agree for any wire: through the arrow's base along it is "in", against it
    "out" (wires whose first segment is too short to cross cleanly, or that fold back near it, are skipped)."""
    points = np.asarray(points, float)
    arrow = in_arrow(points)
    if arrow is None:
        return
    middle, direction = arrow
    segment = next(i for i in range(len(points) - 1) if np.hypot(*(points[i + 1] - points[i])) > 0)
    if np.hypot(*(points[segment + 1] - points[segment])) < 20:
        return
    rest = points[segment + 1:]
    if len(rest) >= 2 and polyline_distance(middle[None], rest)[0] < step + 2:
        return                                      # a later segment passes near the move: a different question
    start, end = middle - step * direction, middle + step * direction
    assert crossing_of(points, start, end) == IN
    assert crossing_of(points, end, start) == OUT
