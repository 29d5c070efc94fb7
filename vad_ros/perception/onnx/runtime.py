"""What the ONNX Runtime backends share: the metadata file written by vad-export, the execution providers for
a device and the session (start_session, also NanoDet's ONNX runner's), the vocabulary and the
pre-processing. Needs onnxruntime, numpy and OpenCV only.

Devices (`detector.device` / `segmenter.device`):
  auto   -> the CUDA execution provider (TensorRT first when its provider is present and TensorRT is
            installed) on GPU 0 when onnxruntime offers it, else the CPU;
  cpu    -> the CPU execution provider;
  cuda, cuda:N -> TensorRT (when present), CUDA, on GPU N; without them a start-up error, or the CPU with a
            warning when allow_cpu_fallback is true.
`half` asks TensorRT for float16 engines; the CUDA and CPU providers run the float32 graph as exported.
TensorRT engines are cached next to the ONNX file (<name>.trt/), so only the first start builds them.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Any, Callable

import numpy as np

from vad_ros.perception.base import PerceptionError, RuntimeReport
from vad_ros.perception.network_io import Preprocess

log = logging.getLogger('vad_ros.perception')

FORMAT = 'vad_ros-onnx/1'          # the metadata format vad-export writes (vad_ros.perception.onnx.export)
GPU_PROVIDERS = ('TensorrtExecutionProvider', 'CUDAExecutionProvider')

# The CPU thread pool: inside a run the worker threads spin between the ~200 parallel sections of a network
# instead of sleeping and being woken for each; when the run returns they stop spinning at once
# (force_spinning_stop), so between frames they burn no CPU that the other stages, the other session (detector
# and segmenter have one pool each) or other processes need (bench/RESULTS.md, "Model path per stage").
SESSION_CONFIG = {'session.intra_op.allow_spinning': '1', 'session.force_spinning_stop': '1'}


def providers_for(device: str, available: list[str] | tuple[str, ...], half: bool = False,
                  cache_dir: str = '') -> tuple[str, list]:
    """(device actually used, providers for InferenceSession) for a device parameter and the providers
    onnxruntime offers. Raises PerceptionError for a GPU that is asked for but not offered."""
    if device not in ('auto', 'cpu', 'cuda') and not device.startswith('cuda:'):
        raise PerceptionError(f"device '{device}' is not one of auto, cpu, cuda, cuda:N")
    gpu = [p for p in GPU_PROVIDERS if p in available]
    if device == 'cpu' or (device == 'auto' and not gpu):
        return 'cpu', ['CPUExecutionProvider']
    if not gpu:
        raise PerceptionError(f"device '{device}' was asked for but onnxruntime offers no GPU provider "
                              f"(available: {', '.join(available)}): install onnxruntime-gpu, or set the "
                              'device to auto or cpu, or allow_cpu_fallback: true')
    index = int(device.partition(':')[2] or 0)
    options = {'TensorrtExecutionProvider': {'device_id': index, 'trt_fp16_enable': bool(half),
                                             'trt_engine_cache_enable': bool(cache_dir), 'trt_engine_cache_path': cache_dir},
               'CUDAExecutionProvider': {'device_id': index}}
    return f'cuda:{index}', [(p, options[p]) for p in gpu] + ['CPUExecutionProvider']


def metadata_path(onnx_path: str) -> str:
    """The metadata file that belongs to an ONNX file: same folder and stem, .json."""
    return os.path.splitext(onnx_path)[0] + '.json'


def start_session(role: str, device: str, allow_cpu_fallback: bool, onnx_file: str | Callable[[], str],
                  half: bool = False, cache_dir: str = '', threads: int = 0) -> tuple[str, str, Any]:
    """(device used, ONNX file, InferenceSession) on the device parameter's providers (providers_for; half and
    cache_dir as there; threads 0: onnxruntime's default, one per physical core, pinned). onnx_file: the file,
    or a function that makes it, called once the providers are chosen (so a wrong device or a missing
    onnxruntime fails before a file is made). A GPU asked for but not offered, or offered but not started (a
    missing CUDA/TensorRT library), is a PerceptionError prefixed '<role>.device', or the CPU with a warning
    where allow_cpu_fallback."""
    try:
        used_device, providers = providers_for(device, available_providers(), half, cache_dir)
    except PerceptionError as e:
        if not allow_cpu_fallback or device in ('auto', 'cpu'):
            raise PerceptionError(f'{role}.device: {e}') from None
        log.warning('%s.device: %s; running on cpu because allow_cpu_fallback is true', role, e)
        used_device, providers = 'cpu', ['CPUExecutionProvider']
    onnx_path = onnx_file if isinstance(onnx_file, str) else onnx_file()
    import onnxruntime as ort      # importable: available_providers imported it
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL     # the convolutions already use every core
    options.intra_op_num_threads = threads
    for key, value in SESSION_CONFIG.items():
        options.add_session_config_entry(key, value)
    try:
        session = ort.InferenceSession(onnx_path, sess_options=options, providers=providers)
    except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types for bad files
        raise PerceptionError(f"'{onnx_path}' cannot be loaded by onnxruntime ({type(e).__name__}: "
                              f'{str(e)[:300]}): export it again with vad-export') from None
    running = session.get_providers()
    if used_device != 'cpu' and not any(p in running for p in GPU_PROVIDERS):
        reason = (f"{role}.device '{device}': onnxruntime could not start a GPU provider (running "
                  f"{', '.join(running)}; see its log for the missing CUDA/TensorRT library)")
        if not allow_cpu_fallback:
            raise PerceptionError(f'{reason}: fix the GPU libraries, or set the device to cpu, or '
                                  'allow_cpu_fallback: true')
        log.warning('%s; running on cpu because allow_cpu_fallback is true', reason)
        used_device = 'cpu'
    return used_device, onnx_path, session


TENSORRT_LIBRARIES = ('libnvinfer.so.10', 'libnvinfer.so.11', 'libnvinfer.so')


def available_providers() -> list[str]:
    """The execution providers onnxruntime offers and can start. onnxruntime-gpu offers its TensorRT provider
    whether or not TensorRT is installed; a session asked for it without TensorRT fails, prints an error banner
    and is started again on CUDA. So TensorRT counts only where its runtime library loads (the library path, the
    loader's cache, or already loaded by the tensorrt package; logged at info where not)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise PerceptionError('the onnx backends need onnxruntime: pip install onnxruntime (or onnxruntime-gpu)'
                              ) from None
    offered = list(ort.get_available_providers())
    if 'TensorrtExecutionProvider' not in offered:
        return offered
    import ctypes
    for name in TENSORRT_LIBRARIES:
        try:
            ctypes.CDLL(name)
            return offered
        except OSError:
            pass
    offered.remove('TensorrtExecutionProvider')
    log.info('onnxruntime offers TensorRT, but TensorRT (libnvinfer) is not installed: the CUDA provider runs '
             'the models (install TensorRT for its engines)')
    return offered


