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
    assert t.update(boxes([53, 0, 63, 20], [101, 100, 111, 120]), [PERSON] * 2).tolist() == [2, 3]  # missed once


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
    assert t.update(boxes([0, 0, 10, 20]), [PERSON]).tolist() == [3]            # track 1 forgotten, ids go on
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
            assert sorted(t._tracks[:, 6].tolist()) == sorted(k['id'] for k in tracks)   # column 6: the id


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


# ------------------------------------------------------------------------------------------- ByteTracker
from vad_ros.reasoning import kernels  # noqa: E402
from vad_ros.reasoning.tracker import ByteTracker  # noqa: E402

KERNELS = ('motion_update', 'candidate_pairs', 'assign_pairs', 'hungarian', '_root', '_scale', '_kalman_update')


def person(cx, cy, height=100.0):
    """A standing person's box (width 0.4 x height) around a centre."""
    return [cx - 0.2 * height, cy - 0.5 * height, cx + 0.2 * height, cy + 0.5 * height]


def walk(start, velocity, t, height=100.0):
    return person(start[0] + velocity[0] * t, start[1] + velocity[1] * t, height)


def run(tracker, frames):
    """ids per frame; frames: (stamp, [(box, score, label)...])."""
    out = []
    for stamp, dets in frames:
        b = np.array([d[0] for d in dets], float).reshape(-1, 4)
        s = np.array([d[1] for d in dets], float)
        lab = np.array([d[2] for d in dets], np.int64)
        out.append(tracker.update(b, s, lab, stamp).tolist())
    return out


def crossing(fps, seconds=6.0, hide_behind=True):
    """Two people walking towards each other along one line at 0.6 heights a second (a slow walk); they meet
    at t = 3.33 s. With hide_behind, the one behind (B) is not detected while the front one covers more than half
    of it (as a detector sees it), else both boxes are detected throughout, passing through each other."""
    frames = []
    for i in range(int(round(seconds * fps)) + 1):
        t = i / fps
        a, b = walk((100, 300), (60, 0), t), walk((500, 300), (-60, 0), t)
        overlap = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) / 40.0
        dets = [(a, 0.9, PERSON)]
        if not (hide_behind and overlap > 0.5):
            dets.append((b, 0.8, PERSON))
        frames.append((t, dets))
    return frames


def ids_of(frames_ids, frames, index):
    """The id given to detection `index` (0: A, 1: B) in every frame where it was detected."""
    return [ids[index] for ids, (_, dets) in zip(frames_ids, frames) if len(dets) > index]


@pytest.mark.parametrize('hide_behind', [False, True])
@pytest.mark.parametrize('assignment', ['optimal', 'greedy'])
def test_two_people_crossing_keep_their_ids(hide_behind, assignment):
    frames = crossing(10.0, hide_behind=hide_behind)
    got = run(ByteTracker(assignment=assignment), frames)
    assert set(ids_of(got, frames, 0)) == {1} and set(ids_of(got, frames, 1)) == {2}
    if hide_behind:
        assert sum(len(d) == 1 for _, d in frames) >= 3            # B was hidden for a few frames
    # the scenario is a real test: without prediction the IoU tracker gives somebody a new id or swaps them
    old = IouTracker(0.3, 10)
    old_ids = [old.update(np.array([d[0] for d in dets]), np.zeros(len(dets), np.int64)).tolist()
               for _, dets in frames]
    assert set(ids_of(old_ids, frames, 0)) != {1} or set(ids_of(old_ids, frames, 1)) != {2}


def test_a_short_occlusion_keeps_the_id_and_a_long_one_does_not():
    def scene(gap_seconds, fps=10.0):
        frames = []
        for i in range(40):
            t = i / fps
            hidden = 1.0 <= t < 1.0 + gap_seconds - 1e-9
            frames.append((t, [] if hidden else [(walk((100, 300), (80, 10), t), 0.9, PERSON)]))
        return frames
    tracker = ByteTracker(lost_seconds=1.0)
    short = [ids for ids in run(tracker, scene(0.5)) if ids]
    assert {i for ids in short for i in ids} == {1}
    assert tracker.track(1).hits == 35 and tracker.track(1).tracked
    tracker = ByteTracker(lost_seconds=1.0)
    long = [ids for ids in run(tracker, scene(1.5)) if ids]
    assert long[0] == [1] and long[-1] == [2]                     # back after 1.5 s > lost_seconds: a new id
    assert tracker.track(1) is None


