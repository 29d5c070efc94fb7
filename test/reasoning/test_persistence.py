"""Persistence per (track, rule): min_frames, grace frames, event start and end, flushing."""
from vad_ros.reasoning.persistence import Persistence
from vad_ros.types import Anomaly


def anomaly(track: int = 7, score: float = 0.8, rule: str = 'r', background: str = 'grass') -> Anomaly:
    return Anomaly('person', score, background, 1.0, (0, 0, 1, 1), rule, 'warning', f'person {track} {score}',
                   track, 1, score)


def run(p: Persistence, frames):
    """frames: list of candidate lists; returns [(reported, started, ended)] with stamps = index / 10."""
    return [p.update(i, i / 10, [(a, m) for a, m in frame]) for i, frame in enumerate(frames)]


def test_min_frames_1_is_immediate():
    p = Persistence(min_frames=1, grace_frames=0)
    reported, started, ended = p.update(0, None, [(anomaly(), None)])
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
    assert len(p.update(0, None, [(anomaly(), 1)])[0]) == 1


def test_tracks_and_rules_are_independent():
    p = Persistence(min_frames=2, grace_frames=0)
    out = run(p, [[(anomaly(1), None), (anomaly(2, rule='x'), None)],
                  [(anomaly(1), None), (anomaly(1, rule='x'), None)],
                  [(anomaly(1, rule='x'), None)]])
    assert [[(a.track_id, a.rule_id) for a in r] for r, _, _ in out] == [[], [(1, 'r')], [(1, 'x')]]
    assert [(e.track_id, e.rule_id) for e in out[2][2]] == [(1, 'r')]


def test_several_anomalies_of_one_key_are_all_reported_and_the_best_describes_the_event():
    p = Persistence(min_frames=1, grace_frames=5)
    reported, started, _ = p.update(0, None, [(anomaly(0, 0.5, background='road'), None),
                                              (anomaly(0, 0.7, background='water'), None)])
    assert len(reported) == 2 and len(started) == 1
    assert (started[0].peak_score, started[0].background_class) == (0.7, 'water')


def test_flush_closes_open_events_only():
    p = Persistence(min_frames=2, grace_frames=5)
    run(p, [[(anomaly(1), None), (anomaly(2), None)], [(anomaly(1), None)]])
    (event,) = p.flush()                             # track 2 never reached min_frames: no event
    assert (event.track_id, event.start_frame, event.end_frame) == (1, 1, 1)
    assert p.flush() == [] and p.open_events == []
