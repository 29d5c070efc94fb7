"""`vad-eval`: frame-level evaluation on ShanghaiTech Campus or NWPU Campus (layouts: datasets.py,
docs/EVALUATION.md).

    vad-eval --dataset shanghaitech|nwpu --root PATH --params config/paper.yaml [--videos LIST]
             [--rules F] [--scene F] [--max-frames N] [--annotate] --out DIR

Reports per video and overall the paper's metrics (Accuracy, Recall, Precision, F1 of the binary frame
decision) and the field's (ROC AUC of the frame score). Row "overall" pools the frames of all videos
(micro average: what the paper's tables report); row "mean" averages the per-video values, leaving out
videos where a value is undefined (macro average). Writes DIR/metrics.csv, DIR/metrics.json,
DIR/plots.png and, per video, DIR/<video>/frames.csv, anomalies.jsonl, events.jsonl (+ annotated.mp4).
Exit status: 0 done, 2 unusable dataset/params/models (one line on stderr), 3 a video ended early (fewer frames
decoded than it announces or than its labels: truncated or damaged; the metrics cover the decoded frames and
metrics.json names the videos; --allow-partial accepts it with a warning and exit 0), 130 interrupted.
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from vad_ros.offline import metrics
from vad_ros.offline.datasets import DATASETS, DatasetVideo, list_videos, parse_video_list
from vad_ros.offline.progress import Progress
from vad_ros.errors import VadError
from vad_ros.host_memory import keep_freed_memory
from vad_ros.offline.runner import positive_int, load_params, run, setup_logging
from vad_ros.media.sources import SourceError

log = logging.getLogger('vad_ros.evaluate')
COLUMNS = ('video', 'frames', 'accuracy', 'recall', 'precision', 'f1', 'auc')
METRICS = COLUMNS[2:]
CONVENTIONS = ('overall = all frames pooled (micro); mean = average of per-video values, undefined ones left '
               'out (macro); precision = 0 when no frame is predicted anomalous; recall, F1 and AUC = null '
               '(undefined) for a video without anomalous frames; AUC also null without normal frames; '
               'AUC counts ties as half')


class Interrupted(Exception):
    """Ctrl-C during a video: the evaluation stops without metrics."""


def _expected_frames(video: DatasetVideo, max_frames: int | None) -> int:
    return len(video.labels) if max_frames is None else min(len(video.labels), max_frames)


def check_lengths(videos: list[DatasetVideo]) -> None:
    """Frame folders: the number of images must equal the number of labels (checked before any model
    runs). Video files are checked after decoding (container frame counts are not exact)."""
    for video in videos:
        if video.is_frame_folder:
            images = video.source().length
            if images != len(video.labels):
                raise SourceError(f"video '{video.name}': {images} images in '{video.path}' but "
                                  f'{len(video.labels)} labels')


def score_video(name: str, pred: np.ndarray, score: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """One row of the report: the metrics plus the confusion counts."""
    m = metrics.binary_metrics(pred, truth)
    return {'video': name, 'frames': int(len(truth)), 'accuracy': m['accuracy'], 'recall': m['recall'],
            'precision': m['precision'], 'f1': m['f1'], 'auc': metrics.roc_auc(score, truth),
            'anomalous_frames': int(truth.sum()), 'predicted_frames': int(pred.sum()),
            'tp': m['tp'], 'fp': m['fp'], 'fn': m['fn'], 'tn': m['tn']}


def macro_mean(rows: list[dict[str, Any]]) -> dict[str, Any]:
    mean: dict[str, Any] = {'video': 'mean', 'frames': sum(r['frames'] for r in rows)}
    for k in METRICS:
        values = [r[k] for r in rows if not math.isnan(r[k])]
        mean[k] = float(np.mean(values)) if values else math.nan
        mean[f'{k}_videos'] = len(values)
    return mean


def evaluate(dataset: str, root: str, params: dict[str, Any], out: Path, videos: list[str] | None = None,
             max_frames: int | None = None, annotate: bool = False, progress_stream=None) -> dict[str, Any]:
    """Run the pipeline on each test video and score it; writes the outputs into `out` and returns the
    report (also in metrics.json). Raises SourceError & co for unusable inputs, Interrupted on Ctrl-C."""
    from vad_ros.perception.factory import build_detector, build_segmenter
    from vad_ros.pipeline import build_pipeline

    test_videos = list_videos(dataset, root, videos)
    check_lengths(test_videos)
    detector, segmenter = build_detector(params), build_segmenter(params)       # built once, reused
    rows, pooled, curves, notes, partial = [], {'pred': [], 'score': [], 'truth': []}, {}, {}, []
    for i, video in enumerate(test_videos, 1):
        pipeline = build_pipeline(params, detector, segmenter)          # fresh tracker and events
        source = video.source()
        expected = _expected_frames(video, max_frames)
        progress = Progress(expected, label=f'[{i}/{len(test_videos)}] {video.name}', stream=progress_stream)
        summary = run(pipeline, source, out / video.name, annotate, max_frames, progress)
        if summary.interrupted:
            raise Interrupted(f'interrupted in video {video.name} ({summary.frames} frames done)')
        pred, score = np.array(summary.decisions, bool), np.array(summary.scores, float)
        truth = video.labels[:expected]
        if summary.partial or len(pred) < len(truth):
            partial.append(video.name)
            if summary.partial:
                log.warning('video %s: %s', video.name, summary.partial_message(str(video.path)))
        if len(pred) != len(truth):
            n = min(len(pred), len(truth))
            notes[video.name] = f'{len(pred)} frames decoded, {len(truth)} labels: scored the first {n}'
            log.warning('video %s: %s', video.name, notes[video.name])
            pred, score, truth = pred[:n], score[:n], truth[:n]
        rows.append(score_video(video.name, pred, score, truth))
        for key, value in (('pred', pred), ('score', score), ('truth', truth)):
            pooled[key].append(value)
        curves[video.name] = (score, truth, pred)
    pred, score, truth = (np.concatenate(pooled[k]) for k in ('pred', 'score', 'truth'))
    report = {'dataset': dataset, 'root': str(root), 'conventions': CONVENTIONS, 'videos': rows,
              'overall': score_video('overall', pred, score, truth), 'mean': macro_mean(rows),
              'notes': notes, 'partial_videos': partial, 'max_frames': max_frames, 'params': dict(params)}
    write_reports(report, out, curves)
    return report


def _percent(value: float, width: int) -> str:
    return f"{'n/a':>{width}}" if math.isnan(value) else f'{value * 100:>{width}.2f}'


def format_table(report: dict[str, Any]) -> str:
    """The report as a text table, metrics in percent (as the paper's tables)."""
    name_width = max([16] + [len(r['video']) + 2 for r in report['videos']])
    header = f"{'video':<{name_width}}{'frames':>8}{'anomal.':>9}" + ''.join(f'{c:>11}' for c in METRICS)
    lines = [header, '-' * len(header)]
    for row in report['videos'] + [report['overall'], report['mean']]:
        if row is report['overall']:
            lines.append('-' * len(header))
        anomalous = f"{row['anomalous_frames']:>9}" if 'anomalous_frames' in row else f"{'':>9}"
        lines.append(f"{row['video']:<{name_width}}{row['frames']:>8}{anomalous}"
                     + ''.join(_percent(row[c], 11) for c in METRICS))
    return '\n'.join(lines)


def _json_safe(value):
    """NaN (undefined metric) -> null, numpy scalars -> Python, so that metrics.json is strict JSON."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def write_reports(report: dict[str, Any], out: Path, curves: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / 'metrics.csv', 'w', newline='', encoding='utf-8') as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for row in report['videos'] + [report['overall'], report['mean']]:
            writer.writerow([row['video'], row['frames']]
                            + ['' if math.isnan(row[k]) else f'{row[k]:.6f}' for k in METRICS])
    with open(out / 'metrics.json', 'w', encoding='utf-8') as f:
        json.dump(_json_safe(report), f, indent=2, allow_nan=False)
    plot(out / 'plots.png', report, curves)


def plot(path: Path, report: dict[str, Any], curves: dict) -> None:
    """ROC and precision-recall of the pooled frame scores, and per video the score over time against
    the ground truth."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    score = np.concatenate([c[0] for c in curves.values()])
    truth = np.concatenate([c[1] for c in curves.values()])
    n = len(curves)
    fig = plt.figure(figsize=(12, 4.5 + 0.9 * n))
    grid = fig.add_gridspec(1 + n, 2, height_ratios=[4.5] + [0.9] * n, hspace=0.6)
    roc, pr = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
    fpr, tpr = metrics.roc_curve(score, truth)
    auc = report['overall']['auc']
    roc.plot(fpr, tpr, marker='.', label='AUC n/a' if math.isnan(auc) else f'AUC {auc:.3f}')
    roc.plot([0, 1], [0, 1], ':', color='grey')
    roc.set(title='ROC of the frame score (all frames)', xlabel='false positive rate',
            ylabel='true positive rate', xlim=(0, 1), ylim=(0, 1.02))
    roc.legend(loc='lower right')
    recall, precision = metrics.pr_curve(score, truth)
    pr.plot(recall, precision, marker='.')
    overall = report['overall']
    if not math.isnan(overall['recall']):
        pr.plot([overall['recall']], [overall['precision']], 'r*', markersize=12, label='binary decision')
        pr.legend(loc='lower left')
    pr.set(title='precision-recall (all frames)', xlabel='recall', ylabel='precision', xlim=(0, 1.02),
           ylim=(0, 1.02))
    for i, (name, (s, t, p)) in enumerate(curves.items()):
        ax = fig.add_subplot(grid[1 + i, :])
        frames = np.arange(len(t))
        ax.fill_between(frames, 0, t.astype(float), step='mid', color='tab:red', alpha=0.25,
                        label='ground truth: anomalous')
        ax.fill_between(frames, 1.02, 1.02 + 0.12 * p.astype(float), step='mid', color='black',
                        label='decision: anomalous')
        ax.plot(frames, s, color='tab:blue', linewidth=1, label='frame score')
        ax.set_ylim(0, 1.16)
        ax.set_xlim(0, max(len(t) - 1, 1))
        ax.set_ylabel(name, rotation=0, ha='right', va='center', fontsize=8)
        ax.tick_params(labelsize=7)
        if i == 0:
            ax.legend(loc='upper left', bbox_to_anchor=(1.0, 1.0), fontsize=7)
    fig.savefig(path, dpi=72, bbox_inches='tight')
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='vad-eval', description=__doc__.split('\n\n')[0])
    parser.add_argument('--dataset', choices=DATASETS, required=True)
    parser.add_argument('--root', required=True, help='dataset root folder (see docs/EVALUATION.md)')
    parser.add_argument('--params', default=None, help='params file, e.g. config/paper.yaml (default: built-in)')
    parser.add_argument('--videos', default=None, help='comma list of video ids, or a file with one per line')
    parser.add_argument('--rules', default=None, help='rule file (overrides rules_file)')
    parser.add_argument('--scene', default=None, help='static scene map (overrides scene_map_file)')
    parser.add_argument('--max-frames', type=positive_int, default=None,
                        help='score only the first N frames of each video (quick checks)')
    parser.add_argument('--annotate', action='store_true', help='also write DIR/<video>/annotated.mp4')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--allow-partial', action='store_true',
                        help='accept videos that end before the frames they announce or their labels: warn and '
                        'exit 0 instead of exit status 3')
    return parser


