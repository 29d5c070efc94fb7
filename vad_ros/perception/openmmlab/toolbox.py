"""Loading an MMDetection or MMSegmentation model: the config or model name resolved, the model built without
touching the network, the checkpoint read safely and loaded strictly, the vocabulary and the test pipeline.

A model is given as
  config: path to a config file (.py) + checkpoint: path to a .pth   (offline, the normal deployment), or
  config: a model name of the toolbox's model index (e.g. rtmdet_tiny_8xb32-300e_coco) + checkpoint: ''
          -> the toolbox resolves it and downloads the weights (cached by torch in ~/.cache/torch/hub), or
  config: a model name + checkpoint: a local .pth (config from the installed package, weights local).
Relative file paths are taken from the current directory (a params file resolves its own first: vad_ros.params).
With local files nothing here reaches the network: a config's pretrained-backbone entries are removed first.

Trust (README.md, "Model files"): a config file is Python code that runs when it is read. Checkpoints are read
with torch's weights-only unpickler (tensors, plain containers and checkpoint_safe_globals), anything more only
with <role>.trust_checkpoint_pickle: true. A model name (download) goes through the toolbox's own loader.

torch, mmengine, mmcv and the toolbox are imported where they are used: vad-check reads a model's vocabulary
through this module (vocabulary_from_files), and says which of them are missing.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import pickle
import re
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from vad_ros.perception.base import PerceptionError


@dataclass(frozen=True)
class Toolbox:
    """What differs between the MMDetection and the MMSegmentation backends, in one place."""
    name: str            # package and registry scope: 'mmdet', 'mmseg'
    role: str            # parameter prefix: 'detector', 'segmenter'
    init: str            # 'module:function' that builds a model from a config
    inferencer: str      # 'module:class' that resolves (downloads) a model by name

    def load(self, what: str):
        """`init` or `inferencer` imported."""
        module, _, attr = getattr(self, what).partition(':')
        return getattr(importlib.import_module(module), attr)


MMDET = Toolbox('mmdet', 'detector', 'mmdet.apis:init_detector', 'mmdet.apis:DetInferencer')
MMSEG = Toolbox('mmseg', 'segmenter', 'mmseg.apis:init_model', 'mmseg.apis:MMSegInferencer')


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


def _named_config(toolbox: Toolbox, name: str) -> str:
    """The config file of a model name shipped with the toolbox; PerceptionError where there is none."""
    path = _shipped_config(toolbox.name, name)
    if path is None:
        raise PerceptionError(f"{toolbox.role}.config '{name}' is neither a file nor a model name shipped with "
                              f'{toolbox.name}')
    return path


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
        config_path = _named_config(toolbox, config)
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
    state, dataset_meta = _read_weights(checkpoint, what, trust_pickle)
    try:
        model.load_state_dict({k[7:] if k.startswith('module.') else k: v for k, v in state.items()}, strict=True)
    except RuntimeError as e:
        first = str(e).split('\n')[1].strip() if '\n' in str(e) else str(e)
        raise PerceptionError(f"{what}.checkpoint '{checkpoint}' does not fit {what}.config '{config_path}' "
                              f'(another architecture or class count): {first[:300]}') from None
    if dataset_meta is not None:
        model.dataset_meta = dataset_meta
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
    core = getattr(np, '_core', None) or np.core
    dtypes = [t for t in vars(np.dtypes).values() if isinstance(t, type) and issubclass(t, np.dtype)]
    return [core.multiarray.scalar, core.multiarray._reconstruct, np.ndarray, np.dtype, *dtypes]


def read_checkpoint(checkpoint: str, what: str, trust_pickle: bool = False, mmap: bool = False):
    """The checkpoint's contents, read with the weights-only unpickler (see module doc), or unrestricted with
    trust_pickle. PerceptionError when it cannot be read or holds objects the safe reader refuses.
    mmap: the tensors of a zip checkpoint (torch's format since 1.6) memory-mapped, not read (for its metadata)."""
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


def _read_weights(checkpoint: str, what: str, trust_pickle: bool, mmap: bool = False) -> tuple[dict, dict | None]:
    """(state_dict, meta.dataset_meta with lower-case keys as the toolboxes' model.dataset_meta, or None) of a
    checkpoint (read_checkpoint); PerceptionError where it holds no state_dict."""
    ckpt = read_checkpoint(checkpoint, what, trust_pickle, mmap)
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise PerceptionError(f"{what}.checkpoint '{checkpoint}' holds no state_dict")
    meta = ckpt.get('meta')
    if isinstance(meta, dict) and isinstance(meta.get('dataset_meta'), dict):
        return state, {str(k).lower(): v for k, v in meta['dataset_meta'].items()}
    return state, None


def class_names(model, toolbox: Toolbox) -> tuple[str, ...]:
    """The vocabulary: checkpoint metadata first, then the dataset named in the config; checked against the
    number of classes the model's head outputs."""
    names, _ = _vocabulary(getattr(model, 'dataset_meta', None), model.cfg, toolbox)
    _check_class_count(model, names)
    return names


def _check_class_count(model, names: tuple[str, ...]) -> None:
    """PerceptionError where the head of `model` (a built model, or a config's model ConfigDict, whose keys
    read as attributes too) has a class count other than len(names)."""
    heads = [getattr(model, 'bbox_head', None), getattr(getattr(model, 'roi_head', None), 'bbox_head', None),
             getattr(model, 'decode_head', None)]
    outputs = next((h.num_classes for h in heads if isinstance(getattr(h, 'num_classes', None), int)), None)
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
        config_path = _named_config(toolbox, config)
    cfg = read_config(config_path, what)            # in load_model's order: the config, then the checkpoint
    dataset_meta = None if download else _read_weights(checkpoint, what, trust_pickle, mmap=True)[1]
    names, where = _vocabulary(dataset_meta, cfg, toolbox)
    where += f" of '{checkpoint}'" if (dataset_meta or {}).get('classes') else f" of '{config_path}'"
    if download:
        where += f' (a model name: {toolbox.name} downloads its weights at start-up)'
    _check_class_count(cfg.get('model'), names)
    return names, where


def test_pipeline(model, toolbox: Toolbox):
    """The config's test pipeline without its loading steps; fed dicts with the image already in memory."""
    from mmcv.transforms import Compose

    cfg = model.cfg
    steps = cfg.get('test_pipeline') or cfg.test_dataloader.dataset.pipeline
    steps = [dict(s) for s in steps if 'Load' not in s['type']]
    with scope(toolbox.name):
        return Compose(steps)
