"""The editor under inputs that used to cost seconds, gigabytes or threads: large polygons, deep JSON, bad
Content-Length headers, clients that stop sending. A real server on 127.0.0.1, real sockets."""
import http.client
import json
import select
import socket
import threading
import time

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from vad_ros import limits
from vad_ros.reasoning.scene_map import load_scene_map
from vad_ros.scene_tools.editor import MAX_JSON_DEPTH, EditorSession, json_depth, make_server
from vad_ros.scene_tools.geometry import crossing_edges

FRAME = np.zeros((240, 320, 3), np.uint8)
SQUARE = [[10, 10], [100, 10], [100, 100], [10, 100]]
IMAGE_SIZE = [1920, 1080]


# ---------------------------------------------------------------- helpers

def comb(n: int) -> list[list[float]]:
    """A simple polygon of n vertices in a 1920x1080 image whose edges nearly all span the same x range
    (teeth 0.1 px apart): the most edges a sweep line cuts at once."""
    k = np.arange(n - 2)
    teeth = np.column_stack([np.where(k % 2, 1800.0, 100.0), np.round(10 + 0.1 * k, 1)])
    top = teeth[-1, 1] + 1
    return teeth.tolist() + [[1900.0, top], [1900.0, 5.0]]


def crossed(polygon: list, at: int) -> list:
    """The polygon with vertex `at` moved across its neighbours' teeth: it crosses itself there."""
    out = [list(p) for p in polygon]
    out[at] = [out[at][0], out[at][1] + 5.0]
    return out


