"""The light IoU tracker: ids that continue, new ids, expiry, class separation, greedy matching."""
import numpy as np
import pytest

from vad_ros.boxes import iou_matrix
from vad_ros.reasoning.tracker import IouTracker

PERSON, CAR = 0, 2


def boxes(*rows):
    return np.array(rows, float).reshape(-1, 4)


def test_iou_matrix():
    a = boxes([0, 0, 10, 10])
    b = boxes([0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 0, 0], [2, 2, 4, 4])
    assert np.allclose(iou_matrix(a, b), [[1.0, 50 / 150, 0.0, 0.0, 4 / 100]])
    assert iou_matrix(boxes(), b).shape == (0, 5) and iou_matrix(a, boxes()).shape == (1, 0)


def test_ids_start_at_1_and_continue_for_moving_objects():
    t = IouTracker(iou_threshold=0.3, max_missed=5)
    assert t.update(boxes([0, 0, 10, 20], [50, 0, 60, 20]), [PERSON, PERSON]).tolist() == [1, 2]
    # Both move a little; their order in the detections changes; a third object appears.
    ids = t.update(boxes([52, 0, 62, 20], [1, 0, 11, 20], [100, 100, 110, 120]), [PERSON] * 3)
    assert ids.tolist() == [2, 1, 3]
    assert t.update(boxes([3, 0, 13, 20]), [PERSON]).tolist() == [1]
    assert t.active_tracks == 3


def test_other_class_or_low_iou_gives_a_new_track():
    t = IouTracker(iou_threshold=0.5)
    t.update(boxes([0, 0, 10, 20]), [PERSON])
    assert t.update(boxes([0, 0, 10, 20]), [CAR]).tolist() == [2]               # same place, other class
    assert t.update(boxes([6, 0, 16, 20]), [PERSON]).tolist() == [3]            # IoU 4/16 < 0.5
    t.iou_threshold = 0.2                                                        # changed between frames
    assert t.update(boxes([10, 0, 20, 20]), [PERSON]).tolist() == [3]           # IoU 6/14 with track 3


def test_greedy_matching_gives_a_track_to_the_best_overlap():
    t = IouTracker(iou_threshold=0.1)
    t.update(boxes([0, 0, 10, 10]), [PERSON])
    ids = t.update(boxes([4, 0, 14, 10], [1, 0, 11, 10]), [PERSON, PERSON])     # IoU 0.43 and 0.82
    assert ids.tolist() == [2, 1]


def test_tracks_survive_max_missed_frames_then_expire_and_ids_are_not_reused():
    t = IouTracker(iou_threshold=0.3, max_missed=2)
    t.update(boxes([0, 0, 10, 20]), [PERSON])
    for _ in range(2):
        t.update(boxes(), [])
    assert t.update(boxes([1, 0, 11, 20]), [PERSON]).tolist() == [1]            # back after 2 missed frames
    for _ in range(3):
        t.update(boxes(), [])
    assert t.active_tracks == 0
    assert t.update(boxes([1, 0, 11, 20]), [PERSON]).tolist() == [2]            # 3 missed: a new id


def test_max_missed_zero_keeps_tracks_only_to_the_next_frame():
    t = IouTracker(max_missed=0)
    t.update(boxes([0, 0, 10, 20]), [PERSON])
    assert t.update(boxes([0, 0, 10, 20]), [PERSON]).tolist() == [1]
    t.update(boxes(), [])
    assert t.update(boxes([0, 0, 10, 20]), [PERSON]).tolist() == [2]


def test_a_missing_track_is_matched_at_its_last_box():
    t = IouTracker(iou_threshold=0.5, max_missed=3)
    t.update(boxes([0, 0, 10, 20]), [PERSON])
    t.update(boxes([40, 0, 50, 20]), [PERSON])                                    # track 1 missed here
    assert t.update(boxes([1, 0, 11, 20], [41, 0, 51, 20]), [PERSON] * 2).tolist() == [1, 2]


def test_clear_keeps_counting_and_reset_starts_again():
    t = IouTracker()
    t.update(boxes([0, 0, 10, 20], [30, 0, 40, 20]), [PERSON, PERSON])
    t.clear()
    assert t.active_tracks == 0
    assert t.update(boxes([0, 0, 10, 20]), [PERSON]).tolist() == [3]
    t.reset()
    assert t.update(boxes([0, 0, 10, 20]), [PERSON]).tolist() == [1]


@pytest.mark.parametrize('n', [0, 1, 7])
def test_every_detection_gets_a_distinct_id(n):
    rng = np.random.default_rng(n)
    t = IouTracker(iou_threshold=0.0)
    for _ in range(5):
        xy = rng.uniform(0, 100, (n, 2))
        ids = t.update(np.hstack([xy, xy + 20]), np.zeros(n, int))
        assert len(set(ids.tolist())) == n and (ids >= 1).all()
