"""`vad-scene edit`: the scene map over a camera frame in a local web page, edited with the mouse.

A standard-library HTTP server on 127.0.0.1 (never another interface) serves one page (web/) and a small
JSON API:

    GET  /                 the page            GET /frame.jpg   the frame
    GET  /api/state        the document, its layers, the label vocabulary, the file's current problem
    POST /api/save         {"document": {...}} -> saved, or refused with the reason (HTTP 422)

Requests are bounded before they cost memory or time: the body (Content-Length, which must be given, at
most limits.MAX_EDITOR_BODY_BYTES), its JSON nesting (MAX_JSON_DEPTH, counted before it is parsed), the
vertices of each shape and of the whole document (limits.MAX_POLYGON_VERTICES, MAX_SCENE_VERTICES, counted
before anything is converted), and the time a client may take: the first byte of a request must come within
`timeout` seconds of connecting and the whole request, headers and body, within `timeout` seconds of that
(one request per connection), else the connection is closed (with HTTP 408 once the headers are in); writing
the answer may wait as long. Every refusal is a JSON answer {"ok": false, "error": ...} naming the problem; each
connection has its own thread, so a slow client does not hold up the others.

Saving goes through scene_yaml.save: the text is loaded by the node's own loader
(vad_ros.reasoning.scene_map.load_scene_map) and checked for polygons that cross themselves and region
labels outside the vocabulary before it atomically replaces the file. Sections the page does not edit
(calibration, anything new) are written back as they were.
"""
from __future__ import annotations

import datetime
import io
import json
import os
import re
import socket
import sys
import threading
import time
import webbrowser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterable

import cv2
import numpy as np

from vad_ros import limits
from vad_ros.files import parse_yaml, read_text
from vad_ros.media.view_shift import write_reference
from vad_ros.reasoning.scene_map import SceneMapError
from vad_ros.vocabulary import ADE20K_CLASSES, THING_CLASSES
from vad_ros.scene_tools import scene_yaml
from vad_ros.scene_tools.errors import SceneToolError

WEB = Path(__file__).with_name('web')
STATIC = {'/': ('index.html', 'text/html; charset=utf-8'), '/editor.js': ('editor.js', 'text/javascript'),
          '/editor.css': ('editor.css', 'text/css')}
REQUEST_TIMEOUT_S = 10.0          # for a whole request (headers and body) to arrive, and for each write
MAX_JSON_DEPTH = limits.MAX_YAML_DEPTH + 1    # {"document": ...} around a document that is checked as YAML
_LINGER_S = 1.0                   # after refusing a body unread: how long what the client still sends is read

# The editable sections of the format: key, shape kind, the points' key, the name's key, whether a name is
# required, and where names come from ('background' = the label vocabulary, '' = free text).
LAYERS = (
    {'key': 'regions', 'title': 'Regions', 'kind': 'polygon', 'points': 'polygon', 'name': 'label',
     'required': True, 'vocabulary': 'background', 'min': 3},
    {'key': 'zones', 'title': 'Zones', 'kind': 'polygon', 'points': 'polygon', 'name': 'name',
     'required': True, 'vocabulary': '', 'min': 3},
    {'key': 'tripwires', 'title': 'Tripwires', 'kind': 'line', 'points': 'points', 'name': 'name',
     'required': True, 'vocabulary': '', 'min': 2},
    {'key': 'ignore', 'title': 'Ignore masks', 'kind': 'polygon', 'points': 'polygon', 'name': 'name',
     'required': False, 'vocabulary': '', 'min': 3},
)


def background_vocabulary(params: dict | None, document: dict, extra: Iterable[str] = ()) -> list[str]:
    """Labels a region may take: the segmenter's classes (ADE20K unless the params name another model's
    vocabulary is loaded), less the "thing" classes, plus the labels the file already uses and `extra`."""
    names = [c.strip() for c in _segmenter_classes(params) if c.strip() not in THING_CLASSES]
    used = [r.get('label') for r in document.get('regions') or () if isinstance(r, dict)]
    return list(dict.fromkeys([*names, *[u for u in used if isinstance(u, str) and u.strip()], *extra]))


