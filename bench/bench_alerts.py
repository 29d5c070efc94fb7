"""Alert quality with the defaults (issue 23): "keep off the grass" on vtest.avi with nothing but the scene map and
the rule file given, at 10 fps, at 5 fps and at half size, scored as an operator judges alarms.

Runs (the same camera, other frame rates and image sizes; nothing in the defaults may depend on one of them):
- 10 fps: data/vtest.avi as it is (768x576, 795 frames, stamps frame / 10 s);
- 5 fps: every second frame (398 frames), written as PNG files and run with `vad-video --fps 5`;
- half size: every frame resized to 384x288 (cv2.INTER_AREA), PNG files, `vad-video --fps 10`.
The frames are written once into $VAD_ALERTS_DIR (default out/alerts/). The scene map scales itself
(`image_size`); the incident labels (bench/labels/vtest_incidents.json: the 4 person-visits to the lawn) are
converted per run (frames halved at 5 fps, boxes halved at half size), as are the 80 "grass frames" of
bench/labels/vtest_people.yaml.

Variants (parameters over the defaults of vad_ros/params.py, and a rule file):
- 'new defaults': no params file at all, `--scene config/scene_vtest.yaml --rules config/rules_keep_off_grass.yaml`;
- 'old defaults': the defaults before this issue's integration: tracking.tracker iou, events.grace_seconds 1.0,
  events.reacquire_seconds 1.0, and the rule file as it was (`min_frames: 3`, no min_fraction; written into
  the output folder);
- 'first round' (--replay only): the byte tracker as first integrated: its first pass at score_threshold
  (tracking.high_score 0.3), motion only (no colours: appearance_scale 0), events.reacquire_seconds 1.0.
--scene FILE: another scene map (e.g. the map before its lawn edge was corrected) for every variant.

Per (variant, run): `vad-video INPUT [--params P] --scene ... --rules R --out DIR --labels L`, scored by
vad_ros.offline.event_metrics (DIR/events_eval.json): incidents caught, events per caught incident, false events
(and per hour), time from an incident's first frame to its first alarm (median, max), precision and recall of
the frame flag against the incidents' frames (every frame) and against the 80 grass frames; and the id switches
of the object ids the pipeline reports on the 6 labelled tracks (bench/bench_tracking_ids.py, run_pipeline).

--replay runs the same pipeline on the cached NanoDet detections of bench/bench_tracking_ids.py instead of
vad-video (the same objects on the same frames; written by the same writer, scored the same way): seconds per
run, for parameter sweeps (--set NAME=VALUE ..., over the new defaults; --rules FILE).

    python bench/bench_alerts.py [--replay] [--runs 10fps,5fps,half] [--variants 'new defaults,old defaults']
                                 [--set events.grace_seconds=2 ...] [--out bench/results_alerts.json]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / 'bench'))

import bench_tracking_ids as ids_bench  # noqa: E402
from vad_ros.media.writers import ResultWriter  # noqa: E402
from vad_ros.offline import event_metrics  # noqa: E402

VIDEO = REPO / 'data' / 'vtest.avi'
SCENE = REPO / 'config' / 'scene_vtest.yaml'
RULES = REPO / 'config' / 'rules_keep_off_grass.yaml'
INCIDENTS = REPO / 'bench' / 'labels' / 'vtest_incidents.json'
PEOPLE = REPO / 'bench' / 'labels' / 'vtest_people.yaml'
OLD_RULES = """rules:   # config/rules_keep_off_grass.yaml before issue 23's defaults (min_frames: 3)
  - id: keep-off-the-grass
    objects: [person]
    forbidden: [grass]
    sentence: keep off the grass
    severity: warning
    min_frames: 3
"""
# name: (scale of the image, every n-th frame)
RUNS = {'10fps': (1.0, 1), '5fps': (1.0, 2), 'half': (0.5, 1)}
RUN_TITLES = {'10fps': '10 fps', '5fps': '5 fps (every second frame)', 'half': 'half size (384x288)'}
# name: (params over the defaults, rule file: None = the shipped one, 'old' = OLD_RULES[, tracker attributes
# (--replay only: those without a parameter)])
VARIANTS = {
    'new defaults': ({}, None),
    'old defaults': ({'tracking.tracker': 'iou', 'events.grace_seconds': 1.0, 'events.reacquire_seconds': 1.0},
                     'old'),
    'first round': (
        {'tracking.high_score': 0.3, 'events.reacquire_seconds': 1.0}, None, {'appearance_scale': 0.0}),
}


def work_dir() -> Path:
    return Path(os.environ.get('VAD_ALERTS_DIR', REPO / 'out' / 'alerts'))


# ------------------------------------------------------------------------------------------------ inputs

def frames_folder(run: str) -> Path:
    """The run's frames as PNG files (written once)."""
    scale, step = RUNS[run]
    folder = work_dir() / f'vtest_{run}'
    count = (795 + step - 1) // step
    if folder.is_dir() and len(list(folder.glob('*.png'))) == count:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    capture = cv2.VideoCapture(str(VIDEO))
    index = written = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if index % step == 0:
            if scale != 1.0:
                frame = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(folder / f'{written:04d}.png'), frame)
            written += 1
        index += 1
    capture.release()
    return folder


