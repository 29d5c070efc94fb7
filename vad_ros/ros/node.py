"""vad_node: a managed (lifecycle) node that watches camera topics and says what is anomalous in them.

Life cycle (rclpy lifecycle; `autostart: true` runs configure + activate at start):
  configure   build the models once, then each camera's scene map and rules (a model, scene map or rule file
              that cannot be used is reported and the node stays unconfigured: a node that could never fire
              does not start)
  activate    subscribe to the cameras and publish; deactivate: unsubscribe, close open events
  cleanup     free the models (GPU memory back); shutdown (also Ctrl-C / SIGTERM, through node_main): open
              events end, their `ended` updates are acknowledged by the subscribers (at most a few seconds),
              then the publishers go
Files       the rule files and scene maps are watched by a thread of their own (once a second); a changed file
            is read and checked there, never on the executor thread, and put in force between two frames; a bad
            new version is rejected (the old one stays in force) and /diagnostics says ERROR until it is fixed
First start no background source (no segmenter, no scene-map region): one warning that names the two ways forward
            (draw a scene map with `vad-scene edit`, or give an ADE20K segmenter; vad_ros/background_hint.py), and
            /diagnostics at WARN with the same words until there is one. With wait_for_scene_map a scene_map_file
            that does not exist yet is waited for and loaded as soon as it is saved (config/new_camera.yaml)
Logging     the package's Python logging goes through the node's ROS logger (node_main.log_to_ros): each warning
            once. A bad params-file value: params.bad_value_line (as vad-video says it), the default used, WARN
Cameras     one unnamed camera (parameter cameras: ''), or several named ones (cameras: 'front,rear') served by
            the same models, each with its own input, outputs, scene map, rules and diagnostics (ros/camera.py)
Subscribes  image (camera `front`: front/image)   sensor_msgs/Image (transport raw), or <image>/compressed
            sensor_msgs/CompressedImage (transport compressed); QoS input.reliability / input.depth
Publishes   ~/anomalies  (camera `front`: front/<node name>/anomalies, and so on for every output)
                                vad_ros/AnomalyArray, one per processed frame (objects + anomalies), image header
            ~/events            vad_ros/AnomalyEvent, event updates (started / ongoing every
                                events.update_period s / ended), reliable
            ~/detections        vision_msgs/Detection2DArray, where vision_msgs is installed (publish_detections)
            ~/class_map         sensor_msgs/Image mono16 class ids, ~/class_names (latched JSON), publish_class_map
            ~/debug_image       sensor_msgs/Image bgr8, annotated frame (when publish_debug_image and subscribed)
            /diagnostics        diagnostic_msgs/DiagnosticArray, one status per camera
Services    ~/enable            std_srvs/SetBool: pause / resume processing without unloading the models; a pause
                                drops the frames waiting and ends the open events ('paused') before it answers

One worker thread runs perception. Each camera keeps only its newest frame (ros/frame_slot.py; a frame replaced
before it was taken counts as dropped for that camera). Each round the worker takes the newest frame of every
camera that has one, at most one per camera, runs the detector once over that batch (detect_batch where the
backend has it), then each camera's pipeline. A fast or bursty camera therefore cannot starve the others: every
camera with a frame waiting is served in every round. Parameter changes go into one versioned RuntimeParams
(vad_ros/runtime_params.py) that the cameras and their pipelines read; each pipeline applies them between two
frames, so the parameter service never waits for a frame and nothing is copied or re-synchronised by hand.
A pause (~/enable false) is carried out by the worker between two rounds too (frames waiting dropped, open
events ended), and the service answers once it is done (at most PAUSE_WAIT_S, a frame's time): no frame taken
before the pause starts an event after the answer.
Parameters: vad_ros/params.py, config/vad.yaml.

Nothing a camera sends stops the worker. A frame whose decoding or processing raises, whatever the exception,
is skipped and counted under one of a fixed set of causes (diagnostics.SKIP_CAUSES: image_codec.CAUSES, e.g.
too_large, format, header, plus 'decode' and 'processing' for exceptions the package did not foresee); the
first frame of each cause is logged (cut to limits.MAX_MESSAGE_CHARS, with the traceback's last frames where the
exception is a bug), the next frame is processed. Compressed frames are sized from their header before decoding.
If the worker loop still ends by an exception (a bug outside a frame, e.g. between rounds), the node does not
stay `active` and blind: the worker records the failure (/diagnostics: level ERROR, message naming it) and
triggers a guard condition; its callback runs on the executor thread, where every lifecycle transition runs,
and requests `deactivate`, whose callback answers ERROR because the worker failed. rclpy then runs the error
processing (on_error: input stopped, models freed) and the node ends `unconfigured`, from where a lifecycle
manager or `ros2 lifecycle set <node> configure` + `activate` restarts it (activate clears the failure).
A transition of rclpy's state machine is started only from the executor thread, never from the worker, so it
cannot race a transition requested through the lifecycle services.
"""
from __future__ import annotations