def _segmenter_classes(params: dict | None) -> tuple[str, ...]:
    """The configured segmenter's vocabulary as its checkpoint states it, without building the model;
    ADE20K's class list otherwise."""
    checkpoint = (params or {}).get('segmenter.checkpoint') or ''
    if checkpoint and os.path.isfile(checkpoint):
        try:
            import torch
            meta = torch.load(checkpoint, map_location='cpu', weights_only=True).get('meta') or {}
            classes = (meta.get('dataset_meta') or {}).get('classes')
            if classes:
                return tuple(str(c) for c in classes)
        except Exception:  # noqa: BLE001 - any unreadable checkpoint: fall back to the reference list
            pass
    return ADE20K_CLASSES


class EditorSession:
    """The file being edited, the frame, and the label vocabulary; save() is the only writer."""

    def __init__(self, path: str | os.PathLike, frame_bgr: np.ndarray, params: dict | None = None,
                 extra_labels: Iterable[str] = ()):
        self.path = str(path)
        self.frame_size = (int(frame_bgr.shape[1]), int(frame_bgr.shape[0]))
        ok, jpeg = cv2.imencode('.jpg', frame_bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            raise SceneToolError('cannot encode the frame as JPEG')
        self.frame_jpeg = jpeg.tobytes()
        self.document, self.comment, self.problem = self._read()
        self.vocabulary = background_vocabulary(params, self.document, extra_labels)
        self.lock = threading.Lock()
        self.saves = 0

    def _read(self) -> tuple[dict, str, str]:
        if not os.path.exists(self.path):
            return {'image_size': list(self.frame_size), 'regions': []}, '', ''
        fix = 'fix or remove it, or pass another --scene file'
        text = read_text(self.path, 'scene map', fix, SceneToolError)      # size-capped (vad_ros/limits.py)
        document = parse_yaml(text, self.path, SceneToolError) or {}       # depth / alias / node caps
        if not isinstance(document, dict):
            raise SceneToolError(f"scene map '{self.path}' is not a mapping (image_size, regions, ...): fix or "
                                 'remove it')
        document.setdefault('image_size', list(self.frame_size))
        problem = ''
        try:
            scene_yaml.validate_text(text, self.path)
        except (SceneMapError, SceneToolError) as e:
            problem = str(e)
        return document, scene_yaml.leading_comment(text), problem

    def state(self) -> dict[str, Any]:
        return {'path': self.path, 'document': self.document, 'frame_size': list(self.frame_size),
                'layers': LAYERS, 'vocabulary': {'background': self.vocabulary}, 'problem': self.problem}

    def save(self, document: Any) -> tuple[bool, str]:
        """(True, what was saved) or (False, why it was refused); the file changes only on success."""
        if not isinstance(document, dict):
            return False, 'the page sent no scene document'
        too_many = vertex_problem(document)
        if too_many:
            return False, too_many
        document = _ordered(document)
        comment = _edited_comment(self.comment)
        with self.lock:
            try:
                scene = scene_yaml.save(document, self.path, comment, self.vocabulary)
            except (SceneMapError, SceneToolError) as e:
                return False, str(e)
            self.document, self.comment, self.problem = document, comment, ''
            self.saves += 1
            try:                # the picture it was drawn on: the node sees a camera bumped since (view_shift)
                write_reference(self.path, self.frame_jpeg)
                picture = ''
            except OSError as e:
                picture = f' (the picture it was drawn on was not saved: {e})'
        parts = [f'{len(scene.regions)} regions']
        for key in ('zones', 'tripwires', 'ignore'):
            if document.get(key):
                parts.append(f'{len(document[key])} {key}')
        return True, f"saved {self.path}: {', '.join(parts)}{picture}"


def vertex_problem(document: dict) -> str:
    """Why the document has too many vertices for the node's loader (a shape over limits.MAX_POLYGON_VERTICES,
    all shapes together over limits.MAX_SCENE_VERTICES), or ''. Only list lengths are read, so a document
    far over the limits is refused before anything is converted or checked."""
    total = 0
    for layer in LAYERS:
        items = document.get(layer['key'])
        if not isinstance(items, list):
            continue                                # the loader names a section that is not a list
        what = layer['title'].lower().rstrip('s')
        for i, item in enumerate(items):
            points = item.get(layer['points']) if isinstance(item, dict) else None
            if not isinstance(points, list):
                continue
            if len(points) > limits.MAX_POLYGON_VERTICES:
                name = item.get(layer['name'])
                named = f" ({limits.excerpt(name)})" if isinstance(name, str) and name else ''
                return (f"{what} {i}{named} has {len(points)} vertices, more than the "
                        f"{limits.MAX_POLYGON_VERTICES} one shape may have (MAX_POLYGON_VERTICES in "
                        "vad_ros/limits.py): simplify its outline (fewer vertices; `vad-scene bootstrap "
                        "--tolerance 2` or more makes fewer) or split it into several shapes")
            total += len(points)
    if total > limits.MAX_SCENE_VERTICES:
        return (f"the scene has {total} vertices in all, more than the {limits.MAX_SCENE_VERTICES} a scene map "
                "may have (MAX_SCENE_VERTICES in vad_ros/limits.py): simplify the outlines or remove shapes")
    return ''


def _ordered(document: dict) -> dict:
    """Known sections first, in the format's order, points as file numbers; empty sections left out."""
    out: dict[str, Any] = {'image_size': document.get('image_size')}
    for layer in LAYERS:
        items = document.get(layer['key'])
        if items:
            out[layer['key']] = [_clean_item(item, layer) for item in items]
    for key, value in document.items():
        if key not in out and not (key in {layer['key'] for layer in LAYERS} and not value):
            out[key] = value
    return out


def _clean_item(item: Any, layer: dict) -> Any:
    if not isinstance(item, dict):
        return item
    out = {}
    name = item.get(layer['name'])
    if name not in (None, '') or layer['required']:
        out[layer['name']] = name.strip() if isinstance(name, str) else name
    points = item.get(layer['points'])
    try:
        out[layer['points']] = scene_yaml.points(points)
    except (TypeError, ValueError):
        out[layer['points']] = points
    for key, value in item.items():
        if key not in out:
            out[key] = value
    return out


def _edited_comment(comment: str) -> str:
    lines = [line for line in comment.splitlines() if not line.startswith('Edited with `vad-scene edit`')]
    lines.append(f'Edited with `vad-scene edit` on {datetime.date.today().isoformat()}.')
    return '\n'.join(lines)


class _Handler(BaseHTTPRequestHandler):
    session: EditorSession
    quiet = True

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's signature
        if not self.quiet:
            super().log_message(format, *args)

    def _host_ok(self) -> bool:
        """Only pages loaded from this server (DNS-rebinding guard: the Host must be a loopback name)."""
        host = (self.headers.get('Host') or '').rsplit(':', 1)[0].strip('[]')
        return host in ('127.0.0.1', 'localhost', '::1')

    def setup(self) -> None:
        """The request is read through _DeadlineReader: all of it within `timeout` seconds of its first byte."""
        super().setup()
        self.rfile.close()                                  # the plain reader (the socket stays open)
        self.rfile = io.BufferedReader(_DeadlineReader(self.connection, self.timeout))

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.connection.settimeout(self.timeout)            # the reader may have left less
        self.send_response(status)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(body)))
        self.send_header('Cache-Control', 'no-store')
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, value: Any) -> None:
        self._send(status, json.dumps(value).encode(), 'application/json')

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if not self._host_ok():
            return self._json(HTTPStatus.FORBIDDEN, {'error': 'open the editor through 127.0.0.1'})
        route = self.path.split('?', 1)[0]
        if route in STATIC:
            name, content_type = STATIC[route]
            return self._send(HTTPStatus.OK, (WEB / name).read_bytes(), content_type)
        if route == '/frame.jpg':
            return self._send(HTTPStatus.OK, self.session.frame_jpeg, 'image/jpeg')
        if route == '/api/state':
            return self._json(HTTPStatus.OK, self.session.state())
        self._json(HTTPStatus.NOT_FOUND, {'error': f'no page {route}'})

    def do_POST(self) -> None:  # noqa: N802
        if not self._host_ok() or self.path != '/api/save':
            return self._refuse(HTTPStatus.FORBIDDEN, 'not allowed')
        if not (self.headers.get('Content-Type') or '').startswith('application/json'):
            return self._refuse(HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                                'send JSON (Content-Type: application/json), {"document": {...}}')
        length = self._content_length()
        if length is None:
            return
        raw = self._read_body(length)
        if raw is None:
            return
        depth = json_depth(raw)
        if depth > MAX_JSON_DEPTH:
            return self._refuse(HTTPStatus.BAD_REQUEST, f'the JSON nests {depth} levels deep, more than the '
                                f'{MAX_JSON_DEPTH} a save may (MAX_YAML_DEPTH in vad_ros/limits.py, plus one for '
                                '{"document": ...}): send the scene document as the page does', unread=False)
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError) as e:       # UnicodeDecodeError is a ValueError
            return self._refuse(HTTPStatus.BAD_REQUEST, f'not JSON: {limits.excerpt(str(e), 200)}', unread=False)
        ok, message = self.session.save(body.get('document') if isinstance(body, dict) else None)
        if ok:
            return self._json(HTTPStatus.OK, {'ok': True, 'message': message})
        self._json(HTTPStatus.UNPROCESSABLE_ENTITY, {'ok': False, 'error': limits.bounded_message(message)})

    def _content_length(self) -> int | None:
        """The body's size from the request's Content-Length, or None after answering why it is unusable."""
        if self.headers.get('Transfer-Encoding'):
            self._refuse(HTTPStatus.LENGTH_REQUIRED, 'send the body with a Content-Length header (Transfer-Encoding '
                                                     f'{limits.excerpt(self.headers["Transfer-Encoding"])} is not '
                                                     'supported)')
            return None
        values = [v.strip() for v in self.headers.get_all('Content-Length') or ()]
        if not values:
            self._refuse(HTTPStatus.LENGTH_REQUIRED, 'Content-Length header missing: send the size of the body in '
                                                     'bytes')
            return None
        text = values[0]
        if len(set(values)) > 1:
            problem = f'{len(values)} different Content-Length headers: send one'
        elif re.fullmatch(r'-\s*[0-9]+', text):
            problem = f'Content-Length {limits.excerpt(text)} is negative: send the size of the body in bytes'
        elif not re.fullmatch(r'[0-9]+', text):
            problem = (f'Content-Length {limits.excerpt(text)} is not a number: send the size of the body in '
                       'bytes, digits only')
        elif len(text.lstrip('0')) > 18 or int(text) > limits.MAX_EDITOR_BODY_BYTES:
            self._refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                         f'Content-Length {limits.excerpt(text)}: a save may send at most '
                         f'{limits.MAX_EDITOR_BODY_BYTES} bytes (MAX_EDITOR_BODY_BYTES in vad_ros/limits.py); '
                         'a scene that large has too many vertices: simplify the outlines')
            return None
        elif int(text) == 0:
            problem = 'Content-Length 0: the request has no body; send {"document": {...}}'
        else:
            return int(text)
        self._refuse(HTTPStatus.BAD_REQUEST, problem)
        return None

    def _read_body(self, length: int) -> bytes | None:
        """`length` bytes of body; None after answering when they do not come in time or at all."""
        chunks, got = [], 0
        try:
            while got < length:
                chunk = self.rfile.read1(min(length - got, 1 << 16))
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
        except TimeoutError:
            self._refuse(HTTPStatus.REQUEST_TIMEOUT, f'the request did not arrive within {self.timeout:g} s ({got} '
                                                     f'of the {length} bytes of body Content-Length announced '
                                                     'came): send the whole request at once')
            return None
        if got < length:
            self._refuse(HTTPStatus.BAD_REQUEST, f'the body ended after {got} of the {length} bytes Content-Length '
                                                 'announced: send the whole body', unread=False)
            return None
        return b''.join(chunks)

    def _refuse(self, status: int, error: str, unread: bool = True) -> None:
        """Answer {"ok": false, "error": ...} and close the connection. With the body unread (`unread`), what
        the client still sends is read and dropped for a moment (at most the body limit), so that closing
        does not reset the connection before the client has read the answer."""
        self.close_connection = True
        self._json(status, {'ok': False, 'error': error})
        if not unread:
            return
        try:
            self.connection.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + min(_LINGER_S, self.timeout or _LINGER_S)
            dropped = 0
            while dropped < limits.MAX_EDITOR_BODY_BYTES and time.monotonic() < deadline:
                self.connection.settimeout(max(deadline - time.monotonic(), 1e-3))
                chunk = self.connection.recv(1 << 16)
                if not chunk:
                    break
                dropped += len(chunk)
        except OSError:                      # timed out, reset or gone: nothing more to do for this client
            pass


