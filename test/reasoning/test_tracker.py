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


def reference_ids(tracks: list[dict], boxes_: np.ndarray, labels: list[int], threshold: float, next_id: int):
    """The tracker's rule written out plainly (no numpy, no compiled code): every (detection, track) pair of
    the same class with IoU > 0 and >= threshold, highest IoU first, ties in (detection, track) order."""
    def iou(a, b):
        w = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0)
        h = max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
        area = lambda r: max(r[2] - r[0], 0.0) * max(r[3] - r[1], 0.0)  # noqa: E731
        return w * h / (area(a) + area(b) - w * h) if w * h > 0 else 0.0
    pairs = [(-iou(b, t['box']), d, k) for d, b in enumerate(boxes_.tolist()) for k, t in enumerate(tracks)
             if labels[d] == t['label'] and iou(b, t['box']) > 0 and iou(b, t['box']) >= threshold]
    ids, taken = [0] * len(labels), set()
    for _, d, k in sorted(pairs):
        if not ids[d] and k not in taken:
            ids[d] = tracks[k]['id']
            taken.add(k)
    for d in range(len(ids)):
        if not ids[d]:
            ids[d], next_id = next_id, next_id + 1
    kept = [dict(t, missed=t['missed'] + 1) for k, t in enumerate(tracks) if k not in taken and t['missed'] < 2]
    new = [{'box': b, 'label': l, 'id': i, 'missed': 0} for b, l, i in zip(boxes_.tolist(), labels, ids)]
    return ids, new + kept, next_id


def test_property_the_compiled_tracker_follows_the_written_rule():
    """Crowded random scenes with two classes, exact ties (copied boxes) and misses, 40 frames each."""
    for seed in range(30):
        rng = np.random.default_rng(seed)
        t, tracks, next_id = IouTracker(iou_threshold=0.3, max_missed=2), [], 1
        pos = rng.uniform(0, 200, (12, 2))
        for _ in range(40):
            pos += rng.normal(0, 4, pos.shape)
            seen = rng.random(12) > 0.2
            b = np.hstack([pos, pos + rng.uniform(10, 30, pos.shape)])[seen]
            if len(b) > 2:
                b[1] = b[0]                                      # two identical boxes: a tie
            labels = rng.integers(0, 2, len(b)).tolist()
            expected, tracks, next_id = reference_ids(tracks, b, labels, 0.3, next_id)
            assert t.update(b, np.array(labels)).tolist() == expected
            assert t.active_tracks == len(tracks)


def test_kernels_compile_without_a_writable_cache():
    """numba refuses cache=True where it finds no place for the cache (here: a function without a source file,
    as for a read-only install without a home); compiled() then compiles per process instead of failing."""
    from vad_ros.reasoning.kernels import compiled
    namespace: dict = {}
    exec('def add_one(x):\n    return x + 1\n', namespace)
    assert compiled(namespace['add_one'])(41) == 42



def test_the_kernels_give_the_same_results_as_plain_python(monkeypatch):
    """Without numba the kernels run as the plain Python they are written in: the same ids and votes."""
    from vad_ros.reasoning import background, kernels, tracker
    from vad_ros.reasoning.background import IntegralCounts, voting_mask_lut
    assert kernels.COMPILED                                 # numba is installed here: both paths are run
    rng = np.random.default_rng(5)
    labels_map = rng.integers(0, 4, (60, 80)).astype(np.uint16)
    lut = voting_mask_lut(4)
    pos = rng.uniform(0, 70, (10, 2))
    frames = []
    for _ in range(30):
        pos = pos + rng.normal(0, 2, pos.shape)
        seen = rng.random(10) > 0.2
        frames.append((np.hstack([pos, pos + rng.uniform(5, 20, pos.shape)])[seen], rng.integers(0, 2, seen.sum())))
    runs = []
    for plain in (False, True):
        if plain:
            monkeypatch.setattr(tracker, 'update_tracks', kernels.update_tracks.py_func)
            monkeypatch.setattr(background, 'integral_votes', kernels.integral_votes.py_func)
        t, counts = IouTracker(0.3, 2), IntegralCounts(labels_map, 4, lut)
        runs.append([(t.update(b, l).tolist(), counts.votes(b, 'footprint', 0.3), counts.votes(b, 'box', 0.2))
                     for b, l in frames])
    assert runs[0] == runs[1]
    assert len({i for ids, _, _ in runs[0] for i in ids}) > 10               # tracks were made and continued
