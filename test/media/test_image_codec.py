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
    jpeg = cv2.imencode('.jpg', frame)[1].tobytes()
    for fmt, data, cause, text in [('jpeg', b'', 'empty', 'no bytes'), ('png', png[:-30], 'size', 'cannot be decoded'),
                                   ('jpeg', jpeg[:-200], 'size', 'cannot be decoded'),
                                   ('tiff', png, 'encoding', "'tiff' is not jpeg or png")]:
        with pytest.raises(ImageFormatError, match=text) as info:
            decode_compressed(fmt, data)
        assert info.value.cause == cause


def test_odd_encodings_keep_one_cause_and_a_short_message():
    with pytest.raises(ImageFormatError) as info:
        to_bgr('x' * 5000, 2, 2, 6, bytes(12))
    assert info.value.cause == 'encoding' and len(str(info.value)) < 300


# ---------------------------------------------------------------- compressed payloads: size before pixels (issue 22)
import struct  # noqa: E402
import zlib  # noqa: E402

import cv2  # noqa: E402

from image_bombs import (jpeg_with_size, png_bomb_50000, png_chunk, png_file, png_grey, png_grey_20000,  # noqa: E402
                         small_jpeg, sof_offset)
from vad_ros.media.image_codec import compressed_header, decode_compressed  # noqa: E402

UHD = 3840 * 2160                  # max_image_pixels' default


def peak_rss_growth(action) -> int:
    """Bytes by which the process's peak resident memory (VmHWM) rose above its current size while `action()`
    ran; the peak is reset first (Linux: /proc/self/clear_refs)."""
    def status(key: str) -> int:
        with open('/proc/self/status') as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key + ':'))
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')
    before = status('VmRSS')
    action()
    return status('VmHWM') - before


def refused(fmt: str, data, max_pixels: int = UHD) -> ImageFormatError:
    with pytest.raises(ImageFormatError) as info:
        decode_compressed(fmt, data, max_pixels)
    return info.value


def test_a_274_byte_png_declaring_50000x50000_is_refused_on_its_header():
    bomb = png_bomb_50000()
    assert len(bomb) == 274
    assert compressed_header('png', bomb) == ('png', 50000, 50000)
    error = refused('png', bomb)
    assert error.cause == 'too_large'
    assert '50000x50000' in str(error) and 'max_image_pixels = 8294400' in str(error)
    # Without a limit of ours, OpenCV's own limit refuses it: its cv2.error becomes an ImageFormatError.
    error = refused('png', bomb, max_pixels=0)
    assert error.cause == 'size' and 'cannot be decoded' in str(error) and 'OpenCV' in str(error)
    assert len(str(error)) < 600


def decode_measured(fmt: str, data, max_pixels: int = UHD) -> tuple[str | tuple, int]:
    """(the decoded shape or the ImageFormatError's cause, the peak memory growth while decoding)."""
    outcome = []

    def decode():
        try:
            outcome.append(decode_compressed(fmt, data, max_pixels).shape)
        except ImageFormatError as e:
            outcome.append(e.cause)
    growth = peak_rss_growth(decode)
    return outcome[0], growth


def test_a_small_jpeg_with_a_forged_30000x30000_frame_header_is_refused_on_its_header():
    real = small_jpeg()
    assert decode_compressed('jpeg', real, UHD).shape == (16, 16, 3)
    forged = jpeg_with_size(30000, 30000, real)
    assert 600 <= len(forged) <= 700
    assert compressed_header('bgr8; jpeg compressed bgr8', forged) == ('jpeg', 30000, 30000)
    outcome, growth = decode_measured('jpeg', forged)
    assert outcome == 'too_large' and growth < 20_000_000      # libjpeg would allocate 2.7 GB of rows
    assert '30000x30000' in str(refused('jpeg', forged))


def test_a_20000x20000_png_is_refused_before_any_pixel_is_decoded():
    big = png_grey_20000()                                  # 389 KB, 1.2 GB once decoded to BGR
    assert 380_000 < len(big) < 400_000
    assert compressed_header('png', big) == ('png', 20000, 20000)
    outcome, growth = decode_measured('png', big)
    assert outcome == 'too_large' and growth < 20_000_000
    # The measurement sees a decode: a 4000x4000 grey PNG (16 Mpx, 48 MB as BGR) decoded without a limit,
    # and refused on its header with the default one.
    medium = png_grey(4000)
    outcome, growth = decode_measured('png', medium, 0)
    assert outcome == (4000, 4000, 3) and growth > 40_000_000
    outcome, growth = decode_measured('png', medium)
    assert outcome == 'too_large' and growth < 20_000_000


@pytest.mark.parametrize('fmt, which, text', [
    ('jpeg', 'png', "field 'format' = 'jpeg' but the data is PNG"),
    ('rgb8; jpeg compressed rgb8', 'png', 'but the data is PNG'),
    ('png', 'jpeg', "field 'format' = 'png' but the data is JPEG"),
    ('bgr8; png compressed bgr8', 'jpeg', 'but the data is JPEG'),
    ('jpeg', 'gif', 'neither PNG'),
    ('', 'gif', 'neither PNG'),
    ('16UC1; compressedDepth png', 'depth', 'neither PNG'),      # compressedDepth: a 12-byte header, then PNG
])
def test_the_format_field_must_match_the_datas_magic_bytes(fmt, which, text):
    png = cv2.imencode('.png', np.zeros((4, 4, 3), np.uint8))[1].tobytes()
    data = {'png': png, 'jpeg': small_jpeg(), 'gif': b'GIF89a' + bytes(40), 'depth': bytes(12) + png}[which]
    error = refused(fmt, data)
    assert error.cause == 'format' and text in str(error)
    assert "set the CompressedImage field 'format'" in str(error)       # the field and the fix


