"""`vad-scene edit`: the scene map over a camera frame in a local web page, edited with the mouse.

A standard-library HTTP server on 127.0.0.1 (never another interface) serves one page (web/) and a small
JSON API:

    GET  /                 the page            GET /frame.jpg   the frame
    GET  /api/state        the document, its layers, the label vocabulary, the file's current problem
    POST /api/save         {"document": {...}} -> saved, or refused with the reason (HTTP 422)

Saving goes through scene_yaml.save: the text is loaded by the node's own loader
(vad_ros.reasoning.scene_map.load_scene_map) and checked for polygons that cross themselves and region
labels outside the vocabulary before it atomically replaces the file. Sections the page does not edit
(calibration, anything new) are written back as they were.
"""
from __future__ import annotations

import datetime
import json
import os
import threading
import webbrowser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterable

import cv2
import numpy as np
import yaml

from vad_ros.reasoning.scene_map import SceneMapError
from vad_ros.reasoning.vocabulary import ADE20K_CLASSES, THING_CLASSES
from vad_ros.scene_tools import scene_yaml
from vad_ros.scene_tools.errors import SceneToolError

WEB = Path(__file__).with_name('web')
STATIC = {'/': ('index.html', 'text/html; charset=utf-8'), '/editor.js': ('editor.js', 'text/javascript'),
          '/editor.css': ('editor.css', 'text/css')}
MAX_BODY = 8 << 20

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
        try:
            text = Path(self.path).read_text(encoding='utf-8')
            document = yaml.safe_load(text) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
            raise SceneToolError(f"scene map '{self.path}' cannot be opened for editing: {e}") from None
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
        document = _ordered(document)
        comment = _edited_comment(self.comment)
        with self.lock:
            try:
                scene = scene_yaml.save(document, self.path, comment, self.vocabulary)
            except (SceneMapError, SceneToolError) as e:
                return False, str(e)
            self.document, self.comment, self.problem = document, comment, ''
            self.saves += 1
        parts = [f'{len(scene.regions)} regions']
        for key in ('zones', 'tripwires', 'ignore'):
            if document.get(key):
                parts.append(f'{len(document[key])} {key}')
        return True, f"saved {self.path}: {', '.join(parts)}"


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

    def _send(self, status: int, body: bytes, content_type: str) -> None:
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
            return self._json(HTTPStatus.FORBIDDEN, {'ok': False, 'error': 'not allowed'})
        if not (self.headers.get('Content-Type') or '').startswith('application/json'):
            return self._json(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, {'ok': False, 'error': 'send JSON'})
        length = int(self.headers.get('Content-Length') or 0)
        if not 0 < length <= MAX_BODY:
            return self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {'ok': False, 'error': 'body too large'})
        try:
            body = json.loads(self.rfile.read(length))
        except (ValueError, UnicodeDecodeError) as e:
            return self._json(HTTPStatus.BAD_REQUEST, {'ok': False, 'error': f'not JSON: {e}'})
        ok, message = self.session.save(body.get('document') if isinstance(body, dict) else None)
        if ok:
            return self._json(HTTPStatus.OK, {'ok': True, 'message': message})
        self._json(HTTPStatus.UNPROCESSABLE_ENTITY, {'ok': False, 'error': message})


def make_server(session: EditorSession, port: int = 0) -> ThreadingHTTPServer:
    """The editor's server on 127.0.0.1:port (0 = a free port); serve_forever() to run it."""
    handler = type('EditorHandler', (_Handler,), {'session': session})
    try:
        server = ThreadingHTTPServer(('127.0.0.1', port), handler)
    except OSError as e:
        raise SceneToolError(f'cannot listen on 127.0.0.1:{port} ({e}): pick another --port, or 0 for any') from None
    server.daemon_threads = True
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
