"""The parameters of vad_ros: one table with type, default, check, meaning and owner of each.

Used by the node (declared as ROS parameters, validated in the set-parameters callback) and by the offline
tools (read from the same YAML file). config/vad.yaml documents every parameter for users.

Each parameter says when a new value applies (`applies`), and everything else derives from that:
- STARTUP: read when the models and files are loaded; read-only while running (restart to change);
- PIPELINE: applied by each pipeline before its next frame (vad_ros/runtime_params.py, Pipeline.sync);
- NODE: applied by the ROS node itself (rule file switch, debug image, diagnostics period).
"""
from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from typing import Any, Callable

from vad_ros.errors import VadError
from vad_ros.files import key_line, read_yaml
from vad_ros.limits import excerpt as _q

STARTUP, PIPELINE, NODE = 'startup', 'pipeline', 'node'


class ParamError(VadError):
    """A parameter value or a params file is unusable; the message names the parameter/file and the fix."""


class ParamFileError(ParamError):
    """The params file itself cannot be used (missing, not YAML, wrong structure)."""


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: Any
    description: str
    choices: tuple[Any, ...] | None = None
    check: Callable[[Any], str | None] | None = None   # returns a reason when the value is bad
    applies: str = PIPELINE                             # STARTUP, PIPELINE or NODE (see the module doc)

    @property
    def read_only(self) -> bool:
        """True: needs a restart (models and files are loaded once)."""
        return self.applies == STARTUP


# Upper bounds of the numeric parameters: every one has a range, so that no value reaches OpenCV, numba, torch or
# the middleware as a number they cannot hold (a 64-bit overflow, an infinite timer) or a resource they would try
# to allocate (threads, queue slots).
MAX_THREADS = 256                   # torch_threads: more threads than cores only slow torch down
MAX_FRAMES = 1_000_000              # frame counts: more than a day at 10 fps
MAX_MISSED = 10_000                 # the iou tracker keeps a lost track that many frames, matched every frame
MAX_DEPTH = 1_000                   # image queue: the node works on the newest frame anyway
MAX_PIXELS = 2 ** 30                # OpenCV decodes at most 2**30 pixels (CV_IO_MAX_IMAGE_PIXELS)
MAX_PERIOD_S = 3600.0               # timers and update periods: an hour


def _between(lo: float, hi: float) -> Callable[[Any], str | None]:
    return lambda v: None if lo <= v <= hi else f'must be between {lo} and {hi}'


def _device(v: str) -> str | None:
    if v in ('auto', 'cpu', 'cuda') or (v.startswith('cuda:') and v[5:].isdigit()):
        return None
    return "must be 'auto', 'cpu', 'cuda' or 'cuda:N'"