def test_the_lost_buffer_is_in_seconds_and_ends_exactly_there():
    for gap, same in ((0.9, True), (1.0, True), (1.1, False)):
        tracker = ByteTracker(lost_seconds=1.0)
        tracker.update(boxes(person(100, 300), person(100, 300)), [0.9, 0.9], [PERSON, CAR], 5.0)
        tracker.update(boxes(person(100, 300), person(100, 300)), [0.9, 0.9], [PERSON, CAR], 5.1)
        ids = tracker.update(boxes(person(100, 300)), [0.9], [CAR], 5.1 + gap)     # last seen at 5.1
        assert (ids.tolist() == [2]) == same, gap


def test_a_low_score_detection_continues_a_track_but_never_starts_one():
    tracker = ByteTracker(high_score=0.5, low_score=0.1)
    frames = [(i / 10, [(walk((100, 300), (50, 0), i / 10), 0.9 if i < 3 else 0.3, PERSON)]) for i in range(8)]
    assert run(tracker, frames) == [[1]] * 8                                      # 0.3: continues track 1
    assert tracker.track(1).hits == 8
    assert tracker.track(1).scores == (0.9,) * 3 + (0.3,) * 5
    lone = boxes(person(600, 100))
    assert tracker.update(lone, [0.3], [PERSON], 0.8).tolist() == [-1]           # alone: no track
    assert tracker.update(lone, [0.3], [PERSON], 0.9).tolist() == [-1]
    assert tracker.update(lone, [0.05], [PERSON], 1.0).tolist() == [-1]          # below low_score: ignored
    assert [t.id for t in tracker.tracks()] == [1]
    assert tracker.update(lone, [0.6], [PERSON], 1.1).tolist() == [2]            # high: starts one


def test_a_track_starts_only_at_new_track_score_but_continues_from_high_score():
    tracker = ByteTracker(high_score=0.4)                                       # new tracks from 0.5
    assert tracker.new_track_score == pytest.approx(0.5)
    assert tracker.update(boxes(person(100, 300)), [0.45], [PERSON], 0.0).tolist() == [-1]
    assert tracker.update(boxes(person(100, 300)), [0.55], [PERSON], 0.1).tolist() == [1]
    assert tracker.update(boxes(person(102, 300)), [0.45], [PERSON], 0.2).tolist() == [1]
    assert ByteTracker(high_score=0.4, new_score=0.3).new_track_score == 0.4   # never below high_score
    assert ByteTracker(high_score=0.4, new_score=0.7).new_track_score == 0.7


def test_a_low_score_detection_must_overlap_more_and_only_continues_a_track_followed_last_frame():
    tracker = ByteTracker(high_score=0.5, iou_first=0.2, iou_second=0.5, gate_sigmas=0.0)
    tracker.update(boxes([0, 0, 40, 100]), [0.9], [PERSON], 0.0)
    tracker.update(boxes([0, 0, 40, 100]), [0.9], [PERSON], 0.1)
    shifted = boxes([20, 0, 60, 100])                                            # IoU 1/3 with the track
    assert tracker.update(shifted, [0.3], [PERSON], 0.2).tolist() == [-1]        # too little for a low score
    assert tracker.update(boxes([1, 0, 41, 100]), [0.3], [PERSON], 0.3).tolist() == [-1]  # lost: not by low
    assert tracker.update(shifted, [0.9], [PERSON], 0.4).tolist() == [1]         # enough for a high score
    assert tracker.update(boxes([21, 0, 61, 100]), [0.3], [PERSON], 0.5).tolist() == [1]  # followed: low ok


