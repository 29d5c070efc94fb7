"""What to tell a user whose rules cannot see any background yet (no segmenter, no scene-map regions).

Without a background source every background is unknown, so each background class a rule names would be its
own "cannot produce" warning (ten for the paper's rules) that says nothing about what to do. Instead one line
says why nothing can fire and the two ways forward: draw a scene map on a frame of the camera (`vad-scene
edit`, no model needed) or give an ADE20K segmenter. The pipeline logs it (vad-video, vad-eval, vad-check), the
node logs it once and keeps it in /diagnostics at WARN until a map or a segmenter is there.
"""
from __future__ import annotations

from typing import Iterable

from vad_ros.reasoning.rules import CANNOT_PRODUCE

# The part of reasoning/rules.py's warning for a background class the configured source cannot produce.
CANNOT_PRODUCE_BACKGROUND = CANNOT_PRODUCE.format(side='background')
README_SECTION = "README.md, 'A new camera, no model needed'"


def no_background_hint(waiting_for: str = '', topic: str = '') -> str:
    """One line: no background source, and the two ways forward. waiting_for: the scene map the node waits for
    (scene_map_file names it, it is not drawn yet); topic: the camera topic, where known."""
    camera = f'--topic {topic}' if topic else '--topic <camera topic>'
    if waiting_for:
        return (f"no background source yet: the scene map '{waiting_for}' (scene_map_file) is not drawn yet and "
                'there is no segmenter, so no rule that names a background can fire. Two ways forward: draw it on '
                f'a frame of the camera, no model needed: `vad-scene edit {waiting_for} {camera}` (or --image '
                'FRAME.png), label the regions and save: the node loads it at once; or give an ADE20K segmenter '
                f'(segmenter.backend: mmseg or onnx). See {README_SECTION}')
    return ('no background source (segmenter.backend is none and no scene map with regions): no rule that names a '
            'background can fire. Two ways forward: draw a scene map on a frame of the camera, no model needed: '
            f'`vad-scene edit scene.yaml {camera}` (or --image FRAME.png), label the regions and save, with '
            'scene_map_file: scene.yaml (and wait_for_scene_map: true, as in config/new_camera.yaml, the node loads '
            'it as soon as it is saved); or give an ADE20K segmenter (segmenter.backend: mmseg or onnx). '
            f'See {README_SECTION}')


def rule_set_warnings(rule_warnings: Iterable[str], background_vocab: Iterable[str], waiting_for: str = '',
                      topic: str = '') -> list[str]:
    """The warnings to give for a rule set checked against its vocabularies (RuleSet.warnings), the same
    wherever rules are loaded (vad-video, vad-check, the node's start, a file swapped through the parameter API
    or changed on disk): as they are, except that with no background at all the per-class "background source
    cannot produce" ones give way to no_background_hint, first."""
    warnings = list(rule_warnings)
    if tuple(background_vocab):
        return warnings
    return [no_background_hint(waiting_for, topic)] + [w for w in warnings if CANNOT_PRODUCE_BACKGROUND not in w]