class _DeadlineReader(io.RawIOBase):
    """A connection's incoming bytes: the first one within `seconds` of connecting, and all that follow within
    `seconds` of that first one (each read waits only for what is left; TimeoutError after that), so that a
    client sending a byte now and then cannot hold its thread."""

    def __init__(self, sock: socket.socket, seconds: float | None):
        self.sock, self.seconds = sock, seconds
        self.deadline: float | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.seconds is not None:
            left = self.seconds if self.deadline is None else self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError('the request took too long')
            self.sock.settimeout(left)
        count = self.sock.recv_into(buffer)
        if self.deadline is None and self.seconds is not None:
            self.deadline = time.monotonic() + self.seconds
        return count


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b'[]{}')
_BRACKET_STEPS = bytes.maketrans(b'[{]}', b'\x01\x01\x02\x02')


def json_depth(text: bytes) -> int:
    """How deep [ and { nest in a JSON text (brackets inside strings not counted), in linear time and before
    the text is parsed, so that a body nested 100,000 deep costs no recursion."""
    outside_strings = _JSON_STRING.sub(b'""', text)
    brackets = outside_strings.translate(None, _NOT_BRACKETS).translate(_BRACKET_STEPS)
    if not brackets:
        return 0
    steps = 3 - 2 * np.frombuffer(brackets, np.uint8).astype(np.int32)      # 1 -> +1 (open), 2 -> -1 (close)
    return int(np.cumsum(steps).max())


