"""vad-video and vad-eval end to end: real frames of vtest.avi through the real default pipeline (HOG people
detector + the campus scene map + keep off the grass), from a video, a frame folder, a rosbag2 (MCAP) and
generated ShanghaiTech / NWPU Campus layouts."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from vad_ros.media.image_codec import from_bgr
from vad_ros.offline import evaluate, runner
from vad_ros.offline.metrics import binary_metrics, roc_auc
from vad_ros.media.sources import SourceError, open_source
from video_helpers import cut

START, STOP = 640, 664     # a person crosses the foreground lawn


@pytest.fixture(scope='module')
def params_file(repo_root, tmp_path_factory):
    """demo params, with anomalies from the first frame (min_frames 1) so short clips show them."""
    d = tmp_path_factory.mktemp('params')
    rules = d / 'rules.yaml'
    rules.write_text('rules:\n  - {id: keep-off-the-grass, objects: [person], forbidden: [grass], '
                     'sentence: keep off the grass, min_frames: 1}\n')
    path = d / 'params.yaml'
    path.write_text(f'/**:\n  ros__parameters:\n    detector: {{hog: {{upscale: 1.5}}}}\n'
                    f'    scene_map_file: {repo_root / "config" / "scene_vtest.yaml"}\n    rules_file: {rules}\n')
    return str(path)


@pytest.fixture(scope='module')
def frames(vtest_path):
    cap = cv2.VideoCapture(str(vtest_path))
    out = []
    for i in range(STOP):
        ok, frame = cap.read()
        if i >= START:
            out.append(frame)
    return out


def read_csv(path: Path) -> list[dict]:
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def check_outputs(out: Path, n: int, annotated: bool = False) -> list[dict]:
    rows = read_csv(out / 'frames.csv')
    assert list(rows[0]) == ['frame_index', 'timestamp', 'anomalous', 'score', 'num_objects', 'num_anomalies']
    assert [int(r['frame_index']) for r in rows] == list(range(n))
    anomalies = [json.loads(x) for x in (out / 'anomalies.jsonl').read_text().splitlines()]
    assert anomalies, 'the lawn walker was not flagged'
    assert sum(int(r['num_anomalies']) for r in rows) == len(anomalies)
    for a in anomalies:
        assert a['rule_id'] == 'keep-off-the-grass' and a['background_class'] == 'grass'
        assert set(a) >= {'frame_index', 'timestamp', 'track_id', 'object_class', 'object_score',
                          'background_fraction', 'box', 'sentence'}
        assert int(rows[a['frame_index']]['anomalous']) == 1
    events = [json.loads(x) for x in (out / 'events.jsonl').read_text().splitlines()]
    assert events and all(e['start_frame'] <= e['end_frame'] for e in events)
    if annotated:
        cap = cv2.VideoCapture(str(out / 'annotated.mp4'))
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == n
        assert cap.read()[1].shape == (576, 768, 3)
    return rows


def test_video_with_annotation(vtest_path, tmp_path, params_file, capsys):
    video = cut(vtest_path, tmp_path, START, STOP)
    assert runner.main([video, '--params', params_file, '--out', str(tmp_path / 'out'), '--annotate']) == 0
    rows = check_outputs(tmp_path / 'out', STOP - START, annotated=True)
    assert float(rows[1]['timestamp']) == pytest.approx(0.1)
    assert 'anomalous' in capsys.readouterr().out


def test_frame_folder_in_natural_order(frames, tmp_path, params_file):
    folder = tmp_path / 'frames'
    folder.mkdir()
    for i, frame in enumerate(frames):
        cv2.imwrite(str(folder / f'{i}.jpg'), frame)
    assert [Path(f).stem for f in open_source(str(folder)).files][:12] == [str(i) for i in range(12)]
    assert runner.main([str(folder), '--params', params_file, '--out', str(tmp_path / 'out'), '--fps', '5']) == 0
    rows = check_outputs(tmp_path / 'out', len(frames))
    assert float(rows[2]['timestamp']) == pytest.approx(0.4)


def write_bag(path: Path, frames, topics=('/camera/image_raw',)):
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore
    store = get_typestore(Stores.ROS2_KILTED)
    Image, Header, Time = (store.types[t] for t in ('sensor_msgs/msg/Image', 'std_msgs/msg/Header',
                                                      'builtin_interfaces/msg/Time'))
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conns = [writer.add_connection(t, Image.__msgtype__, typestore=store) for t in topics]
        for i, frame in enumerate(frames):
            h, w, step, data = from_bgr(frame, 'rgb8')
            msg = Image(header=Header(stamp=Time(sec=100 + i, nanosec=0), frame_id='cam'), height=h, width=w,
                        encoding='rgb8', is_bigendian=0, step=step, data=np.frombuffer(data, np.uint8))
            for conn in conns:
                writer.write(conn, (100 + i) * 10**9, store.serialize_cdr(msg, Image.__msgtype__))


def test_rosbag2_mcap(frames, tmp_path, params_file):
    bag = tmp_path / 'bag'
    write_bag(bag, frames)
    assert runner.main([str(bag), '--params', params_file, '--out', str(tmp_path / 'out')]) == 0
    rows = check_outputs(tmp_path / 'out', len(frames))
    assert float(rows[3]['timestamp']) == pytest.approx(103.0)
    source = open_source(str(bag))
    first = next(iter(source))
    assert np.array_equal(first.image, frames[0])          # rgb8 in the bag, BGR out, lossless


def test_bag_with_several_image_topics_needs_topic(frames, tmp_path, params_file, capsys):
    bag = tmp_path / 'bag2'
    write_bag(bag, frames[:2], topics=('/a/image', '/b/image'))
    assert runner.main([str(bag), '--out', str(tmp_path / 'o')]) == 2
    assert '2 image topics (/a/image, /b/image): pick one with --topic' in capsys.readouterr().err
    assert runner.main([str(bag), '--topic', '/c', '--out', str(tmp_path / 'o')]) == 2
    assert runner.main([str(bag), '--topic', '/b/image', '--params', params_file, '--out', str(tmp_path / 'o')]) == 0


@pytest.mark.parametrize('make_input, error', [
    (lambda d: str(d / 'missing.avi'), 'does not exist'),
    (lambda d: (d / 'empty').mkdir() or str(d / 'empty'), 'has no images'),
    (lambda d: (d / 'bad.avi').write_text('no video') and str(d / 'bad.avi'), 'cannot open video'),
])
def test_bad_inputs_are_one_clear_line(tmp_path, capsys, make_input, error):
    assert runner.main([make_input(tmp_path), '--out', str(tmp_path / 'o')]) == 2
    err = capsys.readouterr().err
    assert error in err and 'Traceback' not in err


def test_bad_params_and_rules(tmp_path, capsys, params_file, vtest_path):
    (tmp_path / 'r.yaml').write_text('rules:\n  - {id: a, objects: [persn], forbidden: [grass], sentence: x}\n')
    assert runner.main([str(vtest_path), '--rules', str(tmp_path / 'r.yaml'), '--params', params_file,
                        '--out', str(tmp_path / 'o')]) == 2
    assert "unknown object class 'persn'" in capsys.readouterr().err
    with pytest.raises(SourceError):
        open_source(str(tmp_path / 'nothing'))


def make_dataset(root: Path, layout: str, frames) -> dict[str, np.ndarray]:
    """Two videos of real frames; ground truth: the first half of video b is anomalous."""
    truth = {'01_0001': np.zeros(8, bool), '01_0002': np.r_[np.ones(6, bool), np.zeros(6, bool)]}
    clips = {'01_0001': frames[:8], '01_0002': frames[6:18]}
    mask_dir = root / ('testing/test_frame_mask' if layout == 'shanghaitech' else 'test_frame_mask')
    mask_dir.mkdir(parents=True)
    for name, clip in clips.items():
        if layout == 'shanghaitech':
            folder = root / 'testing' / 'frames' / name
            folder.mkdir(parents=True)
            for i, frame in enumerate(clip):
                cv2.imwrite(str(folder / f'{i:03d}.jpg'), frame)
        else:
            (root / 'test').mkdir(exist_ok=True)
            writer = cv2.VideoWriter(str(root / 'test' / f'{name}.avi'), cv2.VideoWriter_fourcc(*'MJPG'), 10,
                                     (768, 576))
            for frame in clip:
                writer.write(frame)
            writer.release()
        np.save(mask_dir / f'{name}.npy', truth[name].astype(np.uint8))
    return truth


@pytest.mark.parametrize('layout', ['shanghaitech', 'nwpu'])
def test_evaluation_on_generated_datasets(layout, frames, tmp_path, params_file, capsys):
    root, out = tmp_path / layout, tmp_path / 'eval'
    truth = make_dataset(root, layout, frames)
    assert evaluate.main(['--dataset', layout, '--root', str(root), '--params', params_file,
                          '--out', str(out)]) == 0
    table = capsys.readouterr().out
    assert 'overall' in table and '01_0002' in table and 'auc' in table
    report = json.loads((out / 'metrics.json').read_text())
    pooled_pred, pooled_score, pooled_truth = [], [], []
    for row in report['videos']:
        rows = read_csv(out / row['video'] / 'frames.csv')
        pred = np.array([int(r['anomalous']) for r in rows], bool)
        score = np.array([float(r['score']) for r in rows])
        m = binary_metrics(pred, truth[row['video']])
        assert row['accuracy'] == pytest.approx(m['accuracy'])
        assert row['f1'] == (None if np.isnan(m['f1']) else pytest.approx(m['f1']))
        pooled_pred.append(pred)
        pooled_score.append(score)
        pooled_truth.append(truth[row['video']])
    assert report['videos'][0]['auc'] is None                  # a video with no anomalous frame: AUC undefined
    overall = binary_metrics(np.concatenate(pooled_pred), np.concatenate(pooled_truth))
    assert report['overall']['precision'] == pytest.approx(overall['precision'])
    assert report['overall']['auc'] == pytest.approx(roc_auc(np.concatenate(pooled_score),
                                                             np.concatenate(pooled_truth)))
    assert any(np.concatenate(pooled_pred)), 'the lawn walker was not flagged in any frame'
    assert (out / 'metrics.csv').read_text().splitlines()[0] == 'video,frames,accuracy,recall,precision,f1,auc'
    assert cv2.imread(str(out / 'plots.png')) is not None


def test_evaluation_subset_and_errors(frames, tmp_path, params_file, capsys):
    root = tmp_path / 'st'
    make_dataset(root, 'shanghaitech', frames)
    (tmp_path / 'list.txt').write_text('# serious anomalies only\n01_0002\n')
    assert evaluate.main(['--dataset', 'shanghaitech', '--root', str(root), '--params', params_file,
                          '--videos', str(tmp_path / 'list.txt'), '--out', str(tmp_path / 'e')]) == 0
    report = json.loads((tmp_path / 'e' / 'metrics.json').read_text())
    assert [r['video'] for r in report['videos']] == ['01_0002']
    capsys.readouterr()
    assert evaluate.main(['--dataset', 'shanghaitech', '--root', str(root), '--videos', '01_0009',
                          '--out', str(tmp_path / 'e2')]) == 2
    assert "01_0009 not in shanghaitech" in capsys.readouterr().err
    assert evaluate.main(['--dataset', 'nwpu', '--root', str(root), '--out', str(tmp_path / 'e3')]) == 2
    assert 'test_frame_mask' in capsys.readouterr().err
