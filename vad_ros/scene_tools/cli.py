"""`vad-scene`: scene maps without typing coordinates.

    vad-scene bootstrap INPUT --params P --out scene.yaml [--frames 20] [--tolerance 1.0] [--min-area 0.0005]
    vad-scene show scene.yaml (--image FRAME | --video V [--frame N]) --out scene.png
    vad-scene edit scene.yaml (--image FRAME | --video V [--frame N] | --topic /camera/image_raw) [--params P]
                   [--port 8765]

INPUT: a video file, a folder of images, a rosbag2 (folder, .mcap, .db3; --topic picks the image topic) or a
live topic as ros:/camera/image_raw (needs ROS 2; frames spread over --duration seconds).
Exit status: 0 done, 2 unusable input, params, model or map (one line on stderr), 130 interrupted.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import cv2
import numpy as np

from vad_ros.errors import VadError
from vad_ros.media.sources import open_source
from vad_ros.reasoning.scene_map import SceneMapError
from vad_ros.scene_tools.errors import SceneToolError
from vad_ros.scene_tools.polygons import DEFAULT_MIN_AREA, DEFAULT_TOLERANCE


def load_params(path: str | None) -> dict:
    """The params file read as the node reads it (defaults without one)."""
    from vad_ros import params as vparams
    return vparams.resolve(vparams.read_params_file(path) if path else {})


def read_frame(image: str | None, video: str | None, frame: int = 0, topic: str | None = None) -> np.ndarray:
    """The frame to draw on: an image file, frame number `frame` of a video / folder / rosbag2, or (--topic
    alone) the next frame of a live camera topic."""
    if not image and not video and topic:
        from vad_ros.scene_tools.live_topic import PREFIX, grab_frames
        return grab_frames(topic if topic.startswith(PREFIX) else PREFIX + topic, 1, 0.0)[0].image
    if image:
        picture = cv2.imread(image, cv2.IMREAD_COLOR)
        if picture is None:
            raise SceneToolError(f"--image '{image}' is not an image file OpenCV can read (png, jpg, bmp)")
        return picture
    if not video:
        raise SceneToolError('give the frame to draw on: --image FRAME, --video VIDEO (with --frame N) or --topic '
                             '/camera/image_raw (a live camera)')
    for item in open_source(video, topic):
        if item.index == frame:
            return item.image
    raise SceneToolError(f"--frame {frame}: '{video}' has fewer frames")


def _frames(args) -> tuple[list, str]:
    from vad_ros.scene_tools.live_topic import grab_frames, is_topic
    from vad_ros.scene_tools.sampling import spread_frames
    if is_topic(args.input):
        return grab_frames(args.input, args.frames, args.duration), f'topic {args.input[4:]}'
    return spread_frames(open_source(args.input, args.topic), args.frames), f"'{args.input}'"


def cmd_bootstrap(args) -> int:
    from vad_ros.perception.factory import build_detector, build_segmenter
    from vad_ros.scene_tools import scene_yaml
    from vad_ros.scene_tools.bootstrap import BootstrapOptions, bootstrap, describe

    options = BootstrapOptions(args.tolerance, args.min_area)
    options.check()
    if os.path.exists(args.out) and not args.force:
        raise SceneToolError(f"--out '{args.out}' exists: pass --force to replace it")
    params = load_params(args.params)
    options.score_threshold = float(params['score_threshold'])
    segmenter = build_segmenter(params)
    if segmenter is None:
        raise SceneToolError('bootstrap needs a segmenter: set segmenter.backend: mmseg (with segmenter.config '
                             f"and segmenter.checkpoint) in the params file{f' {args.params!r}' if args.params else ''}")
    detector = None if args.no_detector else build_detector(params)
    frames, input_name = _frames(args)
    print(f'vad-scene: {len(frames)} frames of {input_name}, segmenter {segmenter.name}', file=sys.stderr)
    result = bootstrap(frames, segmenter, detector, options,
                       progress=lambda n, total: print(f'\r  segmented {n}/{total}', end='', file=sys.stderr))
    print(file=sys.stderr)
    document = scene_yaml.regions_document(result.image_size, result.regions)
    scene_yaml.save(document, args.out, describe(result, input_name, segmenter, detector, options))
    print(f"wrote {args.out}: {len(result.regions)} regions ({', '.join(result.labels)}) on "
          f'{result.image_size[0]}x{result.image_size[1]}')
    _save_reference(args.out, frames[len(frames) // 2].image)
    return 0


def _save_reference(scene_file: str, image) -> None:
    """The frame a map was made on, next to it (the node's moved-camera check compares the view with it)."""
    from vad_ros.media.view_shift import reference_path, write_reference
    ok, jpeg = cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    try:
        if not ok:
            raise OSError('the frame cannot be encoded as JPEG')
        write_reference(scene_file, jpeg.tobytes())
        print(f'wrote {reference_path(scene_file)}: the frame it was made on')
    except OSError as e:
        print(f'vad-scene: the frame the map was made on was not saved ({e}); the node compares its view with its '
              'first frame instead', file=sys.stderr)


def cmd_show(args) -> int:
    from vad_ros.reasoning.scene_map import load_scene_map
    from vad_ros.rendering.scene_overlay import draw_scene_map

    scene = load_scene_map(args.scene)
    frame = read_frame(args.image, args.video, args.frame, args.topic)
    picture = draw_scene_map(frame, scene, alpha=args.alpha)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(args.out, picture):
        raise SceneToolError(f"cannot write --out '{args.out}' (use a .png or .jpg name in a writable folder)")
    print(f"wrote {args.out}: {len(scene.regions)} regions over a {frame.shape[1]}x{frame.shape[0]} frame")
    return 0


def cmd_edit(args) -> int:
    from vad_ros.scene_tools.editor import run_editor
    frame = read_frame(args.image, args.video, args.frame, args.topic)
    extra = [s.strip() for s in (args.labels or '').split(',') if s.strip()]
    run_editor(args.scene, frame, params=load_params(args.params) if args.params else None,
               extra_labels=extra, port=args.port, open_browser=args.open)
    return 0


def _frame_options(p: argparse.ArgumentParser) -> None:
    p.add_argument('--image', help='a frame of the camera (png, jpg)')
    p.add_argument('--video', help='a video, folder of images or rosbag2 of the camera')
    p.add_argument('--frame', type=int, default=0, help='frame number in --video (default 0)')
    p.add_argument('--topic', help='image topic of a rosbag2 with several; alone (no --image, --video): a live '
                   'camera topic (sensor_msgs/Image), drawn on its next frame')


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog='vad-scene', description=__doc__.split('\n\n')[0],
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = top.add_subparsers(dest='command', required=True)

    p = sub.add_parser('bootstrap', help='a first scene map drawn by the segmenter')
    p.add_argument('input', help='video, folder of images, rosbag2, or ros:/topic (live)')
    p.add_argument('--params', help='params file with the segmenter (and detector) settings, as the node reads it')
    p.add_argument('--out', required=True, help='scene map YAML to write')
    p.add_argument('--frames', type=int, default=20, help='frames spread over the input (default 20)')
    p.add_argument('--tolerance', type=float, default=DEFAULT_TOLERANCE,
                   help=f'pixels an outline may stray when simplified (default {DEFAULT_TOLERANCE})')
    p.add_argument('--min-area', type=float, default=DEFAULT_MIN_AREA,
                   help=f'share of the frame below which islands are dropped (default {DEFAULT_MIN_AREA})')
    p.add_argument('--topic', help='image topic of a rosbag2 with several')
    p.add_argument('--duration', type=float, default=10.0, help='ros:/topic: seconds to spread frames over')
    p.add_argument('--no-detector', action='store_true', help='do not mask detected objects out of the vote')
    p.add_argument('--force', action='store_true', help='replace --out if it exists')
    p.set_defaults(run=cmd_bootstrap)

    p = sub.add_parser('show', help='the scene map over a frame, as a picture')
    p.add_argument('scene', help='scene map YAML')
    _frame_options(p)
    p.add_argument('--out', required=True, help='picture to write (.png, .jpg)')
    p.add_argument('--alpha', type=float, default=0.35, help='opacity of the region colours (default 0.35)')
    p.set_defaults(run=cmd_show)

    p = sub.add_parser('edit', help='edit the scene map in a local web page (127.0.0.1)')
    p.add_argument('scene', help='scene map YAML (created on the first save if missing)')
    _frame_options(p)
    p.add_argument('--params', help="params file: its segmenter's vocabulary offers the labels")
    p.add_argument('--labels', help='extra labels allowed, comma-separated (e.g. "railway,restricted zone")')
    p.add_argument('--port', type=int, default=8765, help='port on 127.0.0.1 (default 8765; 0 = any free one)')
    p.add_argument('--open', action='store_true', help='open the page in the default browser')
    p.set_defaults(run=cmd_edit)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except (VadError, SceneMapError) as e:
        print(f'vad-scene {args.command}: {e}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f'vad-scene {args.command}: interrupted', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
