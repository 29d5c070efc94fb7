"""Frame-level metrics (pure numpy): the paper's Accuracy / Recall / Precision / F1 from the binary frame
decision, and the field's ROC AUC from the frame score.

Conventions: precision is 0 when no frame is predicted anomalous (nothing right was claimed); recall and
AUC are NaN when the ground truth has no anomalous frame (AUC also when it has no normal frame); F1 is 0
when precision + recall is 0. AUC counts ties as half (Mann-Whitney U with average ranks).
"""
from __future__ import annotations

import math

import numpy as np


def binary_metrics(pred, truth) -> dict[str, float]:
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    if pred.shape != truth.shape:
        raise ValueError(f'{pred.shape[0]} predictions for {truth.shape[0]} ground-truth frames')
    tp = int(np.sum(pred & truth))
    fp = int(np.sum(pred & ~truth))
    fn = int(np.sum(~pred & truth))
    tn = int(np.sum(~pred & ~truth))
    n = tp + fp + fn + tn
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else math.nan
    if math.isnan(recall):
        f1 = math.nan
    else:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {'accuracy': (tp + tn) / n if n else math.nan, 'recall': recall, 'precision': precision, 'f1': f1,
            'tp': tp, 'fp': fp, 'fn': fn, 'tn': tn, 'frames': n}


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind='mergesort')
    ranks = np.empty(len(values), float)
    sorted_values = values[order]
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and sorted_values[j + 1] == sorted_values[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def roc_auc(scores, truth) -> float:
    scores, truth = np.asarray(scores, float), np.asarray(truth, bool)
    positives, negatives = int(truth.sum()), int((~truth).sum())
    if positives == 0 or negatives == 0:
        return math.nan
    ranks = _average_ranks(scores)
    return float((ranks[truth].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def roc_curve(scores, truth) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rates, true positive rates) over all distinct thresholds."""
    scores, truth = np.asarray(scores, float), np.asarray(truth, bool)
    thresholds = np.unique(scores)[::-1]
    p, n = max(truth.sum(), 1), max((~truth).sum(), 1)
    tpr = [0.0] + [float(np.sum((scores >= t) & truth) / p) for t in thresholds]
    fpr = [0.0] + [float(np.sum((scores >= t) & ~truth) / n) for t in thresholds]
    return np.array(fpr), np.array(tpr)


def pr_curve(scores, truth) -> tuple[np.ndarray, np.ndarray]:
    """(recalls, precisions) over all distinct thresholds."""
    scores, truth = np.asarray(scores, float), np.asarray(truth, bool)
    recalls, precisions = [], []
    for t in np.unique(scores)[::-1]:
        pred = scores >= t
        m = binary_metrics(pred, truth)
        recalls.append(m['recall'])
        precisions.append(m['precision'])
    return np.array(recalls), np.array(precisions)
