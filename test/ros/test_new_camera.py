"""The first hour on a new camera (README.md, "A new camera, no model needed"), over real DDS with the real node
(NanoDet; HOG where its model is missing) started with config/new_camera.yaml as it ships:

- no background source: the node says so once, in one line through one logger, names the two ways forward,
  and /diagnostics says the same at WARN;
- the lawn drawn in `vad-scene edit` in a real headless Chromium and saved; the running node loads the map
  (the WARN clears) and flags the man who walks on the lawn in vtest.avi: a keep-off-the-grass event whose
  footprint is on the drawn lawn.
"""
from __future__ import annotations

import os
import re
import shutil
import threading

import cv2
import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticStatus

from node_graph import image_msg, node_status
from browser_helpers import headless_chromium
from vad_ros.background_hint import no_background_hint
from vad_ros.msg import AnomalyEvent
from vad_ros.scene_tools.editor import EditorSession, make_server

W, H = 768, 576
LAWN = [(2, 238), (100, 250), (200, 262), (290, 285), (350, 305), (420, 345), (500, 385), (600, 425),
        (700, 470), (765, 498), (765, 573), (2, 573)]     # the foreground lawn of vtest.avi (config/scene_vtest.yaml)
ON_THE_LAWN = range(520, 546)     # vtest.avi: the man walking on the lawn, bottom right (bench/labels)
ON_THE_ROAD = 100                 # a frame with people on the road and the footpaths, none on the lawn


def read_frames(path, indices) -> dict[int, np.ndarray]:
    cap, frames, i = cv2.VideoCapture(str(path)), {}, 0
    try:
        while len(frames) < len(indices):
            ok, frame = cap.read()
            assert ok, f'{path}: only {i} frames'
            if i in indices:
                frames[i] = frame
            i += 1
    finally:
        cap.release()
    return frames


def frame_msg(frame, index: int):
    """Frame `index` of the video, stamped at its time in a 10 fps recording."""
    msg = image_msg(frame, 0)
    msg.header.stamp.sec, msg.header.stamp.nanosec = 1000 + index // 10, (index % 10) * 100_000_000
    return msg


@pytest.fixture
def new_camera(tmp_path, repo_root):
    """config/new_camera.yaml and its rule file, as shipped, in a folder of their own (the map is saved there)."""
    for name in ('new_camera.yaml', 'rules_keep_off_grass.yaml'):
        shutil.copy(repo_root / 'config' / name, tmp_path / name)
    return tmp_path / 'new_camera.yaml', tmp_path / 'scene_new_camera.yaml'


@pytest.fixture
def browser():
    with headless_chromium() as driver:
        yield driver


