"""What vad_node counts, and its /diagnostics status. Every table is bounded: skip causes are the fixed keys
of ImageFormatError (plus 'decode' and 'processing'), so a stream of odd inputs cannot grow the message."""
from __future__ import annotations

import threading
import time

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

from vad_ros.limits import bounded_message
from vad_ros.media.image_codec import CAUSES
from vad_ros.perception.base import runtime_report
from vad_ros.ros.frame_slot import RateMeter
from vad_ros.rule_source import ERROR, OK, WARN

SKIP_CAUSES = CAUSES + ('decode', 'processing')      # + unforeseen exceptions while decoding / processing
SKIP_WARN_S = 60.0      # a skipped frame keeps the status at WARN this long (the counts stay in the values)
_LEVELS = {OK: DiagnosticStatus.OK, WARN: DiagnosticStatus.WARN, ERROR: DiagnosticStatus.ERROR}


class NodeCounters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.frames_received = self.frames_processed = self.paused = self.events = 0
        self.dropped_before = 0                  # busy drops of earlier activations' frame slots
        self.skipped = {cause: 0 for cause in SKIP_CAUSES}
        self.in_rate, self.out_rate = RateMeter(), RateMeter()
        self.latency_ms = self.processing_ms = 0.0
        self.last_received: float | None = None  # time.monotonic() of the newest image
        self.last_skipped = float('-inf')        # time.monotonic() of the newest skipped frame

    def received(self, now: float) -> None:
        self.in_rate.tick(now)
        with self._lock:
            self.frames_received += 1
            self.last_received = now

    def silent_for(self, now: float, timeout: float) -> float | None:
        """Seconds since the newest image where that is more than `timeout` (> 0) and an image has come;
        else None (the camera is not lost)."""
        last = self.last_received
        if timeout <= 0 or last is None or now - last <= timeout:
            return None
        return now - last

    def processed(self, now: float, processing_ms: float, age_s: float) -> None:
        self.out_rate.tick(now)
        with self._lock:
            self.frames_processed += 1
            self.processing_ms = processing_ms
            self.latency_ms = age_s * 1e3 if 0 <= age_s < 3600 else float('nan')

    def skip(self, cause: str) -> bool:
        """Count a skipped frame; True the first time for this cause (log it once)."""
        cause = cause if cause in self.skipped else 'processing'
        with self._lock:
            self.skipped[cause] += 1
            self.last_skipped = time.monotonic()
            return self.skipped[cause] == 1


def lost_message(camera, silent_s: float) -> str:
    """What /diagnostics and the log say of a camera that sent no image for silent_s seconds."""
    topic = camera.sub.topic_name if camera.sub is not None else 'its image topic'
    return (f"no image on '{topic}' for {silent_s:.1f} s (input.timeout): the camera, its driver or the network "
            'is down, and nothing is watched')


def diagnostic_status(camera, state: str, startup_error: str = '', worker_failure: str = '',
                      bad_params: tuple[str, ...] = ()) -> DiagnosticStatus:
    """One camera's status entry (vad_ros.ros.camera.Camera): level and message, then its counters.
    worker_failure: why the node's perception worker stopped (level ERROR until the node is activated again).
    bad_params: the params-file values replaced by their defaults (params.bad_value_line; WARN).
    A camera the worker found lost (camera.lost: no image for input.timeout) is ERROR (lost_message)."""
    c, pipeline = camera.counters, camera.pipeline
    mono = time.monotonic()
    slot = camera.slot
    dropped = c.dropped_before + (slot.dropped if slot is not None else 0)
    level, message = DiagnosticStatus.OK, state
    rules = pipeline.rule_source.status if pipeline is not None else None
    skipped = {k: v for k, v in c.skipped.items() if v}
    no_background = camera.no_background_message() if pipeline is not None else ''
    if worker_failure:
        level, message = DiagnosticStatus.ERROR, worker_failure
    elif state == 'unconfigured':     # configure failed (a model, scene map or rule file): ERROR; waiting: WARN
        level = DiagnosticStatus.ERROR if startup_error else DiagnosticStatus.WARN
        message = 'unconfigured: ' + (startup_error or 'waiting for configure')
    elif camera.lost:                 # images came, then stopped: blind, whatever else is fine
        level, message = DiagnosticStatus.ERROR, lost_message(camera, mono - c.last_received)
    elif camera.scene_map_error:      # a changed scene map was rejected; the previous one is in force
        level, message = DiagnosticStatus.ERROR, camera.scene_map_error
    elif rules is not None and rules.level != OK:
        level, message = _LEVELS[rules.level], rules.message
    elif camera.blind:                # frozen or blank for input.blind_seconds: the camera sees nothing
        level, message = DiagnosticStatus.WARN, camera.blind
    elif camera.moved:                # the view moved since the scene map was put in force: the map is off
        level, message = DiagnosticStatus.WARN, camera.moved
    elif no_background:               # the first start on a new camera: what to do (until a map or segmenter)
        level, message = DiagnosticStatus.WARN, no_background
    elif bad_params:
        level, message = DiagnosticStatus.WARN, bad_params[0] + (f' (and {len(bad_params) - 1} more: see the '
                                                                 "'bad_params' value)" if len(bad_params) > 1 else '')
    elif camera.qos_watch is not None and camera.qos_watch.warning and c.frames_received == 0:
        level, message = DiagnosticStatus.WARN, camera.qos_watch.warning
    elif state == 'active' and c.frames_received == 0 and camera.sub is not None:
        level, message = DiagnosticStatus.WARN, f"no image received yet on '{camera.sub.topic_name}'"
    elif skipped and mono - c.last_skipped <= SKIP_WARN_S:      # recent ones: one glitch is no standing WARN
        level, message = DiagnosticStatus.WARN, f'skipped frames: {skipped} (the last {mono - c.last_skipped:.0f} s ago)'
    det = pipeline.detector if pipeline is not None else None
    seg = pipeline.segmenter if pipeline is not None else None
    values = {
        'state': state,
        'input_rate_hz': f'{c.in_rate.rate(mono):.2f}',
        'processing_rate_hz': f'{c.out_rate.rate(mono):.2f}',
        'latency_ms': f'{c.latency_ms:.1f}',
        'processing_ms': f'{c.processing_ms:.1f}',
        'frames_received': str(c.frames_received),
        'image': camera.blind or 'live',
        'view_shift': camera.view.measured,
        'seconds_since_last_image': f'{mono - c.last_received:.1f}' if c.last_received is not None else 'none yet',
        'frames_processed': str(c.frames_processed),
        'frames_dropped_busy': str(dropped),
        'frames_skipped_bad_input': str(sum(c.skipped.values())),
        'frames_ignored_paused': str(c.paused),
        'events_published': str(c.events),
        'detector': runtime_report(det).line() if det else 'not loaded',      # the path it runs, refusals
        'segmenter': runtime_report(seg).line() if seg else 'none',
        'scene_map': camera.scene_map_status,
        'rules': rules.message if rules is not None else 'not loaded',
        'bad_params': ' | '.join(bad_params) if bad_params else 'none',
    }
    values.update({f'skipped_{k}': str(v) for k, v in c.skipped.items()})
    return DiagnosticStatus(name=f'vad_ros: {camera.label}', hardware_id=det.device if det else '',
                            level=level, message=bounded_message(message),     # file errors quote the input
                            values=[KeyValue(key=k, value=bounded_message(v)) for k, v in values.items()])