def test_the_gate_widens_with_the_time_a_track_was_not_seen():
    """A track lost for a while is looked for in a wider box: the same offset that a fresh track's gate
    refuses is accepted after 0.8 s without a detection (and not with gate_sigmas 0)."""
    results = []
    for gate, gap in ((1.0, 0.1), (1.0, 0.8), (0.0, 0.8)):
        tracker = ByteTracker(gate_sigmas=gate, iou_first=0.3)
        for i in range(10):                                                     # standing still
            tracker.update(boxes([0, 0, 40, 100]), [0.9], [PERSON], i / 10)
        results.append(tracker.update(boxes([34, 0, 74, 100]), [0.9], [PERSON], 0.9 + gap).tolist())
    assert results == [[2], [1], [2]]             # plain IoU 0.09: a new track, unless widened


def test_labels_are_never_mixed_and_a_one_frame_track_is_dropped_at_its_first_miss():
    tracker = ByteTracker()
    assert tracker.update(boxes(person(100, 300)), [0.9], [PERSON], 0.0).tolist() == [1]
    assert tracker.update(boxes(person(100, 300)), [0.9], [CAR], 0.1).tolist() == [2]   # 1 missed: dropped
    assert [t.id for t in tracker.tracks()] == [2]
    assert tracker.update(boxes(person(100, 300)), [0.9], [PERSON], 0.2).tolist() == [3]


def test_the_score_history_and_hits_per_id():
    tracker = ByteTracker(history=3, high_score=0.5)
    for i, s in enumerate([0.9, 0.8, 0.3, 0.7]):
        ids = tracker.update(boxes(person(100 + i, 300)), [s], [PERSON], i / 10)
    assert ids.tolist() == [1]
    assert tracker.hits(np.array([1, -1, 5])).tolist() == [4, 0, 0]
    assert tracker.track(1).scores == (0.8, 0.3, 0.7)                          # the last `history`, oldest first
    tracker.update(boxes(person(100, 300), person(400, 300)), [0.9, 0.9], [PERSON, PERSON], 0.4)
    assert tracker.track(1).scores == (0.3, 0.7, 0.9)
    info = tracker.track(2)
    assert (info.hits, info.scores, info.first_seen, info.last_seen, info.tracked) == (1, (0.9,), 0.4, 0.4, True)
    assert np.allclose(info.box, person(400, 300))
    assert tracker.track(7) is None
    assert np.median(tracker.track(1).scores) == 0.7


def test_frames_without_stamps_are_one_over_fps_apart_and_time_going_back_clears():
    tracker = ByteTracker(fps=5.0, lost_seconds=1.0)
    tracker.update(boxes(person(100, 300)), [0.9], [PERSON])
    tracker.update(boxes(person(100, 300)), [0.9], [PERSON])
    assert tracker.time == pytest.approx(0.2)
    for _ in range(4):                                                           # back 1.0 s after
        tracker.update(boxes(), [], [])
    assert tracker.update(boxes(person(100, 300)), [0.9], [PERSON]).tolist() == [1]
    for _ in range(5):                                                           # back 1.2 s after
        tracker.update(boxes(), [], [])
    assert tracker.update(boxes(person(100, 300)), [0.9], [PERSON]).tolist() == [2]
    assert tracker.update(boxes(person(100, 300)), [0.9], [PERSON], 100.0).tolist() == [3]  # 2 expired
    assert tracker.update(boxes(person(100, 300)), [0.9], [PERSON], 100.1).tolist() == [3]
    assert tracker.update(boxes(person(100, 300)), [0.9], [PERSON], 50.0).tolist() == [4]   # clock went back
    assert tracker.time == 50.0 and [t.id for t in tracker.tracks()] == [4]      # 3 cleared
    tracker.reset()
    assert tracker.update(boxes(person(100, 300)), [0.9], [PERSON]).tolist() == [1]


def test_bad_input_is_refused():
    tracker = ByteTracker()
    with pytest.raises(ValueError, match='same detections'):
        tracker.update(boxes(person(1, 1)), [0.9, 0.8], [PERSON])
    with pytest.raises(ValueError, match='finite'):
        tracker.update(boxes(), [], [], float('nan'))
    with pytest.raises(ValueError, match='assignment'):
        ByteTracker(assignment='fast')


