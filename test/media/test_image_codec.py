"""sensor_msgs/Image buffers <-> BGR arrays, on a real frame."""
import numpy as np
import pytest

from vad_ros.media.image_codec import ImageFormatError, from_bgr, to_bgr


@pytest.mark.parametrize('encoding', ['bgr8', 'rgb8', 'bgra8', 'rgba8'])
def test_colour_round_trip_is_exact(vtest_frames, encoding):
    frame = vtest_frames[0]
    h, w, step, data = from_bgr(frame, encoding)
    assert (h, w) == frame.shape[:2] and len(data) == h * step
    assert np.array_equal(to_bgr(encoding, h, w, step, data), frame)


def test_mono8_becomes_grey_bgr(vtest_frames):
    h, w, step, data = from_bgr(vtest_frames[0], 'mono8')
    out = to_bgr('mono8', h, w, step, data)
    assert out.shape == (h, w, 3) and np.array_equal(out[..., 0], out[..., 2])


def test_row_padding_is_removed():
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    padded = np.zeros((2, 12), np.uint8)
    padded[:, :9] = rgb.reshape(2, 9)
    out = to_bgr('rgb8', 2, 3, 12, padded.tobytes())
    assert np.array_equal(out, rgb[..., ::-1])


def test_mono16_big_endian():
    values = np.array([[0x1234, 0xFF00]], dtype='>u2')
    out = to_bgr('mono16', 1, 2, 4, values.tobytes(), is_bigendian=True)
    assert out[0, :, 0].tolist() == [0x12, 0xFF]


@pytest.mark.parametrize('args, cause, text', [
    (('yuv422', 2, 2, 4, bytes(8)), 'encoding', "unsupported encoding 'yuv422'"),
    (('bgr8', 0, 0, 0, b''), 'empty', 'empty image'),
    (('bgr8', 2, 2, 6, bytes(5)), 'size', 'truncated'),
    (('bgr8', 2, 2, 6, bytes(13)), 'size', 'truncated'),
    (('bgr8', 2, 2, 4, bytes(8)), 'step', 'step 4 is smaller'),
])
def test_bad_buffers_name_the_cause(args, cause, text):
    with pytest.raises(ImageFormatError, match=text) as info:
        to_bgr(*args)
    assert info.value.cause == cause


def test_compressed_payloads_decode_or_name_the_cause():
    import cv2
    from vad_ros.media.image_codec import decode_compressed
    frame = np.zeros((6, 8, 3), np.uint8)
    frame[:, :4] = (0, 0, 255)
    png = cv2.imencode('.png', frame)[1].tobytes()
    assert np.array_equal(decode_compressed('png', png), frame)
    assert decode_compressed('bgr8; jpeg compressed bgr8', cv2.imencode('.jpg', frame)[1].tobytes()).shape == (6, 8, 3)
    for fmt, data, cause, text in [('jpeg', b'', 'empty', 'no bytes'), ('jpeg', png[:20], 'size', 'cannot be decoded'),
                                   ('tiff', png, 'encoding', "'tiff' is not jpeg or png")]:
        with pytest.raises(ImageFormatError, match=text) as info:
            decode_compressed(fmt, data)
        assert info.value.cause == cause


def test_odd_encodings_keep_one_cause_and_a_short_message():
    with pytest.raises(ImageFormatError) as info:
        to_bgr('x' * 5000, 2, 2, 6, bytes(12))
    assert info.value.cause == 'encoding' and len(str(info.value)) < 300