def draw_region_and_save(driver, url: str, points, label: str) -> tuple[str, str]:
    """Draw a region with the mouse on the editor page, label it, save; the status line's (class, text)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    driver.get(url)
    WebDriverWait(driver, 20).until(lambda d: d.find_element(By.TAG_NAME, 'body').get_attribute('data-ready'))
    svg = driver.find_element(By.ID, 'overlay')
    size = svg.size
    driver.find_element(By.ID, 'tool-regions').click()
    for x, y in points:     # selenium's offsets are from the element's centre, in CSS pixels
        offset = round(x * size['width'] / W - size['width'] / 2), round(y * size['height'] / H - size['height'] / 2)
        ActionChains(driver).move_to_element_with_offset(svg, *offset).click().perform()
    driver.find_element(By.ID, 'finish').click()
    box = driver.find_element(By.ID, 'label')
    box.clear()
    box.send_keys(label)
    driver.find_element(By.ID, 'save').click()
    status = driver.find_element(By.ID, 'status')
    WebDriverWait(driver, 10).until(lambda d: status.get_attribute('class') in ('ok', 'error'))
    return status.get_attribute('class'), status.text


def test_a_new_camera_goes_from_no_background_to_a_keep_off_the_grass_event(new_camera, node_graph, browser,
                                                                             vtest_path):
    params, scene = new_camera
    frames = read_frames(vtest_path, {ON_THE_ROAD, *ON_THE_LAWN})
    g = node_graph(str(params))

    # 1. No background source: one line, once, through the node's logger; /diagnostics at WARN with its words.
    hint = no_background_hint(str(scene), '/test_cam/image_raw')
    assert g.peer.spin_until(lambda: node_status(g) is not None and node_status(g).level == DiagnosticStatus.WARN
                             and node_status(g).message == hint, 20), (node_status(g), g.log())
    log = g.log()
    assert log.count('no background source') == 1 and 'cannot produce' not in log, log
    assert re.search(r'^\[WARN\] \[[\d.]+\] \[cam\.vad_node\]: ' + re.escape(hint) + '$', log, re.M), log
    assert f'vad-scene edit {scene} --topic /test_cam/image_raw' in hint and 'ADE20K segmenter' in hint
    assert not os.path.exists(scene)
    assert g.send_and_wait(frame_msg(frames[ON_THE_ROAD], ON_THE_ROAD)).anomalies == [], g.log()

    # 2. The lawn drawn in the browser on a frame of the camera and saved where the node waits for it.
    session = EditorSession(scene, frames[ON_THE_ROAD])
    server = make_server(session, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        kind, text = draw_region_and_save(browser, f'http://127.0.0.1:{server.server_address[1]}/', LAWN, 'grass')
    finally:
        server.shutdown()
        server.server_close()
    assert kind == 'ok' and 'saved' in text and '1 regions' in text, text

    # 3. The running node loads it: the WARN clears, and the man on the lawn is flagged. (A camera streams all the
    # while; this one sent one frame before the drawing, so one more now: silence past input.timeout is ERROR.)
    assert g.peer.spin_until(lambda: 'scene map changed: 1 region(s)' in g.log(), 20), g.log()
    assert g.send_and_wait(frame_msg(frames[ON_THE_ROAD], ON_THE_ROAD + 1)) is not None, g.log()
    assert g.peer.spin_until(lambda: node_status(g).level == DiagnosticStatus.OK, 20), (node_status(g), g.log())
    assert 'no background source' not in node_status(g).message
    for index in ON_THE_LAWN:
        assert g.send_and_wait(frame_msg(frames[index], index)) is not None, g.log()
        if g.peer.spin_until(lambda: g.events, 0.2):
            break
    started = [e for e in g.events if e.state == AnomalyEvent.STATE_STARTED]
    assert started, g.log()
    event = started[0]
    assert (event.rule_id, event.object_class, event.background_class) == ('keep-off-the-grass', 'person', 'grass')
    assert 'keep off the grass' in event.sentence
    x0, y0, x1, y1 = event.x_min, event.y_min, event.x_max, event.y_max
    feet = ((x0 + x1) / 2, y1 - 0.1 * (y1 - y0))
    assert cv2.pointPolygonTest(np.array(LAWN, np.float32), feet, False) > 0, (feet, event)
    # the node logs the line after publishing the event: its output may reach the log file a moment later
    assert g.peer.spin_until(lambda: f'event {event.event_id} started: ' in g.log(), 5), g.log()
    assert g.procs.exited() == {}


def test_the_documented_first_launch_says_it_once_and_keeps_saying_it_in_diagnostics(node_graph, repo_root):
    g = node_graph(str(repo_root / 'config' / 'vad.yaml'))       # no segmenter, no scene map, the paper's rules
    hint = no_background_hint()
    assert g.peer.spin_until(lambda: node_status(g) is not None and node_status(g).message == hint, 20), \
        (node_status(g), g.log())
    assert node_status(g).level == DiagnosticStatus.WARN
    log = g.log()                      # one line, through the node's logger: not ten warnings, each twice
    assert log.count('no background source') == 1 and 'cannot produce' not in log, log
    assert re.search(r'^\[WARN\] \[[\d.]+\] \[cam\.vad_node\]: ' + re.escape(hint) + '$', log, re.M), log
    assert 'vad-scene edit scene.yaml --topic' in hint and 'ADE20K segmenter' in hint
    g.peer.spin_for(2.0)
    assert node_status(g).message == hint and g.procs.exited() == {}
