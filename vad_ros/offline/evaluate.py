"""`vad-eval`: frame-level evaluation on ShanghaiTech Campus or NWPU Campus (layouts: datasets.py).

    vad-eval --dataset shanghaitech|nwpu --root PATH --params config/paper.yaml [--videos LIST] --out DIR

Reports per video and overall what the paper reports (Accuracy, Recall, Precision, F1 of the frame
decision) and what the field reports (ROC AUC of the frame score). "overall" pools all frames (micro);
"mean" averages the per-video values, ignoring NaN (macro). Writes DIR/metrics.csv, DIR/metrics.json,
DIR/plots.png and per-video DIR/<video>/frames.csv, anomalies.jsonl, events.jsonl.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

import numpy as np

from vad_ros import params as vparams
from vad_ros.offline import metrics
from vad_ros.offline.datasets import list_videos, parse_video_list
from vad_ros.offline.progress import Progress
from vad_ros.offline.runner import load_params, run
from vad_ros.offline.sources import SourceError
from vad_ros.perception.base import PerceptionError

COLUMNS = ('video', 'frames', 'accuracy', 'recall', 'precision', 'f1', 'auc')


def read_frame_results(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(path, newline='') as f:
        rows = list(csv.DictReader(f))
    return (np.array([int(r['anomalous']) for r in rows], bool), np.array([float(r['score']) for r in rows]))


def evaluate(dataset: str, root: str, params: dict, out: Path, videos: list[str] | None = None) -> dict:
    from vad_ros.perception.factory import build_detector, build_segmenter
    from vad_ros.pipeline import Pipeline

    test_videos = list_videos(dataset, root, videos)
    detector, segmenter = build_detector(params), build_segmenter(params)
    rows, pooled_pred, pooled_score, pooled_truth, curves = [], [], [], [], {}
    for video in test_videos:
        pipeline = Pipeline.from_params(params, detector, segmenter)      # fresh tracker and events
        source = video.source()
        run(pipeline, source, out / video.name, progress=Progress(source.length))
        pred, score = read_frame_results(out / video.name / 'frames.csv')
        truth = video.labels
        if len(truth) != len(pred):
            raise SourceError(f"video '{video.name}': {len(pred)} frames but {len(truth)} labels")
        m = metrics.binary_metrics(pred, truth)
        rows.append({'video': video.name, 'frames': len(truth), **{k: m[k] for k in COLUMNS[2:6]},
                     'auc': metrics.roc_auc(score, truth)})
        pooled_pred.append(pred)
        pooled_score.append(score)
        pooled_truth.append(truth)
        curves[video.name] = (score, truth)
    pred, score, truth = (np.concatenate(x) for x in (pooled_pred, pooled_score, pooled_truth))
    m = metrics.binary_metrics(pred, truth)
    overall = {'video': 'overall', 'frames': len(truth), **{k: m[k] for k in COLUMNS[2:6]},
               'auc': metrics.roc_auc(score, truth)}
    mean = {'video': 'mean', 'frames': len(truth)}
    for k in COLUMNS[2:]:
        values = [r[k] for r in rows if not math.isnan(r[k])]
        mean[k] = float(np.mean(values)) if values else math.nan
    report = {'dataset': dataset, 'root': str(root), 'videos': rows, 'overall': overall, 'mean': mean,
              'params': {k: v for k, v in params.items()}}
    write_reports(report, out, score, truth, curves)
    return report


def format_table(report: dict) -> str:
    lines = [f"{'video':<16}{'frames':>8}" + ''.join(f'{c:>11}' for c in COLUMNS[2:])]
    for row in report['videos'] + [report['overall'], report['mean']]:
        lines.append(f"{row['video']:<16}{row['frames']:>8}" +
                     ''.join(f"{row[c] * 100:>10.2f}%" if not math.isnan(row[c]) else f"{'n/a':>11}"
                             for c in COLUMNS[2:]))
    return '\n'.join(lines)


def write_reports(report: dict, out: Path, score, truth, curves) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / 'metrics.csv', 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for row in report['videos'] + [report['overall'], report['mean']]:
            writer.writerow({k: row[k] for k in COLUMNS})
    with open(out / 'metrics.json', 'w') as f:
        json.dump(_json_safe(report), f, indent=2)
    plot(out / 'plots.png', score, truth, curves)


def _json_safe(value):
    """NaN (undefined metric) -> null, so that metrics.json is strict JSON."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def plot(path: Path, score, truth, curves) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    n = len(curves)
    fig = plt.figure(figsize=(12, 4 + 1.4 * n))
    grid = fig.add_gridspec(2 + n, 2, height_ratios=[4, 0.3] + [1.2] * n)
    roc, pr = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
    fpr, tpr = metrics.roc_curve(score, truth)
    roc.plot(fpr, tpr, label=f'AUC {metrics.roc_auc(score, truth):.3f}')
    roc.plot([0, 1], [0, 1], ':', color='grey')
    roc.set(title='ROC (frame score, all frames)', xlabel='false positive rate', ylabel='true positive rate')
    roc.legend(loc='lower right')
    recall, precision = metrics.pr_curve(score, truth)
    pr.plot(recall, precision, marker='.')
    pr.set(title='precision-recall', xlabel='recall', ylabel='precision', xlim=(0, 1.02), ylim=(0, 1.02))
    for i, (name, (s, t)) in enumerate(curves.items()):
        ax = fig.add_subplot(grid[2 + i, :])
        ax.fill_between(np.arange(len(t)), 0, t.astype(float), step='mid', color='tab:red', alpha=0.25,
                        label='ground truth anomalous')
        ax.plot(s, color='tab:blue', label='frame score')
        ax.set(ylim=(0, 1.05), ylabel=name)
        if i == 0:
            ax.legend(loc='upper right', fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='vad-eval', description=__doc__.split('\n\n')[0])
    parser.add_argument('--dataset', choices=('shanghaitech', 'nwpu'), required=True)
    parser.add_argument('--root', required=True, help='dataset root folder')
    parser.add_argument('--params', default=None, help='params file (e.g. config/paper.yaml)')
    parser.add_argument('--videos', default=None, help='comma list of video ids or a file with one per line')
    parser.add_argument('--rules', default=None)
    parser.add_argument('--scene', default=None)
    parser.add_argument('--out', required=True)
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params, args.rules, args.scene)
        report = evaluate(args.dataset, args.root, params, Path(args.out), parse_video_list(args.videos))
    except (vparams.ParamError, SourceError, PerceptionError, ValueError) as e:
        print(f'vad-eval: {e}', file=sys.stderr)
        return 2
    print(format_table(report))
    print(f'vad-eval: metrics.csv, metrics.json, plots.png in {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