def test_optimal_assignment_finds_the_best_total_where_greedy_does_not():
    """Track 1 overlaps detection 0 at IoU 0.9 and detection 1 at 0.6, track 2 only detection 0 (0.8):
    greedy gives detection 0 to track 1 and leaves track 2 (and detection 1 starts a new track)."""
    pair_d, pair_k = np.array([0, 1, 0]), np.array([0, 0, 1])
    iou = np.array([0.9, 0.6, 0.8])
    assert kernels.assign_pairs(pair_d, pair_k, iou, 2, 2, False).tolist() == [0, -1]
    assert kernels.assign_pairs(pair_d, pair_k, iou, 2, 2, True).tolist() == [1, 0]


def test_hungarian_finds_the_minimum_of_brute_force():
    import itertools
    rng = np.random.default_rng(0)
    for _ in range(300):
        r = int(rng.integers(1, 5))
        c = int(rng.integers(r, 7))
        cost = rng.random((r, c))
        if rng.random() < 0.3:
            cost = np.round(cost * 3) / 3                                        # ties
        cols = kernels.hungarian(cost)
        assert len(set(cols.tolist())) == r and cols.min() >= 0
        best = min(sum(cost[i, p[i]] for i in range(r)) for p in itertools.permutations(range(c), r))
        assert sum(cost[i, cols[i]] for i in range(r)) == pytest.approx(best, abs=1e-12)


def scene_frames(seed, n=12, frames=60, fps=10.0, truth=False):
    """Random people walking (some crossing; speeds ~0.5 heights a second per axis), 15% of detections
    missed, box corners jittered by 3% of the height, two classes; scores as a detector gives them: each
    person's own level (uniform 0.3..0.95) plus noise (std 0.15) per frame, clipped to 0.05..1 (about one
    seventh of the detections between 0.1 and 0.4). truth: each detection also carries its person's index."""
    rng = np.random.default_rng(seed)
    start = rng.uniform(0, 600, (n, 2))
    height = rng.uniform(40, 160, n)
    velocity = rng.normal(0, 0.5, (n, 2)) * height[:, None]
    label = rng.integers(0, 2, n)
    level = rng.uniform(0.3, 0.95, n)
    out = []
    for i in range(frames):
        t = i / fps
        seen = rng.random(n) > 0.15
        dets = [(walk(start[j], velocity[j], t, height[j]) + rng.normal(0, 0.03 * height[j], 4),
                 float(np.clip(level[j] + rng.normal(0, 0.15), 0.05, 1.0)), int(label[j])) + ((j,) if truth else ())
                for j in range(n) if seen[j]]
        out.append((t, dets))
    return out


def id_switches(tracker, frames):
    """Times a person's id differs from the id it had when last tracked (frames from scene_frames(truth=True))."""
    last, switches = {}, 0
    for ids, (_, dets) in zip(run(tracker, [(t, [d[:3] for d in dets]) for t, dets in frames]), frames):
        for track_id, det in zip(ids, dets):
            if track_id > 0:
                switches += det[3] in last and last[det[3]] != track_id
                last[det[3]] = track_id
    return switches


def test_frame_rate_independence_on_noisy_scenes():
    """Noisy random scenes (120 people in 10 scenes, 6 s each): about as few id switches at 5 fps as at 10 fps.
    Lower still (3.3 fps, steps of a third of a person's height), the gate's margin of predicted uncertainty is
    what keeps people tracked: without it (gate_sigmas 0, plain IoU on predicted boxes) over twice as many."""
    scenes = [scene_frames(seed, truth=True) for seed in range(10)]
    fast = sum(id_switches(ByteTracker(), frames) for frames in scenes)
    slow = sum(id_switches(ByteTracker(), frames[::2]) for frames in scenes)
    assert fast < 40 and slow <= 1.4 * fast
    slower = sum(id_switches(ByteTracker(), frames[::3]) for frames in scenes)
    plain_slower = sum(id_switches(ByteTracker(gate_sigmas=0.0), frames[::3]) for frames in scenes)
    assert plain_slower > 2 * slower


