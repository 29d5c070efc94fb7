"""The reasoning of two versions on the same synthetic detections (vtest scene map; the demo's rule and the
paper's rules in paper mode and tracked): every anomaly (rule, track, sentence, score, box), every event start
and end, frame scores, every object (class, track, background, fraction). Run it once per version and compare the files:

    git archive a432a1d vad_ros | tar -x -C /tmp/old          # the version before the rule language grew
    cd /tmp && PYTHONPATH=/tmp/old python /work/main/bench/compare_reasoning.py /tmp/old.json
    cd /tmp && python /work/main/bench/compare_reasoning.py /tmp/new.json && cmp /tmp/old.json /tmp/new.json

(Run it from outside the repository: python puts the working directory first on the path.)
"""
import json, sys
import numpy as np
from vad_ros.pipeline import Pipeline
from vad_ros.reasoning.rules import load_rules
from vad_ros.reasoning.scene_map import load_scene_map
from vad_ros.types import Detections
from vad_ros.vocabulary import COCO_CLASSES

REPO = str(__import__('pathlib').Path(__file__).resolve().parents[1])
rng = np.random.default_rng(7)
n, frames = 14, 400
pos = rng.uniform([0, 100], [768, 576], (n, 2)); vel = rng.normal(0, 6, (n, 2))
size = rng.uniform([25, 60], [60, 150], (n, 2))
cls = rng.choice([COCO_CLASSES.index(c) for c in ('person', 'car', 'bicycle', 'skateboard')], n)
seq = []
for i in range(frames):
    pos = (pos + vel + rng.normal(0, 2, (n, 2))) % [768, 576]
    boxes = np.column_stack([pos[:, 0] - size[:, 0] / 2, pos[:, 1] - size[:, 1], pos[:, 0] + size[:, 0] / 2, pos[:, 1]])
    vis = rng.random(n) > 0.1                        # detector misses
    seq.append(Detections(boxes[vis].astype(np.float32), cls[vis].astype(np.int64),
                          rng.uniform(0.2, 1.0, vis.sum()).astype(np.float32), COCO_CLASSES))

class Fixed:
    name, device, class_names = 'fixed', 'cpu', COCO_CLASSES
    def __init__(self): self.i = 0
    def detect(self, image):
        d = seq[self.i]; self.i += 1; return d

scene = load_scene_map(f'{REPO}/config/scene_vtest.yaml')
settings = {
    'demo': (f'{REPO}/config/rules_keep_off_grass.yaml', {'background.region': 'footprint', 'tracking.enabled': True,
             'persistence.grace_frames': 3}),
    'paper': (f'{REPO}/vad_ros/data/rules_paper.yaml', {'background.region': 'box', 'background.exclude_things': False,
              'tracking.enabled': False, 'persistence.min_frames': 1, 'persistence.grace_frames': 0}),
    'paper-tracked': (f'{REPO}/vad_ros/data/rules_paper.yaml', {'tracking.enabled': True, 'persistence.min_frames': 2,
                      'persistence.grace_frames': 2}),
}
out = {}
img = np.zeros((576, 768, 3), np.uint8)
for name, (rules, params) in settings.items():
    p = Pipeline(Fixed(), None, load_rules(rules), scene, params)
    rec = []
    for i in range(frames):
        r = p.process(img, i, i / 10)
        rec.append([[(a.rule_id, a.track_id, a.sentence, round(a.score, 9), a.duration_frames, a.box) for a in r.anomalies],
                    [(e.rule_id, e.track_id, e.start_frame, e.end_frame, round(e.peak_score, 9), e.sentence) for e in r.events_started],
                    [(e.rule_id, e.track_id, e.start_frame, e.end_frame, round(e.peak_score, 9), e.sentence) for e in r.events_ended],
                    round(r.score, 9),
                    [(o.object_class, o.track_id, o.background_class, round(o.background_fraction, 9)) for o in r.objects]])
    rec.append([(e.rule_id, e.track_id, e.start_frame, e.end_frame) for e in p.flush_events()])
    out[name] = rec
json.dump(out, open(sys.argv[1], 'w'))
print({k: sum(len(f[0]) for f in v[:-1]) for k, v in out.items()}, {k: sum(len(f[2]) for f in v[:-1]) for k, v in out.items()})
