"""vad-check: what the node would make of a params file, a rule file and a scene map, without loading models.

    vad-check [--params P] [--rules R] [--scene S] [--strict]        (also: python -m vad_ros.check)

The flags mean what they mean for vad-video: the params file is read as the node reads it, --rules and --scene
override its rules_file and scene_map_file. The files then go through the node's own code path
(vad_ros.pipeline.build_pipeline: load_scene_map, RuleSource with strict rules, as the node's configure) with the
vocabularies of the configured detector and segmenter taken from their class lists, metadata and config files
(vad_ros.perception.factory.vocabularies): no model is built and no weights are read. So the rule checks are the
node's: class names against the detector's and the background's vocabularies (segmenter + scene-map labels),
zones and tripwires against the scene map, m/s speeds against its ground-plane calibration.

Prints what would be in force (the models' vocabularies, the scene map's regions, zones, tripwires, ignore
masks and calibration, the background vocabulary and where it comes from, the rules), the warnings the node
would log, and the error that would stop it. Not checked: devices, and whether the weights load. A params file
that gives cameras files of their own (<camera>.rules_file, <camera>.scene_map_file) is refused as vad-video
refuses it: check each camera with its files in --rules and --scene.

Exit status:
  0  the node would start with these files and at least one rule can fire (warnings allowed);
  2  the node would refuse them (its configure fails: params, a model file, the scene map or the rule file),
     or it would start but no rule could ever fire (no rules; no class of a rule's objects that the detector has;
     no background it may fire on); with --strict also any warning.
"""
from __future__ import annotations

import argparse
import logging
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
    """What a check found: lines that say what is in force, warnings, and the error (None: the node starts)."""
    lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    dead_rules: int = 0
    rules: int = 0
    defaults: bool = False          # checked with the built-in params (no --params)

    @property
    def fires(self) -> bool:
        return self.error is None and self.rules > self.dead_rules

    def status(self, strict: bool = False) -> int:
        if not self.fires or (strict and self.warnings):
            return REFUSED
        return OK

    def verdict(self, strict: bool = False) -> str:
        if self.error is not None:
            return f'refused: the node would not start: {self.error}'
        if not self.fires:
            return ('refused: the node would start, but no rule could ever fire' +
                    (' (the rule set is empty)' if self.rules == 0 else ' (see the warnings)') +
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
    if rule.uses_background and not backgrounds:
        key = 'forbidden' if rule.forbidden else 'allowed'
        return (f"its '{key}' backgrounds need a background source, and there is none (set scene_map_file, or "
                'segmenter.backend)')
    if rule.forbidden and not rule.forbidden & backgrounds:
        return f'no background source produces any of its forbidden backgrounds ({_names(sorted(rule.forbidden))})'
    if rule.allowed and backgrounds <= rule.allowed:
        return f'every background that can be produced ({_names(sorted(backgrounds))}) is allowed'
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


def check(params: dict, report: Report) -> Report:
    """Check resolved params (vad_ros.params.resolve) as the node's configure would, into `report`."""
    from vad_ros.perception.factory import vocabularies
    from vad_ros.pipeline import build_pipeline

    detector, segmenter = vocabularies(params)
    report.lines.append(f'detector: {detector.backend}, {_classes(detector.class_names)} '
                        f'({_names(detector.class_names, 6)}) from {detector.source}')
    report.lines.append('segmenter: none' if segmenter is None else
                        f'segmenter: {segmenter.backend}, {_classes(segmenter.class_names)} from {segmenter.source}')
    pipeline = build_pipeline(params, VocabularyOnly(detector.backend, detector.class_names),
                              None if segmenter is None else VocabularyOnly(segmenter.backend, segmenter.class_names),
                              strict_rules=True)
    report.lines += _scene_lines(pipeline.scene_map)
    report.lines.append(_background_line(segmenter, pipeline.scene_map, pipeline.background_vocab))
    rules = pipeline.rules
    report.rules = len(rules)
    report.lines.append(f"rules: {len(rules)} rule(s) from '{pipeline.rule_source.path}': "
                        f"{_names([r.id for r in rules])}")
    objects, backgrounds = set(pipeline.object_vocab), set(pipeline.background_vocab)
    for rule in rules:
        reason = why_never_fires(rule, objects, backgrounds)
        if reason is not None:
            report.dead_rules += 1
            report.warnings.append(f'{rules.source}:{rule.line}: rule {rule.id!r} can never fire: {reason}')
    return report


def run(params_file: str | None, rules: str | None, scene: str | None) -> Report:
    """The check of vad-check's arguments (see the module doc); never raises a VadError (it is the report's
    error)."""
    from vad_ros.offline.runner import load_params

    report = Report(defaults=not params_file)
    collect, package = _Collect(), logging.getLogger('vad_ros')
    saved = package.level, package.propagate
    package.addHandler(collect)
    package.setLevel(logging.WARNING)
    package.propagate = False
    try:
        report.lines.append(f"params: '{params_file}'" if params_file else 'params: the built-in defaults')
        check(load_params(params_file, rules, scene), report)
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
