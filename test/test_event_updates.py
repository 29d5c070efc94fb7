"""Which event updates go out on ~/events: started and ended always, ongoing at most once per period."""
from vad_ros.event_updates import EventUpdates
from vad_ros.types import EVENT_ENDED, EVENT_ONGOING, EVENT_STARTED, Event


def update(event_id: int, state: str, stamp: float | None) -> Event:
    return Event('r', 1, 'person', 'road', 0, 0, 0.0, stamp, 0.5, 's', event_id=event_id, state=state)


def test_ongoing_updates_go_out_once_per_period_of_image_time():
    u = EventUpdates(period=1.0)
    sent = []
    for i in range(25):                                   # 10 fps: 2.4 s of an open event, then its end
        state = EVENT_STARTED if i == 0 else EVENT_ONGOING
        sent += [(e.state, e.end_stamp) for e in u.select([update(7, state, i / 10)])]
    sent += [(e.state, e.end_stamp) for e in u.select([update(7, EVENT_ENDED, 2.4)])]
    assert sent == [(EVENT_STARTED, 0.0), (EVENT_ONGOING, 1.0), (EVENT_ONGOING, 2.0), (EVENT_ENDED, 2.4)]
    assert u._last_sent == {}                             # nothing kept for ended events


def test_events_are_throttled_each_on_their_own_clock():
    u = EventUpdates(period=0.5)
    assert len(u.select([update(1, EVENT_STARTED, 0.0)])) == 1
    out = u.select([update(1, EVENT_ONGOING, 0.3), update(2, EVENT_STARTED, 0.3)])
    assert [(e.event_id, e.state) for e in out] == [(2, EVENT_STARTED)]
    out = u.select([update(1, EVENT_ONGOING, 0.6), update(2, EVENT_ONGOING, 0.6)])
    assert [(e.event_id, e.state) for e in out] == [(1, EVENT_ONGOING)]


def test_period_zero_or_no_stamps_send_every_update():
    for period, stamps in ((0.0, [0.0, 0.1, 0.2]), (1.0, [None, None, None])):
        u = EventUpdates(period)
        states = [EVENT_STARTED, EVENT_ONGOING, EVENT_ONGOING]
        assert sum(len(u.select([update(3, s, t)])) for s, t in zip(states, stamps)) == 3


def test_the_period_can_change_between_frames():
    u = EventUpdates(period=10.0)
    u.select([update(1, EVENT_STARTED, 0.0)])
    assert u.select([update(1, EVENT_ONGOING, 0.1)]) == []
    u.period = 0.0
    assert len(u.select([update(1, EVENT_ONGOING, 0.2)])) == 1
