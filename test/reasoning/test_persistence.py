"""Persistence per (track, rule): min_frames, grace frames, event start and end, flushing."""
import pytest
from vad_ros.reasoning.persistence import Persistence
from vad_ros.types import END_STAMP_JUMP, Anomaly


def anomaly(track: int = 7, score: float = 0.8, rule: str = 'r', background: str = 'grass') -> Anomaly:
    return Anomaly('person', score, background, 1.0, (0, 0, 1, 1), rule, 'warning', f'person {track} {score}',
                   track, 1, score)


def update(p: Persistence, frame_index: int, stamp, candidates):
    """One frame: (anomalies to report, events started, events ended)."""
    step = p.step(frame_index, stamp, candidates)
    return step.reported, step.started, step.ended


def run(p: Persistence, frames):
    """frames: list of candidate lists; returns [(reported, started, ended)] with stamps = index / 10."""
    return [update(p, i, i / 10, [(a, m) for a, m in frame]) for i, frame in enumerate(frames)]


def test_min_frames_1_is_immediate():
    p = Persistence(min_frames=1, grace_frames=0)
    reported, started, ended = update(p, 0, None, [(anomaly(), None)])
    assert len(reported) == 1 and reported[0].duration_frames == 1
    assert (started[0].start_frame, started[0].end_frame, ended) == (0, 0, [])


def test_min_frames_then_event_with_grace_and_end():
    p = Persistence(min_frames=3, grace_frames=1)
    out = run(p, [[(anomaly(), None)]] * 3 + [[(anomaly(score=0.9), None)], [], []])
    assert [len(r) for r, _, _ in out] == [0, 0, 1, 1, 0, 0]
    assert out[2][0][0].duration_frames == 3 and out[3][0][0].duration_frames == 4
    assert [len(s) for _, s, _ in out] == [0, 0, 1, 0, 0, 0]
    assert [len(e) for _, _, e in out] == [0, 0, 0, 0, 0, 1]      # frame 4 is a grace frame
    event = out[5][2][0]
    assert (event.start_frame, event.end_frame, event.track_id, event.rule_id) == (2, 3, 7, 'r')
    assert (event.start_stamp, event.end_stamp, event.peak_score) == (0.2, 0.3, 0.9)
    assert event.sentence == 'person 7 0.9'
    assert p.open_events == []


def test_event_stays_open_in_grace_frames_and_resumes_without_a_new_wait():
    p = Persistence(min_frames=2, grace_frames=2)
    a = [(anomaly(), None)]
    out = run(p, [a, a, [], [], a, [], [], []])
    assert [len(r) for r, _, _ in out] == [0, 1, 0, 0, 1, 0, 0, 0]    # frame 4: reported at once
    assert [len(s) for _, s, _ in out] == [0, 1, 0, 0, 0, 0, 0, 0]
    assert out[4][0][0].duration_frames == 3
    assert len(p.open_events) == 0 and len(out[7][2]) == 1
    assert (out[7][2][0].start_frame, out[7][2][0].end_frame) == (1, 4)


def test_grace_zero_ends_at_the_first_frame_without_the_rule():
    p = Persistence(min_frames=1, grace_frames=0)
    out = run(p, [[(anomaly(), None)], []])
    assert len(out[1][2]) == 1 and out[1][2][0].end_frame == 0


def test_rule_min_frames_overrides_the_default_and_interruptions_restart_the_count():
    p = Persistence(min_frames=1, grace_frames=0)
    a = [(anomaly(), 2)]
    out = run(p, [a, [], a, a])
    assert [len(r) for r, _, _ in out] == [0, 0, 0, 1]
    p = Persistence(min_frames=4)
    assert len(update(p, 0, None, [(anomaly(), 1)])[0]) == 1


def test_tracks_and_rules_are_independent():
    p = Persistence(min_frames=2, grace_frames=0)
    out = run(p, [[(anomaly(1), None), (anomaly(2, rule='x'), None)],
                  [(anomaly(1), None), (anomaly(1, rule='x'), None)],
                  [(anomaly(1, rule='x'), None)]])
    assert [[(a.track_id, a.rule_id) for a in r] for r, _, _ in out] == [[], [(1, 'r')], [(1, 'x')]]
    assert [(e.track_id, e.rule_id) for e in out[2][2]] == [(1, 'r')]


def test_several_anomalies_of_one_key_are_all_reported_and_the_best_describes_the_event():
    p = Persistence(min_frames=1, grace_frames=5)
    reported, started, _ = update(p, 0, None, [(anomaly(0, 0.5, background='road'), None),
                                              (anomaly(0, 0.7, background='water'), None)])
    assert len(reported) == 2 and len(started) == 1
    assert (started[0].peak_score, started[0].background_class) == (0.7, 'water')