def run_input(run: str) -> tuple[Path, list[str]]:
    """What vad-video reads for the run, and its extra arguments."""
    scale, step = RUNS[run]
    if scale == 1.0 and step == 1:
        return VIDEO, []
    return frames_folder(run), ['--fps', f'{10 / step:g}']


def convert_incidents(run: str) -> Path:
    """The incident labels in the run's frames and pixels (a label file in the work folder)."""
    scale, step = RUNS[run]
    if scale == 1.0 and step == 1:
        return INCIDENTS
    doc = json.loads(INCIDENTS.read_text())
    (video, entry), = doc['videos'].items()
    parsed = {i.id: i for i in event_metrics.read_incidents(INCIDENTS)[video].incidents}
    for raw in entry['incidents']:
        inc = parsed[raw['id']]
        first, last = -(-inc.first // step), inc.last // step
        raw['frames'] = [first, last]
        raw['boxes'] = {str(k): [round(v * scale, 2) for v in inc.box_at(k * step)] for k in range(first, last + 1)}
    doc['note'] = f"{doc.get('note', '')} Converted by bench/bench_alerts.py for the run '{run}'."
    path = work_dir() / f'incidents_{run}.json'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1))
    return path


def grass_truth(run: str) -> dict[int, bool]:
    """The 80 labelled grass frames (vtest_people.yaml) as run frames."""
    _, step = RUNS[run]
    doc = yaml.safe_load(PEOPLE.read_text())['grass_frames']
    sampled, positive = doc['sampled'], set(doc['positive'])
    return {f // step: f in positive for f in range(sampled['start'], sampled['stop'] + 1, sampled['step'])
            if f % step == 0}


def params_file(params: dict, path: Path) -> Path:
    """A ROS 2 params file with these (dotted) parameters."""
    tree: dict = {}
    for name, value in params.items():
        node = tree
        *parents, leaf = name.split('.')
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({'/**': {'ros__parameters': tree}}, sort_keys=False))
    return path


def rules_path(rules, folder: Path) -> Path:
    if rules is None:
        return RULES
    if rules == 'old':
        path = folder / 'rules_old.yaml'
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(OLD_RULES)
        return path
    return Path(rules)


# ------------------------------------------------------------------------------------------------ runs

def run_vad_video(run: str, params: dict, rules: Path, out: Path, labels: Path, scene: Path = SCENE) -> float:
    """vad-video on the run's input; returns the seconds it took."""
    source, extra = run_input(run)
    cmd = ['vad-video', str(source), '--scene', str(scene), '--rules', str(rules), '--out', str(out),
           '--labels', str(labels), *extra]
    if params:
        cmd += ['--params', str(params_file(params, out.parent / f'{out.name}.params.yaml'))]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def run_replay(run: str, params: dict, rules: Path, out: Path, tracker: dict | None = None,
               scene: Path = SCENE) -> None:
    """The pipeline on the cached detections (and the video's frames), written as vad-video writes them."""
    scale, step = RUNS[run]
    writer = ResultWriter(out)

    def write(frame, result):
        if frame is None:
            writer.write_events(result)
        else:
            writer.write_frame(result, frame / 10.0)
    try:
        ids_bench.run_pipeline({**params, 'rules_file': str(rules), 'scene_map_file': str(scene)},
                               ids_bench.load_detections(scale), step, write, tracker)
    finally:
        writer.close()


def id_switches(run: str, params: dict, tracker: dict | None = None) -> dict:
    scale, step = RUNS[run]
    tracked = ids_bench.run_pipeline(params, ids_bench.load_detections(scale), step, tracker=tracker)
    return ids_bench.totals(ids_bench.score(tracked, ids_bench.labelled_tracks(scale)))


def score_run(run: str, out: Path, labels: Path) -> dict:
    report, _ = event_metrics.evaluate_folder(out, event_metrics.read_incidents(labels)['vtest'])
    _, decisions, _ = event_metrics.read_frames_csv(out / 'frames.csv')
    truth = grass_truth(run)
    tp = sum(bool(decisions[f]) and t for f, t in truth.items())
    fp = sum(bool(decisions[f]) and not t for f, t in truth.items())
    fn = sum(t and not decisions[f] for f, t in truth.items())
    fl = report['frame_level']
    events = [json.loads(line) for line in (out / 'events.jsonl').read_text().splitlines() if line.strip()]
    return {'incidents': report['incidents'], 'caught': report['caught'],
            'events': report['events'], 'matching_events': report['matching_events'],
            'events_per_incident': report['events_per_incident'], 'false_events': report['false_events'],
            'false_events_per_hour': report['false_events_per_hour'],
            'first_alarm_median_s': report['first_alarm_delay_median_s'],
            'first_alarm_max_s': report['first_alarm_delay_max_s'],
            'first_alarm_delays_s': report['first_alarm_delays_s'],
            'frame_precision': fl['precision'], 'frame_recall': fl['recall'], 'frame_counts': {
                k: fl[k] for k in ('tp', 'fp', 'fn', 'tn')},
            'grass_precision': tp / (tp + fp) if tp + fp else 1.0, 'grass_recall': tp / (tp + fn) if tp + fn else 1.0,
            'grass_missed': sorted(f for f, t in truth.items() if t and not decisions[f]),
            'grass_false': sorted(f for f, t in truth.items() if not t and decisions[f]),
            'missed': report['missed'],
            'per_incident': [{k: e[k] for k in ('id', 'first_frame', 'last_frame', 'caught', 'events',
                                                 'first_alarm_frame', 'first_alarm_delay_s')}
                             for e in report['per_incident']],
            'event_list': [(e['event_id'], e['track_id'], e['start_frame'], e['end_frame']) for e in events]}


