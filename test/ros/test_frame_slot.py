"""The worker always gets the newest frame; replaced frames are counted as dropped."""
import threading

from vad_ros.ros.frame_slot import LatestFrameSlot, RateMeter


def test_newest_frame_wins_and_drops_are_counted():
    slot = LatestFrameSlot()
    for i in range(5):
        slot.put(i)
    assert slot.take(0.1) == 4
    assert (slot.received, slot.dropped) == (5, 4)
    assert slot.take(0.05) is None


def test_take_wakes_on_put_and_on_close():
    slot = LatestFrameSlot()
    got = []
    t = threading.Thread(target=lambda: got.append(slot.take(5)))
    t.start()
    slot.put('frame')
    t.join(2)
    assert got == ['frame']
    t = threading.Thread(target=lambda: got.append(slot.take(5)))
    t.start()
    slot.close()
    t.join(2)
    assert not t.is_alive() and got[-1] is None


def test_rate_meter():
    meter = RateMeter(window_s=2.0)
    for i in range(11):
        meter.tick(100.0 + i * 0.1)
    assert abs(meter.rate(101.0) - 10.0) < 1e-6
    assert meter.rate(110.0) == 0.0
