"""Frame-level metrics against hand-computed values and brute force."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from vad_ros.offline.metrics import binary_metrics, pr_curve, roc_auc, roc_curve


def test_binary_metrics_by_hand():
    m = binary_metrics([1, 1, 0, 0, 1, 0], [1, 0, 0, 1, 1, 0])
    assert (m['tp'], m['fp'], m['fn'], m['tn']) == (2, 1, 1, 2)
    assert m['accuracy'] == pytest.approx(4 / 6) and m['precision'] == pytest.approx(2 / 3)
    assert m['recall'] == pytest.approx(2 / 3) and m['f1'] == pytest.approx(2 / 3)


def test_edge_cases():
    m = binary_metrics([0, 0, 0], [1, 0, 1])
    assert (m['precision'], m['recall'], m['f1']) == (0.0, 0.0, 0.0)
    m = binary_metrics([0, 1], [0, 0])
    assert math.isnan(m['recall']) and math.isnan(m['f1']) and m['accuracy'] == 0.5
    assert math.isnan(roc_auc([0.1, 0.2], [0, 0])) and math.isnan(roc_auc([0.1, 0.2], [1, 1]))
    with pytest.raises(ValueError, match='2 predictions for 3'):
        binary_metrics([0, 1], [0, 1, 1])


def test_auc_with_ties_by_hand():
    # positives 0.8, 0.5; negatives 0.5, 0.1: pairs (0.8>0.5)=1, (0.8>0.1)=1, (0.5=0.5)=0.5, (0.5>0.1)=1
    assert roc_auc([0.8, 0.5, 0.5, 0.1], [1, 1, 0, 0]) == pytest.approx(3.5 / 4)
    assert roc_auc([0.0, 0.0, 0.0], [1, 0, 0]) == pytest.approx(0.5)
    assert roc_auc([0.9, 0.1], [0, 1]) == 0.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]), st.booleans()), min_size=2, max_size=40))
def test_auc_equals_pairwise_count(pairs):
    scores = np.array([p[0] for p in pairs])
    truth = np.array([p[1] for p in pairs])
    pos, neg = scores[truth], scores[~truth]
    if len(pos) == 0 or len(neg) == 0:
        assert math.isnan(roc_auc(scores, truth))
        return
    brute = np.mean([1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg])
    assert roc_auc(scores, truth) == pytest.approx(brute)
    fpr, tpr = roc_curve(scores, truth)
    assert np.trapezoid(tpr, fpr) == pytest.approx(brute)


def test_pr_curve_ends_at_full_recall():
    recall, precision = pr_curve([0.9, 0.8, 0.1, 0.0], [1, 0, 1, 0])
    assert recall[-1] == 1.0 and precision[0] == 1.0 and precision[-1] == 0.5
