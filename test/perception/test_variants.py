"""The one keep-if-equivalent step of the load-time variants (vad_ros.perception.openmmlab.variants), its tolerance table and
the runtime report, without a model (the PyTorch backends' variants on real models: test_perception_mm.py)."""
from __future__ import annotations

import pytest

torch = pytest.importorskip('torch')

from vad_ros.perception.base import RuntimeReport, runtime_report  # noqa: E402
from vad_ros.perception.openmmlab.variants import Variants, mismatch, tolerance  # noqa: E402


def test_the_tolerance_depends_on_device_and_precision():
    assert tolerance('cpu', 'float32') == 1e-4
    assert tolerance('cuda:1', 'float32') == tolerance('cuda', 'float16') == 1e-3
    with pytest.raises(KeyError):
        tolerance('cpu', 'float16')                 # half runs on GPUs only


def test_a_variant_is_kept_only_where_its_outputs_match(caplog):
    variants = Variants('detector', 'cpu', 'float32')
    reference = [torch.linspace(-2, 2, 50)]
    undone = []
    caplog.set_level('INFO', logger='vad_ros.perception')
    same = variants.keep_if_equivalent('exact', lambda: 'fast', lambda v: mismatch(reference, [reference[0] * 1.00001],
                                                                                    variants.tolerance))
    differs = variants.keep_if_equivalent('sloppy', lambda: 'fast', lambda v: mismatch(
        reference, [reference[0] + 0.01], variants.tolerance), undo=lambda: undone.append('sloppy'))

    def breaks():
        raise RuntimeError('no kernel for this layout')
    fails = variants.keep_if_equivalent('broken', breaks, lambda v: None, undo=lambda: undone.append('broken'))
    assert (same, differs, fails) == ('fast', None, None)
    assert undone == ['sloppy', 'broken']
    outcomes = variants.outcomes
    assert [o.state for o in outcomes.values()] == ['kept', 'refused', 'refused']
    assert outcomes['sloppy'].reason == 'max difference 0.005 of the largest magnitude > 0.0001'
    assert outcomes['broken'].reason == 'error: RuntimeError: no kernel for this layout'
    assert variants.kept('exact') and not variants.kept('sloppy') and not variants.kept('unknown')
    assert 'detector: sloppy refused (max difference 0.005' in caplog.text


def test_mismatch_names_structure_shape_and_label_differences():
    labels = torch.zeros(100, dtype=torch.uint8)
    assert mismatch([labels], [labels, labels], 1e-4) == '2 outputs instead of 1'
    assert mismatch([labels], [labels.reshape(10, 10)], 1e-4) == 'torch.uint8 (10, 10) instead of torch.uint8 (100,)'
    other = labels.clone()
    other[:2] = 1
    assert mismatch([labels], [other], 1e-4) == '2.00% of the labels differ (> 0.1%)'
    assert mismatch([torch.tensor([float('nan')])], [torch.tensor([float('nan')])], 1e-4) is not None


class Plain:
    name, device = 'hog', 'cpu'


def test_the_report_line_names_the_path_and_the_refusals():
    variants = Variants('segmenter', 'cpu', 'float32')
    variants.record('fold_norms', 'kept', 'checked')
    variants.record('channels_last', 'refused', 'max difference 0.01 of the largest magnitude > 0.0001')
    variants.record('compile', 'off', 'opt-in')
    report = RuntimeReport('mmseg:EncoderDecoder', 'cpu', 'float32', (('prepare', 'toolbox pipeline'),
                                                                      ('network', 'fold_norms')),
                           tuple(variants.outcomes.values()))
    assert report.line() == ('mmseg:EncoderDecoder on cpu (float32); prepare: toolbox pipeline; network: fold_norms; '
                             'refused: channels_last (max difference 0.01 of the largest magnitude > 0.0001)')
    assert runtime_report(Plain()).line() == 'hog on cpu'       # backends without variants: as the node said before
