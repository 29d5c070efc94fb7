"""Track motion: px/s and m/s speeds over the window, compass headings, stamps."""
import numpy as np
import pytest

from vad_ros.reasoning.geometry import homography
from vad_ros.reasoning.motion import MotionHistory


def run(history, positions, stamps, track=1, to_ground=None):
    out = None
    for (x, y), t in zip(positions, stamps):
        out = history.update([track], np.array([[x, y]], float), t, to_ground)
    return out


def test_speed_over_the_window_and_unknown_before_min_span():
    h = MotionHistory(window=1.0, min_span=0.3)
    first = run(h, [(0, 0), (10, 0)], [0.0, 0.1])
    assert np.isnan(first.speed_px[0]) and np.isnan(first.heading[0])
    m = run(h, [(20, 0), (30, 0), (40, 0)], [0.2, 0.3, 0.4])
    assert m.speed_px[0] == pytest.approx(100.0) and m.heading[0] == pytest.approx(90.0)   # right = 90


def test_old_samples_leave_the_window():
    h = MotionHistory(window=1.0, min_span=0.3)
    m = run(h, [(0, 0)] * 11 + [(0, 50)], [i * 0.1 for i in range(12)])   # still for 1 s, then 50 px down
    assert m.speed_px[0] == pytest.approx(50.0, rel=0.02) and m.heading[0] == pytest.approx(180.0)


def test_headings_are_compass_like_in_the_image():
    for (dx, dy), expected in (((0, -10), 0.0), ((10, 0), 90.0), ((0, 10), 180.0), ((-10, 0), 270.0)):
        h = MotionHistory(min_span=0.1)
        m = run(h, [(100, 100), (100 + dx, 100 + dy)], [0.0, 0.5])
        assert m.heading[0] == pytest.approx(expected)


def test_no_heading_when_barely_moving():
    h = MotionHistory(min_span=0.1, min_move=3.0)
    m = run(h, [(100, 100), (101, 101)], [0.0, 0.5])
    assert m.speed_px[0] > 0 and np.isnan(m.heading[0])


def test_metres_per_second_through_the_ground_homography():
    # 10 px = 1 m in x and y; ground y grows up the image
    to_ground = homography(np.array([[0, 0], [100, 0], [100, 100], [0, 100]], float),
                           np.array([[0, 10], [10, 10], [10, 0], [0, 0]], float))
    h = MotionHistory(min_span=0.1)
    m = run(h, [(0, 100), (0, 80)], [0.0, 1.0], to_ground=to_ground)
    assert m.speed_m[0] == pytest.approx(2.0) and m.speed_px[0] == pytest.approx(20.0)
    assert m.heading[0] == pytest.approx(0.0)            # +y on the ground (up the image here)


def test_untracked_and_unstamped_objects_have_no_motion():
    h = MotionHistory(min_span=0.1)
    assert np.isnan(run(h, [(0, 0), (50, 0)], [0.0, 1.0], track=0).speed_px[0])
    assert np.isnan(run(MotionHistory(min_span=0.1), [(0, 0), (50, 0)], [None, None]).speed_px[0])


def test_clear_forgets_the_history():
    h = MotionHistory(min_span=0.1)
    run(h, [(0, 0), (50, 0)], [0.0, 1.0])
    h.clear()
    assert np.isnan(run(h, [(60, 0)], [1.1]).speed_px[0])


def test_tracks_not_seen_for_a_while_are_forgotten():
    h = MotionHistory(min_span=0.1, forget_after=5.0)
    run(h, [(0, 0), (10, 0)], [0.0, 0.5], track=1)
    for i in range(60):                                   # 6 s of another track only
        h.update([2], np.array([[50.0, 50.0]]), 1.0 + i * 0.1)
    assert np.isnan(run(h, [(20, 0)], [7.1], track=1).speed_px[0])    # its old samples are gone


def test_a_long_history_keeps_the_window():
    h = MotionHistory(window=1.0, min_span=0.3, samples=8)  # 8 samples at 10 fps: 0.7 s of history
    m = run(h, [(10 * i, 0) for i in range(20)], [i / 10 for i in range(20)])
    assert m.speed_px[0] == pytest.approx(100.0)
