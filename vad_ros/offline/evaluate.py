"""`vad-eval`: frame-level evaluation on ShanghaiTech Campus or NWPU Campus (layouts: datasets.py,
docs/EVALUATION.md).

    vad-eval --dataset shanghaitech|nwpu --root PATH --params config/paper.yaml [--videos LIST]
             [--rules F] [--scene F] [--max-frames N] [--annotate] [--incidents F] --out DIR

Reports per video and overall the paper's metrics (Accuracy, Recall, Precision, F1 of the binary frame
decision) and the field's (ROC AUC of the frame score). Row "overall" pools the frames of all videos
(micro average: what the paper's tables report); row "mean" averages the per-video values, leaving out
videos where a value is undefined (macro average). With --incidents (incident labels, docs/EVALUATION.md),
also the event-level metrics (incidents caught, events per incident, false events per hour, time to the first
alarm; RBDC / TBDC where the incidents have boxes) of the videos that have labels, per video and pooled.
Writes DIR/metrics.csv, DIR/metrics.json, DIR/plots.png (+ DIR/event_metrics.csv with --incidents) and, per
video, DIR/<video>/frames.csv, anomalies.jsonl, events.jsonl (+ annotated.mp4).
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

from vad_ros.offline import event_metrics, metrics
from vad_ros.offline.datasets import DATASETS, DatasetVideo, list_videos, parse_video_list
from vad_ros.offline.progress import Progress
from vad_ros.errors import VadError
from vad_ros.host_memory import keep_freed_memory
from vad_ros.offline.runner import load_params, positive_int, run, setup_logging, start_time
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


def _check_incidents(incidents: dict[str, event_metrics.VideoIncidents], videos: list[DatasetVideo],
                     source: str) -> None:
    """Before any model runs: the incident labels must name at least one of the videos evaluated."""
    names = [v.name for v in videos]
    if not any(n in incidents for n in names):
        raise event_metrics.LabelError(
            f"incident labels '{source}' name none of the videos evaluated ({', '.join(names[:5])}"
            f"{', ...' if len(names) > 5 else ''}); its videos: {', '.join(sorted(incidents)[:5])}"
            f"{', ...' if len(incidents) > 5 else ''}. Name the entries by video id")


def evaluate(dataset: str, root: str, params: dict[str, Any], out: Path, videos: list[str] | None = None,
             max_frames: int | None = None, annotate: bool = False, progress_stream=None,
             incidents: dict[str, event_metrics.VideoIncidents] | None = None, incidents_source: str = '',
             event_match: str = 'auto', start_time: float | None = None) -> dict[str, Any]:
    """Run the pipeline on each test video and score it; writes the outputs into `out` and returns the
    report (also in metrics.json). With `incidents` (event_metrics.read_incidents), also the event-level metrics
    of the videos that have an entry (report['event_level']). start_time: the stamp of every video's first frame
    (seconds since 1970 UTC, vad-eval --start-time; None = 0). Raises SourceError & co for unusable inputs,
    Interrupted on Ctrl-C."""
    from vad_ros.perception.factory import build_detector, build_segmenter
    from vad_ros.pipeline import build_pipeline

    test_videos = list_videos(dataset, root, videos)
    check_lengths(test_videos)
    if incidents is not None:
        _check_incidents(incidents, test_videos, incidents_source)
    event_rows: dict[str, dict[str, Any]] = {}
    region_parts = []
    detector, segmenter = build_detector(params), build_segmenter(params)       # built once, reused
    rows, pooled, curves, notes, partial = [], {'pred': [], 'score': [], 'truth': []}, {}, {}, []
    for i, video in enumerate(test_videos, 1):
        pipeline = build_pipeline(params, detector, segmenter)          # fresh tracker and events
        source = video.source(start=start_time)
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
        if incidents is not None and video.name in incidents:
            row, data = event_metrics.evaluate_folder(out / video.name, incidents[video.name], event_match)
            row.pop('frame_level', None)            # the dataset's frame labels are the frame-level truth here
            event_rows[video.name] = row
            if data is not None:
                region_parts.append(data)
        for key, value in (('pred', pred), ('score', score), ('truth', truth)):
            pooled[key].append(value)
        curves[video.name] = (score, truth, pred)
    pred, score, truth = (np.concatenate(pooled[k]) for k in ('pred', 'score', 'truth'))
    report = {'dataset': dataset, 'root': str(root), 'conventions': CONVENTIONS, 'videos': rows,
              'overall': score_video('overall', pred, score, truth), 'mean': macro_mean(rows),
              'notes': notes, 'partial_videos': partial, 'max_frames': max_frames, 'params': dict(params)}
    if incidents is not None:
        report['event_level'] = {
            'labels': incidents_source, 'match': event_match, 'videos': event_rows,
            'overall': event_metrics.combine(list(event_rows.values()), region_parts),
            'videos_without_incidents': [v.name for v in test_videos if v.name not in incidents]}
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


EVENT_COLUMNS = ('video', 'incidents', 'caught', 'caught_rate', 'events', 'events_per_incident', 'false_events',
                 'false_events_per_hour', 'first_alarm_delay_median_s', 'first_alarm_delay_max_s', 'rbdr', 'tbdr',
                 'false_positives_per_frame')


def _event_values(name: str, row: dict[str, Any]) -> list:
    regions = row.get('regions') or {}
    values = [name] + [row[k] for k in EVENT_COLUMNS[1:10]]
    return values + [regions.get(k, math.nan) for k in EVENT_COLUMNS[10:]]


def format_event_table(event_level: dict[str, Any]) -> str:
    """The event-level metrics as a text table: one row per video with incident labels, then "overall"."""
    rows = [_event_values(n, r) for n, r in event_level['videos'].items()]
    rows.append(_event_values('overall', event_level['overall']))
    width = max([16] + [len(r[0]) + 2 for r in rows])
    header = (f"{'video':<{width}}{'incid.':>7}{'caught':>8}{'events':>7}{'ev/inc':>7}{'false':>6}{'false/h':>9}"
              f"{'delay med':>10}{'delay max':>10}{'RBDR':>8}{'TBDR':>8}{'FP/frame':>9}")

    def num(v, fmt):
        return f'{"n/a":>{len(format(0.0, fmt))}}' if v is None or (isinstance(v, float) and math.isnan(v)) \
            else format(v, fmt)
    lines = [header, '-' * len(header)]
    for r in rows:
        if r[0] == 'overall':
            lines.append('-' * len(header))
        lines.append(f"{r[0]:<{width}}{r[1]:>7}{r[2]:>8}{r[4]:>7}{num(r[5], '>7.2f')}{r[6]:>6}"
                     f"{num(r[7], '>9.1f')}{num(r[8], '>10.2f')}{num(r[9], '>10.2f')}{_percent(r[10], 8)}"
                     f"{_percent(r[11], 8)}{num(r[12], '>9.3f')}")
    return '\n'.join(lines)


def _json_safe(value):
    """NaN (undefined metric) -> null, numpy scalars -> Python, so that metrics.json is strict JSON."""
    return event_metrics.json_safe(value)


def write_reports(report: dict[str, Any], out: Path, curves: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / 'metrics.csv', 'w', newline='', encoding='utf-8') as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for row in report['videos'] + [report['overall'], report['mean']]:
            writer.writerow([row['video'], row['frames']]
                            + ['' if math.isnan(row[k]) else f'{row[k]:.6f}' for k in METRICS])
    if 'event_level' in report:
        with open(out / 'event_metrics.csv', 'w', newline='', encoding='utf-8') as f:
            writer = csv.writer(f)
            writer.writerow(EVENT_COLUMNS)
            level = report['event_level']
            for name, row in list(level['videos'].items()) + [('overall', level['overall'])]:
                writer.writerow(['' if isinstance(v, float) and math.isnan(v) else v
                                 for v in _event_values(name, row)])
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
    parser.add_argument('--start-time', type=start_time, default=None, metavar='ISO8601',
                        help="when every video's first frame was recorded, ISO 8601 with the UTC offset, e.g. "
                        '2026-03-01T22:15:00+01:00: frames are stamped from it, so the rules\' schedules (active:) '
                        'apply (default: each video\'s clock starts at 1970-01-01 00:00 UTC)')
    parser.add_argument('--incidents', default=None,
                        help='incident labels (JSON, docs/EVALUATION.md): also report the event-level metrics of '
                        'the videos it names')
    event_metrics.add_match_option(parser, '--incidents')
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
        params = load_params(args.params, args.rules, args.scene, lenient=True)
        incidents = event_metrics.read_incidents(args.incidents) if args.incidents else None
        report = evaluate(args.dataset, args.root, params, Path(args.out), parse_video_list(args.videos),
                          args.max_frames, args.annotate, incidents=incidents, incidents_source=args.incidents or '',
                          event_match=args.event_match, start_time=args.start_time)
    except VadError as e:
        print(f'vad-eval: {e}', file=sys.stderr)
        return 2
    except (Interrupted, KeyboardInterrupt) as e:
        print(f'vad-eval: {e or "interrupted"}', file=sys.stderr)
        return 130
    print(format_table(report))
    print(f'vad-eval: {len(report["videos"])} videos, {report["overall"]["frames"]} frames; metrics in percent; '
          f'"overall" pools all frames, "mean" averages videos -> {args.out}: metrics.csv, metrics.json, plots.png')
    if 'event_level' in report:
        level = report['event_level']
        print(format_event_table(level))
        without = level['videos_without_incidents']
        unlabelled = f"; no incidents for {', '.join(without)}" if without else ''
        print(f"vad-eval: events vs the incidents of '{args.incidents}' (match: {args.event_match}); RBDR / TBDR in "
              f'percent, delays in seconds; "overall" pools the videos{unlabelled} -> event_metrics.csv, '
              'metrics.json (event_level)')
    if report['partial_videos']:
        accepted = ' (accepted: --allow-partial)' if args.allow_partial else '; pass --allow-partial to accept it'
        print(f"vad-eval: warning: video(s) {', '.join(report['partial_videos'])} ended early (truncated or "
              f'damaged): scored on the frames decoded{accepted}', file=sys.stderr)
        if not args.allow_partial:
            return 3
    return 0


if __name__ == '__main__':
    sys.exit(main())
