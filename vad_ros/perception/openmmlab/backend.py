"""A toolbox model (toolbox.py) on its device, run in stages (prepare: the toolbox's test pipeline; network;
decode) with the load-time variants of its declared plan; base of the MMDetection and MMSegmentation backends.

The plan (PLAN; MMDetDetector adds the package's decoding) names each variant, its default and the reason of
that default (measured: bench/RESULTS.md, "Load-time variants", bench_variants.py on 2 CPU cores). The variants are settled once, at the
end of __init__, in the plan's order (the changes to the model; the decoding, which wraps the model; then
compile and CUDA graphs, which wrap the whole forward pass), each through Variants.keep_if_equivalent. Models
that the package does not run stage by stage (`runs_in_stages` false: two-stage detectors, slide-mode
segmenters) run the toolbox's own predict, with every variant off.
"""
from __future__ import annotations

import contextlib
import copy
import logging
from typing import Any

import numpy as np
import torch

from vad_ros.perception.base import RuntimeReport
from vad_ros.perception.device import select_device
from vad_ros.perception.openmmlab.cuda_graphs import CudaGraphs
from vad_ros.perception.openmmlab.toolbox import Toolbox, class_names, load_model, scope, test_pipeline
from vad_ros.perception.openmmlab.variants import Variant, Variants, mismatch

log = logging.getLogger('vad_ros.perception')

FOLD_NORMS = Variant('fold_norms', lambda backend: backend.device == 'cpu',
                     'on the CPU only, where it was measured (RTMDet-tiny detect() 5.7-7.5 % faster); GPUs keep the '
                     'model', lambda backend: backend.try_fold_norms())
CHANNELS_LAST = Variant('channels_last', lambda backend: backend.device == 'cpu',
                        'on the CPU only, where it was measured (RTMDet-tiny detect() 34-41 %, SegFormer-B0 segment() '
                        '24-25 % faster); no gain on the H200', lambda backend: backend.try_channels_last())
MODEL_CHANGES = (FOLD_NORMS, CHANNELS_LAST)
# the runners wrap the whole forward pass (after any decoding a subclass adds to it): last
RUNNERS = (
    Variant('compile', lambda backend: False,
            'opt-in (<role>.compile): seconds to a minute of compiling at start-up and for each new input size',
            lambda backend: backend.try_compile()),
    Variant('cuda_graphs', lambda backend: backend.device.startswith('cuda'),
            'GPUs only (<role>.cuda_graph; H200: RTMDet-l network 9.8 -> 4.3 ms, SegFormer-B5 29.9 -> 23.6 ms)',
            lambda backend: backend.try_cuda_graphs()),
)
PLAN = MODEL_CHANGES + RUNNERS      # all in the network stage (a subclass's own may be in another)


