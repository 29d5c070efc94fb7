"""The debug drawing: colours of normal and anomalous boxes, the banner, the class-map overlay, time stamps."""
import numpy as np

from vad_ros.rendering.drawing import AMBER, GREEN, RED, class_colour, draw_result, stamp_text
from vad_ros.types import Anomaly, ClassMap, FrameResult, ObjectReport


def report(box, track, background='road'):
    return ObjectReport('person', 0.9, box, background, 1.0, track)


def anomaly_for(obj: ObjectReport) -> Anomaly:
    return Anomaly('person', 0.9, 'grass', 1.0, obj.box, 'keep-off', 'warning', 'person (0.90) on grass: keep off',
                   obj.track_id, 1, 0.9)


def count(img: np.ndarray, colour) -> int:
    return int(np.all(img == np.array(colour, np.uint8), axis=2).sum())


def test_anomalous_boxes_are_red_and_normal_ones_green_and_the_input_is_untouched():
    image = np.full((480, 640, 3), 128, np.uint8)
    good, bad = report((50.0, 300.0, 110.0, 400.0), 1), report((400.0, 300.0, 460.0, 400.0), 2, 'grass')
    result = FrameResult(7, 12.5, [good, bad], [anomaly_for(bad)], 0.9)
    out = draw_result(image, result)
    assert (image == 128).all() and out.shape == image.shape and out.dtype == np.uint8
    # The left edge of each box, away from the labels, carries the box's colour.
    assert (out[320:380, 50] == GREEN).all(axis=1).all()
    assert (out[320:380, 400] == RED).all(axis=1).all()
    assert count(out[:60], RED) > 0                 # the red banner and the sentence at the top


def test_a_normal_frame_has_no_red():
    image = np.full((480, 640, 3), 128, np.uint8)
    out = draw_result(image, FrameResult(0, None, [report((50.0, 300.0, 110.0, 400.0), 0)], [], 0.0))
    assert count(out, RED) == 0 and count(out, GREEN) > 0


def test_boxes_outside_the_image_and_tiny_images_do_not_fail():
    image = np.zeros((40, 30, 3), np.uint8)
    obj = report((-20.0, -10.0, 500.0, 900.0), 3)
    out = draw_result(image, FrameResult(1, 0.1, [obj], [anomaly_for(obj)] * 10, 1.0))
    assert out.shape == (40, 30, 3) and out.any()        # labels drawn, clipped to the image


def test_class_map_overlay_tints_only_labelled_pixels():
    image = np.zeros((100, 200, 3), np.uint8)
    labels = np.full((100, 200), 65535, np.uint16)
    labels[:, :100] = 0
    result = FrameResult(0, None, [], [], 0.0, class_map=ClassMap(labels, ('grass',)))
    out = draw_result(image, result, class_map_alpha=0.5)
    assert out[50, 150].tolist() == [0, 0, 0]                       # no class: untouched
    expected = (np.array(class_colour('grass')) * 0.5).round()
    assert np.abs(out[50, 60].astype(int) - expected).max() <= 1    # blended with the class colour


def test_class_colours_are_stable_and_never_the_box_colours():
    names = [f'class{i}' for i in range(300)] + ['grass', 'road', 'person']
    colours = [class_colour(n) for n in names]
    assert colours == [class_colour(n) for n in names]
    assert GREEN not in colours and RED not in colours


def test_stamps_read_as_clock_time_or_seconds_into_the_recording():
    assert stamp_text(12.345) == 't 12.35 s'
    assert stamp_text(1795572190.8) == '2026-11-25 02:03:10.80 UTC'


def test_rule_overlay_zones_tripwires_masks_timers_and_group_members():
    from vad_ros.rendering.drawing import DARK, GREY, LIGHT, YELLOW
    from vad_ros.types import DwellTimer, RuleOverlay
    image = np.full((480, 640, 3), 128, np.uint8)
    member, other = report((400.0, 300.0, 460.0, 400.0), 5), report((50.0, 300.0, 110.0, 400.0), 6)
    group = Anomaly('person', 0.9, '', 0.0, (400.0, 300.0, 460.0, 400.0), 'crowd', 'warning', '2 people', 0, 1, 0.7,
                    members=(5,))
    overlay = RuleOverlay(zones=(('bay', np.array([[300.0, 100.0], [600.0, 100.0], [600.0, 250.0]])),),
                          tripwires=(('gate', np.array([[20.0, 440.0], [620.0, 440.0]]), 3, 1),),
                          ignore=(np.array([[10.0, 100.0], [60.0, 100.0], [60.0, 150.0]]),),
                          timers=(DwellTimer(6, 'lawn', 4.2, 10.0, other.box),))
    out = draw_result(image, FrameResult(0, 1.0, [member, other], [group], 0.7, overlay=overlay))
    assert (out[320:380, 400] == RED).all(axis=1).all()          # counted by the group anomaly: red
    assert (out[320:380, 50] == GREEN).all(axis=1).all()
    assert count(out, LIGHT) > 0 and count(out, GREY) > 0
    assert (out[440, 200:400] == YELLOW).all(axis=1).any()       # the tripwire
    assert count(out[250:300, 40:200], DARK) > 0                 # the timer's label above the box


def test_unconfirmed_objects_are_thin_grey_boxes_drawn_under_the_others():
    from vad_ros.rendering.drawing import GREY
    image = np.full((480, 640, 3), 128, np.uint8)
    rock = report((50.0, 300.0, 110.0, 400.0), 4, 'grass')._replace(confirmed=False)
    person = report((90.0, 250.0, 150.0, 420.0), 5)
    out = draw_result(image, FrameResult(0, 1.0, [person, rock], [], 0.0))
    assert (out[320:380, 50] == GREY).all(axis=1).all()          # the rock's left edge: grey
    assert not (out[320:380, 51] == GREY).all(axis=1).any()      # one pixel wide
    assert (out[300:400, 90] == GREEN).all(axis=1).all()         # the person's box over the rock's
    assert count(out, GREEN) > 0 and count(out, RED) == 0


def test_the_cameras_trouble_is_written_in_amber_under_the_banner():
    image = np.full((480, 640, 3), 128, np.uint8)
    result = FrameResult(3, None, [report((50.0, 300.0, 110.0, 400.0), 1)], [], 0.0)
    def amber(img):                   # anti-aliased text: pixels near the colour
        return int((np.abs(img.astype(int) - np.array(AMBER)).sum(axis=2) < 90).sum())
    assert amber(draw_result(image, result)) == 0
    out = draw_result(image, result, warning='the image has been frozen for 12 s (every frame the same): details')
    assert amber(out[:60]) > 50 and amber(out[60:]) == 0
