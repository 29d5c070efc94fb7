"""vad-scene edit in a real headless Chromium (Debian's chromium + chromedriver, driven by selenium): mouse
drawing, vertex dragging, saving through the node's loader, bad edits refused on the page, and the tripwire's
"in" arrow as the engine counts it."""
import threading

import numpy as np
import pytest

from browser_helpers import headless_chromium
from vad_ros.reasoning import scene_map as scene_map_module
from vad_ros.reasoning.scene_map import load_scene_map
from vad_ros.scene_tools.editor import EditorSession, make_server

W, H = 640, 480
START = '''\
# hand-made start map
image_size: [640, 480]
regions:
  - label: grass
    polygon: [[0, 0], [640, 0], [640, 480], [0, 480]]
'''


@pytest.fixture(scope='module')
def browser():
    with headless_chromium() as driver:
        yield driver


@pytest.fixture
def editor(tmp_path):
    """An editor server on a free port over a file with one full-frame grass region."""
    path = tmp_path / 'scene.yaml'
    path.write_text(START)
    frame = np.zeros((H, W, 3), np.uint8)
    frame[:, :, 1] = np.linspace(40, 200, W, dtype=np.uint8)[None, :]
    session = EditorSession(path, frame, extra_labels=['railway'])
    server = make_server(session, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{server.server_address[1]}/', path, session
    server.shutdown()
    server.server_close()


class Page:
    """The editor page in the browser, with mouse actions at image coordinates."""

    def __init__(self, driver, url):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait
        self.driver, self.by = driver, By
        driver.get(url)
        WebDriverWait(driver, 20).until(lambda d: d.find_element(By.TAG_NAME, 'body').get_attribute('data-ready'))
        self.svg = driver.find_element(By.ID, 'overlay')

    def find(self, element_id):
        return self.driver.find_element(self.by.ID, element_id)

    def offset(self, x, y):
        """Selenium offsets are from the element's centre, in CSS pixels."""
        size = self.svg.size
        return round(x * size['width'] / W - size['width'] / 2), round(y * size['height'] / H - size['height'] / 2)

    def actions(self):
        from selenium.webdriver.common.action_chains import ActionChains
        return ActionChains(self.driver)

    def click_at(self, x, y):
        self.actions().move_to_element_with_offset(self.svg, *self.offset(x, y)).click().perform()

    def drag(self, start, end):
        (x0, y0), (x1, y1) = self.offset(*start), self.offset(*end)
        (self.actions().move_to_element_with_offset(self.svg, x0, y0).click_and_hold()
         .move_by_offset(x1 - x0, y1 - y0).release().perform())

    def draw(self, tool, points, label):
        self.find(tool).click()
        for x, y in points:
            self.click_at(x, y)
        self.find('finish').click()
        box = self.find('label')
        box.clear()
        box.send_keys(label)

    def save(self):
        from selenium.webdriver.support.ui import WebDriverWait
        self.find('save').click()
        status = self.find('status')
        WebDriverWait(self.driver, 10).until(lambda d: status.get_attribute('class') in ('ok', 'error'))
        return status.get_attribute('class'), status.text


SQUARE = [(100, 100), (300, 100), (300, 300), (100, 300)]


def test_draw_a_region_with_the_mouse_and_save(browser, editor):
    url, path, _ = editor
    page = Page(browser, url)
    page.draw('tool-regions', SQUARE, 'road')
    kind, text = page.save()
    assert kind == 'ok', text
    assert 'saved' in text and '2 regions' in text
    scene = load_scene_map(path)                         # the node's loader
    assert [label for label, _ in scene.regions] == ['grass', 'road']
    np.testing.assert_allclose(scene.regions[1][1], SQUARE, atol=2.5)
    labels = scene.class_map(W, H)
    assert labels.class_names[labels.labels[200, 200]] == 'road'
    assert labels.class_names[labels.labels[400, 500]] == 'grass'
    text = path.read_text()
    assert text.startswith('# hand-made start map\n# Edited with `vad-scene edit`')


def test_move_and_add_vertices_by_dragging(browser, editor):
    url, path, _ = editor
    page = Page(browser, url)
    page.draw('tool-regions', SQUARE, 'sidewalk')
    page.drag((300, 300), (400, 380))                    # move a corner
    page.drag((100, 200), (60, 200))                     # the left edge's middle dot: a new vertex
    kind, text = page.save()
    assert kind == 'ok', text
    polygon = load_scene_map(path).regions[1][1]
    assert len(polygon) == 5
    assert np.abs(polygon - [400, 380]).sum(axis=1).min() < 5
    assert np.abs(polygon - [60, 200]).sum(axis=1).min() < 5
    assert np.abs(polygon - [300, 300]).sum(axis=1).min() > 50


def test_delete_a_vertex(browser, editor):
    url, path, _ = editor
    page = Page(browser, url)
    page.draw('tool-regions', SQUARE + [(200, 350)], 'sand')
    page.click_at(200, 350)                              # select the vertex
    page.find('delete-vertex').click()
    kind, text = page.save()
    assert kind == 'ok', text
    np.testing.assert_allclose(load_scene_map(path).regions[1][1], SQUARE, atol=2.5)


def test_self_intersecting_polygon_is_refused_with_the_reason(browser, editor):
    url, path, session = editor
    page = Page(browser, url)
    page.draw('tool-regions', [(100, 100), (300, 300), (300, 100), (100, 300)], 'road')   # a bow tie
    kind, text = page.save()
    assert kind == 'error'
    assert 'not saved' in text and 'region 1' in text and 'crosses itself' in text
    assert path.read_text() == START and session.saves == 0


def test_unknown_label_is_refused_with_a_suggestion(browser, editor):
    url, path, _ = editor
    page = Page(browser, url)
    page.draw('tool-regions', SQUARE, 'raod')
    kind, text = page.save()
    assert kind == 'error'
    assert "unknown label 'raod'" in text and "'road'" in text
    assert path.read_text() == START
    box = page.find('label')                              # fixed on the page: saved
    box.clear()
    box.send_keys('railway')                              # allowed by --labels
    kind, text = page.save()
    assert kind == 'ok', text
    assert load_scene_map(path).regions[1][0] == 'railway'


def test_loader_errors_reach_the_page(browser, editor):
    url, path, _ = editor
    page = Page(browser, url)
    page.draw('tool-regions', SQUARE, '')                 # no label
    kind, text = page.save()
    assert kind == 'error' and "needs a 'label'" in text and str(path) in text


@pytest.mark.skipif(not hasattr(scene_map_module, 'Tripwire'), reason='the scene-map format has no tripwires yet')
def test_draw_a_tripwire_and_a_zone(browser, editor):
    url, path, _ = editor
    page = Page(browser, url)
    page.draw('tool-tripwires', [(50, 400), (600, 380)], 'gate_line')
    page.draw('tool-zones', [(350, 50), (600, 50), (600, 200)], 'loading_bay')
    kind, text = page.save()
    assert kind == 'ok', text
    scene = load_scene_map(path)
    assert scene.tripwire_names == ('gate_line',) and scene.zone_names == ('loading_bay',)
    np.testing.assert_allclose(scene.tripwires[0].points, [(50, 400), (600, 380)], atol=2.5)


ARROWS_ON_THE_PAGE = """
const parse = (s) => s.trim().split(/\\s+/).map((p) => p.split(',').map(Number));
return Array.from(document.querySelectorAll('#overlay g.in-arrow')).map((g) => {
  const wire = document.querySelector(`#overlay polyline[data-layer="tripwires"][data-index="${g.dataset.index}"]`);
  const shaft = g.querySelector('line');
  const label = g.querySelector('text');
  const box = label.getBBox();
  return { index: Number(g.dataset.index), wire: parse(wire.getAttribute('points')),
    tail: [shaft.x1.baseVal.value, shaft.y1.baseVal.value],
    head: parse(g.querySelector('polygon.head').getAttribute('points')),
    label: label.textContent, label_centre: [box.x + box.width / 2, box.y + box.height / 2], label_width: box.width };
});
"""


@pytest.mark.skipif(not hasattr(scene_map_module, 'Tripwire'), reason='the scene-map format has no tripwires yet')
def test_tripwire_arrow_on_the_page_is_the_way_the_engine_counts_in(browser, editor):
    """The editor's arrow (editor.js) against tripwires.in_arrow and the engine's crossings, for wires drawn
    with the mouse in several orientations: the arrow's head, and "in" beyond it, lie the way a move that the
    engine counts "in" goes; its tail on the other side."""
    from vad_ros.reasoning.tripwires import IN, OUT, CrossingDetector, in_arrow
    url, path, _ = editor
    page = Page(browser, url)
    wires = {'down': [(320, 60), (320, 420)], 'right': [(60, 240), (580, 240)],
             'diagonal': [(80, 80), (560, 400)], 'up_left': [(560, 420), (100, 60), (40, 60)]}
    for name, points in wires.items():
        page.draw('tool-tripwires', points, name)
    arrows = sorted(browser.execute_script(ARROWS_ON_THE_PAGE), key=lambda a: a['index'])
    assert [a['index'] for a in arrows] == [0, 1, 2, 3]
    for arrow, (name, points) in zip(arrows, wires.items()):
        wire = np.array(arrow['wire'], float)
        np.testing.assert_allclose(wire, points, atol=2.5)
        middle = (wire[0] + wire[1]) / 2
        head = np.array(arrow['head'], float).mean(axis=0) - middle
        direction = head / np.hypot(*head)
        expected_middle, expected = in_arrow(wire)                  # the Python drawings' source
        np.testing.assert_allclose(middle, expected_middle, atol=1e-6)
        assert direction @ expected > 0.999, (name, direction, expected)
        assert (np.array(arrow['tail']) - middle) @ direction < -5, name       # the arrow crosses the wire
        assert arrow['label'] == 'in' and arrow['label_width'] > 0
        assert (np.array(arrow['label_centre']) - middle) @ direction > head @ direction, name
        for sign, verdict in ((1, IN), (-1, OUT)):                  # the engine on a move along the page's arrow
            detector, tripwire = CrossingDetector(), (scene_map_module.Tripwire(name, wire, 4.0),)
            detector.update([1], (middle - sign * 30 * direction)[None], tripwire)
            assert detector.update([1], (middle + sign * 30 * direction)[None], tripwire)[0, 0] == verdict, name
    kind, text = page.save()                                        # and the file holds the points checked
    assert kind == 'ok', text
    for arrow, saved in zip(arrows, load_scene_map(path).tripwires):
        np.testing.assert_allclose(saved.points, arrow['wire'], atol=0.05)


def test_page_is_only_served_on_loopback(tmp_path):
    import urllib.error
    import urllib.request
    session = EditorSession(tmp_path / 'new.yaml', np.zeros((48, 64, 3), np.uint8))
    server = make_server(session, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host, port = server.server_address[:2]
        assert host == '127.0.0.1'                       # bound to loopback only
        url = f'http://127.0.0.1:{port}/api/state'
        state = __import__('json').loads(urllib.request.urlopen(url, timeout=5).read())
        assert state['document'] == {'image_size': [64, 48], 'regions': []}    # a new map: the frame's size
        rebound = urllib.request.Request(url, headers={'Host': f'attacker.example:{port}'})
        with pytest.raises(urllib.error.HTTPError) as e:                     # DNS rebinding guard
            urllib.request.urlopen(rebound, timeout=5)
        assert e.value.code == 403
    finally:
        server.shutdown()
        server.server_close()