class OnnxBackend:
    """An exported network in an onnxruntime session, with its vocabulary and pre-processing."""

    role = ''          # 'detector' or 'segmenter' (parameter prefix)
    decoder = ''       # the metadata's 'decoder' that this backend implements

    def __init__(self, checkpoint: str, config: str = '', device: str = 'auto', half: bool = False,
                 allow_cpu_fallback: bool = False, threads: int = 0):
        """threads: CPU threads of the session (0 = onnxruntime's default, one per physical core)."""
        self.meta, self.source, self.class_names = self.exported(checkpoint, config)
        self.preprocess = Preprocess.from_dict(self.meta.get('preprocess') or {}, self.source)
        self.device, _, self.session = start_session(self.role, device, allow_cpu_fallback, checkpoint, half,
                                                     os.path.splitext(checkpoint)[0] + '.trt', threads)
        self.providers = tuple(self.session.get_providers())
        self.input_name = self.session.get_inputs()[0].name
        self.name = f"onnx:{self.meta.get('source', {}).get('model', os.path.basename(checkpoint))}"
        batch, _, *size = self.session.get_inputs()[0].shape
        self.input_hw = tuple(size) if all(isinstance(v, int) for v in size) else None
        self.dynamic_batch = not isinstance(batch, int)    # detectors: vad-export gives a batch axis

    def runtime_report(self):
        """The execution providers the session runs on (the first one does the work), for the start-up line."""
        return RuntimeReport(self.name, self.device, '', (('network', 'ONNX Runtime ' + ' > '.join(self.providers)),))

    def input_size(self, image_bgr: np.ndarray) -> tuple[int, int]:
        """(h, w) of the network input of a frame; PerceptionError when the frame needs another input size
        than the one exported."""
        height, width = image_bgr.shape[:2]
        in_w, in_h = self.preprocess.input_shape(width, height)
        if self.input_hw is not None and (in_h, in_w) != self.input_hw:
            exported = self.meta.get('frame_size') or ['?', '?']
            raise PerceptionError(f'{self.role}: a {width}x{height} frame gives a {in_w}x{in_h} network input, '
                                  f'but the model was exported for {self.input_hw[1]}x{self.input_hw[0]} '
                                  f'({exported[0]}x{exported[1]} frames): export it again with vad-export '
                                  f'{self.role} ... --frame-size {width}x{height}')
        return in_h, in_w

    def prepare(self, image_bgr: np.ndarray) -> np.ndarray:
        """The (1, 3, H, W) network input of a frame; PerceptionError as input_size."""
        self.input_size(image_bgr)
        return self.preprocess(image_bgr)

    @classmethod
    def exported(cls, checkpoint: str, config: str = '') -> tuple[dict[str, Any], str, tuple[str, ...]]:
        """(metadata, metadata file, class names) of an exported model (config, empty: metadata_path), checked
        for this backend (role, vocabulary, decoder) without starting a session; PerceptionError naming the file
        and the fix."""
        role = cls.role
        if not checkpoint:
            raise PerceptionError(f'{role}.checkpoint is empty: give the .onnx file written by vad-export')
        if not os.path.isfile(checkpoint):
            raise PerceptionError(f"{role}.checkpoint '{checkpoint}' does not exist (export one with vad-export)")
        source = config or metadata_path(checkpoint)
        try:
            with open(source, encoding='utf-8') as f:
                meta = json.load(f)
        except FileNotFoundError:
            raise PerceptionError(f"{role}: the metadata file '{source}' of '{checkpoint}' does not exist: keep "
                                  f'the .json that vad-export wrote next to the .onnx file, or name it in '
                                  f'{role}.config') from None
        except (OSError, ValueError) as e:
            raise PerceptionError(f"{role}.config '{source}' cannot be read as JSON: {e}") from None
        if not isinstance(meta, dict) or meta.get('format') != FORMAT:
            raise PerceptionError(f"{role}.config '{source}' is not a vad-export metadata file (format "
                                  f"{FORMAT}): export the model again with vad-export")
        if meta.get('role') != role:
            raise PerceptionError(f"{role}.checkpoint '{checkpoint}' is an exported {meta.get('role')}, not a {role}")
        names = tuple(meta.get('class_names') or ())
        if not names:
            raise PerceptionError(f"{role}: '{source}' names no classes: export the model again")
        if meta.get('decoder') != cls.decoder:
            raise PerceptionError(f"{role}: '{source}' needs decoder '{meta.get('decoder')}', which this "
                                  f"version does not have (it has '{cls.decoder}'): update vad_ros or re-export")
        return meta, source, names

    @classmethod
    def from_params(cls, params: dict[str, Any], **extra):
        r = cls.role
        return cls(params[f'{r}.checkpoint'], params[f'{r}.config'], params[f'{r}.device'], params[f'{r}.half'],
                   params['allow_cpu_fallback'], **extra)

    def run(self, blob: np.ndarray) -> list[np.ndarray]:
        """The network's outputs for a (1, 3, H, W) float32 input, or (B, 3, H, W) where dynamic_batch."""
        return self.session.run(None, {self.input_name: blob})