def test_flush_closes_open_events_only():
    p = Persistence(min_frames=2, grace_frames=5)
    run(p, [[(anomaly(1), None), (anomaly(2), None)], [(anomaly(1), None)]])
    (event,) = p.flush()                             # track 2 never reached min_frames: no event
    assert (event.track_id, event.start_frame, event.end_frame) == (1, 1, 1)
    assert p.flush() == [] and p.open_events == []


# ---------------------------------------------------------------- time, events with ids and states
from hypothesis import given, settings, strategies as st  # noqa: E402

from vad_ros.reasoning.persistence import Candidate  # noqa: E402


def dwell(track=7, min_duration=0.0, cooldown=0.0, min_frames=None):
    return Candidate(anomaly(track), min_frames, min_duration, cooldown,
                     lambda held: f'on grass for {held:.1f} s')


def steps(p, frames, stamps):
    return [p.step(i, t, c) for i, (c, t) in enumerate(zip(frames, stamps))]


def test_min_duration_waits_for_seconds_of_stamps_and_says_how_long():
    p = Persistence(min_frames=1, grace_frames=0)
    out = steps(p, [[dwell(min_duration=1.0)]] * 13, [i * 0.1 for i in range(13)])
    assert [len(s.reported) for s in out] == [0] * 10 + [1] * 3       # 1.0 s after the first frame
    a = out[10].reported[0]
    assert (a.duration, a.duration_frames, a.sentence, a.event_id) == (1.0, 11, 'on grass for 1.0 s', 1)
    assert out[10].events[0].state == 'started' and out[10].events[0].onset_stamp == 0.0
    assert [e.state for e in out[11].events] == ['ongoing']


def test_min_duration_never_reached_without_stamps():
    p = Persistence()
    assert [len(s.reported) for s in steps(p, [[dwell(min_duration=0.5)]] * 20, [None] * 20)] == [0] * 20