def test_frame_rate_and_pixel_size_do_not_change_the_ids():
    """The same motion at 10 fps and at 5 fps (every second frame, the same stamps), and at half the pixel
    size: the same people get the same ids (crossings, a hidden person, noise-free walks)."""
    for hide in (False, True):
        fast = crossing(10.0, hide_behind=hide)
        slow = fast[::2]
        ids_fast = run(ByteTracker(), fast)
        ids_slow = run(ByteTracker(), slow)
        assert ids_fast[::2] == ids_slow
        half = [(t, [([v / 2 for v in b], s, lab) for b, s, lab in dets]) for t, dets in fast]
        assert run(ByteTracker(), half) == ids_fast
    # and without stamps: the fps parameter stands in for them
    slow_unstamped = [(None, dets) for _, dets in crossing(5.0)]
    assert run(ByteTracker(fps=5.0), slow_unstamped) == run(ByteTracker(), crossing(5.0))


@pytest.mark.parametrize('assignment', ['optimal', 'greedy'])
def test_the_motion_kernels_give_the_same_results_as_plain_python(monkeypatch, assignment):
    """The same ids; the filter states agree to rounding (the compiler may fuse a multiply and an add)."""
    assert kernels.COMPILED                                 # numba is installed here: both paths are run
    runs = []
    for plain in (False, True):
        if plain:
            for name in KERNELS:
                monkeypatch.setattr(kernels, name, getattr(kernels, name).py_func)
        per_seed = []
        for seed in range(4):
            tracker = ByteTracker(assignment=assignment, history=5)
            per_seed.append((run(tracker, scene_frames(seed, n=10, frames=40)), tracker._tracks.copy()))
        runs.append(per_seed)
    for (ids, table), (plain_ids, plain_table) in zip(*runs):
        assert ids == plain_ids
        assert table.shape == plain_table.shape and np.allclose(table, plain_table, rtol=1e-12, atol=1e-9)
    ids_seen = [i for ids, _ in runs[0] for frame in ids for i in frame if i > 0]
    assert len(set(ids_seen)) >= 10 and max(ids_seen.count(i) for i in set(ids_seen)) >= 30   # long tracks
    assert -1 in {i for ids, _ in runs[0] for frame in ids for i in frame}                   # and refusals