import gc
import os
import sys
import threading
import time
import traceback
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from std_srvs.srv import SetBool

from vad_ros import limits, params as vparams
from vad_ros.errors import VadError
from vad_ros.host_memory import keep_freed_memory
from vad_ros.media import image_codec
from vad_ros.perception.factory import build_detector, build_segmenter
from vad_ros.perception.base import runtime_report
from vad_ros.pipeline import detect_all
from vad_ros.reasoning.rules import NotARuleFile, RuleFileError
from vad_ros.ros.camera import ACK_TIMEOUT_S, PER_CAMERA_PARAMS, Camera
from vad_ros.ros.diagnostics import diagnostic_status
from vad_ros.ros.frame_slot import LatestFrameSlot
from vad_ros.ros.node_main import log_to_ros, run_node
from vad_ros.runtime_params import RuntimeParams
from vad_ros.types import END_DEACTIVATED, END_NODE_SHUTDOWN, END_PAUSED

try:  # cv_bridge is used for encodings the package's codec lacks, where it is installed (a ROS 2 desktop).
    from cv_bridge import CvBridge
except ImportError:  # pragma: no cover - depends on the machine
    CvBridge = None

PAUSE_WAIT_S = 10.0        # ~/enable false answers once the worker has paused, or after this long (a slow frame)
FILE_POLL_S = 1.0          # how often the rule files and scene maps are looked at (their stamps: mtime, size)
WATCHER_SWITCH_INTERVAL_S = 0.0005   # the GIL switch interval while they are read (see VadNode._poll_files)


