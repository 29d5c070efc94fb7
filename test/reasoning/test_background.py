"""The background vote (paper eq. 4-5) on constructed class maps: regions, rounding, clipping, exclusion,
ties, and properties against a brute-force count."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from vad_ros.reasoning.background import count_votes, region_slices, vote, voting_mask_lut
from vad_ros.types import NO_CLASS


def bounds(slices):
    rows, cols = slices
    return rows.start, rows.stop, cols.start, cols.stop


def test_integer_box_includes_both_ends_as_in_eq_5():
    # x_min <= x <= x_max: columns 10..20 and rows 20..40, both ends included.
    assert bounds(region_slices((10.0, 20.0, 20.0, 40.0), (100, 100))) == (20, 41, 10, 21)


def test_float_box_takes_the_integer_positions_inside_it():
    # ceil(x_min) .. floor(x_max): columns 11..19, rows 21..39.
    assert bounds(region_slices((10.5, 20.2, 19.5, 39.9), (100, 100))) == (21, 40, 11, 20)
    assert region_slices((10.2, 10.2, 10.8, 10.8), (100, 100)) is None   # no integer position inside


def test_box_partly_outside_is_clipped():
    assert bounds(region_slices((-30, -5, 10, 8), (50, 60))) == (0, 9, 0, 11)
    assert bounds(region_slices((0, 0, 60, 50), (50, 60))) == (0, 50, 0, 60)     # far edges = image size
    assert bounds(region_slices((55.5, 45.5, 1e6, 1e6), (50, 60))) == (46, 50, 56, 60)


@pytest.mark.parametrize('box', [
    (70, 10, 90, 20),             # right of the image
    (-20, -20, -1, -1),           # above and left
    (-20, 5, -0.5, 9),            # ends before column 0
    (10, 10, 10, 20),             # zero width
    (10, 10, 20, 10),             # zero height
    (10, 20, 30, 5),              # inverted
    (math.nan, 0, 5, 5),
    (0, 0, math.inf, 5),
])
def test_empty_regions_have_no_background(box):
    labels = np.zeros((50, 60), np.uint16)
    assert region_slices(box, labels.shape) is None
    assert region_slices(box, labels.shape, 'footprint') is None
    v = vote(labels, box, 3)
    assert (v.class_index, v.fraction, v.voting_pixels) == (None, 0.0, 0)


def test_footprint_is_the_bottom_strip_and_at_least_one_row():
    # y >= 100 - 0.2 * 100 = 80: rows 80..100.
    assert bounds(region_slices((0, 0, 10, 100), (200, 200), 'footprint', 0.2)) == (80, 101, 0, 11)
    # strip 0.4 px high: y >= 51.6 -> row 52 only.
    assert bounds(region_slices((0, 50, 10, 52), (200, 200), 'footprint', 0.2))[:2] == (52, 53)
    # strip 0.25 px high holds no integer row (52.25 .. 52.5): the bottom row 52 is used.
    assert bounds(region_slices((0, 50, 10, 52.5), (200, 200), 'footprint', 0.1))[:2] == (52, 53)
    # footprint_height 1 = the whole box.
    assert region_slices((3, 4, 30, 40), (200, 200), 'footprint', 1.0) == region_slices((3, 4, 30, 40), (200, 200))


def test_footprint_below_the_image_is_empty_and_partly_below_is_clipped():
    assert region_slices((0, 150, 10, 260), (200, 200), 'footprint', 0.2) is None   # feet not visible
    assert bounds(region_slices((0, 150, 10, 210), (200, 200), 'footprint', 0.2))[:2] == (198, 200)


def test_unknown_region_is_refused():
    with pytest.raises(ValueError, match="'middle' is not one of box, footprint"):
        region_slices((0, 0, 1, 1), (5, 5), 'middle')


def person_on_border():
    """Rows 0-49 road (0), rows 50-99 grass (1); a person (2) painted at rows 30-69, columns 40-59."""
    labels = np.zeros((100, 100), np.uint16)
    labels[50:] = 1
    labels[30:70, 40:60] = 2
    return labels


def test_object_on_a_class_border_box_vs_footprint():
    labels = person_on_border()
    assert vote(labels, (40, 30, 59, 69), 3, 'box').class_index == 2        # the person votes for itself
    without_person = voting_mask_lut(3, {2})
    # Box columns 37..62, rows 30..69; outside the person: 6 columns x 20 rows each of road and grass: a tie.
    v = vote(labels, (37, 30, 62, 69), 3, 'box', lut=without_person)
    assert (v.class_index, v.fraction, v.voting_pixels) == (0, 0.5, 240)    # tie -> lowest index (road)
    foot = vote(labels, (37, 30, 62, 69), 3, 'footprint', 0.25, lut=without_person)
    assert (foot.class_index, foot.fraction) == (1, 1.0)                    # feet on the grass


def test_no_voting_pixels_gives_none():
    unknown = np.full((10, 10), NO_CLASS, np.uint16)
    assert vote(unknown, (0, 0, 9, 9), 3).class_index is None
    only_things = np.full((10, 10), 2, np.uint16)
    v = vote(only_things, (0, 0, 9, 9), 3, lut=voting_mask_lut(3, {2}))
    assert (v.class_index, v.fraction, v.voting_pixels) == (None, 0.0, 0)


def test_labels_outside_the_vocabulary_and_no_class_do_not_vote():
    values = np.array([7, 7, 7, NO_CLASS, NO_CLASS, 1], np.uint16)
    v = count_votes(values, 3)
    assert (v.class_index, v.fraction, v.voting_pixels) == (1, 1.0, 1)


def test_ties_go_to_the_lowest_class_index():
    labels = np.zeros((2, 2), np.uint16)
    labels[0] = 5
    labels[1] = 3
    v = vote(labels, (0, 0, 1, 1), 6)
    assert (v.class_index, v.fraction) == (3, 0.5)


def test_paper_example_by_hand():
    """Box (3, 5, 8, 8) = columns 3..8, rows 5..8 (6 x 4 = 24 px): 12 road (6), 8 sidewalk (11) and 4 person
    (12) pixels -> road with 50%; the person votes too (paper mode)."""
    labels = np.full((20, 20), 9, np.uint16)
    labels[5:9, 3:9] = np.array([[6] * 6] * 2 + [[11] * 6] + [[11, 11, 12, 12, 12, 12]], np.uint16)
    v = vote(labels, (3, 5, 8, 8), 150, 'box')
    assert (v.class_index, v.fraction, v.voting_pixels) == (6, 0.5, 24)
    # As floats a detector might give: (2.6, 4.1, 8.9, 8.7) holds the same integer positions.
    assert vote(labels, (2.6, 4.1, 8.9, 8.7), 150, 'box') == v


def brute_force(labels, box, voting):
    """Counts per class over every pixel (c, r) with x_min <= c <= x_max and y_min <= r <= y_max."""
    x0, y0, x1, y1 = box
    counts = {}
    for r in range(labels.shape[0]):
        for c in range(labels.shape[1]):
            value = int(labels[r, c])
            if x0 <= c <= x1 and y0 <= r <= y1 and value in voting:
                counts[value] = counts.get(value, 0) + 1
    return counts


label_maps = st.integers(1, 25).flatmap(lambda h: st.integers(1, 25).flatmap(lambda w: st.lists(
    st.sampled_from([0, 1, 2, 3, int(NO_CLASS)]), min_size=h * w, max_size=h * w).map(
    lambda v: np.array(v, np.uint16).reshape(h, w))))


@st.composite
def boxes(draw, labels):
    h, w = labels.shape
    x0 = draw(st.floats(-5, w + 5, allow_nan=False))
    y0 = draw(st.floats(-5, h + 5, allow_nan=False))
    return x0, y0, x0 + draw(st.floats(0.01, w + 5)), y0 + draw(st.floats(0.01, h + 5))


@settings(max_examples=80, deadline=None)
@given(label_maps, st.data(), st.sets(st.integers(0, 3), max_size=2))
def test_vote_matches_brute_force(labels, data, excluded):
    box = data.draw(boxes(labels))
    v = vote(labels, box, 4, lut=voting_mask_lut(4, excluded))
    counts = brute_force(labels, box, set(range(4)) - excluded)
    if not counts:
        assert (v.class_index, v.fraction, v.voting_pixels) == (None, 0.0, 0)
        return
    best = max(counts.values())
    assert v.class_index == min(c for c, n in counts.items() if n == best)
    assert v.fraction == pytest.approx(best / sum(counts.values()))
    assert 0 < v.fraction <= 1 and v.voting_pixels == sum(counts.values())


@settings(max_examples=80, deadline=None)
@given(label_maps, st.data(), st.floats(0.01, 1.0))
def test_footprint_is_a_bottom_part_of_the_box(labels, data, height):
    box = data.draw(boxes(labels))
    whole = region_slices(box, labels.shape, 'box')
    foot = region_slices(box, labels.shape, 'footprint', height)
    if whole is None:
        assert foot is None
        return
    if foot is None:                 # only when the bottom of the box is below the image
        assert box[3] >= labels.shape[0]
        return
    assert foot[1] == whole[1] and foot[0].stop == whole[0].stop and foot[0].start >= whole[0].start
    assert foot[0].stop > foot[0].start
    v = vote(labels, box, 4, 'footprint', height)
    assert v.class_index is None or 0 < v.fraction <= 1


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 3), st.integers(0, 2**16), st.sampled_from(['box', 'footprint']))
def test_pixels_outside_the_region_do_not_matter(fill, seed, region):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, size=(40, 40)).astype(np.uint16)
    box = (10.5, 12, 25, 30.7)
    before = vote(labels, box, 4, region, 0.3)
    changed = labels.copy()
    rows, cols = region_slices(box, labels.shape, region, 0.3)
    outside = np.ones_like(labels, bool)
    outside[rows, cols] = False
    changed[outside] = fill
    assert vote(changed, box, 4, region, 0.3) == before


# ---------------------------------------------------------------- many boxes at once
from hypothesis import given, settings, strategies as st  # noqa: E402

from vad_ros.reasoning.background import INTEGRAL_AFTER_FRAMES, BackgroundVoter, IntegralCounts  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2 ** 31), st.sampled_from(['box', 'footprint']), st.floats(0.05, 1.0))
def test_property_integral_counts_equal_the_box_by_box_vote(seed, region, footprint):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 6, (40, 50)).astype(np.uint16)
    labels[rng.random((40, 50)) < 0.1] = NO_CLASS
    lut = voting_mask_lut(6, [int(rng.integers(0, 6))])
    xy = rng.uniform(-20, 60, (30, 2))
    boxes = np.column_stack([xy, xy + rng.uniform(-2, 40, (30, 2))])
    bad = rng.random(30) < 0.1                           # a broken detector: no region, not a crash
    boxes[bad, rng.integers(0, 4)] = rng.choice([np.nan, np.inf, -np.inf])
    expected = [vote(labels, b, 6, region, footprint, lut) for b in boxes]
    assert IntegralCounts(labels, 6, lut).votes(boxes, region, footprint) == expected
    voter = BackgroundVoter()
    for _ in range(INTEGRAL_AFTER_FRAMES + 1):          # box by box, then (a map that stays) integrals
        assert voter.votes(labels, boxes, 6, region, footprint, lut) == expected
    assert isinstance(voter._counts, IntegralCounts)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2 ** 31), st.sampled_from(['box', 'footprint']))
def test_property_winners_as_arrays_equal_the_votes(seed, region):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, (30, 40)).astype(np.uint16)
    labels[rng.random((30, 40)) < 0.3] = NO_CLASS
    lut = voting_mask_lut(4)
    xy = rng.uniform(-10, 45, (20, 2))
    boxes = np.column_stack([xy, xy + rng.uniform(-2, 20, (20, 2))])
    votes = [vote(labels, b, 4, region, 0.2, lut) for b in boxes]
    voter = BackgroundVoter()
    for _ in range(INTEGRAL_AFTER_FRAMES + 1):          # box by box, then integrals
        index, fraction = voter.winners(labels, boxes, 4, region, 0.2, lut)
        assert index.tolist() == [-1 if v.class_index is None else v.class_index for v in votes]
        assert fraction.tolist() == [v.fraction for v in votes]
    assert isinstance(voter._counts, IntegralCounts)


def test_a_repeated_many_class_map_is_voted_box_by_box_not_with_gigabytes_of_integrals():
    """A 150-class map that stays (e.g. a long segmentation_interval): integral images would take
    150 x 1081 x 1921 x 4 bytes = 1.2 GB; the voter keeps counting box by box, with the same results."""
    from vad_ros.reasoning import background
    rng = np.random.default_rng(1)
    labels = np.kron(rng.integers(0, 150, (34, 60)).astype(np.uint16), np.ones((32, 32), np.uint16))[:1080, :1920]
    labels = np.ascontiguousarray(labels)
    lut = voting_mask_lut(150)
    assert background.integral_bytes(labels, lut) > background.INTEGRAL_BUDGET_BYTES
    boxes = np.array([[10, 10, 200, 300], [900, 500, 1000, 1070]], np.float32)
    voter = BackgroundVoter()
    for _ in range(INTEGRAL_AFTER_FRAMES + 1):          # the same array again and again
        votes = voter.votes(labels, boxes, 150, 'box', 0.2, lut)
    assert voter._counts is False
    assert votes == [vote(labels, b, 150, 'box', 0.2, lut) for b in boxes]
    small = np.zeros((1080, 1920), np.uint16)
    small[500:] = 2                                     # a scene map of two classes: integrals are cheap
    voter.votes(small, boxes, 3, 'box', 0.2, voting_mask_lut(3))
    for _ in range(INTEGRAL_AFTER_FRAMES):
        voter.votes(small, boxes, 3, 'box', 0.2, voter._lut)
    assert isinstance(voter._counts, IntegralCounts)


def test_boxes_far_outside_the_map_or_huge_have_no_region_or_the_clipped_one():
    labels = np.zeros((20, 30), np.uint16)
    lut = voting_mask_lut(1)
    counts = IntegralCounts(labels, 1, lut)
    boxes = np.array([[-1e300, -1e300, 1e300, 1e300], [1e12, 0, 2e12, 5], [-5, -5, -1, -1], [0, 0, 1e-9, 5]])
    for region in ('box', 'footprint'):
        assert counts.votes(boxes, region, 0.2) == [vote(labels, b, 1, region, 0.2, lut) for b in boxes]
    assert counts.votes(boxes[:1], 'box', 0.2)[0].voting_pixels == 20 * 30