# ------------------------------------------------------------------------------------------- colours
def painted(size, people):
    """A grey (H, W, 3) uint8 frame with each (box, (b, g, r)) painted as a solid rectangle, in order (later
    ones in front)."""
    image = np.full((size[1], size[0], 3), 128, np.uint8)
    for box, colour in people:
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        image[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = colour
    return image


def test_box_colours_are_fractions_of_the_box_and_survive_scaling():
    """Two bands of colour (a red top, a blue bottom): the colour layout says so, and the same scene at half
    the pixel size gives nearly the same values. A box outside the image or without area has none (NaN)."""
    box = [100.0, 50.0, 140.0, 150.0]
    image = painted((400, 300), [(box, (0, 0, 200))])
    image[100:150, 100:140] = (200, 0, 0)                      # lower half blue (BGR)
    feats = kernels.box_appearance(image, np.array([box, [500.0, 0.0, 540.0, 100.0], [10.0, 10.0, 10.0, 40.0]]))
    bands = feats[0].reshape(kernels.APPEARANCE_BANDS, 3)
    half = kernels.APPEARANCE_BANDS // 2
    assert (bands[:half, 1] > 0.5).all() and (bands[half:, 2] < -0.5).all()     # red, then blue
    assert np.isnan(feats[1]).all() and np.isnan(feats[2]).all()
    import cv2
    small = cv2.resize(image, (200, 150), interpolation=cv2.INTER_AREA)
    small_feats = kernels.box_appearance(small, np.array([[v / 2 for v in box]]))
    assert np.abs(small_feats[0] - feats[0]).max() < 0.05


def bounce(fps, colours=((0, 0, 200), (200, 0, 0))):
    """Two people walk towards each other (a height a second), meet (boxes 40 px wide, centres 10 px apart) and
    both turn back: motion predicts each one where the other goes. Frames (stamp, detections, image); A red,
    B blue, B painted in front (hiding A's middle while they meet)."""
    frames = []
    for i in range(int(round(2.0 * fps)) + 1):
        t = i / fps
        gap = 10.0 + 200.0 * abs(t - 1.0)                   # between the box centres
        a, b = person(300 - gap / 2, 200), person(300 + gap / 2, 200)
        image = painted((600, 400), [(a, colours[0]), (b, colours[1])])
        frames.append((t, [(a, 0.9, PERSON), (b, 0.9, PERSON)], image))
    return frames


def run_images(tracker, frames):
    out = []
    for stamp, dets, image in frames:
        b = np.array([d[0] for d in dets], float).reshape(-1, 4)
        s = np.array([d[1] for d in dets], float)
        lab = np.array([d[2] for d in dets], np.int64)
        out.append(tracker.update(b, s, lab, stamp, image).tolist())
    return out


@pytest.mark.parametrize('fps', [10.0, 5.0])
def test_colours_keep_the_ids_where_motion_alone_swaps_them(fps):
    frames = bounce(fps)
    with_colours = run_images(ByteTracker(), frames)
    assert all(ids == [1, 2] for ids in with_colours)
    motion_only = run_images(ByteTracker(appearance_scale=0.0), frames)
    assert any(ids != [1, 2] for ids in motion_only)          # the scenario needs the colours
    assert run(ByteTracker(), [(t, d) for t, d, _ in frames]) == motion_only     # no image: motion only
    # two people dressed alike: the colours cannot tell them apart, and nothing is refused for it
    alike = run_images(ByteTracker(), bounce(fps, ((0, 0, 200), (0, 0, 200))))
    assert all(min(ids) >= 1 for ids in alike)


def test_colours_are_taken_from_clear_views_only_and_the_kernels_match_plain_python(monkeypatch):
    """A track's colours come from its latest detection that no other first-pass detection overlaps: during
    the meeting (boxes overlapping) they stay those of the last clear view. Compiled and plain Python give
    the same ids and tables."""
    frames = bounce(10.0)
    tracker = ByteTracker()
    seen = []
    for stamp, dets, image in frames:
        tracker.update(np.array([d[0] for d in dets]), np.array([d[1] for d in dets]),
                       np.array([d[2] for d in dets], np.int64), stamp, image)
        seen.append(tracker._tracks[:, kernels.M_APPEARANCE:kernels.M_APPEARANCE + 3].copy())
    red = seen[0][0]
    assert red[1] > 0.5                                           # track 1 is red (R - G channel)
    meeting = len(frames) // 2
    assert np.allclose(seen[meeting][0], seen[meeting - 1][0])     # overlapping: not updated
    runs = []
    for plain in (False, True):
        if plain:
            for name in KERNELS + ('box_appearance', 'appearance_distance', '_unoccluded'):
                monkeypatch.setattr(kernels, name, getattr(kernels, name).py_func)
        tracker = ByteTracker(history=5)
        runs.append((run_images(tracker, frames + [(t + 2.1, d, im) for t, d, im in bounce(5.0)]),
                     tracker._tracks.copy()))
    assert runs[0][0] == runs[1][0]
    assert np.allclose(runs[0][1], runs[1][1], rtol=1e-12, atol=1e-9)


def test_a_bad_image_is_refused_with_its_shape():
    with pytest.raises(ValueError, match='image must be an'):
        ByteTracker().update(np.array([person(100, 100)]), np.array([0.9]), np.array([0]), 0.0,
                             np.zeros((10, 10), np.uint8))


def test_an_appearance_gate_refuses_a_pair_whose_colours_differ_too_much():
    """Off by default (0): a person in red replaced in the same place by one in blue continues the track; with
    appearance_gate set, the blue one is somebody else (a new id)."""
    box = person(300, 200)
    frames = [(t / 10, [(box, 0.9, PERSON)], painted((600, 400), [(box, (0, 0, 200) if t < 3 else (200, 0, 0))]))
              for t in range(5)]
    assert run_images(ByteTracker(), frames) == [[1]] * 5
    assert run_images(ByteTracker(appearance_gate=0.2), frames) == [[1]] * 3 + [[2]] * 2