class VadNode(LifecycleNode):
    def __init__(self, params_file_dirs: list[str] | None = None, bad_params: list[str] | None = None,
                 **kwargs: Any) -> None:
        """bad_params: the bad entries of the params files (params.bad_value_line; _checked_args read them),
        logged here; their defaults are used and /diagnostics shows them at WARN."""
        super().__init__('vad_node', **kwargs)
        self._param_dirs = tuple(params_file_dirs or [])
        self.bad_params: dict[str, str] = {}       # parameter -> its bad_value_line (WARN while it lasts)
        for line in bad_params or ():
            self.get_logger().warn(line)
        self._params = RuntimeParams(self._declare_parameters(tuple(bad_params or ())))   # cameras read children
        self.cameras = [self._camera(name) for name in self._camera_names()]
        self._bridge = CvBridge() if CvBridge is not None else None
        self._models = None                        # (detector, segmenter), shared by the cameras
        self.startup_error = ''
        self._files_lock = threading.Lock()        # rule sources and scene maps: parameter API vs file polling
        self._wake = threading.Event()             # a frame arrived for some camera
        self._enabled = True
        self._pause_lock = threading.Lock()        # _pause_requests: the ~/enable service vs the worker
        self._pause_requests: list[threading.Event] = []   # pauses the worker has yet to carry out (_pause_now)
        self._active = False
        self._worker: threading.Thread | None = None
        self._files_watcher: threading.Thread | None = None
        self._files_stop = threading.Event()
        self._shut_down = False                    # on_shutdown ran (lifecycle shutdown, or destroy_node)
        self._configure_quietly = False            # autostart: its caller reports a failed configure
        self.worker_failure = ''                   # why the perception worker stopped ('' = it did not)
        self._worker_died = self.create_guard_condition(self._on_worker_died)   # worker -> executor thread
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._diag_timer = self.create_timer(self._params['diagnostics_period'], self._publish_diagnostics)
        self._enable_srv = self.create_service(SetBool, '~/enable', self._on_enable)

    def _camera_names(self) -> list[str]:
        try:
            return vparams.camera_names(self._params['cameras']) or ['']
        except vparams.ParamError as e:
            self.get_logger().error(f'{e}; serving one camera on \'image\'')
            return ['']

    def _camera(self, name: str) -> Camera:
        """A camera with the node's parameters and, for a named camera, its own files where the params file
        gives them (<name>.rules_file, <name>.scene_map_file; declared read-only, the files are watched)."""
        own = {}
        for key in PER_CAMERA_PARAMS if name else ():
            override = self._parameter_overrides.get(f'{name}.{key}')
            value = str(override.value) if override is not None else self._params[key]
            self.declare_parameter(f'{name}.{key}', value, ParameterDescriptor(
                description=f'camera {name}: {vparams.SPECS[key].description}', read_only=True),
                ignore_override=True)
            if override is not None:
                own[key] = vparams.resolve_path(value, list(self._param_dirs))
        return Camera(self, name, self._params, own)

    # ---------------------------------------------------------------- life cycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        camera = None
        try:
            self._models = (build_detector(self._params), build_segmenter(self._params))
            for camera in self.cameras:
                camera.build(*self._models, self._param_dirs)
        except VadError as e:       # models, or a camera's scene map / rule file (missing or invalid)
            where = f"camera '{camera.name}': " if camera is not None and camera.name else ''
            self.startup_error = limits.bounded_message(where + str(e))
            if not self._configure_quietly:
                self.get_logger().error(f'configure failed: {self.startup_error}')
            self._release()
            return TransitionCallbackReturn.FAILURE
        self.startup_error = ''
        self._files_stop = threading.Event()
        self._files_watcher = threading.Thread(target=self._watch_files, args=(self._files_stop,),
                                               name='vad_files', daemon=True)
        self._files_watcher.start()
        det, seg = self._models
        self.get_logger().info(
            f"configured: detector {runtime_report(det).line()}, segmenter "
            f"{runtime_report(seg).line() if seg else 'none'}; " + '; '.join(
                f"{c.log_prefix()}scene map {c.scene_map_status}, {c.pipeline.rule_source.status.message}"
                for c in self.cameras))
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        for camera in self.cameras:
            camera.subscribe(LatestFrameSlot(), self._on_image)
        self._worker = threading.Thread(target=self._work, name='vad_perception', daemon=True)
        self.worker_failure = ''
        with self._pause_lock:                       # a pause the previous worker did not reach: ended on deactivate
            self._pause_requests.clear()
        self._active = True
        self._worker.start()
        result = super().on_activate(state)          # activates the lifecycle publishers
        for camera in self.cameras:
            self.get_logger().info(f"active: watching '{camera.sub.topic_name}', publishing "
                                   f"'{camera.pubs['anomalies'].topic_name}'")
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_input()
        self._close_events(END_DEACTIVATED)
        result = super().on_deactivate(state)
        if self.worker_failure:         # the worker died: on to rclpy's error processing (on_error), not 'inactive'
            return TransitionCallbackReturn.ERROR
        self.get_logger().info('inactive: not subscribed, not publishing')
        return result

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Error processing (a transition callback failed, or the worker died): stop the input, free the models;
        SUCCESS takes the node to 'unconfigured', from where it can be configured again."""
        if self._active:
            self._stop_input()
        self._release()
        self.get_logger().error(f"error processing after '{state.label}': input stopped, models freed, now "
                                "unconfigured; configure and activate the node to restart it")
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        self.get_logger().info('cleaned up: models freed')
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Lifecycle shutdown, and Ctrl-C / SIGTERM (destroy_node): the open events end ('node shutdown') and
        their updates are acknowledged before the publishers go (_release)."""
        self._shut_down = True
        if self._active:
            self._stop_input()
            self._close_events(END_NODE_SHUTDOWN)
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def _stop_input(self) -> None:
        self._active = False
        for camera in self.cameras:
            camera.unsubscribe()
        self._wake.set()
        if self._worker is not None:
            self._worker.join(timeout=30)
        self._worker = None

    def _release(self) -> None:
        """Stop watching files; destroy the publishers once the subscribers of ~/events acknowledged the last
        updates (ACK_TIMEOUT_S at most, all cameras together); drop the pipelines and the models, and give GPU
        memory back."""
        if self._files_watcher is not None:
            self._files_stop.set()
            self._files_watcher.join(timeout=30)       # at most the file being read (bounded by limits.py)
            self._files_watcher = None
        deadline = time.monotonic() + ACK_TIMEOUT_S
        with self._files_lock:                         # a poll still running (join timed out) sees no pipeline
            for camera in self.cameras:
                camera.release(deadline)
        self._models = None
        gc.collect()
        torch = sys.modules.get('torch')
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _close_events(self, reason: str) -> None:
        """End every camera's open events now; their ended updates go out with `reason` (types.END_*)."""
        for camera in self.cameras:
            camera.close_events(reason)

    # ---------------------------------------------------------------- parameters
    def _declare_parameters(self, reported: tuple[str, ...] = ()) -> dict[str, Any]:
        """Declare every parameter of vad_ros/params.py; a bad value from the params file or the command line
        is reported (params.bad_value_line: the line vad-video and vad-eval give; the params files' lines were
        read with their file and line, `reported`) and replaced by the default (self.bad_params, /diagnostics)."""
        values = {}
        overrides = self._parameter_overrides   # what --params-file / -p gave, before declaration

        def bad(name: str, error: vparams.ParamError) -> None:
            line = next((r for r in reported if f"parameter '{name}'" in r), '')
            if not line:                        # from -p, or a file rcl read that we did not: no file and line
                line = vparams.bad_value_line(error, name)
                self.get_logger().warn(line)
            self.bad_params[name] = line

        for name, spec in vparams.SPECS.items():
            value = spec.default
            if name in overrides:
                try:
                    value = vparams.check_value(name, overrides[name].value)
                except vparams.ParamError as e:
                    bad(name, e)
            # Declared with the checked value: a bad override never reaches the parameter server.
            descriptor = ParameterDescriptor(description=spec.description, read_only=spec.read_only)
            self.declare_parameter(name, value, descriptor, ignore_override=True)
            if name in vparams.PATH_PARAMS:
                value = vparams.resolve_path(value, self._param_dirs)
            values[name] = value
        try:        # a named camera's own files are declared with the cameras (_camera)
            own = {f'{c}.{k}' for c in vparams.camera_names(values['cameras']) for k in vparams.CAMERA_FILES}
        except vparams.ParamError:
            own = set()
        for name in sorted(set(overrides) - set(vparams.SPECS) - own):
            try:
                vparams.check_value(name, overrides[name].value)
            except vparams.ParamError as e:
                bad(name, e)
        return values

    def _on_set_parameters(self, parameters) -> SetParametersResult:
        """Check every value first; the rule file is switched at once; the rest goes into the RuntimeParams that
        the cameras and their pipelines read (each pipeline applies it before its next frame)."""
        changed = {}
        for p in parameters:
            spec = vparams.SPECS.get(p.name)     # per-camera files are declared read-only: rclpy refuses them
            if spec is None:
                return SetParametersResult(successful=False, reason=f"unknown parameter '{p.name}'")
            if spec.read_only:
                return SetParametersResult(successful=False,
                                           reason=f"'{p.name}' is read-only: it needs a restart of the node")
            try:
                changed[p.name] = vparams.check_value(p.name, p.value)
            except vparams.ParamError as e:
                return SetParametersResult(successful=False, reason=str(e))
        if 'rules_file' in changed and self._models is not None:
            try:
                self._switch_rules(changed['rules_file'])
            except NotARuleFile:       # one answer for missing / unreadable / not a rule file: no oracle
                return SetParametersResult(successful=False, reason=not_a_rule_file_reason(changed['rules_file']))
            except RuleFileError as e:
                return SetParametersResult(successful=False, reason=f'rules_file rejected, old rules stay: {e}')
        for name in changed:               # a good value now: no longer replaced by the default
            self.bad_params.pop(name, None)
        if 'diagnostics_period' in changed:
            self.destroy_timer(self._diag_timer)
            self._diag_timer = self.create_timer(changed['diagnostics_period'], self._publish_diagnostics)
        self._params.update(changed)        # every camera (own files aside) and pipeline follows
        return SetParametersResult(successful=True)

    def _switch_rules(self, value: str) -> None:
        """rules_file through the parameter API, for every camera without a rule file of its own; RuleFileError
        (from the first camera that rejects it) leaves every camera's rules in force."""
        cameras = [c for c in self.cameras if 'rules_file' not in c.own_files]
        with self._files_lock:
            before = [(c, c.pipeline.rule_source.path) for c in cameras]
            try:
                for camera in cameras:
                    camera.pipeline.rule_source.switch(value)     # the pipeline sees the new set (Pipeline.sync)
            except RuleFileError:
                for camera, path in before:
                    if camera.pipeline.rule_source.path != path:
                        camera.pipeline.rule_source.switch(path)
                raise
        for camera in cameras:             # their params['rules_file'] follows in _on_set_parameters
            self.get_logger().info(f'{camera.log_prefix()}{len(camera.pipeline.rules)} rule(s) now in force from '
                                   f'{camera.pipeline.rule_source.path}')
            camera.log_rule_warnings()     # what vad-video says of the same file (background_hint.rule_set_warnings)

    def _watch_files(self, stop: threading.Event) -> None:
        """The file watcher thread (configure to cleanup): polls the rule files and scene maps every
        FILE_POLL_S, so that reading and checking a big file never holds up the executor (services, parameters,
        /diagnostics) nor the worker (it only swaps in what was prepared here, between two frames)."""
        while not stop.wait(FILE_POLL_S):
            try:
                self._poll_files(stop)
            except Exception as e:  # noqa: BLE001 - a bug: reported with its traceback, watching goes on
                self.get_logger().error(f'watching the rule and scene-map files failed: {_failure(e)}\n'
                                        f'{_traceback_tail(e)}')

    def _poll_files(self, stop: threading.Event) -> None:
        """File watcher thread: each camera's rule file, then its scene map (read, checked, made ready).

        Reading YAML is pure Python and holds the GIL; a thread that waits in C (the executor, between two
        callbacks) gets the GIL back only after a switch interval each time (5 ms by default; far more on a
        loaded machine), and a service call needs many such hand-overs: with the default, ~/enable answered
        in up to 1 s and /diagnostics paused 1.2 s while a big scene map was read on 2 busy cores
        (test/ros/test_file_watch.py). The interval is shortened while the files are polled."""
        with self._files_lock:
            old = sys.getswitchinterval()
            sys.setswitchinterval(min(old, WATCHER_SWITCH_INTERVAL_S))
            try:
                for camera in self.cameras:
                    if stop.is_set():
                        return
                    if camera.pipeline is not None:
                        camera.poll_rule_file()
                        camera.poll_scene_map(self._param_dirs)
            finally:
                sys.setswitchinterval(old)

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        """Resume, or pause: no frame is taken in any more, and the worker, between two rounds, drops the frames
        waiting and ends the open events ('paused'); the reply comes once it has (PAUSE_WAIT_S at most), so no
        event starts after it."""
        self._enabled = bool(request.data)
        paused_in_time = True
        if not self._enabled:
            paused_in_time = self._pause()
        response.success = True
        response.message = ('processing' if self._enabled else 'paused (models stay loaded)') + \
            ('' if self._active else '; the node is not active: activate it to process frames')
        if not paused_in_time:
            response.message += (f'; the frame being processed took more than {PAUSE_WAIT_S:g} s: the open events '
                                 "end ('paused') as soon as it is done")
        self.get_logger().info(f'~/enable: {response.message}')
        return response

    def _pause(self) -> bool:
        """Executor thread (~/enable false): have the worker carry out the pause between two rounds, where no
        frame is half processed, and wait for it (PAUSE_WAIT_S at most); True once done. Ending the events here
        instead would race the frame the worker is processing (it would start new events after the pause) and
        leave the frames waiting in the slots to start more. Without a running worker nothing races: done here."""
        worker = self._worker
        if not self._active or worker is None or not worker.is_alive():
            self._close_events(END_PAUSED)
            return True
        done = threading.Event()
        with self._pause_lock:
            self._pause_requests.append(done)
        self._wake.set()
        deadline = time.monotonic() + PAUSE_WAIT_S
        while not done.wait(0.05):
            if time.monotonic() > deadline or not worker.is_alive():   # slow frame; or it died: on_error ends them
                return done.is_set()
        return True

    def _pause_now(self) -> None:
        """Worker thread, between two rounds: carry out the pauses asked for (_pause): the frames waiting are
        dropped (counted as ignored while paused) and the open events end ('paused')."""
        with self._pause_lock:
            requests, self._pause_requests = self._pause_requests, []
        if not requests:
            return
        for camera in self.cameras:
            slot = camera.slot
            if slot is not None and slot.take(timeout=0) is not None:
                camera.counters.paused += 1
        self._close_events(END_PAUSED)
        for done in requests:
            done.set()

    # ---------------------------------------------------------------- frames
    def _on_image(self, camera: Camera, msg) -> None:
        camera.counters.received(time.monotonic())
        slot = camera.slot
        if self._enabled and slot is not None:
            slot.put(msg)
            self._wake.set()
        else:
            camera.counters.paused += 1

    def _work(self) -> None:
        """The perception loop (worker thread). A frame's failure ends that frame only (_process_round); an
        exception that still ends the loop is a bug, reported, and the node leaves 'active' (_worker_failed)."""
        try:
            while self.context.ok() and self._active:
                self._wake.wait(timeout=0.5)
                self._wake.clear()
                self._between_rounds()
                self._pause_now()
                for camera in self.cameras:
                    camera.watch_input()            # a lost camera: logged, its open events end
                batch = [(c, msg) for c in self.cameras if c.slot is not None
                         for msg in [c.slot.take(timeout=0)] if msg is not None]
                if batch and not self._enabled:      # put just before a pause: not processed
                    for camera, _ in batch:
                        camera.counters.paused += 1
                    batch = []
                if batch:
                    self._process_round(batch)
        except Exception as e:  # noqa: BLE001 - reported, then the lifecycle error transition
            self._worker_failed(e)

    def _worker_failed(self, error: Exception) -> None:
        """Worker thread: record why it stopped (diagnostics ERROR), log it with its traceback, and wake the
        executor thread, which takes the node through its error transition (_on_worker_died)."""
        self.worker_failure = limits.bounded_message(
            f'perception stopped by an unexpected {_failure(error)}; '
            'frames are no longer processed: configure and activate the node to restart it, and report the '
            "traceback in the node's log as a bug", 600)
        self.get_logger().error(f'{self.worker_failure}\n{_traceback_tail(error)}')
        self._worker_died.trigger()

    def _on_worker_died(self) -> None:
        """Executor thread: deactivate, which answers ERROR (on_deactivate), so rclpy runs on_error and the node
        ends 'unconfigured' instead of staying 'active' without a worker."""
        if self._active and self.worker_failure:
            self.trigger_deactivate()

    def _between_rounds(self) -> None:
        """A new pipeline (new scene map) goes into force; each pipeline applies the parameters and rules changed
        since its last frame now, so that a detector floor it sets (score_threshold) holds for this round's
        detector pass too (it would do so itself before its next frame, one detector pass later)."""
        for camera in self.cameras:
            camera.take_pending_pipeline()
            camera.pipeline.sync()

    def _process_round(self, batch: list) -> None:
        """The newest frame of each camera in `batch`: decode, one detector pass over all, each pipeline."""
        t0 = time.perf_counter()
        decoded = []
        for camera, msg in batch:
            try:
                decoded.append((camera, msg, camera.decode(msg, self._bridge, self._params['max_image_pixels'])))
            except image_codec.ImageFormatError as e:
                self._skip(camera, e.cause, f'{e} (logged once per cause; counted in diagnostics)')
            except Exception as e:  # noqa: BLE001 - a frame must never take the node down
                self._skip(camera, 'decode', f'decoding failed: {_failure(e)}', e)
        if not decoded:
            return
        try:
            detections = detect_all(self._models[0], [image for _, _, image in decoded])
        except Exception as e:  # noqa: BLE001 - a frame must never take the node down
            for camera, _, _ in decoded:
                self._skip(camera, 'processing', f'processing failed: {_failure(e)}', e)
            return
        for (camera, msg, image), found in zip(decoded, detections):
            try:
                stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
                camera.watch_image(image, stamp)
                result = camera.pipeline.process(image, stamp=stamp, detections=found)
                camera.publish(result, msg.header, image)
                camera.counters.processed(time.monotonic(), (time.perf_counter() - t0) * 1e3,
                                          self.get_clock().now().nanoseconds * 1e-9 - stamp)
            except Exception as e:  # noqa: BLE001 - a frame must never take the node down
                self._skip(camera, 'processing', f'processing failed: {_failure(e)}', e)

    def _skip(self, camera: Camera, cause: str, message: str, error: Exception | None = None) -> None:
        """Count a skipped frame under `cause` (a fixed key: the counters stay bounded) and log the first of each
        cause, cut to limits.MAX_MESSAGE_CHARS; an exception that is not a VadError (a bug) comes with the last
        frames of its traceback."""
        if camera.counters.skip(cause):
            topic = camera.sub.topic_name if camera.sub is not None else camera.input_topic
            text = limits.bounded_message(f"skipping frames from '{topic}': {message}", 700)
            if error is not None and not isinstance(error, VadError):
                text += '\n' + _traceback_tail(error)
            self.get_logger().warn(text)

    # ---------------------------------------------------------------- diagnostics
    def _publish_diagnostics(self) -> None:
        state = 'active' if self._active else ('inactive' if self._models is not None else 'unconfigured')
        if self._active and not self._enabled:
            state = 'paused (~/enable false)'
        bad_params = tuple(self.bad_params.values())
        array = DiagnosticArray(status=[diagnostic_status(c, state, self.startup_error, self.worker_failure,
                                                          bad_params) for c in self.cameras])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(array)

    def destroy_node(self) -> None:
        """Ctrl-C, SIGTERM, the end of main: the node leaves as a lifecycle shutdown takes it (open events
        ended and acknowledged, models freed), unless it is shut down already; then its ROS entities go."""
        if not self._shut_down:
            try:
                if not self.context.ok():
                    raise _rclpy.RCLError('the context is gone: nothing can be published any more')
                self.trigger_shutdown()
            except _rclpy.RCLError:     # no context, or the state machine has no shutdown from where it is
                self._shut_down = True  # (finalized by a failed error processing): stop what runs, free it
                if self._active:
                    self._stop_input()
                self._release()
        super().destroy_node()


