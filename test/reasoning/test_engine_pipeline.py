"""The rule engine inside the pipeline: scene-map places through build_pipeline, ignore masks before tracking,
hot reload of a rule file that names zones (a bad version never replaces a good one), events in FrameResult."""
import os

import numpy as np
import pytest
import yaml

from vad_ros import params as vparams
from vad_ros.pipeline import build_pipeline
from vad_ros.reasoning.rules import RuleFileError
from vad_ros.types import Detections

SCENE = {'image_size': [200, 100],
         'regions': [{'label': 'road', 'polygon': [[0, 0], [200, 0], [200, 100], [0, 100]]}],
         'zones': [{'name': 'bay', 'polygon': [[100, 0], [200, 0], [200, 100], [100, 100]]}],
         'ignore': [{'name': 'poster', 'polygon': [[0, 0], [30, 0], [30, 100], [0, 100]]}]}
IMAGE = np.zeros((100, 200, 3), np.uint8)


class People:
    """Test double: people whose ground points are given per frame."""
    name, device, class_names = 'people', 'cpu', ('person',)

    def __init__(self, frames):
        self.frames, self.i = frames, 0

    def detect(self, image):
        points = np.array(self.frames[min(self.i, len(self.frames) - 1)], float).reshape(-1, 2)
        self.i += 1
        boxes = np.column_stack([points[:, 0] - 5, points[:, 1] - 30, points[:, 0] + 5, points[:, 1]])
        return Detections(boxes.astype(np.float32), np.zeros(len(points), np.int64),
                          np.full(len(points), 0.9, np.float32), self.class_names)


def setup(tmp_path, rules: str, frames):
    (tmp_path / 'scene.yaml').write_text(yaml.safe_dump(SCENE))
    (tmp_path / 'rules.yaml').write_text(rules)
    params = vparams.resolve({'scene_map_file': str(tmp_path / 'scene.yaml'),
                              'rules_file': str(tmp_path / 'rules.yaml'), 'events.grace_seconds': 0.0,
                              'confirm.enabled': False})
    return build_pipeline(params, People(frames), strict_rules=False)


def test_zones_ignore_masks_and_events_through_the_pipeline(tmp_path):
    p = setup(tmp_path, 'rules:\n  - {id: bay, objects: [person], in_zone: bay, sentence: out of the bay}\n',
              [[(150, 80), (10, 80), (60, 80)], [(150, 80), (60, 80)], [(60, 80)]])
    first = p.process(IMAGE, stamp=0.0)
    assert len(first.objects) == 2                                # the one on the poster is dropped
    (a,) = first.anomalies
    assert a.sentence == 'person (0.90) in bay: out of the bay' and a.event_id == 1
    assert [(e.event_id, e.state) for e in first.events] == [(1, 'started')] and first.events_started
    assert [e.state for e in p.process(IMAGE, stamp=0.1).events] == ['ongoing']
    last = p.process(IMAGE, stamp=0.2)
    assert [e.state for e in last.events] == ['ended'] and last.events_ended[0].duration == pytest.approx(0.1)
    assert [name for name, _ in last.overlay.zones] == ['bay'] and len(last.overlay.ignore) == 1


def test_a_bad_zone_name_at_start_leaves_no_rules_and_a_bad_reload_keeps_the_good_rules(tmp_path):
    p = setup(tmp_path, 'rules:\n  - {id: b, objects: [person], in_zone: bya, sentence: s}\n', [[(150, 80)]])
    assert p.rules.is_empty and "unknown zone 'bya'" in p.rule_source.status.message
    path = tmp_path / 'rules.yaml'
    path.write_text('rules:\n  - {id: good, objects: [person], in_zone: bay, sentence: s}\n')
    os.utime(path, ns=(1, 1))
    assert p.rule_source.poll().level == 'ok'
    assert [a.rule_id for a in p.process(IMAGE, stamp=0.0).anomalies] == ['good']
    path.write_text('rules:\n  - {id: bad, objects: [person], in_zone: nowhere, sentence: s}\n')
    os.utime(path, ns=(2, 2))
    change = p.rule_source.poll()
    assert change.level == 'error' and "unknown zone 'nowhere'" in change.message
    assert [a.rule_id for a in p.process(IMAGE, stamp=0.1).anomalies] == ['good']


def test_build_pipeline_strict_reports_unknown_places(tmp_path):
    (tmp_path / 'rules.yaml').write_text('rules:\n  - {id: b, objects: [person], crossing: gate, sentence: s}\n')
    params = vparams.resolve({'rules_file': str(tmp_path / 'rules.yaml')})
    with pytest.raises(RuleFileError, match="unknown tripwire 'gate' \\(set scene_map_file"):
        build_pipeline(params, People([[]]))