class ModelBackend:
    """A toolbox model on its device, with its vocabulary, test pipeline and load-time variants."""

    toolbox: Toolbox   # MMDET or MMSEG
    PLAN = PLAN
    COPY_LIMIT_BYTES = 512 * 2 ** 20    # folding is tried on a copy of models up to this size

    def __init__(self, config: str, checkpoint: str = '', device: str = 'auto', half: bool = False,
                 allow_cpu_fallback: bool = False, trust_pickle: bool = False, cuda_graph: bool = True,
                 compile_network: bool = False, **variants: bool | None):
        """`variants` by name (PLAN's fold_norms, channels_last; MMDetDetector's package_decode): None = the plan's
        default, True = tried on any device (still checked), False = never; cuda_graph: replay the network from
        CUDA graphs on GPUs (False: never); compile_network: try torch.compile."""
        self.device = select_device(device, allow_cpu_fallback)
        if half and not self.device.startswith('cuda'):
            log.warning('%s.half applies on a GPU only: running in float32 on %s', self.toolbox.role, self.device)
        self.half = half and self.device.startswith('cuda')
        self.model = load_model(self.toolbox, config, checkpoint, self.device, trust_pickle)
        self.class_names = class_names(self.model, self.toolbox)
        self.name = f'{self.toolbox.name}:{type(self.model).__name__}'
        self._pipeline = test_pipeline(self.model, self.toolbox)
        self.staged = self.runs_in_stages()
        self.channels_last = self.folded_norms = self.compiled = False
        self._graphs = self._probe = None
        self._net = self.forward                  # what run_network runs (compiled, replayed: see the plan)
        self.variants = Variants(self.toolbox.role, self.device, 'float16' if self.half else 'float32')
        variants.update(compile=compile_network or False, cuda_graphs=None if cuda_graph else False)
        for variant in self.PLAN:                 # each tried through variants.keep_if_equivalent
            wish = variants.get(variant.name)
            if not self.staged:
                self.variants.record(variant.name, 'off', "the model runs through the toolbox's own predict")
            elif wish is False or (wish is None and not variant.default(self)):
                self.variants.record(variant.name, 'off', 'not asked for' if wish is False else variant.why)
            else:
                variant.attempt(self)

    @classmethod
    def from_params(cls, params: dict[str, Any], **kwargs):
        r = cls.toolbox.role
        return cls(params[f'{r}.config'], params[f'{r}.checkpoint'], params[f'{r}.device'], params[f'{r}.half'],
                   params['allow_cpu_fallback'], trust_pickle=params[f'{r}.trust_checkpoint_pickle'],
                   cuda_graph=params[f'{r}.cuda_graph'], compile_network=params[f'{r}.compile'], **kwargs)

    def runs_in_stages(self) -> bool:
        """True where the package runs the model stage by stage (the subclass decides from the model)."""
        raise NotImplementedError

    # --- the variants of the plan
    def probe_reference(self):
        """(network input of the probe frame, the plain model's raw outputs for it), computed once. The probe
        frame: a fixed synthetic 640x480 image (smooth gradients and noise)."""
        if self._probe is None:
            rng = np.random.default_rng(0)
            ys, xs = np.mgrid[0:480, 0:640]
            base = np.stack([xs * 0.3, ys * 0.4, (xs + ys) * 0.2], axis=-1)
            inputs = self.prepare(np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8))[0]
            self._probe = inputs, self.probe_outputs(inputs)
        return self._probe

    def try_fold_norms(self) -> None:
        """Every batch norm that follows a convolution folded into its weights and bias (mmcv's fuse_conv_bn),
        on a copy of models up to COPY_LIMIT_BYTES of parameters (a copy of a huge one would double its memory)."""
        size = sum(p.numel() * p.element_size() for p in self.model.parameters())
        if size > self.COPY_LIMIT_BYTES:
            self.variants.record('fold_norms', 'refused', f'not tried: {size / 1e6:.0f} MB of parameters, no copy '
                                 f'is made above {self.COPY_LIMIT_BYTES / 1e6:.0f} MB')
            return
        from mmcv.cnn import fuse_conv_bn
        self._try_model_change('fold_norms', 'folded_norms', lambda model: fuse_conv_bn(copy.deepcopy(model)))

    def try_channels_last(self) -> None:
        """The weights in channels-last memory, in place (back to contiguous where refused)."""
        self._try_model_change('channels_last', 'channels_last',
                               lambda model: model.to(memory_format=torch.channels_last),
                               undo=lambda model: model.to(memory_format=torch.contiguous_format))

    def _try_model_change(self, name: str, flag: str, change, undo=None) -> None:
        """change(model) -> the changed model (the model itself or a copy), kept where the raw outputs for the
        probe frame stay those of the model as loaded; `flag` (an attribute that the probe's forward pass reads)
        is True while it is checked and where it is kept. Refused: undo(model) and the model as it was."""
        original = self.model

        def build():
            self.probe_reference()                      # the outputs before the change
            candidate = change(original)
            setattr(self, flag, True)
            return candidate

        def check(candidate):
            inputs, reference = self.probe_reference()
            self.model = candidate
            return mismatch(reference, self.probe_outputs(inputs), self.variants.tolerance)

        def restore():
            if undo is not None:
                undo(original)
            self.model = original
            setattr(self, flag, False)
        self.variants.keep_if_equivalent(name, build, check, restore)

    def try_compile(self) -> None:
        """torch.compile (inductor: fused kernels; bench/RESULTS.md, "Model path per stage"). Compiling takes
        seconds to a minute for each new input shape; torch caches the result on disk."""
        def check(compiled):
            inputs = self.probe_reference()[0]
            with scope(self.toolbox.name), self._inference():
                return mismatch(self._net(inputs), compiled(inputs), self.variants.tolerance)
        compiled = self.variants.keep_if_equivalent('compile', lambda: torch.compile(self._net, dynamic=False),
                                                    check)
        if compiled is not None:
            self._net, self.compiled = compiled, True

    def try_cuda_graphs(self) -> None:
        """Checked per input shape when captured (vad_ros.perception.openmmlab.cuda_graphs), which records a refusal."""
        self._graphs = CudaGraphs(self._net, self.variants)
        self.variants.record('cuda_graphs', 'kept', 'each input shape is captured and checked at its first frame')

    # --- the report
    def stage_paths(self) -> dict[str, str]:
        """What runs in each stage (the subclasses add theirs)."""
        network = [v.name for v in PLAN if self.variants.kept(v.name)]
        return {'prepare': 'toolbox pipeline',
                'network': (', '.join(network) or 'as loaded') if self.staged else "toolbox's predict"}

    def runtime_report(self) -> RuntimeReport:
        return RuntimeReport(self.name, self.device, 'float16' if self.half else 'float32',
                             tuple(self.stage_paths().items()), tuple(self.variants.outcomes.values()))

    # --- the stages, and what the subclasses provide for them and the checks
    def _sample(self, image_bgr: np.ndarray) -> dict:
        """One frame through the test pipeline (inputs: the uint8 image tensor, data_samples)."""
        height, width = image_bgr.shape[:2]
        with scope(self.toolbox.name):
            return self._pipeline(dict(img=image_bgr, img_id=0, img_path='', ori_shape=(height, width),
                                       img_shape=(height, width)))

    def _batch(self, samples: list[dict]):
        """(network input on the device, data samples) of pipeline outputs through the data preprocessor."""
        with scope(self.toolbox.name):
            batch = self.model.data_preprocessor({'inputs': [d['inputs'] for d in samples],
                                                  'data_samples': [d['data_samples'] for d in samples]}, False)
        return batch['inputs'], batch['data_samples']

    def prepare(self, image_bgr: np.ndarray):
        """(network input on the device, data samples) through the test pipeline + data preprocessor."""
        return self._batch([self._sample(image_bgr)])

    def probe_outputs(self, inputs) -> list:
        """The network's raw output tensors for `inputs`, as the model stands."""
        raise NotImplementedError

    def forward(self, inputs):
        """The network's tensors for `inputs` (what run_network returns)."""
        raise NotImplementedError

    def run_network(self, inputs):
        """forward(inputs) in inference mode (float16 autocast when half), compiled / replayed as settled."""
        with scope(self.toolbox.name), self._inference():
            if self._graphs is not None:
                return self._graphs(inputs)
            return self._net(inputs)

    def as_layout(self, inputs):
        """The network input in the layout the model runs in."""
        if self.channels_last and inputs.dim() == 4:
            return inputs.contiguous(memory_format=torch.channels_last)
        return inputs

    def _inference(self):
        """Context for one forward pass: no autograd, float16 autocast when half on a GPU."""
        stack = contextlib.ExitStack()
        stack.enter_context(torch.inference_mode())
        if self.half:       # no weight cache: CUDA graph capture needs that (one pass uses each weight once)
            stack.enter_context(torch.autocast('cuda', dtype=torch.float16, cache_enabled=False))
        return stack
