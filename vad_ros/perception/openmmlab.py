"""What the MMDetection and MMSegmentation backends share: resolving a config or model name, building the
model without touching the network, loading a checkpoint strictly, the test pipeline, and the vocabulary.

A model is given as
  config: path to a config file (.py) + checkpoint: path to a .pth   (offline, the normal deployment), or
  config: a model name of the toolbox's model index (e.g. rtmdet_tiny_8xb32-300e_coco) + checkpoint: ''
          -> the toolbox resolves it and downloads the weights (needs the network), or
  config: a model name + checkpoint: a local .pth (config from the installed package, weights local).
Relative file paths are taken from the current directory (a params file resolves its own relative paths
against its folder first, see vad_ros.params). Downloaded weights are cached by torch (~/.cache/torch/hub),
so a model name keeps working offline after one online start. Nothing here reaches the network with local
files: the pretrained-backbone entries of a config are removed before the model is built.

Trust: a config file is Python code that is executed when it is read (that is how the toolboxes work), so
config files must come from a trusted place. Checkpoints are read with torch's weights-only unpickler, which
builds tensors, plain containers and the few numpy types that OpenMMLab training runs leave in a checkpoint's
metadata (checkpoint_safe_globals), and refuses anything else instead of running it; a checkpoint that needs
more (e.g. a training state with a message hub) loads only with <role>.trust_checkpoint_pickle: true, meant
for files from a trusted source. A model name (download) goes through the toolbox's own loader.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import pickle
import re
from dataclasses import dataclass
from typing import Any

from vad_ros.perception.base import PerceptionError


@dataclass(frozen=True)
class Toolbox:
    """What differs between the MMDetection and the MMSegmentation backends, in one place."""
    name: str            # package and registry scope: 'mmdet', 'mmseg'
    role: str            # parameter prefix: 'detector', 'segmenter'
    init: str            # 'module:function' that builds a model from a config
    inferencer: str      # 'module:class' that resolves (downloads) a model by name
    sample_field: str    # the prediction field of the toolbox's data samples

    def load(self, what: str):
        """`init` or `inferencer` imported (inside this toolbox's registry scope)."""
        module, _, attr = getattr(self, what).partition(':')
        return getattr(importlib.import_module(module), attr)


MMDET = Toolbox('mmdet', 'detector', 'mmdet.apis:init_detector', 'mmdet.apis:DetInferencer', 'pred_instances')
MMSEG = Toolbox('mmseg', 'segmenter', 'mmseg.apis:init_model', 'mmseg.apis:MMSegInferencer', 'pred_sem_seg')


def scope(name: str):
    """The registry scope of one toolbox: mmdet and mmseg in one process must not share a default scope."""
    from mmengine.registry import DefaultScope
    return DefaultScope.overwrite_default_scope(name)


def _shipped_config(toolbox: str, name: str) -> str | None:
    """The config file of a model name inside the installed toolbox (.mim/configs/**/<name>.py)."""
    root = os.path.join(os.path.dirname(importlib.import_module(toolbox).__file__), '.mim', 'configs')
    for folder, _, files in os.walk(root):
        if f'{name}.py' in files:
            return os.path.join(folder, f'{name}.py')
    return None


def _download_model(toolbox: Toolbox, name: str, device: str):
    """Resolve a model name through the toolbox's inferencer (downloads weights). Returns the model."""
    try:
        with scope(toolbox.name):
            return toolbox.load('inferencer')(model=name, device=device).model
    except Exception as e:  # noqa: BLE001 - network, index or file errors all mean the same to the user
        raise PerceptionError(
            f"{toolbox.name} model '{name}' could not be resolved or downloaded ({type(e).__name__}: {e}). "
            f'Offline, give a config file and a checkpoint file instead (e.g. {toolbox.role}.config: '
            f'/path/model.py, {toolbox.role}.checkpoint: /path/model.pth)') from None


def config_file(toolbox: Toolbox, config: str, checkpoint: str) -> str | None:
    """The config file load_model builds the model from, the two parameters checked (PerceptionError naming
    them and the fix); None for a model name without checkpoint, which the toolbox resolves and downloads."""
    what, name = toolbox.role, toolbox.name
    if not config:
        raise PerceptionError(f'{what}.config is empty: give a {name} config file (and {what}.checkpoint) or '
                              'a model name')
    config_path = config if os.path.isfile(config) else None
    if config_path is None:
        if config.endswith('.py') or os.sep in config:
            raise PerceptionError(f"{what}.config '{config}' does not exist (give an existing config file or a "
                                  f'{name} model name)')
        if not checkpoint:
            return None
        config_path = _shipped_config(name, config)
        if config_path is None:
            raise PerceptionError(f"{what}.config '{config}' is neither a file nor a model name shipped with "
                                  f'{name}')
    if not checkpoint:
        raise PerceptionError(f"{what}.checkpoint is empty: give the .pth file for '{config}' (or a model name "
                              'without checkpoint to download it)')
    if not os.path.isfile(checkpoint):
        raise PerceptionError(f"{what}.checkpoint '{checkpoint}' does not exist")
    return config_path


def load_model(toolbox: Toolbox, config: str, checkpoint: str, device: str, trust_pickle: bool = False):
    """Build the model of `config` on `device` with the weights of `checkpoint` (see module doc);
    trust_pickle: unpickle the checkpoint without restrictions (only for files from a trusted source)."""
    what, name = toolbox.role, toolbox.name
    config_path = config_file(toolbox, config, checkpoint)
    if config_path is None:
        return _download_model(toolbox, config, device)
    cfg = read_config(config_path, what)
    strip_pretrained(cfg.model)
    with scope(name):
        try:
            model = toolbox.load('init')(cfg, None, device=device)
        except Exception as e:  # noqa: BLE001 - unknown types (another toolbox's config), bad fields
            raise PerceptionError(f"{what}.config '{config_path}' cannot be built as a {name} model "
                                  f'({type(e).__name__}: {e}); is it a {name} config?') from None
    model.dataset_meta = None      # mmdet's init_detector defaults to COCO: the checkpoint or config decides
    _load_weights(model, checkpoint, config_path, what, trust_pickle)
    model.cfg = cfg
    model.eval()
    return model


def read_config(path: str, what: str):
    """An mmengine Config from a file; PerceptionError naming `what`.config when it cannot be read."""
    from mmengine.config import Config
    try:
        return Config.fromfile(path)
    except Exception as e:  # noqa: BLE001
        raise PerceptionError(f"{what}.config '{path}' cannot be read: {type(e).__name__}: {e}") from None


def strip_pretrained(node: Any) -> None:
    """Remove init_cfg entries that would download pretrained backbones (in place)."""
    if isinstance(node, dict):
        init_cfg = node.get('init_cfg')
        if isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained':
            node['init_cfg'] = None
        if 'pretrained' in node and isinstance(node.get('pretrained'), str):
            node['pretrained'] = None
        for value in node.values():
            strip_pretrained(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            strip_pretrained(value)


def checkpoint_safe_globals() -> list:
    """What the weights-only unpickler may build beyond tensors and plain containers: numpy scalars, arrays
    and dtypes, which OpenMMLab training runs leave in a checkpoint's metadata (e.g. a best score). Nothing
    here runs code when unpickled."""
    import numpy as np
    core = getattr(np, '_core', None) or np.core
    dtypes = [t for t in vars(np.dtypes).values() if isinstance(t, type) and issubclass(t, np.dtype)]
    return [core.multiarray.scalar, core.multiarray._reconstruct, np.ndarray, np.dtype, *dtypes]


def read_checkpoint(checkpoint: str, what: str, trust_pickle: bool = False, mmap: bool = False):
    """The checkpoint's contents, read with the weights-only unpickler (see module doc), or unrestricted with
    trust_pickle. PerceptionError when it cannot be read or holds objects the safe reader refuses.
    mmap: the tensors of a zip checkpoint (torch's format since 1.6) memory-mapped, not read (for its metadata)."""
    import zipfile

    import torch

    lazily = mmap and zipfile.is_zipfile(checkpoint)
    try:
        if trust_pickle:
            return torch.load(checkpoint, map_location='cpu', weights_only=False, mmap=lazily)
        with torch.serialization.safe_globals(checkpoint_safe_globals()):
            return torch.load(checkpoint, map_location='cpu', weights_only=True, mmap=lazily)
    except pickle.UnpicklingError as e:
        found = None if trust_pickle else re.search(r'(GLOBAL [\w.]+|got <class [^>]+>)', str(e))
        if found is None:       # not a refused object: a damaged file or no checkpoint at all
            detail = str(e).split('WeightsUnpickler error:')[-1].strip().split('\n\n')[0]
            raise PerceptionError(f"{what}.checkpoint '{checkpoint}' cannot be read as a torch checkpoint: "
                                  f'{detail[:300]}') from None
        raise PerceptionError(
            f"{what}.checkpoint '{checkpoint}' holds Python objects beyond weights and their metadata "
            f"({found.group(1)}); it was not loaded, "
            'since unpickling them can run code. Use a checkpoint with weights only (state_dict + meta, as '
            f'OpenMMLab publishes them), or, for a file from a trusted source only, set '
            f'{what}.trust_checkpoint_pickle: true') from None
    except Exception as e:  # noqa: BLE001
        raise PerceptionError(f"{what}.checkpoint '{checkpoint}' cannot be read as a torch checkpoint: {e}") from None


def _state_dict(ckpt, checkpoint: str, what: str) -> dict:
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise PerceptionError(f"{what}.checkpoint '{checkpoint}' holds no state_dict")
    return state


def _dataset_meta(ckpt) -> dict | None:
    """The checkpoint's meta.dataset_meta with lower-case keys (what the toolboxes call model.dataset_meta)."""
    meta = ckpt.get('meta', {}) if isinstance(ckpt, dict) else {}
    if isinstance(meta, dict) and isinstance(meta.get('dataset_meta'), dict):
        return {str(k).lower(): v for k, v in meta['dataset_meta'].items()}
    return None


def _load_weights(model, checkpoint: str, config: str, what: str, trust_pickle: bool = False) -> None:
    ckpt = read_checkpoint(checkpoint, what, trust_pickle)
    state = _state_dict(ckpt, checkpoint, what)
    state = {k[7:] if k.startswith('module.') else k: v for k, v in state.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).split('\n')[1].strip() if '\n' in str(e) else str(e)
        raise PerceptionError(f"{what}.checkpoint '{checkpoint}' does not fit {what}.config '{config}' "
                              f'(another architecture or class count): {first[:300]}') from None
    dataset_meta = _dataset_meta(ckpt)
    if dataset_meta is not None:
        model.dataset_meta = dataset_meta


def class_names(model, toolbox: Toolbox) -> tuple[str, ...]:
    """The vocabulary: checkpoint metadata first, then the dataset named in the config; checked against the
    number of classes the model's head outputs."""
    names, _ = _vocabulary(getattr(model, 'dataset_meta', None), model.cfg, toolbox)
    heads = [getattr(model, 'bbox_head', None), getattr(getattr(model, 'roi_head', None), 'bbox_head', None),
             getattr(model, 'decode_head', None)]
    _check_class_count(next((h.num_classes for h in heads if isinstance(getattr(h, 'num_classes', None), int)),
                            None), names)
    return names


def _check_class_count(outputs: int | None, names: tuple[str, ...]) -> None:
    if outputs is not None and outputs != len(names):
        raise PerceptionError(f'the model outputs {outputs} classes but its metadata names {len(names)} '
                              f'({", ".join(names[:3])}, ...): use the checkpoint that belongs to the config')


def _vocabulary(dataset_meta: dict | None, cfg, toolbox: Toolbox) -> tuple[tuple[str, ...], str]:
    """(class names, where they were found): the checkpoint's dataset_meta, else the config's dataset."""
    meta = dataset_meta or {}
    if meta.get('classes'):
        return tuple(meta['classes']), "the checkpoint's meta.dataset_meta"
    dataset = cfg.get('test_dataloader', {}).get('dataset', {})
    if dataset.get('metainfo', {}).get('classes'):
        return tuple(dataset['metainfo']['classes']), "the config's test dataset metainfo"
    with scope(toolbox.name):         # the toolbox's own registry: mmengine's root one does not know its datasets
        importlib.import_module(f'{toolbox.name}.datasets')
        registry = importlib.import_module(f'{toolbox.name}.registry').DATASETS
        cls = registry.get(dataset['type']) if isinstance(dataset.get('type'), str) else None
    if cls is not None and getattr(cls, 'METAINFO', {}).get('classes'):
        return tuple(cls.METAINFO['classes']), f"the config's test dataset {dataset.get('type')}"
    raise PerceptionError('the model has no class names: save the checkpoint with meta.dataset_meta.classes or '
                          'name the dataset in the config')


def vocabulary_from_files(toolbox: Toolbox, config: str, checkpoint: str, trust_pickle: bool = False
                          ) -> tuple[tuple[str, ...], str]:
    """(class names, where they were found) of the model load_model would build, from its files alone, without
    building the model or reading its weights: the names class_names() gives the loaded model (the
    checkpoint's metadata, read with its tensors memory-mapped; then the config's dataset), checked against the
    class count of the config's head. A model name to download: the config shipped with the toolbox. Raises
    PerceptionError where load_model would, for missing or unusable files."""
    what = toolbox.role
    missing = [m for m in ('torch', 'mmengine', toolbox.name) if importlib.util.find_spec(m) is None]
    if missing:
        raise PerceptionError(f"{what}.backend {toolbox.name} needs {', '.join(missing)}, not installed here: run "
                              'tools/setup.sh models')
    config_path = config_file(toolbox, config, checkpoint)
    download = config_path is None      # a model name that the toolbox downloads at start-up
    if download:
        config_path = _shipped_config(toolbox.name, config)
        if config_path is None:
            raise PerceptionError(f"{what}.config '{config}' is neither a file nor a model name shipped with "
                                  f'{toolbox.name}')
    cfg = read_config(config_path, what)            # in load_model's order: the config, then the checkpoint
    dataset_meta = None
    if not download:
        ckpt = read_checkpoint(checkpoint, what, trust_pickle, mmap=True)
        _state_dict(ckpt, checkpoint, what)
        dataset_meta = _dataset_meta(ckpt)
    names, where = _vocabulary(dataset_meta, cfg, toolbox)
    where += f" of '{checkpoint}'" if (dataset_meta or {}).get('classes') else f" of '{config_path}'"
    if download:
        where += f' (a model name: {toolbox.name} downloads its weights at start-up)'
    model = cfg.get('model') or {}
    heads = [model.get('bbox_head'), (model.get('roi_head') or {}).get('bbox_head'), model.get('decode_head')]
    _check_class_count(next((h['num_classes'] for h in heads
                             if isinstance(h, dict) and isinstance(h.get('num_classes'), int)), None), names)
    return names, where


def test_pipeline(model, toolbox: Toolbox):
    """The config's test pipeline without its loading steps; fed dicts with the image already in memory."""
    from mmcv.transforms import Compose

    cfg = model.cfg
    steps = cfg.get('test_pipeline') or cfg.test_dataloader.dataset.pipeline
    steps = [dict(s) for s in steps if 'Load' not in s['type']]
    with scope(toolbox.name):
        return Compose(steps)


# largest difference between the raw outputs before and after a speed-up of settle_speedups, relative to their
# largest magnitude (they differ in the order of float sums only: ~1e-6 measured for RTMDet-tiny and SegFormer-B0)
SPEEDUP_TOLERANCE = 1e-4


class ModelBackend:
    """A toolbox model on its device, with its vocabulary and test pipeline; base of the two backends."""

    toolbox: Toolbox   # MMDET or MMSEG

    def __init__(self, config: str, checkpoint: str = '', device: str = 'auto', half: bool = False,
                 allow_cpu_fallback: bool = False, trust_pickle: bool = False, cuda_graph: bool = True,
                 compile_network: bool = False):
        """The subclasses end their own __init__ with settle_speedups() and start_network() (see there).
        cuda_graph: on a GPU, replay the network from CUDA graphs (vad_ros.perception.cuda_graphs);
        compile_network: torch.compile the network (see _compiled)."""
        import logging

        import torch
        from vad_ros.perception.device import select_device

        self._torch = torch
        self.device = select_device(device, allow_cpu_fallback)
        if half and not self.device.startswith('cuda'):
            logging.getLogger('vad_ros.perception').warning(
                '%s.half applies on a GPU only: running in float32 on %s', self.toolbox.role, self.device)
        self.half = half and self.device.startswith('cuda')
        self.cuda_graph = cuda_graph and self.device.startswith('cuda')
        self.compile_network = compile_network
        self.compiled = False
        self._net = None          # what run_network runs (start_network)
        self._graphs = None
        self.model = load_model(self.toolbox, config, checkpoint, self.device, trust_pickle)
        self.class_names = class_names(self.model, self.toolbox)
        self.name = f'{self.toolbox.name}:{type(self.model).__name__}'
        self._pipeline = test_pipeline(self.model, self.toolbox)

    @classmethod
    def from_params(cls, params: dict[str, Any]):
        r = cls.toolbox.role
        return cls(params[f'{r}.config'], params[f'{r}.checkpoint'], params[f'{r}.device'], params[f'{r}.half'],
                   params['allow_cpu_fallback'], trust_pickle=params[f'{r}.trust_checkpoint_pickle'],
                   cuda_graph=params[f'{r}.cuda_graph'], compile_network=params[f'{r}.compile'])

    # --- speed-ups checked at load: batch norm folded into convolutions, channels-last memory
    channels_last = False
    folded_norms = False
    COPY_LIMIT_BYTES = 512 * 2 ** 20    # folding is tried on a copy of models up to this size

    def settle_speedups(self, channels_last: bool | None = None, fold_norms: bool | None = None) -> None:
        """Speed-ups of the network that compute the same outputs, each kept only where a check at load shows it.

        - fold_norms: every batch norm that follows a convolution folded into its weights and bias (mmcv's
          fuse_conv_bn; one pass over the activations less per layer; RTMDet-tiny's network 73 -> 65 ms on 2
          cores).
        - channels_last: the network in channels-last (NHWC) memory; PyTorch's CPU convolutions are much
          faster that way (RTMDet-tiny's network 104 -> 73 ms, SegFormer-B0's 210 -> 163 ms, bench/RESULTS.md).
        Both change only the float rounding of the sums, but not every model's code copes with them, so each
        is checked (see _try_speedup): the network's raw outputs (probe_outputs) for a fixed synthetic frame
        must agree with the original's within float noise (SPEEDUP_TOLERANCE of their largest magnitude), else
        (or if the model raises) it stays as it was, logged at info. None = on CPU, where they were
        measured (GPUs keep the model as loaded); True = try on any device (still checked); False = never."""
        # (name, requested, apply to a model, undo in place: None = try it on a copy)
        steps = [('fold_norms', fold_norms, self._fold_norms, None),
                 ('channels_last', channels_last, self._to_channels_last,
                  lambda model: model.to(memory_format=self._torch.contiguous_format))]
        wanted = [(name, step, undo) for name, requested, step, undo in steps
                  if requested is True or (requested is None and self.device == 'cpu')]
        if not wanted:
            return
        try:
            inputs = self.probe_inputs()
            reference = None if inputs is None else self.probe_outputs(inputs)
        except Exception:  # noqa: BLE001 - the first frame will report the model's own error
            return
        if reference is None:               # a model whose raw outputs this backend does not compare
            return
        for name, step, undo in wanted:
            self._try_speedup(name, step, undo, inputs, reference)

    def _fold_norms(self, model) -> None:
        from mmcv.cnn import fuse_conv_bn
        fuse_conv_bn(model)
        self.folded_norms = True

    def _to_channels_last(self, model) -> None:
        model.to(memory_format=self._torch.channels_last)
        self.channels_last = True

    def _try_speedup(self, name: str, step, undo, inputs, reference) -> None:
        """Apply `step` and keep it where the raw outputs match `reference`. A step with an `undo` is tried
        in place and undone; one without (folding changes the model for good) is tried on a copy, and only for
        models up to COPY_LIMIT_BYTES of parameters (a copy of a huge one would double its memory at
        start-up)."""
        import copy
        import logging

        from vad_ros.perception.cuda_graphs import same_outputs
        log = logging.getLogger('vad_ros.perception')
        original, state = self.model, (self.channels_last, self.folded_norms)
        in_place = undo is not None
        if not in_place:
            size = sum(p.numel() * p.element_size() for p in original.parameters())
            if size > self.COPY_LIMIT_BYTES:
                log.info('%s: %s not tried (%.0f MB of parameters: no copy is made above %.0f MB)',
                         self.toolbox.role, name, size / 1e6, self.COPY_LIMIT_BYTES / 1e6)
                return
        try:
            candidate = original if in_place else copy.deepcopy(original)
            step(candidate)
            self.model = candidate
            same = same_outputs(reference, self.probe_outputs(inputs), SPEEDUP_TOLERANCE)
        except Exception as e:  # noqa: BLE001 - any failure of the model's code after the change
            same = False
            log.info('%s: %s fails (%s: %s)', self.toolbox.role, name, type(e).__name__, e)
        if not same:
            if in_place:
                undo(original)
            self.model = original
            self.channels_last, self.folded_norms = state
            log.info('%s: %s not used (the outputs would not be the same)', self.toolbox.role, name)

    def probe_frame(self):
        """A fixed synthetic 640x480 frame (smooth gradients and noise) for the load-time checks."""
        import numpy as np
        rng = np.random.default_rng(0)
        ys, xs = np.mgrid[0:480, 0:640]
        base = np.stack([xs * 0.3, ys * 0.4, (xs + ys) * 0.2], axis=-1)
        return np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)

    def probe_inputs(self):
        """The network input for the load-time checks, or None where the raw outputs are not compared."""
        raise NotImplementedError

    def probe_outputs(self, inputs) -> list:
        """The network's raw output tensors for `inputs`, as the model stands."""
        raise NotImplementedError

    def forward(self, inputs):
        """The network's tensors for `inputs` (what run_network returns), for models that run_network serves."""
        raise NotImplementedError

    # --- direct pre-processing (vad_ros.perception.direct_inputs), checked at load against the toolbox's
    _direct = None

    @property
    def direct_inputs(self) -> bool:
        """True where frames are prepared by direct pre-processing instead of the toolbox's test pipeline."""
        return self._direct is not None

    def start_direct_inputs(self, wanted: bool) -> None:
        """Direct pre-processing from now on where wanted and its check against _toolbox_prepare (the subclass's
        frame -> (network input, metainfo list) through the toolbox) passes for the probe frames."""
        if wanted:
            from vad_ros.perception.direct_inputs import checked_direct_inputs
            self._direct = checked_direct_inputs(self.model.cfg, self.toolbox.role, self.device,
                                                 self._toolbox_prepare, self.probe_frame())

    def start_network(self) -> None:
        """What run_network runs from now on (call after settle_speedups, which may replace the model): forward,
        compiled where compile_network and the check passes (_compiled), replayed from CUDA graphs where
        cuda_graph."""
        self._net = self._compiled(self.forward) if self.compile_network else self.forward
        if self.cuda_graph:
            from vad_ros.perception.cuda_graphs import CudaGraphs
            self._graphs = CudaGraphs(self._net, self.toolbox.role)

    def run_network(self, inputs):
        """forward(inputs) in inference mode (float16 autocast when half), as start_network set it up."""
        with scope(self.toolbox.name), self._inference():
            if self._graphs is not None:
                return self._graphs(inputs)
            return (self._net or self.forward)(inputs)

    def _compiled(self, forward):
        """forward compiled by torch.compile (inductor: fused kernels; SegFormer-B0's segment() 183 -> 127 ms on
        2 CPU cores, bench/RESULTS.md), kept where its outputs for the probe frame match forward's
        (cuda_graphs.same_outputs); else forward, logged at info. Compiling takes seconds to a minute for each new
        input shape (here: the probe frame's at start-up, then each camera size or batch size at its first
        frame); torch caches the result on disk, so later starts are faster."""
        import logging

        from vad_ros.perception.cuda_graphs import same_outputs
        log = logging.getLogger('vad_ros.perception')
        try:
            compiled = self._torch.compile(forward, dynamic=False)
            inputs = self.probe_inputs()
            with scope(self.toolbox.name), self._inference():
                same = same_outputs(forward(inputs), compiled(inputs))
        except Exception as e:  # noqa: BLE001 - no compiler, unsupported model code: run it uncompiled
            log.info('%s: compile fails (%s: %s): the network runs uncompiled', self.toolbox.role,
                     type(e).__name__, e)
            return forward
        if not same:
            log.info('%s: compile not used (the outputs would not be the same)', self.toolbox.role)
            return forward
        self.compiled = True
        return compiled

    def as_layout(self, inputs):
        """The network input in the layout the model runs in."""
        if self.channels_last and inputs.dim() == 4:
            return inputs.contiguous(memory_format=self._torch.channels_last)
        return inputs

    def _inference(self):
        """Context for one forward pass: no autograd, float16 autocast when half on a GPU."""
        stack = contextlib.ExitStack()
        stack.enter_context(self._torch.inference_mode())
        stack.enter_context(half_context(self.device, self.half))
        return stack


def half_context(device: str, half: bool):
    import torch
    if half and device.startswith('cuda'):
        # no weight cache: CUDA graph capture needs that, and one forward pass uses each weight once anyway
        return torch.autocast('cuda', dtype=torch.float16, cache_enabled=False)
    return contextlib.nullcontext()