def test_an_empty_format_field_lets_the_data_decide():
    assert decode_compressed('', small_jpeg()).shape == (16, 16, 3)
    png = cv2.imencode('.png', np.zeros((4, 5, 3), np.uint8))[1].tobytes()
    assert decode_compressed('', png).shape == (4, 5, 3)


def _jpeg_segments_before_sof(jpeg: bytes, segment: bytes) -> bytes:
    at = sof_offset(jpeg)
    return jpeg[:at] + segment + jpeg[at:]


def _without_sof(jpeg: bytes) -> bytes:
    at = sof_offset(jpeg)
    length = struct.unpack('>H', jpeg[at + 2:at + 4])[0]
    return jpeg[:at] + jpeg[at + 2 + length:]


def _png_with_ihdr_crc(png: bytes, crc: int) -> bytes:
    return png[:29] + struct.pack('>I', crc) + png[33:]


PNG_4x4 = png_file(4, 4, zlib.compress(b'\0' * 13 * 4))
JPEG_16 = small_jpeg()


@pytest.mark.parametrize('fmt, data, text', [
    ('png', PNG_4x4[:8], 'truncated before the end of the IHDR chunk'),
    ('png', PNG_4x4[:20], 'truncated before the end of the IHDR chunk'),
    ('png', PNG_4x4[:32], 'truncated before the end of the IHDR chunk'),
    ('png', _png_with_ihdr_crc(PNG_4x4, 0), 'fails its CRC'),
    ('png', PNG_4x4[:8] + png_chunk(b'tEXt', b'a\0' + bytes(11)) + PNG_4x4[8:], 'first chunk is not a 13-byte IHDR'),
    ('png', png_file(0, 5, b''), 'IHDR declares 0x5'),
    ('png', png_file(2 ** 31, 5, b''), 'each side must be'),
    ('jpeg', JPEG_16[:3], 'truncated'),
    ('jpeg', JPEG_16[:sof_offset(JPEG_16)], 'truncated before the frame header'),
    ('jpeg', JPEG_16[:sof_offset(JPEG_16) + 6], 'has length 17'),
    ('jpeg', JPEG_16.replace(b'\xff\xdb', b'\x00\xdb', 1), 'no marker at byte 20'),   # APP0 then garbage
    ('jpeg', _without_sof(JPEG_16), 'marker FF DA'),
    ('jpeg', jpeg_with_size(16, 0), 'declares 16x0'),
    ('jpeg', _jpeg_segments_before_sof(JPEG_16, b'\xff\xfe\x00\x02' * 600), 'no frame header (SOFn) in the first 512'),
    ('jpeg', _jpeg_segments_before_sof(JPEG_16, b'\xff' * 70), 'fill bytes'),
])
def test_headers_that_cannot_be_read_are_refused(fmt, data, text):
    error = refused(fmt, data)
    assert error.cause == 'header' and text in str(error), str(error)
    assert 'must be one whole' in str(error) and len(str(error)) < 400


def test_a_jpeg_header_walk_follows_real_segments():
    # Comment segments and fill bytes before the frame header, and an EXIF orientation that swaps the sides.
    jpeg = _jpeg_segments_before_sof(JPEG_16, b'\xff\xfe\x00\x05abc' * 20 + b'\xff\xff')
    assert compressed_header('jpeg', jpeg) == ('jpeg', 16, 16)
    assert decode_compressed('jpeg', jpeg).shape == (16, 16, 3)
    wide = cv2.imencode('.jpg', np.zeros((20, 40, 3), np.uint8))[1].tobytes()
    tiff = b'MM\x00\x2a' + struct.pack('>IH', 8, 1) + struct.pack('>HHIHH', 0x0112, 3, 1, 6, 0) + bytes(4)
    exif = b'Exif\x00\x00' + tiff
    rotated = wide[:2] + b'\xff\xe1' + struct.pack('>H', len(exif) + 2) + exif + wide[2:]
    assert compressed_header('jpeg', rotated) == ('jpeg', 40, 20)
    assert decode_compressed('jpeg', rotated).shape == (40, 20, 3)     # OpenCV applies the orientation


def test_a_decoder_that_disagrees_with_the_header_is_not_trusted(monkeypatch):
    # Test double: cv2.imdecode returning another size than the header declares (no real file was found that
    # makes OpenCV do so; the guard is there for decoders that read a size elsewhere).
    monkeypatch.setattr(cv2, 'imdecode', lambda buf, flags: np.zeros((4000, 4000, 3), np.uint8))
    error = refused('jpeg', JPEG_16, 0)
    assert error.cause == 'header' and 'decoded to 4000x4000 but its jpeg header declares 16x16' in str(error)