def _failure(error: BaseException) -> str:
    """'Type: message' of an exception, the message cut to 300 characters (it may quote an input)."""
    return f'{type(error).__name__}: {limits.bounded_message(str(error), 300)}'


def _traceback_tail(error: BaseException, frames: int = 6, chars: int = 1300) -> str:
    """The last `frames` frames of an exception's traceback (file, line, code: no input values) and its type,
    at most the last `chars` characters (a log line stays within limits.MAX_MESSAGE_CHARS with its message)."""
    text = ''.join(traceback.format_tb(error.__traceback__, limit=-frames)) + type(error).__name__
    return 'Traceback (most recent call last, cut):\n' + (text if len(text) <= chars else '...' + text[-chars:])


def _checked_args(argv: list[str]) -> tuple[list[str], list[str], list[str], list[str]]:
    """Remove `--params-file F` entries that rcl could not read (missing file, bad YAML), which would stop
    rclpy.init; return the remaining args, the problems, the folders of the good params files, and the bad
    entries of those files (params.bad_value_line, with file and line: the node uses the defaults)."""
    out, problems, dirs, bad = [], [], [], []
    i = 0
    while i < len(argv):
        if argv[i] == '--params-file' and i + 1 < len(argv):
            path = argv[i + 1]
            try:
                vparams.read_params_file(path, cameras={}, bad_values=bad)
            except vparams.ParamFileError as e:
                problems.append(f'{e}; starting without it (defaults apply)')
                i += 2
                continue
            except vparams.ParamError:
                pass   # a camera's own file that is bad: the node reports it when it declares it
            dirs.append(os.path.dirname(os.path.abspath(path)))
        out.append(argv[i])
        i += 1
    return out, problems, dirs, bad


