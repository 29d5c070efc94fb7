"""vad-check: what the node would make of a params file, a rule file and a scene map, without loading models.

    vad-check [--params P] [--rules R] [--scene S] [--strict]        (also: python -m vad_ros.check)

The flags mean what they mean for vad-video: the params file is read as the node reads it, --rules and --scene
override its rules_file and scene_map_file. The files then go through the node's own code path
(vad_ros.pipeline.build_camera_pipeline, as the node's configure: load_scene_map, RuleSource with strict rules;
a map not drawn yet with wait_for_scene_map is waited for, as there) with the vocabularies of the configured
detector and segmenter taken from their class lists, metadata and config files
(vad_ros.perception.factory.vocabularies): no model is built and no weights are read. So the rule checks are the
node's: class names against the detector's and the background's vocabularies (segmenter + scene-map labels),
zones and tripwires against the scene map, m/s speeds against its ground-plane calibration.

Prints what would be in force (the models' vocabularies, the scene map's regions, zones, tripwires, ignore
masks and calibration, the background vocabulary and where it comes from, the rules), the warnings the node
would log, and the error that would stop it. Not checked: devices, and whether the weights load. A params file
that serves several cameras (cameras: 'front,rear') is checked camera by camera as the node configures them:
each with its own files where the file gives them (front: {rules_file: ..., scene_map_file: ...}; these win
over --rules / --scene as over the shared rules_file / scene_map_file), else the shared ones.

Exit status:
  0  the node would start with these files and at least one rule can fire (on every camera; warnings allowed);
  2  the node would refuse them (its configure fails: params, a model file, the scene map or the rule file),
     or it would start but no rule could ever fire (no rules; no class of a rule's objects that the detector has;
     no background it may fire on); with --strict also any warning.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass, field

from vad_ros.errors import VadError

PROG = 'vad-check'
OK, REFUSED = 0, 2


@dataclass(frozen=True)
class VocabularyOnly:
    """A model that is not loaded, standing in for it where only its vocabulary is asked for (build_pipeline)."""
    name: str
    class_names: tuple[str, ...]
    device: str = 'none (not loaded by vad-check)'

    def detect(self, image_bgr):
        raise RuntimeError(f'{self.name}: vad-check loads no model')

    segment = detect


@dataclass
class Report:
    """What a check found: lines that say what is in force, warnings, and the error (None: the node starts).
    rules / dead_rules: per camera ('' = the one unnamed camera), the rules in force and those that can never
    fire."""
    lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    cameras: dict[str, tuple[int, int]] = field(default_factory=dict)   # camera -> (rules, dead rules)
    defaults: bool = False          # checked with the built-in params (no --params)

    @property
    def rules(self) -> int:
        return sum(rules for rules, _ in self.cameras.values())

    @property
    def dead_rules(self) -> int:
        return sum(dead for _, dead in self.cameras.values())

    @property
    def fires(self) -> bool:
        """The node starts and every camera has a rule that can fire."""
        return self.error is None and bool(self.cameras) and all(r > d for r, d in self.cameras.values())

    def status(self, strict: bool = False) -> int:
        if not self.fires or (strict and self.warnings):
            return REFUSED
        return OK

    def verdict(self, strict: bool = False) -> str:
        if self.error is not None:
            return f'refused: the node would not start: {self.error}'
        if not self.fires:
            idle = [name for name, (r, d) in self.cameras.items() if r <= d]
            where = f" for camera {', '.join(map(repr, idle))}" if any(idle) else ''
            return (f'refused: the node would start, but no rule could ever fire{where}' +
                    (' (the rule set is empty)' if all(self.cameras[n][0] == 0 for n in idle) else
                     ' (see the warnings)') +
                    ("; this was with the built-in parameters: pass the node's params file with --params"
                     if self.defaults else ''))
        count = f'{len(self.warnings)} warning(s)'
        if strict and self.warnings:
            return f'refused (--strict): {count}'
        able = f'{self.rules - self.dead_rules} of {self.rules} rule(s) able to fire'
        return f'usable: the node would start with {able}' + (f'; {count}' if self.warnings else '')


class _Collect(logging.Handler):
    """Keeps the package's warnings (what the node would log) instead of printing them."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message not in self.messages:
            self.messages.append(message)


def _classes(names) -> str:
    return f"{len(names)} class{'es' if len(names) != 1 else ''}"