class Server:
    """The editor's server on a free port in a thread of this process."""

    def __init__(self, path, timeout: float | None = 10.0):
        self.session = EditorSession(path, FRAME)
        self.httpd = make_server(self.session, 0, timeout=timeout)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def request(self, method: str, route: str, body: bytes | None = None, headers: dict | None = None,
                timeout: float = 30.0) -> tuple[int, dict]:
        conn = http.client.HTTPConnection('127.0.0.1', self.port, timeout=timeout)
        try:
            conn.request(method, route, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, json.loads(response.read())
        finally:
            conn.close()

    def save(self, document: dict) -> tuple[int, dict]:
        body = json.dumps({'document': document}).encode()
        return self.request('POST', '/api/save', body, {'Content-Type': 'application/json'})

    def state_ok(self) -> bool:
        status, state = self.request('GET', '/api/state', timeout=5.0)
        return status == 200 and 'document' in state

    def raw(self, data: bytes, timeout: float = 10.0) -> bytes:
        """Send `data` as is, then read until the server closes the connection."""
        with socket.create_connection(('127.0.0.1', self.port), timeout=timeout) as sock:
            sock.sendall(data)
            return read_to_close(sock)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def read_to_close(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b''.join(chunks)
        chunks.append(chunk)


def parse(response: bytes) -> tuple[int, dict]:
    head, _, body = response.partition(b'\r\n\r\n')
    return int(head.split()[1]), json.loads(body)


def post_head(length: str | None, route: str = '/api/save') -> bytes:
    lines = [f'POST {route} HTTP/1.1', 'Host: 127.0.0.1', 'Content-Type: application/json']
    if length is not None:
        lines.append(f'Content-Length: {length}')
    return ('\r\n'.join(lines) + '\r\n\r\n').encode()


@pytest.fixture
def server(tmp_path):
    servers = []

    def start(timeout: float | None = 10.0) -> Server:
        servers.append(Server(tmp_path / 'scene.yaml', timeout))
        return servers[-1]
    yield start
    for s in servers:
        s.close()


def _status_kb(key: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1])
    raise AssertionError(f'{key} not in /proc/self/status')


def peak_growth_mb(action):
    """(action's result, CPU seconds, growth of this process's peak resident memory in MB while it ran). CPU
    time of the whole process (the server's threads included), as the machine may be busy with other work;
    the wall time is bounded loosely. The peak is reset first (/proc/self/clear_refs), so an earlier test's
    peak cannot hide this one's."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        before = _status_kb('VmRSS')
    except OSError:                                  # no reset here: growth of the process's peak so far
        before = _status_kb('VmHWM')
    start, cpu = time.perf_counter(), time.process_time()
    result = action()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - start
    assert wall < 60, f'{wall:.1f} s'
    return result, cpu, (_status_kb('VmHWM') - before) / 1024


# ---------------------------------------------------------------- large polygons (the probe's sizes)

def test_a_6000_vertex_polygon_saves_quickly_in_little_memory(server, tmp_path):
    s = server()
    polygon = comb(6000)
    document = {'image_size': IMAGE_SIZE, 'regions': [{'label': 'road', 'polygon': polygon}]}
    (status, answer), seconds, growth = peak_growth_mb(lambda: s.save(document))
    assert status == 200, answer
    assert seconds < 3 and growth < 256, (seconds, growth)      # before: 12.8 s and 2 GB
    assert len(load_scene_map(tmp_path / 'scene.yaml').regions[0][1]) == 6000
    # the same polygon with one vertex moved across the next teeth is refused, as quickly, naming the edges
    before = (tmp_path / 'scene.yaml').read_text()
    document['regions'][0]['polygon'] = crossed(polygon, 4000)
    (status, answer), seconds, growth = peak_growth_mb(lambda: s.save(document))
    assert status == 422 and 'crosses itself' in answer['error'] and 'region 0' in answer['error']
    assert seconds < 3 and growth < 256, (seconds, growth)
    assert (tmp_path / 'scene.yaml').read_text() == before


def test_a_12000_vertex_polygon_is_refused_early_by_the_vertex_cap(server, tmp_path):
    s = server()
    polygon = comb(12_000)
    body = json.dumps({'document': {'image_size': IMAGE_SIZE, 'regions': [{'label': 'road', 'polygon': polygon}]}})
    assert 150_000 < len(body) < limits.MAX_EDITOR_BODY_BYTES         # the probe's 188 KB, under the body cap
    (status, answer), seconds, growth = peak_growth_mb(
        lambda: s.request('POST', '/api/save', body.encode(), {'Content-Type': 'application/json'}))
    assert status == 422
    error = answer['error']
    assert "region 0 ('road') has 12000 vertices" in error and 'MAX_POLYGON_VERTICES' in error
    assert str(limits.MAX_POLYGON_VERTICES) in error and 'simplify' in error
    assert seconds < 3 and growth < 256, (seconds, growth)      # before: more than 4.5 GB
    assert not (tmp_path / 'scene.yaml').exists()


def test_a_polygon_at_the_vertex_cap_is_accepted(server):
    s = server()
    document = {'image_size': IMAGE_SIZE,
                'regions': [{'label': 'road', 'polygon': comb(limits.MAX_POLYGON_VERTICES)}]}
    status, answer = s.save(document)
    assert status == 200, answer


def test_all_shapes_together_are_capped_too(server):
    s = server()
    per_shape = limits.MAX_POLYGON_VERTICES
    shapes = limits.MAX_SCENE_VERTICES // per_shape + 1
    regions = [{'label': 'road', 'polygon': comb(per_shape)} for _ in range(shapes)]
    status, answer = s.save({'image_size': IMAGE_SIZE, 'regions': regions})
    assert status == 422
    assert f'{shapes * per_shape} vertices in all' in answer['error'] and 'MAX_SCENE_VERTICES' in answer['error']


def test_zones_and_tripwires_are_capped_by_name(server):
    s = server()
    line = [[float(i % 1900), 500.0] for i in range(limits.MAX_POLYGON_VERTICES + 1)]
    status, answer = s.save({'image_size': IMAGE_SIZE, 'regions': [{'label': 'road', 'polygon': SQUARE}],
                             'tripwires': [{'name': 'gate', 'points': line}]})
    assert status == 422 and "tripwire 0 ('gate') has 10001 vertices" in answer['error']


# ---------------------------------------------------------------- JSON nesting

def test_json_nested_100000_deep_is_refused_and_the_server_goes_on(server, capfd):
    s = server()
    body = b'{"document": ' + b'[' * 100_000 + b']' * 100_000 + b'}'
    status, answer = s.request('POST', '/api/save', body, {'Content-Type': 'application/json'})
    assert status == 400
    assert 'nests 100001 levels deep' in answer['error'] and str(MAX_JSON_DEPTH) in answer['error']
    assert s.state_ok()
    assert 'Traceback' not in capfd.readouterr().err


def test_the_depth_cap_is_exact_and_ignores_brackets_in_strings(server):
    s = server()
    headers = {'Content-Type': 'application/json'}
    at_cap = b'{"document": ' + b'[' * (MAX_JSON_DEPTH - 1) + b']' * (MAX_JSON_DEPTH - 1) + b'}'
    status, answer = s.request('POST', '/api/save', at_cap, headers)
    assert status == 422, answer                    # parsed; refused as no scene document
    over = b'{"document": ' + b'[' * MAX_JSON_DEPTH + b']' * MAX_JSON_DEPTH + b'}'
    assert s.request('POST', '/api/save', over, headers)[0] == 400
    label = '[' * 1000 + '\\"{' * 100
    document = {'image_size': [320, 240], 'regions': [{'label': label, 'polygon': SQUARE}]}
    status, answer = s.save(document)
    assert status == 422 and 'unknown label' in answer['error']      # brackets inside a string do not nest
    assert json_depth(json.dumps({'a': [label, {'b': [[1, 2]]}]}).encode()) == 5


def test_a_body_that_is_not_json_is_a_400(server):
    s = server()
    status, answer = s.request('POST', '/api/save', b'{"document": [1, 2', {'Content-Type': 'application/json'})
    assert status == 400 and answer['error'].startswith('not JSON')
    status, answer = s.request('POST', '/api/save', b'\xff\xfe\xfa', {'Content-Type': 'application/json'})
    assert status == 400 and answer['error'].startswith('not JSON')


# ---------------------------------------------------------------- Content-Length

@pytest.mark.parametrize('length, status, words', [
    ('abc', 400, ("Content-Length 'abc' is not a number",)),
    ('-5', 400, ("Content-Length '-5' is negative",)),
    (None, 411, ('Content-Length header missing',)),
    ('0', 400, ('no body',)),
    ('99999999999999999999999999', 413, ('MAX_EDITOR_BODY_BYTES', str(limits.MAX_EDITOR_BODY_BYTES))),
    (str(limits.MAX_EDITOR_BODY_BYTES + 1), 413, ('MAX_EDITOR_BODY_BYTES',)),
])
def test_unusable_content_length_is_a_4xx_naming_it(server, capfd, length, status, words):
    s = server()
    response = s.raw(post_head(length) + b'{"document": {}}')       # read until the server closes
    got, answer = parse(response)
    assert got == status and answer['ok'] is False
    for word in words:
        assert word in answer['error']
    assert s.state_ok()
    assert 'Traceback' not in capfd.readouterr().err


def test_two_different_content_lengths_are_refused(server):
    s = server()
    head = post_head('10').replace(b'\r\n\r\n', b'\r\nContent-Length: 12\r\n\r\n')
    got, answer = parse(s.raw(head + b'{}'))
    assert got == 400 and 'different Content-Length' in answer['error']


def test_a_refused_large_upload_still_gets_its_answer(server):
    """The client sends its whole (too large) body before reading: the server reads and drops it for a
    moment after answering, so the answer arrives instead of a connection reset."""
    s = server()
    body = b'[' + b'0,' * (limits.MAX_EDITOR_BODY_BYTES // 2) + b'0]'
    status, answer = s.request('POST', '/api/save', body, {'Content-Type': 'application/json'})
    assert status == 413 and 'MAX_EDITOR_BODY_BYTES' in answer['error']


# ---------------------------------------------------------------- clients that stop sending

def _handler_threads() -> int:
    return sum('process_request_thread' in t.name for t in threading.enumerate())


def test_an_idle_upload_is_closed_after_the_timeout_and_others_are_served_meanwhile(server, capfd):
    s = server(timeout=1.0)
    idle = socket.create_connection(('127.0.0.1', s.port), timeout=10)
    try:
        idle.sendall(post_head('1000') + b'{"document"')            # headers and 11 of 1000 bytes, then nothing
        start = time.monotonic()
        for _ in range(3):                                          # other clients while it idles
            assert s.state_ok()
        assert time.monotonic() - start < 0.9
        got, answer = parse(read_to_close(idle))                    # the server answers, then closes
        waited = time.monotonic() - start
    finally:
        idle.close()
    assert got == 408 and '11 of the 1000 bytes' in answer['error'] and '1 s' in answer['error']
    assert 0.8 < waited < 5, waited
    deadline = time.monotonic() + 5
    while _handler_threads() and time.monotonic() < deadline:       # and its thread ends
        time.sleep(0.05)
    assert _handler_threads() == 0
    assert 'Traceback' not in capfd.readouterr().err


def test_a_trickling_body_gets_the_same_deadline(server):
    """One byte at a time, each within the per-read timeout: the body as a whole is still due in `timeout`."""
    s = server(timeout=1.0)
    with socket.create_connection(('127.0.0.1', s.port), timeout=10) as sock:
        sock.sendall(post_head('100'))
        start = time.monotonic()
        while time.monotonic() - start < 5 and not select.select([sock], [], [], 0.2)[0]:
            sock.sendall(b' ')                                      # until the server answers
        response = read_to_close(sock)
    assert time.monotonic() - start < 5
    assert response.startswith(b'HTTP/1.0 408')


def test_trickling_headers_get_the_same_deadline(server):
    s = server(timeout=1.0)
    with socket.create_connection(('127.0.0.1', s.port), timeout=10) as sock:
        start = time.monotonic()
        try:
            for byte in post_head('10') * 100:                     # one byte every 0.1 s, for 70 s
                sock.sendall(bytes([byte]))
                if select.select([sock], [], [], 0.1)[0]:
                    assert sock.recv(100) == b''                    # closed without an answer
                    break
        except ConnectionError:                                     # or reset: bytes came after the last read
            pass
        assert time.monotonic() - start < 4
    assert s.state_ok()


def test_a_client_that_sends_nothing_is_closed_after_the_timeout(server):
    s = server(timeout=0.5)
    with socket.create_connection(('127.0.0.1', s.port), timeout=10) as sock:
        start = time.monotonic()
        assert sock.recv(100) == b''                                # closed, no request to answer
        assert 0.4 < time.monotonic() - start < 5
    assert s.state_ok()


# ---------------------------------------------------------------- the self-crossing check

def reference_crossing(points, closed=True):
    """Every pair of edges, checked one by one: c and d strictly on opposite sides of ab and a and b strictly
    on opposite sides of cd (exact on the integer and half-pixel coordinates used here)."""
    p = [tuple(map(float, q)) for q in points]
    n = len(p)
    edges = [(p[k], p[(k + 1) % n]) for k in range(n if closed else n - 1)]

    def side(a, b, c):
        v = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
        return (v > 0) - (v < 0)
    pairs = []
    for i in range(len(edges)):
        for j in range(i + 1, len(edges)):
            (a, b), (c, d) = edges[i], edges[j]
            if side(a, b, c) * side(a, b, d) < 0 and side(c, d, a) * side(c, d, b) < 0:
                pairs.append((i, j))
    return pairs


coordinate = st.integers(0, 6).map(float) | st.integers(0, 12).map(lambda v: v / 2)


@settings(max_examples=1000, deadline=None)
@given(points=st.lists(st.tuples(coordinate, coordinate), min_size=3, max_size=14), closed=st.booleans())
@example(points=[(0, 0), (2, 0), (2, 2), (0, 2)], closed=True)                    # a square
@example(points=[(0, 0), (2, 2), (2, 0), (0, 2)], closed=True)                    # a bow tie
@example(points=[(0, 0), (4, 0), (4, 2), (2, 2), (2, 0), (2, 2), (0, 2)], closed=True)  # a one-pixel bridge
@example(points=[(0, 0), (3, 0), (3, 1), (1, 0), (0, 1)], closed=True)           # collinear overlap on y = 0
@example(points=[(1, 0), (1, 3), (0, 1), (2, 1)], closed=False)                  # a vertical edge crossed
@example(points=[(1, 0), (1, 3), (1, 1), (1, 2)], closed=True)                   # all on one vertical line
@example(points=[(0, 0), (2, 0), (1, 0), (1, 2), (0, 2)], closed=True)           # touching, vertex on an edge
def test_the_sweep_finds_a_crossing_exactly_when_a_pair_check_does(points, closed):
    pairs = reference_crossing(points, closed)
    found = crossing_edges(points, closed)
    if len(points) < 4:
        assert found is None
        return
    assert (found is not None) == bool(pairs), (pairs, found)
    if found is not None:
        assert found in pairs                                       # and it names a pair that crosses


def test_the_check_takes_milliseconds_and_little_memory_at_the_cap():
    n = limits.MAX_POLYGON_VERTICES
    for polygon, expected in ((comb(n), None), (crossed(comb(n), n - 100), 'a crossing')):
        found, seconds, growth = peak_growth_mb(lambda: crossing_edges(polygon))
        assert (found is None) == (expected is None)
        assert seconds < 1.0 and growth < 32, (seconds, growth)     # the pair check: 5e7 pairs, gigabytes
    a, b = crossing_edges(crossed(comb(n), n - 100))
    assert {a, b} & {n - 101, n - 100}                              # one of the moved vertex's edges