class _EditorServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """A client that went away or stalled is no bug: its connection is closed without a traceback."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def make_server(session: EditorSession, port: int = 0,
                timeout: float | None = REQUEST_TIMEOUT_S) -> ThreadingHTTPServer:
    """The editor's server on 127.0.0.1:port (0 = a free port); serve_forever() to run it. `timeout`: seconds
    a client has to send a whole request after connecting, and a write may wait for it (None: no limit)."""
    handler = type('EditorHandler', (_Handler,), {'session': session, 'timeout': timeout})
    try:
        server = _EditorServer(('127.0.0.1', port), handler)
    except OSError as e:
        raise SceneToolError(f'cannot listen on 127.0.0.1:{port} ({e}): pick another --port, or 0 for any') from None
    return server


def run_editor(path: str, frame_bgr: np.ndarray, params: dict | None = None, extra_labels: Iterable[str] = (),
               port: int = 8765, open_browser: bool = False) -> None:
    """Serve the editor until Ctrl-C."""
    session = EditorSession(path, frame_bgr, params, extra_labels)
    server = make_server(session, port)
    url = f'http://127.0.0.1:{server.server_address[1]}/'
    print(f'vad-scene edit: {url}  (editing {path}; Ctrl-C to stop)', flush=True)
    if session.problem:
        print(f'  the file as it is now: {session.problem}', flush=True)
    if open_browser:
        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