def _names(items, limit: int = 12) -> str:
    items = list(items)
    if not items:
        return 'none'
    shown = ', '.join(items[:limit])
    return shown + (f', ... ({len(items)} in all)' if len(items) > limit else '')


def why_never_fires(rule, objects: set[str], backgrounds: set[str]) -> str | None:
    """Why `rule` can never fire with these vocabularies (detector classes, background classes); None if it can."""
    if not rule.objects & objects:
        return f'the detector has none of its objects ({_names(sorted(rule.objects))})'
    for condition in rule.conditions:          # each condition says why it cannot hold (conditions.py)
        reason = condition.never_fires(backgrounds, _names)
        if reason is not None:
            return reason
    return None


def _scene_lines(scene) -> list[str]:
    if scene is None:
        return ['scene map: none']
    calibration = (f'{len(scene.calibration.image_points)} points (m/s speeds can be used)'
                   if scene.calibration is not None else 'none (speeds in px/s only)')
    return [f"scene map: '{scene.source}' ({scene.image_size[0]}x{scene.image_size[1]})",
            f'  regions: {len(scene.regions)} ({_names(scene.labels)})',
            f'  zones: {_names(scene.zone_names)}',
            f'  tripwires: {_names(scene.tripwire_names)}',
            f'  ignore masks: {_names([m.name for m in scene.ignore])}',
            f'  ground-plane calibration: {calibration}']


def _background_line(segmenter, scene, vocabulary: tuple[str, ...]) -> str:
    parts = []
    if segmenter is not None:
        parts.append(f'the segmenter ({segmenter.backend}, {_classes(segmenter.class_names)})')
    if scene is not None and scene.labels:
        extra = [label for label in scene.labels if segmenter is None or label not in segmenter.class_names]
        parts.append(f"the scene map's labels ({_names(scene.labels)})" if segmenter is None else
                     f"the scene map's regions over it (labels it lacks: {_names(extra)})")
    if not parts:
        return 'background: none (no segmenter, no scene-map regions): no background is ever known'
    return f"background: {_classes(vocabulary)} from {' and '.join(parts)}"


def check(params: dict, report: Report, cameras: dict[str, dict] | None = None,
          base_dirs: tuple[str, ...] = ()) -> Report:
    """Check resolved params (vad_ros.params.resolve) as the node's configure would, into `report`: the models
    once, then each camera's pipeline (`cameras`: {name: its params}, default one unnamed camera on `params`), as
    VadNode.on_configure does; the first camera that fails is the error, with the node's "camera 'name': ".
    base_dirs: where relative file names are looked up (the node: its params files' folders, then its working
    folder)."""
    from vad_ros.perception.factory import vocabularies

    detector, segmenter = vocabularies(params)
    report.lines.append(f'detector: {detector.backend}, {_classes(detector.class_names)} '
                        f'({_names(detector.class_names, 6)}) from {detector.source}')
    report.lines.append('segmenter: none' if segmenter is None else
                        f'segmenter: {segmenter.backend}, {_classes(segmenter.class_names)} from {segmenter.source}')
    models = (VocabularyOnly(detector.backend, detector.class_names),
              None if segmenter is None else VocabularyOnly(segmenter.backend, segmenter.class_names))
    for name, camera_params in (cameras or {'': params}).items():
        if name:
            report.lines.append(f"camera '{name}':")
        try:
            check_camera(camera_params, models, segmenter, report, name, base_dirs)
        except VadError as e:
            raise type(e)(f"camera '{name}': {e}" if name else str(e)) from None
    return report


def check_camera(params: dict, models, segmenter, report: Report, name: str = '',
                 base_dirs: tuple[str, ...] = ()) -> None:
    """One camera: its pipeline on the vocabulary-only models, as the node's Camera.build builds it
    (pipeline.build_camera_pipeline: strict rules, relative files looked up in base_dirs)."""
    from vad_ros.params import map_to_wait_for
    from vad_ros.pipeline import build_camera_pipeline

    waiting = map_to_wait_for(params, base_dirs)      # as the node's Camera.build: a map not drawn yet is waited for
    pipeline = build_camera_pipeline(dict(params, scene_map_file='') if waiting else params, *models, base_dirs)
    indent = '  ' if name else ''
    lines = _scene_lines(pipeline.scene_map)
    if waiting:
        lines[0] = (f"scene map: '{waiting}' not drawn yet (wait_for_scene_map: the node starts without it and "
                    'loads it once it is saved)')
    lines.append(_background_line(segmenter, pipeline.scene_map, pipeline.background_vocab))
    rules = pipeline.rules
    lines.append(f"rules: {len(rules)} rule(s) from '{pipeline.rule_source.path}': {_names([r.id for r in rules])}")
    report.lines += [indent + line for line in lines]
    objects, backgrounds = set(pipeline.object_vocab), set(pipeline.background_vocab)
    dead = 0
    for rule in rules:
        reason = why_never_fires(rule, objects, backgrounds)
        if reason is not None:
            dead += 1
            report.warnings.append(f"{f'camera {name!r}: ' if name else ''}{rules.source}:{rule.line}: rule "
                                   f'{rule.id!r} can never fire: {reason}')
    report.cameras[name] = (len(rules), dead)


