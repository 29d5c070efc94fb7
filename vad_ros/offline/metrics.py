"""Frame-level metrics (pure numpy): the paper's Accuracy / Recall / Precision / F1 of the binary frame
decision, and the field's ROC AUC of the frame score.

Conventions for undefined values:
- precision is 0 when no frame is predicted anomalous (nothing claimed, nothing right; as scikit-learn's
  zero_division=0); it is NaN only for zero frames;
- recall is NaN when the ground truth has no anomalous frame; F1 is then NaN too, and F1 is 0 when
  precision + recall is 0;
- ROC AUC is NaN when the ground truth has only one class (no anomalous or no normal frame).
AUC counts a tie between an anomalous and a normal frame as half a correct ordering (Mann-Whitney U
with average ranks), which equals the trapezoidal area under the ROC curve built over distinct scores.
"""
from __future__ import annotations

import math

import numpy as np


def _pair(a, truth, dtype) -> tuple[np.ndarray, np.ndarray]:
    a, truth = np.asarray(a, dtype).reshape(-1), np.asarray(truth).reshape(-1).astype(bool)
    if a.shape != truth.shape:
        raise ValueError(f'{a.shape[0]} predictions for {truth.shape[0]} ground-truth frames')
    return a, truth


def binary_metrics(pred, truth) -> dict[str, float]:
    """accuracy, recall, precision, f1 and the counts tp, fp, fn, tn, frames."""
    pred, truth = _pair(pred, truth, bool)
    tp = int(np.sum(pred & truth))
    fp = int(np.sum(pred & ~truth))
    fn = int(np.sum(~pred & truth))
    tn = int(np.sum(~pred & ~truth))
    n = tp + fp + fn + tn
    if n == 0:
        precision = math.nan
    else:
        precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else math.nan
    if math.isnan(recall) or math.isnan(precision):
        f1 = math.nan
    else:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {'accuracy': (tp + tn) / n if n else math.nan, 'recall': recall, 'precision': precision, 'f1': f1,
            'tp': tp, 'fp': fp, 'fn': fn, 'tn': tn, 'frames': n}


def average_ranks(values) -> np.ndarray:
    """1-based ranks of `values`, tied values sharing the mean of their ranks."""
    values = np.asarray(values, float)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    last_rank = np.cumsum(counts)                  # rank of the last member of each group of equal values
    mean_rank = last_rank - (counts - 1) / 2.0
    return mean_rank[inverse.reshape(-1)]


def roc_auc(scores, truth) -> float:
    """Area under the ROC curve of `scores` (higher = more anomalous) against 0/1 `truth`; NaN when
    truth has a single class."""
    scores, truth = _pair(scores, truth, float)
    positives, negatives = int(truth.sum()), int((~truth).sum())
    if positives == 0 or negatives == 0:
        return math.nan
    ranks = average_ranks(scores)
    return float((ranks[truth].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def _counts_by_threshold(scores, truth) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each distinct score t, high to low: (t, true positives, false positives) of `score >= t`."""
    scores, truth = _pair(scores, truth, float)
    order = np.argsort(-scores, kind='stable')
    s, t = scores[order], truth[order]
    last_of_group = np.r_[s[1:] != s[:-1], True] if len(s) else np.zeros(0, bool)
    tps = np.cumsum(t)[last_of_group]
    fps = np.cumsum(~t)[last_of_group]
    return s[last_of_group], tps, fps


def roc_curve(scores, truth) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rates, true positive rates), starting at (0, 0), one point per distinct score.
    A rate whose denominator is 0 is 0 throughout."""
    _, tps, fps = _counts_by_threshold(scores, truth)
    p, n = (tps[-1], fps[-1]) if len(tps) else (0, 0)
    tpr = np.r_[0.0, tps / p] if p else np.zeros(len(tps) + 1)
    fpr = np.r_[0.0, fps / n] if n else np.zeros(len(fps) + 1)
    return fpr, tpr


def pr_curve(scores, truth) -> tuple[np.ndarray, np.ndarray]:
    """(recalls, precisions), one point per distinct score from the highest down (recall NaN when truth
    has no anomalous frame)."""
    _, tps, fps = _counts_by_threshold(scores, truth)
    p = tps[-1] if len(tps) else 0
    recall = tps / p if p else np.full(len(tps), np.nan)
    precision = tps / np.maximum(tps + fps, 1)
    return recall.astype(float), precision.astype(float)
