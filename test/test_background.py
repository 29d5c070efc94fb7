"""The background vote on constructed class maps: regions, clipping, exclusion, ties, and properties."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from vad_ros.reasoning.background import region_slices, vote, voting_mask_lut
from vad_ros.types import NO_CLASS


def test_box_covers_every_pixel_it_overlaps():
    rows, cols = region_slices((10.0, 20.0, 20.0, 40.0), (100, 100))
    assert (rows.start, rows.stop, cols.start, cols.stop) == (20, 40, 10, 20)
    rows, cols = region_slices((10.5, 20.2, 19.5, 39.9), (100, 100))
    assert (rows.start, rows.stop, cols.start, cols.stop) == (20, 40, 10, 20)


def test_box_partly_outside_is_clipped_and_fully_outside_is_empty():
    rows, cols = region_slices((-30, -5, 10, 8), (50, 60))
    assert (rows.start, rows.stop, cols.start, cols.stop) == (0, 8, 0, 10)
    assert region_slices((70, 10, 90, 20), (50, 60)) is None
    assert region_slices((10, 10, 10, 20), (50, 60)) is None          # zero width
    assert region_slices((10, 20, 30, 5), (50, 60)) is None           # inverted
    assert region_slices((np.nan, 0, 5, 5), (50, 60)) is None


def test_footprint_is_the_bottom_strip_and_at_least_one_row():
    rows, _ = region_slices((0, 0, 10, 100), (200, 200), 'footprint', 0.2)
    assert (rows.start, rows.stop) == (80, 100)
    rows, _ = region_slices((0, 50, 10, 52), (200, 200), 'footprint', 0.2)
    assert (rows.start, rows.stop) == (51, 52)
    assert region_slices((0, 150, 10, 260), (200, 200), 'footprint', 0.2) is None  # feet below the image
    with pytest.raises(ValueError, match="'middle'"):
        region_slices((0, 0, 1, 1), (5, 5), 'middle')


def person_on_border():
    """Upper half road (0), lower half grass (1); a person (2) standing across the border."""
    labels = np.zeros((100, 100), np.uint16)
    labels[50:] = 1
    labels[30:70, 40:60] = 2
    return labels


def test_box_vs_footprint_on_a_class_border():
    labels = person_on_border()
    box = (40, 30, 60, 70)
    assert vote(labels, box, 3, 'box').class_index == 2                   # the person votes for itself
    lut = voting_mask_lut(3, {2})
    v = vote(labels, (38, 30, 62, 70), 3, 'box', lut=lut)
    assert v.class_index in (0, 1) and v.voting_pixels == 40 * 4
    foot = vote(labels, (38, 30, 62, 70), 3, 'footprint', 0.25, lut=lut)
    assert foot.class_index == 1 and foot.fraction == 1.0                  # feet on the grass


def test_no_voting_pixels_gives_none():
    labels = np.full((10, 10), NO_CLASS, np.uint16)
    assert vote(labels, (0, 0, 10, 10), 3) == vote(labels, (0, 0, 0, 0), 3)
    assert vote(labels, (0, 0, 10, 10), 3).class_index is None
    only_things = np.full((10, 10), 2, np.uint16)
    v = vote(only_things, (0, 0, 10, 10), 3, lut=voting_mask_lut(3, {2}))
    assert (v.class_index, v.fraction, v.voting_pixels) == (None, 0.0, 0)


def test_ties_go_to_the_lowest_class_index():
    labels = np.zeros((2, 2), np.uint16)
    labels[0] = 5
    labels[1] = 3
    v = vote(labels, (0, 0, 2, 2), 6)
    assert (v.class_index, v.fraction) == (3, 0.5)


def test_paper_example_by_hand():
    """A 6x4 box: 12 road (6), 8 sidewalk (11), 4 person (12) pixels -> road, 50%; person votes (paper)."""
    labels = np.full((20, 20), 9, np.uint16)
    region = np.array([[6] * 6] * 2 + [[11] * 6] + [[11, 11, 12, 12, 12, 12]], np.uint16)
    labels[5:9, 3:9] = region
    v = vote(labels, (3, 5, 9, 9), 150, 'box')
    assert (v.class_index, v.fraction, v.voting_pixels) == (6, 0.5, 24)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 30), st.integers(1, 30), st.integers(2, 6), st.data())
def test_vote_matches_brute_force(h, w, k, data):
    values = data.draw(st.lists(st.integers(0, k - 1), min_size=h * w, max_size=h * w))
    labels = np.array(values, np.uint16).reshape(h, w)
    x0 = data.draw(st.floats(-5, w + 5, allow_nan=False))
    y0 = data.draw(st.floats(-5, h + 5, allow_nan=False))
    x1 = x0 + data.draw(st.floats(0.1, w + 5))
    y1 = y0 + data.draw(st.floats(0.1, h + 5))
    v = vote(labels, (x0, y0, x1, y1), k)
    counts = {}
    for r in range(h):
        for c in range(w):
            if c + 1 > x0 and c < x1 and r + 1 > y0 and r < y1:      # pixel [c, c+1) overlaps [x0, x1)
                counts[int(labels[r, c])] = counts.get(int(labels[r, c]), 0) + 1
    if not counts:
        assert v.class_index is None
        return
    best = max(counts.values())
    assert v.class_index == min(c for c, n in counts.items() if n == best)
    assert v.fraction == pytest.approx(best / sum(counts.values()))
    assert 0 < v.fraction <= 1 and v.voting_pixels == sum(counts.values())


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 3), st.integers(0, 255))
def test_pixels_outside_the_region_do_not_matter(fill, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, size=(40, 40)).astype(np.uint16)
    box = (10, 12, 25, 30)
    before = vote(labels, box, 4, 'footprint', 0.3)
    changed = labels.copy()
    rows, cols = region_slices(box, labels.shape, 'footprint', 0.3)
    mask = np.ones_like(labels, bool)
    mask[rows, cols] = False
    changed[mask] = fill
    assert vote(changed, box, 4, 'footprint', 0.3) == before
