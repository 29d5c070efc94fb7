"""The editor's server side without a browser: what a save writes, keeps and refuses."""
import json
import os
import stat
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest
import yaml

from vad_ros.media.view_shift import read_reference
from vad_ros.reasoning.scene_map import load_scene_map
from vad_ros.vocabulary import THING_CLASSES
from vad_ros.scene_tools.editor import EditorSession, background_vocabulary, make_server
from vad_ros.scene_tools.errors import SceneToolError

FRAME = np.zeros((240, 320, 3), np.uint8)
SQUARE = [[10, 10], [100, 10], [100, 100], [10, 100]]


def test_vocabulary_is_background_classes_plus_the_file_and_extra_labels():
    names = background_vocabulary(None, {'regions': [{'label': 'railway'}]}, ['restricted zone'])
    assert 'road' in names and 'grass' in names
    assert not set(names) & THING_CLASSES                       # person, car, ... are no background
    assert names[-2:] == ['railway', 'restricted zone']


def test_new_file_gets_the_frame_size_and_is_created_on_save(tmp_path):
    path = tmp_path / 'new.yaml'
    session = EditorSession(path, FRAME)
    assert session.document == {'image_size': [320, 240], 'regions': []} and not path.exists()
    ok, message = session.save({'image_size': [320, 240], 'regions': [{'label': 'road', 'polygon': SQUARE}]})
    assert ok, message
    assert load_scene_map(path).regions[0][0] == 'road'
    assert path.read_text().startswith('# Edited with `vad-scene edit`')
    picture = read_reference(str(path), (240, 320))      # the frame it was drawn on, for the moved-camera check
    assert picture is not None and (tmp_path / 'new.reference.jpg').is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['new.reference.jpg', 'new.yaml']    # no temporary left
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(tmp_path / 'new.reference.jpg').st_mode) == 0o644 & ~umask    # others may read it


def test_refused_save_leaves_the_file_and_says_why(tmp_path):
    path = tmp_path / 'scene.yaml'
    path.write_text('image_size: [320, 240]\nregions:\n  - label: road\n    polygon: [[0, 0], [5, 0], [5, 5]]\n')
    before = path.read_text()
    session = EditorSession(path, FRAME)
    ok, message = session.save({'image_size': [320, 240], 'regions': [{'label': 'road', 'polygon': SQUARE[:2]}]})
    assert not ok and 'at least 3' in message and str(path) in message
    ok, message = session.save({'image_size': [320, 0], 'regions': [{'label': 'road', 'polygon': SQUARE}]})
    assert not ok and 'image_size' in message
    assert path.read_text() == before and not list(tmp_path.glob('.scene-*'))   # no temporary left behind
    assert not (tmp_path / 'scene.reference.jpg').exists()                      # nor a picture


def test_sections_the_page_does_not_edit_are_kept(tmp_path):
    path = tmp_path / 'scene.yaml'
    text = ('# top comment\nimage_size: [320, 240]\nregions:\n  - label: grass\n    polygon: '
            '[[0, 0], [320, 0], [320, 240], [0, 240]]\n')
    calibration = [{'image': [10, 200], 'ground': [0, 0]}, {'image': [300, 200], 'ground': [8, 0]},
                   {'image': [250, 100], 'ground': [8, 20]}, {'image': [60, 100], 'ground': [0, 20]}]
    path.write_text(text + yaml.safe_dump({'calibration': calibration}, default_flow_style=None))
    session = EditorSession(path, FRAME)
    if session.problem:
        pytest.skip(f'the scene-map format here has no calibration: {session.problem}')
    document = json.loads(json.dumps(session.document))         # as the page sends it back
    document['regions'].append({'label': 'road', 'polygon': SQUARE})
    ok, message = session.save(document)
    assert ok, message
    saved = yaml.safe_load(path.read_text())
    assert saved['calibration'] == calibration and len(saved['regions']) == 2
    assert path.read_text().startswith('# top comment\n# Edited with')


def test_a_file_that_is_not_a_map_cannot_be_opened(tmp_path):
    path = tmp_path / 'scene.yaml'
    path.write_text('- just\n- a list\n')
    with pytest.raises(SceneToolError, match='not a mapping'):
        EditorSession(path, FRAME)


def test_a_hostile_scene_file_is_refused_with_one_line(tmp_path):
    path = tmp_path / 'scene.yaml'
    path.write_text('a: ' + '[' * 1000 + ']' * 1000 + '\n')      # 1000 deep: the loader's depth cap
    with pytest.raises(SceneToolError) as refused:
        EditorSession(path, FRAME)
    assert 'scene.yaml:1' in str(refused.value) and len(str(refused.value)) < 500


def test_save_over_http_needs_json(tmp_path):
    session = EditorSession(tmp_path / 'scene.yaml', FRAME)
    server = make_server(session, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f'http://127.0.0.1:{server.server_address[1]}/api/save'
    try:
        form = urllib.request.Request(url, data=b'document=x', method='POST')     # a cross-site form post
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(form, timeout=5)
        assert e.value.code == 415
        body = json.dumps({'document': {'image_size': [320, 240], 'regions': [{'label': 'raod', 'polygon': SQUARE}]}})
        bad = urllib.request.Request(url, data=body.encode(), headers={'Content-Type': 'application/json'})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(bad, timeout=5)
        assert e.value.code == 422 and "unknown label 'raod'" in json.loads(e.value.read())['error']
    finally:
        server.shutdown()
        server.server_close()