def done_when(r: dict) -> bool:
    """Issue 23's targets for one run."""
    return (r['frame_precision'] >= 0.95 and r['frame_recall'] >= 0.95 and r['caught'] == r['incidents']
            and r['events_per_incident'] <= 1.25 + 1e-9 and r['first_alarm_median_s'] <= 0.5 + 1e-9)


def fmt(x, spec='.2f') -> str:
    return 'n/a' if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def line(r: dict) -> str:
    return (f"| {r['variant']} | {RUN_TITLES[r['run']]} | {fmt(r['frame_precision'], '.3f')} / "
            f"{fmt(r['frame_recall'], '.3f')} | {fmt(r['grass_precision'], '.3f')} / {fmt(r['grass_recall'], '.3f')} | "
            f"{r['caught']}/{r['incidents']} | {fmt(r['events_per_incident'])} | {r['false_events']} "
            f"({fmt(r['false_events_per_hour'], '.0f')}) | {fmt(r['first_alarm_median_s'])} / "
            f"{fmt(r['first_alarm_max_s'])} | {r['ids']['switches']} | {'yes' if done_when(r) else 'no'} |")


HEADER = ('| variant | run | frame P / R (incident frames) | P / R (80 grass frames) | visits caught | events per '
          'visit | false events (per hour) | first alarm median / max s | id switches | targets met |\n'
          '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--replay', action='store_true', help='cached detections instead of vad-video (sweeps)')
    ap.add_argument('--runs', default=','.join(RUNS), help=f'comma-separated, of {", ".join(RUNS)}')
    ap.add_argument('--variants', default=None, help=f'comma-separated, of {", ".join(VARIANTS)} (default: all; '
                    'without --replay those without tracker attributes)')
    ap.add_argument('--set', nargs='*', default=[], metavar='NAME=VALUE',
                    help='one more variant: these parameters over the new defaults')
    ap.add_argument('--rules', default=None, help='rule file of the --set variant (default: the shipped one)')
    ap.add_argument('--scene', default=str(SCENE), help='scene map (default: %(default)s)')
    ap.add_argument('--out', default=None, help='results JSON (default: bench/results_alerts.json, not with '
                                                '--replay or --set)')
    args = ap.parse_args()
    names = args.variants.split(',') if args.variants else [n for n, v in VARIANTS.items()
                                                             if args.replay or len(v) < 3]
    variants = {name: VARIANTS[name] for name in names if name}
    if args.set:
        extra = {}
        for item in args.set:
            name, _, value = item.partition('=')
            extra[name] = yaml.safe_load(value)
        variants = {' '.join(args.set) + (f' rules {args.rules}' if args.rules else ''): (extra, args.rules)}
    results = []
    print(HEADER)
    for run in args.runs.split(','):
        labels = convert_incidents(run)
        for name, (params, rules, *tracker) in variants.items():
            tracker = tracker[0] if tracker else None
            if tracker and not args.replay:
                sys.exit(f"variant '{name}' sets tracker attributes: --replay only")
            out = work_dir() / ('replay' if args.replay else 'vad-video') / name.replace(' ', '_').replace('/', '_') \
                / run
            rules_file = rules_path(rules, out.parent)
            seconds = None
            if args.replay:
                run_replay(run, params, rules_file, out, tracker, Path(args.scene))
            else:
                seconds = run_vad_video(run, params, rules_file, out, labels, Path(args.scene))
            r = score_run(run, out, labels)
            r.update({'variant': name, 'run': run, 'params': params, 'rules': str(rules_file), 'out': str(out),
                      'seconds': seconds, 'scene': args.scene, 'tracker': tracker,
                      'ids': id_switches(run, params, tracker)})
            results.append(r)
            print(line(r), flush=True)
    for r in results:
        print(f"{r['variant']} / {r['run']}: events {r['event_list']}; grass missed {r['grass_missed']} false "
              f"{r['grass_false']}; delays {r['first_alarm_delays_s']}")
    if args.out or not (args.replay or args.set):
        path = Path(args.out or REPO / 'bench' / 'results_alerts.json')
        path.write_text(json.dumps(event_metrics.json_safe({
            'results': results, 'time': time.strftime('%Y-%m-%d %H:%M'),
            'load_average': os.getloadavg(), 'mode': 'replay' if args.replay else 'vad-video'}), indent=1) + '\n')
        print(f'written {path}')


if __name__ == '__main__':
    main()