_SPECS = [
    # Perception backends. Models are built at start-up: these need a restart.
    ParamSpec('detector.backend', 'nanodet', 'object detector: hog (built-in OpenCV people detector, no download), '
              'nanodet (COCO, 80 classes; tools/setup.sh nanodet), mmdet (any MMDetection COCO model) or onnx '
              '(an mmdet model exported with vad-export, run by onnxruntime without torch)',
              choices=('hog', 'nanodet', 'mmdet', 'onnx'), applies=STARTUP),
    ParamSpec('detector.config', '', 'mmdet: config file, or a model name that MMDetection downloads when online; '
              'onnx: the metadata .json (empty = next to the .onnx file)', applies=STARTUP),
    ParamSpec('detector.checkpoint', '', 'mmdet: checkpoint file (.pth); empty with a model name = download; '
              'onnx: the .onnx file', applies=STARTUP),
    ParamSpec('detector.keep_low_scores', False, 'mmdet/onnx: false = score_threshold is applied inside the model '
              'before NMS (fast); true = the config\'s own test settings (scores down to ~0.001, for frame AUC in '
              'evaluations)', applies=STARTUP),
    ParamSpec('detector.trust_checkpoint_pickle', False, 'mmdet: unpickle detector.checkpoint without the '
              'weights-only restriction (a pickle can run code): only for a checkpoint from a trusted source that '
              'holds more than weights, e.g. a training state', applies=STARTUP),
    ParamSpec('detector.device', 'auto', "auto (cuda:0 if available, else cpu), cpu, cuda or cuda:N",
              check=_device, applies=STARTUP),
    ParamSpec('detector.half', False, 'mmdet on GPU: run in half precision (faster, scores may shift ~1e-3)',
              applies=STARTUP),
    ParamSpec('detector.cuda_graph', True, 'mmdet on GPU: replay the network from a CUDA graph per input size '
              '(checked against the eager pass when captured; models that cannot be captured run eagerly)',
              applies=STARTUP),
    ParamSpec('detector.compile', False, 'mmdet: torch.compile the network at start-up (checked against the '
              'uncompiled outputs; each new input size compiles for seconds to a minute, cached on disk)',
              applies=STARTUP),
    ParamSpec('detector.hog.win_stride', 8, 'hog: window stride in pixels (smaller = slower, more recall; at most '
              "the window's width, 64)", check=_between(1, 64), applies=STARTUP),
    ParamSpec('detector.hog.scale', 1.05, 'hog: image pyramid scale step (> 1; smaller = slower, more recall; '
              'at most 2: larger steps skip the sizes between)',
              check=lambda v: None if 1.0 < v <= 2.0 else 'must be > 1.0 and <= 2.0', applies=STARTUP),
    ParamSpec('detector.hog.upscale', 1.0, 'hog: resize the frame by this factor before detection (people '
              'smaller than 128 px need > 1)', check=_between(0.25, 4.0), applies=STARTUP),
    ParamSpec('detector.hog.hit_threshold', 0.3, 'hog: SVM margin a window needs to count as a person (higher = '
              'fewer false alarms, less recall)', check=_between(-2.0, 3.0), applies=STARTUP),
    ParamSpec('detector.hog.nms_iou', 0.4, 'hog: overlap above which the weaker of two boxes is dropped',
              check=_between(0.0, 1.0), applies=STARTUP),
    ParamSpec('detector.nanodet.model', '', 'nanodet: the TF.js graph model (nanodet.json, nanodet.bin next to '
              'it); empty = the one tools/setup.sh nanodet fetched (falls back to hog, with a warning, when absent)',
              applies=STARTUP),
    ParamSpec('detector.nanodet.nms_iou', 0.6, 'nanodet: overlap above which the weaker of two boxes of one class '
              'is dropped', check=_between(0.0, 1.0), applies=STARTUP),
    ParamSpec('detector.nanodet.runner', 'auto', 'nanodet: onnx (ONNX Runtime; the ONNX file is made from the model '
              'once, ~2x faster), torch (the torch executor) or auto (onnx where onnxruntime is installed, else torch)',
              choices=('auto', 'onnx', 'torch'), applies=STARTUP),
    ParamSpec('detector.nanodet.precision', 'fp32', 'nanodet on onnx: fp32, or int8 (static quantisation calibrated on '
              'vtest.avi: network ~2x faster, vtest.avi figures as fp32, but on bikes.mp4 a bicycle in 1 of 50 frames '
              'instead of 22; bench/RESULTS.md)', choices=('fp32', 'int8'), applies=STARTUP),
    ParamSpec('segmenter.backend', 'none', 'semantic segmenter: none (use scene_map_file only), mmseg (any '
              'MMSegmentation ADE20K model) or onnx (an mmseg model exported with vad-export)',
              choices=('none', 'mmseg', 'onnx'), applies=STARTUP),
    ParamSpec('segmenter.config', '', 'mmseg: config file, or a model name that MMSegmentation downloads; onnx: '
              'the metadata .json (empty = next to the .onnx file)', applies=STARTUP),
    ParamSpec('segmenter.checkpoint', '', 'mmseg: checkpoint file (.pth); onnx: the .onnx file', applies=STARTUP),
    ParamSpec('segmenter.trust_checkpoint_pickle', False, 'mmseg: as detector.trust_checkpoint_pickle, for '
              'segmenter.checkpoint', applies=STARTUP),
    ParamSpec('segmenter.device', 'auto', 'as detector.device', check=_device, applies=STARTUP),
    ParamSpec('segmenter.half', False, 'mmseg on GPU: half precision', applies=STARTUP),
    ParamSpec('segmenter.cuda_graph', True, 'mmseg on GPU: as detector.cuda_graph', applies=STARTUP),
    ParamSpec('segmenter.compile', False, 'mmseg: as detector.compile (SegFormer-B0 on 2 CPU cores: 1.4x)',
              applies=STARTUP),
    ParamSpec('allow_cpu_fallback', False, 'when a cuda device is asked for and none is available: true = warn '
              'and run on cpu, false = refuse to start', applies=STARTUP),
    ParamSpec('torch_threads', 0, 'CPU threads torch uses (nanodet, mmdet, mmseg): 0 = its default, one per '
              'core; with the networks on a GPU, 1 measured 12 % faster per frame (bench/RESULTS.md, GPU)',
              check=_between(0, MAX_THREADS), applies=STARTUP),
    ParamSpec('segmentation_interval', 1, 'run the segmenter every N frames and reuse its map in between '
              '(static cameras: 10-30)', check=_between(1, MAX_FRAMES)),
    # Reasoning.
    ParamSpec('score_threshold', 0.3, 'detections below this score are ignored (paper: 0.3)',
              check=_between(0.0, 1.0)),
    ParamSpec('rules_file', '', "rule file (YAML); empty = the paper's rule set. Re-read when changed",
              applies=NODE),
    ParamSpec('scene_map_file', '', 'static scene map (YAML polygons labelled with background classes); '
              'empty = none', applies=STARTUP),
    ParamSpec('wait_for_scene_map', False, 'a scene_map_file that does not exist yet: true = start without it (no '
              'background source; /diagnostics WARN says how to draw it) and load it as soon as it is saved, e.g. by '
              '`vad-scene edit` (a new camera); false = configure fails, as for any missing file', applies=STARTUP),
    ParamSpec('background.region', 'footprint', 'where the background is sampled: box (whole box, paper) or '
              'footprint (bottom strip of the box, where the object touches the ground)',
              choices=('box', 'footprint')),
    ParamSpec('background.footprint_height', 0.2, 'footprint: height of the bottom strip as a fraction of the '
              'box height', check=_between(0.01, 1.0)),
    ParamSpec('background.exclude_things', True, 'ignore object ("thing") classes such as person or car in the '
              'background vote, so that an object does not vote for itself (paper: false)'),
    ParamSpec('tracking.enabled', True, 'give objects track ids (tracking.tracker); needed for confirmation, '
              'min_frames > 1, dwell times, motion and crossings'),
    ParamSpec('tracking.tracker', 'byte', 'byte: motion-predicting tracker with a second pass over weak detections '
              'and a lost-track buffer in seconds (ids survive crossings and short misses; nothing in pixels or '
              'frames) | iou: the light greedy IoU tracker (tracking.iou_threshold, tracking.max_missed). A change '
              'at run time starts a new tracker: the objects seen so far get new ids', choices=('byte', 'iou')),
    ParamSpec('tracking.high_score', 0.5, 'byte: detections from this score (and score_threshold) are matched '
              'first, against every track, lost ones included, and start tracks from +0.1 (ByteTrack\'s 0.5 / 0.6); '
              'weaker ones only continue a followed track (second pass, from tracking.low_score)',
              check=_between(0.0, 1.0)),
    ParamSpec('tracking.low_score', 0.1, 'byte: detections from this score up to the first pass '
              '(tracking.high_score) may continue a track that is being followed (a person half hidden in a group), '
              'never start one; they become objects only then', check=_between(0.0, 1.0)),
    ParamSpec('tracking.lost_seconds', 1.0, 'byte: seconds of image time a lost track (no detection) waits for its '
              'object to come back', check=_between(0.0, 60.0)),
    ParamSpec('tracking.iou_threshold', 0.3, 'iou: minimum IoU to continue a track', check=_between(0.0, 1.0)),
    ParamSpec('tracking.max_missed', 5, 'iou: frames a track survives without a matching detection',
              check=_between(0, MAX_MISSED)),
    ParamSpec('persistence.min_frames', 1, 'default number of consecutive frames a rule must hold before an '
              'anomaly is raised (1 = paper); a rule may set its own', check=_between(1, MAX_FRAMES)),
    ParamSpec('persistence.grace_frames', -1, 'deprecated, use events.grace_seconds: frames an anomaly event stays '
              'open after the rule stops holding, whatever the frame rate; -1 = not set (events.grace_seconds '
              'applies); >= 0 replaces events.grace_seconds, with a warning', check=_between(-1, MAX_FRAMES)),
    ParamSpec('confirm.enabled', True, 'objects may raise anomalies only once confirmed (confirm.*): a detection '
              'that is weak or brief (a rock scored 0.3 as a person) is reported, marked unconfirmed, and fires '
              'no rule; needs tracking (paper: false)'),
    ParamSpec('confirm.min_seconds', 0.3, 'seconds of image time an object must have been seen (since its first '
              'detection) before it is confirmed', check=_between(0.0, 3600.0)),
    ParamSpec('confirm.score', 0.5, 'the median of an object\'s last confirm.window scores (missing ones count as '
              '0 while it is new) must reach this for it to be confirmed; checked every frame',
              check=_between(0.0, 1.0)),
    ParamSpec('confirm.window', 5, 'number of recent detector scores of an object whose median is compared with '
              'confirm.score (a new object needs more than half of them)', check=_between(1, 1000)),
    ParamSpec('events.grace_seconds', 3.0, 'seconds of image time an anomaly event stays open after its anomaly '
              'was last reported: if the anomaly comes back in time (the same object, or its re-acquisition) the '
              'event goes on, and a dwell timer (min_duration) survives; 0 = ends at the first frame without it. '
              '3 s bridges the detector\'s misses and the tracker\'s swaps of a person in a group (one event per '
              'visit, bench/RESULTS.md)',
              check=_between(0.0, 3600.0)),
    ParamSpec('events.reacquire_seconds', 2.0, 'a new track that starts at most this many seconds of image time '
              'after a track of the same class was last seen, close by (events.reacquire_distance), is the same '
              'object: it keeps its id, confirmation, dwell timers and events (also a box around two people that '
              'splits into theirs: one of them takes its id); 0 = off', check=_between(0.0, 60.0)),
    ParamSpec('events.reacquire_distance', 1.0, 'close by, for events.reacquire_seconds: the distance between the '
              'box centres at most this many heights of the lost box (and box heights within a factor of 2)',
              check=_between(0.0, 10.0)),
    # Node: life cycle and input.
    ParamSpec('cameras', '', "several cameras served by one set of models: comma-separated names, e.g. "
              "'front,rear'; camera <name> reads <name>/image, publishes under <name>/<node name>/ and may have "
              "its own <name>.rules_file and <name>.scene_map_file. Empty = one camera on 'image'",
              applies=STARTUP),
    ParamSpec('autostart', True, 'configure and activate on start (false: wait for a lifecycle manager or '
              '`ros2 lifecycle set`)', applies=STARTUP),
    ParamSpec('transport', 'raw', "input transport: raw (sensor_msgs/Image on 'image') or compressed "
              "(sensor_msgs/CompressedImage, jpeg/png, on '<image>/compressed')", choices=('raw', 'compressed'),
              applies=STARTUP),
    ParamSpec('input.reliability', 'best_effort', 'QoS reliability of the image subscription: best_effort '
              '(sensor data; matches every publisher) or reliable (matches reliable publishers only)',
              choices=('best_effort', 'reliable'), applies=STARTUP),
    ParamSpec('input.depth', 5, 'QoS history depth of the image subscription (the node works on the newest '
              'frame anyway)', check=_between(1, MAX_DEPTH), applies=STARTUP),
    ParamSpec('input.timeout', 5.0, 'seconds without an image, once images have come, before the camera counts as '
              "lost (set it above the camera's frame interval): /diagnostics ERROR, one log line, its open events "
              "end ('camera lost'); one more line when images come again; 0 = never",
              check=_between(0.0, MAX_PERIOD_S), applies=NODE),
    ParamSpec('input.blind_seconds', 10.0, 'seconds of image time a frozen (every frame the same) or blank (uniform: '
              'lens covered, camera dark or off) image must last before /diagnostics warns that the camera sees '
              'nothing, with one log line (and one when it sees again); 0 = never',
              check=_between(0.0, MAX_PERIOD_S), applies=NODE),
    ParamSpec('view_moved_fraction', 0.03, 'the camera counts as moved (a bumped or loosened mount: the scene '
              "map's shapes no longer lie on what they were drawn on) when its view has shifted by this share of the "
              'frame width since the scene map was drawn (the picture vad-scene edit saves with it) or else put in '
              'force, on 3 checks 5 s apart: /diagnostics WARN and one log line; 0 = never',
              check=_between(0.0, 0.5), applies=NODE),
    ParamSpec('max_image_pixels', 3840 * 2160, 'frames with more pixels (width x height) are skipped before '
              'decoding and counted in diagnostics (skipped_too_large); default 4K UHD; 0 = no limit',
              check=_between(0, MAX_PIXELS), applies=NODE),
    # Outputs.
    ParamSpec('events.snapshot', False, 'attach a JPEG of the frame with the box to each started event '
              '(AnomalyEvent.snapshot)', applies=NODE),
    ParamSpec('events.update_period', 1.0, "seconds of image time between the 'ongoing' updates of an open event "
              "on ~/events (started and ended updates always go out; per-frame detail is on ~/anomalies); "
              '0 = every frame', check=_between(0.0, MAX_PERIOD_S), applies=NODE),
    ParamSpec('publish_detections', True, 'publish ~/detections (vision_msgs/Detection2DArray) where vision_msgs '
              'is installed', applies=NODE),
    ParamSpec('publish_class_map', False, 'publish ~/class_map (mono16 class ids of the background map) and '
              '~/class_names (latched)', applies=NODE),
    ParamSpec('publish_debug_image', True, 'publish ~/debug_image (annotated frame for rviz)', applies=NODE),
    ParamSpec('debug_image_scene_map', False, 'draw the scene map (labelled regions) under the results on '
              '~/debug_image, to check where the node thinks the road is', applies=NODE),
    ParamSpec('diagnostics_period', 1.0, 'seconds between /diagnostics messages', check=_between(0.1, MAX_PERIOD_S),
              applies=NODE),
]