def test_a_dwell_timer_survives_grace_frames_but_not_longer():
    p = Persistence(grace_frames=2)
    c = [dwell(min_duration=0.5)]
    out = steps(p, [c, c, [], [], c, c, c, c], [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    assert [len(s.reported) for s in out] == [0, 0, 0, 0, 0, 1, 1, 1]     # 0.5 s from frame 0
    p = Persistence(grace_frames=1)
    out = steps(p, [c, c, [], [], c, c, c, c, c, c, c], [i / 10 for i in range(11)])
    assert [len(s.reported) for s in out].index(1) == 9                  # restarted at frame 4: 0.4 + 0.5


def test_event_ids_are_unique_increasing_and_shared_by_the_snapshots_of_one_event():
    p = Persistence(grace_frames=0)
    a, b = (anomaly(1), None), (anomaly(2), None)
    out = [p.step(i, i / 10, c) for i, c in enumerate([[a, b], [a], [], [a]])]
    assert [(e.event_id, e.state) for e in out[0].events] == [(1, 'started'), (2, 'started')]
    assert [(e.event_id, e.state) for e in out[1].events] == [(1, 'ongoing'), (2, 'ended')]
    assert [(e.event_id, e.state) for e in out[2].events] == [(1, 'ended')]
    assert [(e.event_id, e.state) for e in out[3].events] == [(3, 'started')]
    assert [x.event_id for x in out[1].reported] == [1]
    assert out[2].events[0].duration == pytest.approx(0.1) and out[2].events[0].box == (0, 0, 1, 1)


def test_cooldown_holds_back_a_new_event_of_the_same_track_and_rule():
    p = Persistence(grace_frames=0)
    c = [dwell(cooldown=1.0)]
    other = [dwell(track=8, cooldown=1.0)]
    frames = [c, [], c + other, c, [], c]
    out = steps(p, frames, [0.0, 0.1, 0.5, 0.9, 1.0, 1.05])
    assert [[a.track_id for a in s.reported] for s in out] == [[7], [], [8], [], [], [7]]
    assert [e.event_id for e in out[5].started] == [3]


def test_flush_ends_open_events_as_ended_snapshots_and_clears_cooldowns():
    p = Persistence(grace_frames=5)
    p.step(0, 0.0, [dwell(cooldown=100.0)])
    (e,) = p.flush()
    assert e.state == 'ended' and e.event_id == 1 and e.end_reason == ''     # end of stream: no reason of its own
    assert len(p.step(1, 0.1, [dwell(cooldown=100.0)]).reported) == 1


def test_flush_ends_the_open_events_in_event_id_order():
    p = Persistence()
    p.step(0, 0.0, [dwell(track=7, min_duration=0.5), (anomaly(8), None)])   # 7's dwell begins first...
    p.step(1, 0.6, [dwell(track=7, min_duration=0.5), (anomaly(8), None)])   # ...its event starts second
    assert [(e.track_id, e.event_id) for e in p.flush()] == [(8, 1), (7, 2)]


def test_flush_gives_its_reason_to_every_event_it_ends():
    p = Persistence(grace_seconds=1.0)
    p.step(0, 0.0, [(anomaly(7), None), (anomaly(8), None)])
    ended = p.flush(END_STAMP_JUMP)
    assert sorted(e.event_id for e in ended) == [1, 2]
    assert all(e.state == 'ended' and e.end_reason == 'stamp jump' for e in ended)
    p.step(1, 0.1, [(anomaly(7), None)])
    (grace,) = p.step(2, 1.2, []).ended                    # an event whose grace runs out: no reason given
    assert grace.event_id == 3 and grace.end_reason == ''


@settings(max_examples=80, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=40), st.integers(0, 3), st.integers(1, 4))
def test_property_every_started_event_ends_exactly_once_with_its_id(pattern, grace, min_frames):
    p = Persistence(min_frames=min_frames, grace_frames=grace)
    started, ended = [], []
    for i, on in enumerate(pattern):
        s = p.step(i, i / 10, [(anomaly(), None)] if on else [])
        started += [e.event_id for e in s.started]
        ended += [e.event_id for e in s.ended]
        for a in s.reported:
            assert a.event_id in started and a.event_id not in ended
    ended += [e.event_id for e in p.flush()]
    assert sorted(started) == sorted(ended) == sorted(set(started))
    assert started == sorted(started)


# ---------------------------------------------------------------- grace in seconds of image time
@pytest.mark.parametrize('fps', [10, 5])
def test_grace_is_seconds_of_image_time_at_any_frame_rate(fps):
    """An event outlives its anomaly by grace_seconds whatever the frame rate; back within them, it goes on."""
    p = Persistence(grace_seconds=0.6)
    gap = round(0.6 * fps) - 1                      # frames without the anomaly: it is back 0.6 s later
    pattern = [1] * 3 + [0] * gap + [1] + [0] * fps
    out = [p.step(i, i / fps, [(anomaly(), None)] if on else []) for i, on in enumerate(pattern)]
    back = 3 + gap
    assert [e.state for e in out[back].events] == ['ongoing']          # within the grace: the same event
    ended = [(i, e) for i, s in enumerate(out) for e in s.ended]
    assert len(ended) == 1 and ended[0][1].event_id == 1
    end_index, event = ended[0]
    assert (end_index - 1 - back) / fps <= 0.6 < (end_index - back) / fps   # the first frame over 0.6 s later
    assert (event.end_frame, event.end_stamp) == (back, pytest.approx(back / fps))


def test_grace_without_stamps_ends_at_the_first_frame_without_the_anomaly():
    p = Persistence(grace_seconds=5.0)
    out = [p.step(i, None, [(anomaly(), None)] if on else []) for i, on in enumerate([1, 1, 0])]
    assert [len(s.ended) for s in out] == [0, 0, 1]


def test_deprecated_grace_frames_counts_frames_whatever_the_stamps():
    p = Persistence(grace_frames=2, grace_seconds=100.0)
    out = [p.step(i, i * 10.0, [(anomaly(), None)] if on else []) for i, on in enumerate([1, 0, 0, 0])]
    assert [len(s.ended) for s in out] == [0, 0, 0, 1]


def test_a_dwell_timer_survives_grace_seconds_but_not_longer():
    c = [dwell(min_duration=1.0)]
    p = Persistence(grace_seconds=0.3)
    stamps = [0.0, 0.5, 0.8, 1.0]                    # missing at 0.5 (0.5 s after 0.0 > 0.3): timer restarts
    out = steps(p, [c, [], c, c], stamps)
    assert [len(s.reported) for s in out] == [0, 0, 0, 0]
    p = Persistence(grace_seconds=0.6)               # the same frames with 0.6 s of grace: 1.0 s from 0.0
    out = steps(p, [c, [], c, c], stamps)
    assert [len(s.reported) for s in out] == [0, 0, 0, 1] and out[3].reported[0].duration == 1.0


# ---------------------------------------------------------------- object ids and confirmation
import numpy as np  # noqa: E402

from vad_ros.reasoning.persistence import ObjectIdentities  # noqa: E402


def boxes_at(*centres, h=100.0):
    return np.array([[x - h / 4, y - h / 2, x + h / 4, y + h / 2] for x, y in centres], float).reshape(-1, 4)


def see(ids, frame, stamp, tracks, scores, centres, labels=None, h=100.0):
    """One frame: (object ids, confirmed) as lists."""
    n = len(tracks)
    out = ids.update(np.array(tracks, np.int64), np.zeros(n, np.int64) if labels is None else np.array(labels),
                     boxes_at(*centres, h=h), np.array(scores, float), stamp, frame)
    return out[0].tolist(), out[1].tolist()


def test_a_static_low_score_object_is_never_confirmed():
    ids = ObjectIdentities(min_seconds=0.3, score=0.5, window=5)
    flags = [see(ids, i, i / 10, [4], [0.30 + 0.04 * (i % 2)], [(170, 250)])[1][0] for i in range(300)]
    assert not any(flags)


@pytest.mark.parametrize('fps, first', [(10, 3), (5, 2), (30, 9)])
def test_a_well_scored_object_is_confirmed_after_min_seconds_and_most_of_the_window(fps, first):
    ids = ObjectIdentities(min_seconds=0.3, score=0.5, window=5)
    flags = [see(ids, i, i / fps, [1], [0.6], [(100, 100)])[1][0] for i in range(12)]
    assert flags.index(True) == first and all(flags[first:])
    # 10 fps: 4 scores at 0.3 s (median of 0, 0.6 x 4); 5 fps: 3 scores at 0.4 s; 30 fps: 0.3 s decides


def test_confirmation_without_stamps_needs_the_window_only():
    ids = ObjectIdentities(min_seconds=5.0, score=0.5, window=5)
    assert [see(ids, i, None, [1], [0.6], [(0, 0)])[1][0] for i in range(4)] == [False, False, True, True]


def test_the_median_ignores_single_dips_and_spikes_and_follows_sinking_scores():
    ids = ObjectIdentities(min_seconds=0.0, score=0.5, window=5)
    person = [0.7, 0.7, 0.7, 0.2, 0.7, 0.7, 0.3, 0.7]                  # a dip now and then: stays confirmed
    assert [see(ids, i, i / 10, [1], [s], [(0, 0)])[1][0] for i, s in enumerate(person)] == \
        [False, False, True, True, True, True, True, True]
    rock = [0.32] * 4                                                   # the track carried on onto a rock
    assert [see(ids, 8 + i, 0.8 + i / 10, [1], [s], [(0, 0)])[1][0] for i, s in enumerate(rock)] == \
        [True, False, False, False]                                     # 0.7 0.3 0.7 0.32 0.32: 0.32
    spikes = [0.32, 0.9, 0.32, 0.32, 0.9, 0.32]
    assert not any(see(ids, i, i / 10, [2], [s], [(300, 0)])[1][0] for i, s in enumerate(spikes))


def test_a_new_track_close_to_a_lost_one_is_the_same_object():
    ids = ObjectIdentities(reacquire_seconds=1.0, reacquire_distance=1.0, min_seconds=0.0, window=3)
    for i in range(3):
        confirmed = [i > 0] * 2                     # window 3: two of three scores
        assert see(ids, i, i / 10, [7, 8], [0.9, 0.9], [(100, 100), (400, 100)]) == ([1, 2], confirmed)
    # track 7 is lost; 0.7 s later track 9 starts 60 px away (0.6 box heights): object 1 goes on, confirmed
    assert see(ids, 10, 0.9, [8, 9], [0.9, 0.9], [(400, 100), (160, 100)]) == ([2, 1], [True, True])
    # a track far from every lost object: a new object
    assert see(ids, 11, 1.0, [8, 9, 10], [0.9] * 3, [(400, 100), (160, 100), (700, 100)])[0] == [2, 1, 3]


@pytest.mark.parametrize('change', ['far', 'class', 'size', 'late', 'present'])
def test_what_is_not_a_reacquisition(change):
    ids = ObjectIdentities(reacquire_seconds=1.0, reacquire_distance=1.0)
    see(ids, 0, 0.0, [1], [0.9], [(100, 100)])
    centre, label, h, stamp, tracks = (150, 100), [0], 100.0, 0.5, [2]
    if change == 'far':
        centre = (100, 220)                         # 1.2 box heights
    elif change == 'class':
        label = [1]
    elif change == 'size':
        h = 45.0                                    # less than half the lost box's height
    elif change == 'late':
        stamp = 1.2
    got = see(ids, 1, stamp, tracks + ([1] if change == 'present' else []), [0.9] * (2 if change == 'present' else 1),
              [centre] + ([(100, 100)] if change == 'present' else []), label * (2 if change == 'present' else 1), h)
    assert got[0][0] == 2


def test_nearest_lost_object_first_and_a_retired_track_that_comes_back_is_a_new_object():
    ids = ObjectIdentities(reacquire_seconds=1.0)
    see(ids, 0, 0.0, [1, 2], [0.9, 0.9], [(100, 100), (180, 100)])
    assert see(ids, 1, 0.1, [3], [0.9], [(170, 100)])[0] == [2]       # nearer to track 2's object
    see(ids, 2, 2.0, [3], [0.9], [(500, 100)])                          # object 1 lost too long ago
    assert see(ids, 3, 2.1, [3, 2], [0.9, 0.9], [(500, 100), (180, 100)])[0] == [2, 3]    # track 2 retired


@pytest.mark.parametrize('seconds', [2.0, 0.0])
def test_a_box_around_two_people_hands_its_id_to_the_nearer_of_their_own_boxes(seconds):
    """A track on a box around two people (object 1, confirmed) is lost one frame after the people's own boxes
    started tracks: the nearer of the two young, never confirmed objects takes object 1's id and first sighting
    (confirmed at once, so its events go on); the other stays a new object. Off with reacquire_seconds 0."""
    ids = ObjectIdentities(reacquire_seconds=seconds, min_seconds=0.3, window=3)
    for i in range(5):
        see(ids, i, i / 10, [1], [0.9], [(100, 100)])
    assert see(ids, 5, 0.5, [1, 2, 3], [0.6, 0.9, 0.9], [(100, 100), (80, 100), (130, 100)]) == \
        ([1, 2, 3], [True, False, False])
    got = see(ids, 6, 0.6, [2, 3], [0.9, 0.9], [(80, 100), (130, 100)])
    assert got == (([1, 3], [True, False]) if seconds else ([2, 3], [False, False]))
    # a confirmed object is never renamed: object 3, confirmed by now, stays 3 when object 1 is lost next
    for i in range(7, 10):
        see(ids, i, i / 10, [2, 3], [0.9, 0.9], [(80, 100), (130, 100)])
    assert see(ids, 10, 1.0, [3], [0.9], [(130, 100)])[0] == [3]


def test_no_reacquisition_without_stamps_or_when_off():
    for stamps, seconds in ((None, 1.0), (0.1, 0.0)):
        ids = ObjectIdentities(reacquire_seconds=seconds)
        see(ids, 0, None if stamps is None else 0.0, [1], [0.9], [(100, 100)])
        assert see(ids, 1, stamps, [2], [0.9], [(110, 100)])[0] == [2]


def test_ids_are_never_reused_and_time_that_jumps_forgets_every_object():
    ids = ObjectIdentities(min_seconds=0.0, window=1)
    assert see(ids, 0, 0.0, [1], [0.9], [(0, 0)]) == ([1], [True])
    ids.clear()
    assert see(ids, 1, 0.1, [1], [0.9], [(0, 0)])[0] == [2]
    assert see(ids, 2, 0.05, [1], [0.9], [(0, 0)])[0] == [3]            # backwards: forgotten
    assert see(ids, 3, 100.0, [1], [0.9], [(0, 0)])[0] == [4]           # a jump over max_stamp_gap


def test_lost_objects_are_forgotten_after_a_while():
    ids = ObjectIdentities()
    see(ids, 0, 0.0, [1, 2], [0.9, 0.9], [(0, 0), (300, 0)])
    for i in range(1, 120):
        see(ids, i, i / 10, [2], [0.9], [(300, 0)])
    assert ids.count == 1 and see(ids, 120, 12.0, [1], [0.9], [(0, 0)])[0] == [3]


def test_a_new_window_keeps_the_newest_scores():
    ids = ObjectIdentities(min_seconds=0.0, window=5)
    for i, s in enumerate([0.1, 0.1, 0.9, 0.9]):
        see(ids, i, i / 10, [1], [s], [(0, 0)])
    ids.window = 2
    assert see(ids, 4, 0.4, [1], [0.1], [(0, 0)])[1] == [True]          # median of 0.9, 0.1 = 0.5
    ids.window = 4
    assert see(ids, 5, 0.5, [1], [0.1], [(0, 0)])[1] == [False]         # 0, 0.9, 0.1, 0.1