def not_a_rule_file_reason(value: str) -> str:
    """The parameter API's answer for a path that is no rule file. Anyone on the ROS graph can set parameters,
    so it says the same whether the file is missing, unreadable or some other file, and shows none of it."""
    shown = value if len(value) <= 120 else value[:117] + '...'
    return (f"rules_file rejected, old rules stay: '{shown}' is not a rule file this node can use (it must exist "
            "on the node's host, be readable, and hold YAML with a top-level 'rules:' list); check it there with "
            f"`vad-check --params <the node's params file> --rules {shown}`")


class StartupFailed(VadError):
    """autostart could not configure or activate the node."""


def main(argv: list[str] | None = None) -> int:
    keep_freed_memory()                 # before any thread starts (see vad_ros.host_memory)
    args, problems, dirs, bad = _checked_args(list(sys.argv if argv is None else argv))

    def make() -> VadNode:
        node = VadNode(params_file_dirs=dirs + [os.getcwd()], bad_params=bad)
        log_to_ros(node.get_logger())     # the package's warnings (rules, models, ...) through the node's logger
        for p in problems:
            node.get_logger().error(p)
        if node._params['autostart']:
            autostart(node)
        return node

    return run_node('vad_node', make, args)


def autostart(node: VadNode) -> None:
    """configure + activate, as a lifecycle manager would; raises StartupFailed (exit code 1, its reason in
    one line: run_node logs it) on failure."""
    node._configure_quietly = True
    configured = node.trigger_configure()
    node._configure_quietly = False
    if configured != TransitionCallbackReturn.SUCCESS:
        node.destroy_node()
        raise StartupFailed(node.startup_error or 'configure failed')
    if node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
        node.destroy_node()
        raise StartupFailed('activate failed')


if __name__ == '__main__':
    sys.exit(main())