SPECS: dict[str, ParamSpec] = {s.name: s for s in _SPECS}


def applied_by(owner: str) -> tuple[str, ...]:
    """Names of the parameters whose new values `owner` (STARTUP, PIPELINE or NODE) applies."""
    return tuple(name for name, spec in SPECS.items() if spec.applies == owner)

# Parameters that name files. A relative value is looked up next to the params file that set it first,
# then in the current directory; a value that names no file is kept (e.g. a model name to download).
PATH_PARAMS = ('rules_file', 'scene_map_file', 'detector.config', 'detector.checkpoint', 'detector.nanodet.model',
               'segmenter.config', 'segmenter.checkpoint')

# A named camera's own files in a params file (<camera>.rules_file: ...; see the parameter 'cameras').
CAMERA_FILES = ('rules_file', 'scene_map_file')


def camera_names(value: str) -> list[str]:
    """The value of `cameras`: 'front, rear' -> ['front', 'rear']; raises ParamError for a name that is not a ROS
    name or repeats (the node then serves one camera on 'image')."""
    names = [n.strip() for n in value.split(',') if n.strip()]
    for name in names:
        if not name.replace('_', 'a').isalnum() or name[0].isdigit():
            raise ParamError(f"parameter 'cameras': '{name}' is not a ROS name (letters, digits, "
                             f"underscores; not starting with a digit)")
    if len(set(names)) != len(names):
        raise ParamError(f"parameter 'cameras': a camera is named twice in '{value}'")
    return names


