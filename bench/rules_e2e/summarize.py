"""Summarise a `vad-video` run of the rule-language end-to-end case (bench/rules_e2e/README.md): events and
anomalous frames per rule, the first sentence of each rule, and chosen frames of annotated.mp4 as images.

    vad-video data/vtest.avi --params config/demo_vtest.yaml --scene bench/rules_e2e/scene_e2e.yaml \
        --rules bench/rules_e2e/rules_e2e.yaml --out out/rules_e2e --annotate
    python bench/rules_e2e/summarize.py out/rules_e2e [--frames 177 309 550] [--images bench/rules_e2e/frames]
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

import cv2

from vad_ros.errors import VadError
from vad_ros.files import read_yaml

HERE = Path(__file__).resolve().parent


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding='utf-8') as f:
        return [json.loads(line) for line in f if line.strip()]


def table(out_dir: Path) -> str:
    rules = [r['id'] for r in read_yaml(str(HERE / 'rules_e2e.yaml'), 'rule file', 'run from a source checkout',
                                        VadError)['rules']]
    events = read_jsonl(out_dir / 'events.jsonl')
    anomalies = read_jsonl(out_dir / 'anomalies.jsonl')
    per_rule = collections.Counter(e['rule_id'] for e in events)
    frames = collections.defaultdict(set)
    first: dict[str, dict] = {}
    for a in anomalies:
        frames[a['rule_id']].add(a['frame_index'])
        first.setdefault(a['rule_id'], a)
    lines = ['| rule | events | anomalous frames | first frame | its sentence |', '|---|---|---|---|---|']
    for rule in rules:
        a = first.get(rule)
        lines.append(f"| {rule} | {per_rule.get(rule, 0)} | {len(frames.get(rule, ()))} | "
                     f"{a['frame_index'] if a else '-'} | {a['sentence'] if a else '(never fired)'} |")
    return '\n'.join(lines)


def save_frames(video: Path, wanted: set[int], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    cap = cv2.VideoCapture(str(video))
    saved, index = [], 0
    while wanted:
        ok, frame = cap.read()
        if not ok:
            break
        if index in wanted:
            path = folder / f'frame_{index:03d}.jpg'
            cv2.imwrite(str(path), frame, [cv2.IMWRITE_JPEG_QUALITY, 80])
            saved.append(path)
            wanted.discard(index)
        index += 1
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('out_dir')
    parser.add_argument('--frames', type=int, nargs='*', default=[])
    parser.add_argument('--images', default=str(HERE / 'frames'))
    args = parser.parse_args(argv)
    out = Path(args.out_dir)
    print(table(out))
    if args.frames:
        for path in save_frames(out / 'annotated.mp4', set(args.frames), Path(args.images)):
            print(path)
    return 0


if __name__ == '__main__':
    sys.exit(main())
