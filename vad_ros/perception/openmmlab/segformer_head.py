"""SegFormer's decode head computed in a cheaper order, with the same result up to float rounding.

The head (mmseg SegformerHead) maps each of the four backbone stages to C channels (1x1 conv + BN + ReLU at the
stage's resolution), resizes the three coarser ones to the finest (1/4 of the input), concatenates the four
(4C channels) and fuses them with a 1x1 conv + BN + ReLU back to C, then classifies. At 1/4 resolution that
fusion is the most expensive layer of the small backbones (bench/RESULTS.md, "Model path per stage").

A 1x1 convolution mixes channels pixel by pixel and a resize mixes pixels channel by channel, both linearly,
so they commute; and the resize's weights sum to 1, so a constant (the bias) passes through it unchanged. So
the fusion of the concatenation equals the sum over stages of (that stage's slice of the fusion weights,
applied at the stage's own resolution, then resized), plus the bias, with BN folded into weights and bias:
the coarse stages' share is computed at 1/8, 1/16 and 1/32 resolution and nothing is concatenated. The ReLU
comes after the sum, as before.

Used where the head is exactly mmseg's SegformerHead with a 1x1 fusion conv, an eval-mode batch norm (or one
already folded into the conv) and ReLU, in that order (`factored_head`); any other head runs its own forward.
"""
from __future__ import annotations


def factored_head(head) -> bool:
    """True when `head` is a SegformerHead whose fusion this module can reorder (see the module doc)."""
    from mmseg.models.decode_heads.segformer_head import SegformerHead
    from torch import nn
    from torch.nn.modules.batchnorm import _BatchNorm

    if type(head) is not SegformerHead:
        return False
    fusion = head.fusion_conv
    conv = getattr(fusion, 'conv', None)
    norm = getattr(fusion, 'norm_name', None) and getattr(fusion, fusion.norm_name, None)
    norm_ok = (isinstance(norm, _BatchNorm) and not norm.training and norm.track_running_stats) \
        or isinstance(norm, nn.Identity)                     # already folded into the conv (fuse_conv_bn)
    return (isinstance(conv, nn.Conv2d) and conv.kernel_size == (1, 1) and conv.groups == 1
            and conv.stride == (1, 1) and conv.padding in ((0, 0), 0) and conv.dilation == (1, 1)
            and norm_ok
            and getattr(fusion, 'with_activation', False) and isinstance(fusion.activate, nn.ReLU)
            and tuple(fusion.order) == ('conv', 'norm', 'act')
            and conv.in_channels == head.channels * len(head.convs))


def fused_weights(head):
    """(weight (C, 4C), bias (C,)) of the fusion conv with its batch norm folded in."""
    import torch
    fusion = head.fusion_conv
    conv, norm = fusion.conv, getattr(fusion, fusion.norm_name)
    if not hasattr(norm, 'running_var'):                     # folded already: the conv's own weights
        bias = conv.bias if conv.bias is not None else torch.zeros(conv.out_channels, device=conv.weight.device)
        return conv.weight[:, :, 0, 0], bias
    scale = norm.weight / (norm.running_var + norm.eps).sqrt()
    weight = conv.weight[:, :, 0, 0] * scale[:, None]
    bias = norm.bias - norm.running_mean * scale
    if conv.bias is not None:
        bias = bias + conv.bias * scale
    return weight, bias


def factored_logits(head, inputs):
    """The head's class logits for the backbone's features `inputs`, in the order of the module doc."""
    import torch.nn.functional as F
    from mmseg.models.utils import resize

    feats = head._transform_inputs(inputs)
    weight, bias = fused_weights(head)
    channels, size = head.channels, feats[0].shape[2:]
    total = None
    for i, (x, stage_conv) in enumerate(zip(feats, head.convs)):
        part = F.conv2d(stage_conv(x), weight[:, i * channels:(i + 1) * channels, None, None])
        if part.shape[2:] != size:
            part = resize(input=part, size=size, mode=head.interpolate_mode, align_corners=head.align_corners)
        total = part if total is None else total + part
    out = F.relu(total + bias[None, :, None, None])
    return head.cls_seg(out)


def head_logits(head, feats):
    """A decode head's class logits for the backbone's features: in the cheaper order where factored_head
    allows it, else the head's own forward."""
    return factored_logits(head, feats) if factored_head(head) else head.forward(feats)
