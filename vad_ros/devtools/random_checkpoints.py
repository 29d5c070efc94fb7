"""Real checkpoints with random weights, built from configs shipped inside mmdet / mmseg, without network.

For tests, benchmarks and smoke tests of a deployment (does the loader, the device, the node work?) where no
trained weights can be downloaded. The outputs are meaningless; the files are real:

    python -m vad_ros.devtools.random_checkpoints --kind det --out /tmp/models
    -> /tmp/models/rtmdet_tiny_8xb32-300e_coco.py + .pth (80 COCO classes in meta.dataset_meta)

Weights: the toolbox's own initialisation (model.init_weights()) after removing the pretrained-backbone
entries that would download. RTMDet's head biases are then set so that boxes have a size and low scores
(see _spread_detection_head); other detector heads keep the toolbox's initialisation.
"""
from __future__ import annotations

import argparse
import os
import sys

from vad_ros.perception.openmmlab.toolbox import _shipped_config, scope, strip_pretrained

DEFAULT_CONFIGS = {'det': 'rtmdet_tiny_8xb32-300e_coco', 'seg': 'segformer_mit-b0_8xb2-160k_ade20k-512x512'}


def _spread_detection_head(model) -> None:
    """Freshly initialised RTMDet heads output zero-size boxes (nothing survives post-processing), and raw
    random ones give every anchor and class a score near 0.5 (NMS over 30000 candidates, ~3x a trained
    model's time). Biases set here: every box is two strides wide; the first class (COCO: person) scores
    0.0015 at every anchor (8400 at 640x640, just above the test_cfg's score_thr 0.001, as a trained model's
    few thousand low candidates), every other class 6e-6 (dropped before NMS). So the model returns its 300
    boxes through real post-processing, all far below score_threshold: no object reaches the rules."""
    import torch
    for name, param in model.named_parameters():
        if not (name.startswith('bbox_head.') and name.endswith('bias')):
            continue
        if 'rtm_cls' in name:
            torch.nn.init.constant_(param, -12.0)
            with torch.no_grad():
                param[0] = -6.5
        elif 'rtm_reg' in name:
            torch.nn.init.constant_(param, 1.0)


def make_random_checkpoint(kind: str, out_dir: str, config: str | None = None, seed: int = 0) -> tuple[str, str]:
    """(config_path, checkpoint_path) of a randomly initialised model of `config` (a shipped model name or a
    config file; default RTMDet-tiny / SegFormer-B0) with its dataset metadata."""
    import torch
    from mmengine.config import Config
    from mmengine.runner.checkpoint import save_checkpoint

    if kind not in DEFAULT_CONFIGS:
        raise ValueError(f"kind must be 'det' or 'seg', got '{kind}'")
    toolbox = 'mmdet' if kind == 'det' else 'mmseg'
    name = config or DEFAULT_CONFIGS[kind]
    path = name if os.path.isfile(name) else _shipped_config(toolbox, name)
    if path is None:
        raise ValueError(f"no config '{name}' in {toolbox}")
    cfg = Config.fromfile(path)
    strip_pretrained(cfg.model)
    torch.manual_seed(seed)
    with scope(toolbox):
        if kind == 'det':
            from mmdet.apis import init_detector
            from mmdet.datasets import CocoDataset as Dataset
            model = init_detector(cfg, None, device='cpu')
        else:
            from mmseg.apis import init_model
            from mmseg.datasets import ADE20KDataset as Dataset
            model = init_model(cfg, None, device='cpu')
        model.init_weights()
        if kind == 'det':
            _spread_detection_head(model)
    meta = {'classes': list(Dataset.METAINFO['classes']), 'palette': list(Dataset.METAINFO['palette'])}
    os.makedirs(out_dir, exist_ok=True)
    stem = os.path.splitext(os.path.basename(path))[0]
    config_out, ckpt_out = os.path.join(out_dir, f'{stem}.py'), os.path.join(out_dir, f'{stem}.pth')
    cfg.dump(config_out)
    save_checkpoint({'state_dict': model.state_dict(), 'meta': {'dataset_meta': meta}}, ckpt_out)
    return config_out, ckpt_out


def lively_rtmdet(config: str, checkpoint: str, frame, out: str) -> str:
    """A random RTMDet checkpoint (make_random_checkpoint's) with person scores that vary from anchor to anchor
    (logits about N(-5, 1): thousands of candidates above the config's 0.001, a hundred or so above 0.3) instead
    of ~0.0015 everywhere, so that score filtering and NMS have real work; written to `out`. The random
    network's features are tiny (1e-7..1e-9), so the classifier weights are scaled by the feature size of each
    level, measured on `frame` (BGR uint8)."""
    import torch

    from vad_ros.perception.openmmlab.mmdet_detector import MMDetDetector
    detector = MMDetDetector(config, checkpoint, device='cpu')
    sizes: dict[int, float] = {}

    def measure(level):
        def hook(module, inputs, output):
            sizes[level] = inputs[0].std().item()
        return hook

    hooks = [conv.register_forward_hook(measure(i)) for i, conv in enumerate(detector.model.bbox_head.rtm_cls)]
    detector.detect(frame)
    for hook in hooks:
        hook.remove()
    ckpt = torch.load(checkpoint, map_location='cpu', weights_only=True)
    gen = torch.Generator().manual_seed(1)
    for level, size in sizes.items():
        weight = ckpt['state_dict'][f'bbox_head.rtm_cls.{level}.weight']
        weight.copy_(torch.randn(weight.shape, generator=gen) / (size * weight[0].numel() ** 0.5))
        bias = ckpt['state_dict'][f'bbox_head.rtm_cls.{level}.bias']
        bias.fill_(-12.0)            # every class but the first (person) out of the game
        bias[0] = -5.0
    torch.save(ckpt, out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--kind', choices=sorted(DEFAULT_CONFIGS), required=True)
    parser.add_argument('--out', required=True)
    parser.add_argument('--config', default=None, help='shipped model name or config file')
    args = parser.parse_args(argv)
    config, ckpt = make_random_checkpoint(args.kind, args.out, args.config)
    print(f'config:     {config}\ncheckpoint: {ckpt}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