def resolve_path(value: str, base_dirs: list[str]) -> str:
    if not value or os.path.isabs(value):
        return value
    for base in base_dirs:
        candidate = os.path.join(base, value)
        if os.path.exists(candidate):
            return os.path.abspath(candidate)
    return value


def map_to_wait_for(params: dict[str, Any], base_dirs: list[str] | tuple[str, ...]) -> str:
    """The scene map to wait for (wait_for_scene_map): a scene_map_file that exists nowhere yet (looked up in
    base_dirs) -> the path it will be saved to, next to the params file (base_dirs[0], where a relative path is
    looked up first); '' otherwise (no map, one that exists, or not waiting: a missing map then fails). The
    node's Camera.build and vad-check both ask this."""
    path = resolve_path(params['scene_map_file'], list(base_dirs))
    if not params.get('wait_for_scene_map') or not path or os.path.exists(path):
        return ''
    return path if os.path.isabs(path) or not base_dirs else os.path.abspath(os.path.join(base_dirs[0], path))


def defaults() -> dict[str, Any]:
    return {name: spec.default for name, spec in SPECS.items()}


def check_value(name: str, value: Any) -> Any:
    """Return value converted to the parameter's type, or raise ParamError naming the parameter and the fix."""
    spec = SPECS.get(name)
    if spec is None:
        close = difflib.get_close_matches(name, SPECS, n=3)
        hint = f' (did you mean {", ".join(close)}?)' if close else ''
        raise ParamError(f"unknown parameter {_q(name)}{hint}")
    expected = type(spec.default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool) and abs(value) < 1e300:
        value = float(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        got = next(t.__name__ for t in type(value).__mro__ if t.__module__ == 'builtins')  # not the YAML reader's
        raise ParamError(f"parameter '{name}': expected {expected.__name__}, got {got} "
                         f"{_q(value)} (default: {spec.default!r})")
    if spec.choices is not None and value not in spec.choices:
        raise ParamError(f"parameter '{name}': {_q(value)} is not one of {', '.join(map(repr, spec.choices))}")
    if spec.check is not None:
        reason = spec.check(value)
        if reason:
            raise ParamError(f"parameter '{name}': {_q(value)} {reason}")
    return value


def _leaves(tree: dict[str, Any], prefix: str = ''):
    """(dotted name, value, the mapping and key it sits under) of every non-mapping value of a nested mapping."""
    for key, value in tree.items():
        name = f'{prefix}{key}'
        if isinstance(value, dict):
            yield from _leaves(value, name + '.')
        else:
            yield name, value, tree, key


def flatten(tree: dict[str, Any]) -> dict[str, Any]:
    """Nested YAML mappings to dotted names, as ROS 2 does for parameters."""
    return {name: value for name, value, _, _ in _leaves(tree)}


def _key_lines(tree: dict) -> dict[str, int]:
    """Dotted name -> line of its key, for a mapping read with line numbers (see flatten)."""
    return {name: key_line(parent, key, getattr(parent, 'line', 1)) for name, _, parent, key in _leaves(tree)}


def bad_value_line(error: ParamError, name: str, where: str = '') -> str:
    """The one line every tool gives for a bad entry of a params file (or of -p): the place, the parameter, the
    value, what is allowed, and the fix. The node, vad-video and vad-eval log it and go on with the default
    (the node also shows it in /diagnostics at WARN); vad-check refuses the file with it (exit 2)."""
    prefix = f"params file '{where}': " if where else ''
    if name not in SPECS:
        return f'{prefix}{error}; fix the name or remove the line'
    default = '' if '(default:' in str(error) else f' (default: {SPECS[name].default!r})'
    return f'{prefix}{error}; fix the value or remove the line{default}'


def read_params_file(path: str, node_name: str = 'vad_node',
                     cameras: dict[str, dict[str, str]] | None = None,
                     bad_values: list[str] | None = None) -> dict[str, Any]:
    """The parameters of `node_name` in a ROS 2 params file (keys `/**`, `node_name` or `/ns/node_name`),
    checked; entries for other nodes are ignored. Relative file paths (PATH_PARAMS) are resolved against the
    file's folder. Raises ParamFileError for an unusable file, ParamError naming the file and the parameter
    for a bad value. A named camera's own files (`<camera>.rules_file`, `<camera>.scene_map_file`, CAMERA_FILES)
    go into `cameras` ({camera: {parameter: path}}, checked and resolved the same way); without it they are an
    error that says to pass that camera's files on their own (the offline tools run one camera).
    bad_values: a list where a bad value or an unknown name goes as its bad_value_line (the entry is left out,
    so the default applies) instead of raising ParamError: the node, vad-video and vad-eval go on with the
    default; vad-check passes none and refuses the file."""
    doc = read_yaml(path, 'params file', 'pass an existing YAML file, e.g. config/vad.yaml', ParamFileError)
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ParamFileError(f"params file '{path}': expected a mapping like '/**: {{ros__parameters: ...}}'")
    values: dict[str, Any] = {}
    lines: dict[str, int] = {}
    for key, section in doc.items():
        if str(key) not in ('/**', node_name) and not str(key).endswith('/' + node_name):
            continue
        if not isinstance(section, dict) or not isinstance(section.get('ros__parameters'), dict):
            raise ParamFileError(f"params file '{path}:{key_line(doc, key, 1)}': section {_q(key)} needs a "
                                 f"'ros__parameters' mapping")
        values.update(flatten(section['ros__parameters']))
        lines.update(_key_lines(section['ros__parameters']))
    checked = {}
    base = os.path.dirname(os.path.abspath(path))
    for name, value in values.items():
        camera, _, key = name.partition('.')
        if key in CAMERA_FILES and camera not in SPECS and not any(n.startswith(camera + '.') for n in SPECS):
            if cameras is None:
                raise ParamError(f"params file '{path}:{lines.get(name, 1)}': '{name}' is camera '{camera}''s own "
                                 f"file (parameter cameras); this tool runs one camera: pass that camera's files "
                                 "with --rules / --scene")
            try:
                cameras.setdefault(camera, {})[key] = resolve_path(check_value(key, value), [base])
            except ParamError as e:
                raise ParamError(f"params file '{path}:{lines.get(name, 1)}': camera '{camera}': {e}") from None
            continue
        try:
            checked[name] = check_value(name, value)
        except ParamError as e:
            line = bad_value_line(e, name, f'{path}:{lines.get(name, 1)}')
            if bad_values is None:
                raise ParamError(line) from None
            bad_values.append(line)
            continue
        if name in PATH_PARAMS:
            checked[name] = resolve_path(checked[name], [base])
    return checked


def resolve(overrides: dict[str, Any]) -> dict[str, Any]:
    """Defaults updated with checked overrides."""
    params = defaults()
    for name, value in overrides.items():
        params[name] = check_value(name, value)
    return params
