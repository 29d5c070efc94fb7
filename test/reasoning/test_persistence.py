"""Persistence per (track, rule): min_frames, grace frames, event start and end, flushing."""
import pytest
from vad_ros.reasoning.persistence import Persistence
from vad_ros.types import Anomaly


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
    assert e.state == 'ended' and e.event_id == 1
    assert len(p.step(1, 0.1, [dwell(cooldown=100.0)]).reported) == 1


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
