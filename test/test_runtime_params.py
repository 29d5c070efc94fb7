"""One versioned parameter object (vad_ros/runtime_params.py) read by the node, its cameras and their pipelines:
changes reach every reader with nothing copied or announced by hand; one event list per FrameResult; one answer
to "which scene map is waited for" (params.map_to_wait_for, used by the node's cameras and by vad-check).

FixedDetector is a test double that returns given boxes: these tests check how parameters and rules reach the
reasoning, not a model."""
import gc
import logging
import os

import numpy as np
import pytest

from vad_ros.params import ParamError, map_to_wait_for
from vad_ros.pipeline import Pipeline, build_pipeline
from vad_ros.reasoning.rules import parse_rules
from vad_ros.vocabulary import COCO_CLASSES
from vad_ros.rule_source import RuleSource
from vad_ros.runtime_params import RuntimeParams
from vad_ros.types import Detections, Event, FrameResult

IMAGE = np.zeros((100, 200, 3), np.uint8)
NO_TRACKING = {'tracking.enabled': False, 'confirm.enabled': False, 'events.grace_seconds': 0.0}


class FixedDetector:
    """Test double: one person at the given score, every frame."""
    name, device, class_names = 'fixed', 'cpu', COCO_CLASSES

    def __init__(self, score: float):
        self.score = score

    def detect(self, image):
        return Detections(np.array([[10, 10, 40, 60]], np.float32), np.array([COCO_CLASSES.index('person')]),
                          np.array([self.score], np.float32), self.class_names)


def test_an_update_is_checked_whole_and_reaches_children_except_their_pinned_names():
    root = RuntimeParams({'score_threshold': 0.4})
    camera = root.child({'rules_file': '/own/rules.yaml'})
    pipeline = camera.child({'scene_map_file': ''})
    with pytest.raises(ParamError, match="'score_threshold'"):
        root.update({'events.grace_seconds': 2.0, 'score_threshold': 1.5})
    assert (root.version, root['events.grace_seconds']) == (0, 3.0)           # nothing applied
    root.update({'score_threshold': 0.6, 'rules_file': '/node/rules.yaml'})
    assert [p['score_threshold'] for p in (root, camera, pipeline)] == [0.6] * 3
    assert (root['rules_file'], camera['rules_file'], pipeline['rules_file']) == (
        '/node/rules.yaml', '/own/rules.yaml', '/own/rules.yaml')
    version, values, names = pipeline.changes_since(0)
    assert version == pipeline.version == 1 and names == {'score_threshold'} and values['score_threshold'] == 0.6
    root.update({'score_threshold': 0.6})                 # set again to the same value: still a change to apply
    assert pipeline.changes_since(version)[2] == {'score_threshold'} and pipeline.version == 2


def test_a_child_follows_through_a_parent_that_only_it_holds():
    root = RuntimeParams()
    leaf = root.child({'scene_map_file': ''}).child()     # the middle one: referenced by the leaf only
    gc.collect()
    root.update({'score_threshold': 0.7})
    assert leaf['score_threshold'] == 0.7


def test_a_pipeline_applies_a_shared_change_before_its_next_frame_without_being_told():
    shared = RuntimeParams(NO_TRACKING)
    p = Pipeline(FixedDetector(0.5), params=shared.child())
    assert len(p.process(IMAGE).objects) == 1
    shared.update({'score_threshold': 0.6})               # as the node's parameter API does
    assert p.params['score_threshold'] == 0.3             # applied between frames, not in the middle of one
    assert p.process(IMAGE).objects == []
    shared.update({'score_threshold': 0.2})
    assert len(p.process(IMAGE).objects) == 1


def test_new_rules_from_the_rule_source_are_applied_and_checked_without_a_call(tmp_path, caplog):
    first, second = tmp_path / 'a.yaml', tmp_path / 'b.yaml'
    first.write_text('rules:\n  - {id: a, objects: [person], min_area: 10, sentence: a person}\n')
    second.write_text('rules:\n  - {id: b, objects: [person], min_area: 10, sentence: seen twice, min_frames: 4}\n')
    p = build_pipeline(dict(NO_TRACKING, rules_file=str(first)), FixedDetector(0.9), None)
    assert [a.rule_id for a in p.process(IMAGE).anomalies] == ['a']
    with caplog.at_level(logging.WARNING, logger='vad_ros.pipeline'):
        p.rule_source.switch(str(second))                 # as the parameter API and the file watcher do
        assert 'min_frames 4 acts as 1' not in caplog.text
        assert [a.rule_id for a in p.process(IMAGE).anomalies] == ['b']
    assert 'min_frames 4 acts as 1' in caplog.text        # the new rules re-checked against tracking


def test_a_fixed_rule_set_replaces_a_watched_one_at_once():
    p = Pipeline(FixedDetector(0.9), rules=RuleSource(''), params=NO_TRACKING)
    p.replace_rules(parse_rules('rules:\n  - {id: only, objects: [person], min_area: 10, sentence: x}\n', 'r.yaml'))
    assert [a.rule_id for a in p.process(IMAGE).anomalies] == ['only']


def event(event_id: int, state: str) -> Event:
    return Event('r', 1, 'person', '', 0, 0, None, None, 0.5, 'x', event_id, state)


def test_frame_results_keep_one_list_of_event_updates():
    result = FrameResult(0, None, [], [], 0.0, [event(1, 'started'), event(2, 'ongoing'), event(3, 'ended'),
                                                event(4, 'started')])
    assert [e.event_id for e in result.events_started] == [1, 4]
    assert [e.event_id for e in result.events_ended] == [3]
    result.events = []
    assert result.events_started == result.events_ended == []


def test_the_scene_map_to_wait_for(tmp_path):
    drawn = tmp_path / 'drawn.yaml'
    drawn.write_text('regions: []\n')
    base = (str(tmp_path / 'params_dir'), str(tmp_path))
    wait = {'wait_for_scene_map': True}
    assert map_to_wait_for({**wait, 'scene_map_file': ''}, base) == ''                     # no map
    assert map_to_wait_for({**wait, 'scene_map_file': 'drawn.yaml'}, base) == ''           # found in base_dirs
    assert map_to_wait_for({'scene_map_file': 'new.yaml'}, base) == ''                     # not waiting: fails later
    assert map_to_wait_for({**wait, 'scene_map_file': 'new.yaml'}, base) == os.path.join(base[0], 'new.yaml')
    assert map_to_wait_for({**wait, 'scene_map_file': 'new.yaml'}, ()) == 'new.yaml'
    assert map_to_wait_for({**wait, 'scene_map_file': '/abs/new.yaml'}, base) == '/abs/new.yaml'
