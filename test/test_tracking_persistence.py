"""IoU tracker ids and persistence: min_frames, grace, event start and end."""
import numpy as np

from vad_ros.reasoning.persistence import Persistence
from vad_ros.reasoning.tracker import IouTracker, iou_matrix
from vad_ros.types import Anomaly


def test_iou_matrix():
    a = np.array([[0, 0, 10, 10]], float)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 0, 0]], float)
    assert np.allclose(iou_matrix(a, b), [[1.0, 50 / 150, 0.0, 0.0]])


def test_ids_continue_are_new_and_expire():
    t = IouTracker(iou_threshold=0.3, max_missed=1)
    ids1 = t.update(np.array([[0, 0, 10, 20], [50, 0, 60, 20]]), np.array([0, 0]))
    assert ids1.tolist() == [1, 2]
    ids2 = t.update(np.array([[52, 0, 62, 20], [1, 0, 11, 20], [100, 100, 110, 120]]), np.array([0, 0, 0]))
    assert ids2.tolist() == [2, 1, 3]
    ids3 = t.update(np.array([[1, 0, 11, 20]]), np.array([1]))          # another class: a new track
    assert ids3.tolist() == [4]
    t.update(np.zeros((0, 4)), np.zeros(0))                                 # track 1 missed twice: gone
    assert t.update(np.array([[1, 0, 11, 20]]), np.array([0])).tolist() == [5]


def anomaly(track: int, score: float = 0.8, rule: str = 'r') -> Anomaly:
    return Anomaly('person', score, 'grass', 1.0, (0, 0, 1, 1), rule, 'warning', f'person {track}', track, 1, score)


def test_min_frames_then_event_with_grace_and_end():
    p = Persistence(min_frames=3, grace_frames=1)
    out = [p.update(i, i / 10, [(anomaly(7), None)]) for i in range(3)]
    assert [len(r) for r, _, _ in out] == [0, 0, 1]
    reported, started, _ = out[2]
    assert reported[0].duration_frames == 3 and started[0].start_frame == 2
    r, s, e = p.update(3, 0.3, [(anomaly(7, 0.9), None)])
    assert r and not s and not e
    r, s, e = p.update(4, 0.4, [])                   # grace frame: nothing reported, event still open
    assert (r, s, e) == ([], [], [])
    r, s, e = p.update(5, 0.5, [])
    assert len(e) == 1
    event = e[0]
    assert (event.start_frame, event.end_frame, event.track_id, event.peak_score) == (2, 3, 7, 0.9)
    assert (event.start_stamp, event.end_stamp) == (0.2, 0.3)


def test_rule_min_frames_overrides_the_default_and_interruptions_restart_the_count():
    p = Persistence(min_frames=1, grace_frames=0)
    assert p.update(0, None, [(anomaly(1), 2)])[0] == []
    assert p.update(1, None, [])[0] == []
    assert p.update(2, None, [(anomaly(1), 2)])[0] == []
    assert len(p.update(3, None, [(anomaly(1), 2)])[0]) == 1


def test_untracked_objects_all_reported_and_flush_closes_events():
    p = Persistence(min_frames=1, grace_frames=5)
    reported, started, _ = p.update(0, None, [(anomaly(0, 0.5), None), (anomaly(0, 0.7), None)])
    assert len(reported) == 2 and len(started) == 1 and started[0].peak_score == 0.7
    (event,) = p.flush()
    assert event.start_frame == 0 and p.flush() == []