def main(argv: list[str] | None = None) -> int:
    keep_freed_memory()                 # before any thread starts (see vad_ros.host_memory)
    args = build_parser().parse_args(argv)
    setup_logging('vad-eval')
    try:
        params = load_params(args.params, args.rules, args.scene)
        report = evaluate(args.dataset, args.root, params, Path(args.out), parse_video_list(args.videos),
                          args.max_frames, args.annotate)
    except VadError as e:
        print(f'vad-eval: {e}', file=sys.stderr)
        return 2
    except (Interrupted, KeyboardInterrupt) as e:
        print(f'vad-eval: {e or "interrupted"}', file=sys.stderr)
        return 130
    print(format_table(report))
    print(f'vad-eval: {len(report["videos"])} videos, {report["overall"]["frames"]} frames; metrics in percent; '
          f'"overall" pools all frames, "mean" averages videos -> {args.out}: metrics.csv, metrics.json, plots.png')
    if report['partial_videos']:
        accepted = ' (accepted: --allow-partial)' if args.allow_partial else '; pass --allow-partial to accept it'
        print(f"vad-eval: warning: video(s) {', '.join(report['partial_videos'])} ended early (truncated or "
              f'damaged): scored on the frames decoded{accepted}', file=sys.stderr)
        if not args.allow_partial:
            return 3
    return 0


if __name__ == '__main__':
    sys.exit(main())