def camera_params(params_file: str | None, rules: str | None, scene: str | None,
                  report: Report) -> tuple[dict, dict[str, dict] | None]:
    """The node's params (vad_ros.params.resolve) and, where `cameras` names cameras, each camera's params with
    its own files (None: one unnamed camera), as VadNode gives them; --rules / --scene override the shared
    files. What the node would ignore or replace goes into the report's warnings."""
    from vad_ros import params as vparams
    from vad_ros.offline.runner import load_params

    own: dict[str, dict[str, str]] = {}
    params = load_params(params_file, rules, scene, cameras=own)
    try:
        names = vparams.camera_names(params['cameras'])
    except vparams.ParamError as e:
        report.warnings.append(f"{e}: the node serves one camera on 'image'")
        names = []
    for camera in sorted(set(own) - set(names)):
        keys = ', '.join(f'{camera}.{key}' for key in own[camera])
        what = 'a file' if len(own[camera]) == 1 else 'files'
        report.warnings.append(f"params file '{params_file}': {keys}: {what} of camera '{camera}', which "
                               f"parameter cameras does not name ({params['cameras'] or 'empty'}): the node "
                               f"ignores {'it' if len(own[camera]) == 1 else 'them'} (add '{camera}' to cameras)")
    if not names:
        return params, None
    return params, {name: {**params, **own.get(name, {})} for name in names}


def run(params_file: str | None, rules: str | None, scene: str | None) -> Report:
    """The check of vad-check's arguments (see the module doc); never raises a VadError (it is the report's
    error)."""
    report = Report(defaults=not params_file)
    collect, package = _Collect(), logging.getLogger('vad_ros')
    saved = package.level, package.propagate
    package.addHandler(collect)
    package.setLevel(logging.WARNING)
    package.propagate = False
    try:
        report.lines.append(f"params: '{params_file}'" if params_file else 'params: the built-in defaults')
        params, cameras = camera_params(params_file, rules, scene, report)
        dirs = (os.path.dirname(os.path.abspath(params_file)),) if params_file else ()
        check(params, report, cameras, dirs + (os.getcwd(),))      # the node's lookup (ros/node.main)
    except VadError as e:
        report.error = str(e)
    finally:
        package.removeHandler(collect)
        package.setLevel(saved[0])
        package.propagate = saved[1]
    report.warnings[:0] = collect.messages          # the node's warnings first, then the rules that never fire
    return report


def print_report(report: Report, strict: bool = False, prog: str = PROG) -> int:
    for line in report.lines:
        print(line)
    for warning in report.warnings:
        print(f'warning: {warning}')
    status = report.status(strict)
    sys.stdout.flush()                      # the verdict after the report, also where stderr is the same terminal
    print(f'{prog}: {report.verdict(strict)}', file=sys.stderr if status else sys.stdout, flush=True)
    return status


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    doc = __doc__.split('\n\n')
    parser = argparse.ArgumentParser(
        prog=prog, description=doc[0] + '\n\n' + doc[2], epilog='\n\n'.join(doc[3:]),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--params', default=None, help="the node's params file, e.g. config/vad.yaml (default: the "
                        'built-in defaults)')
    parser.add_argument('--rules', default=None, help="rule file (overrides rules_file; '' = the paper's rules)")
    parser.add_argument('--scene', default=None, help="scene map (overrides scene_map_file; '' = none)")
    parser.add_argument('--strict', action='store_true', help='exit status 2 on warnings too')
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return print_report(run(args.params, args.rules, args.scene), args.strict)


if __name__ == '__main__':
    sys.exit(main())
