"""sensor_msgs/Image raw buffers <-> OpenCV BGR arrays, without cv_bridge and without ROS types.

The node decodes the encodings listed here itself (each frame once) and hands other encodings to cv_bridge
where it is installed; the image publisher and the offline rosbag reader use these functions directly. Every
rejection is an ImageFormatError whose `cause` is one of a few fixed keys (CAUSES, for "log once per cause"
and bounded counters) and whose message says what is wrong and what is expected; an offending value from the
input appears in the message only, truncated.

Compressed payloads (sensor_msgs/CompressedImage) are judged on their header before anything is decoded: the
data's magic bytes (PNG signature, JPEG SOI) must agree with the message's `format` field, and the image size
is read from the PNG IHDR chunk or the JPEG frame header (SOFn; the marker segments before it are walked, at
most limits.MAX_JPEG_HEADER_SEGMENTS of them). A frame above max_image_pixels is refused there, so a few
hundred bytes that declare 50000x50000 pixels cost a few microseconds and no memory. The decoder's own errors
(cv2.error) become ImageFormatError, and a decoded size that differs from the header's is refused too.
"""
from __future__ import annotations

import struct
import zlib
from typing import NamedTuple

import cv2
import numpy as np

from vad_ros import limits
from vad_ros.errors import VadError

# encoding -> (channels, numpy dtype, conversion to BGR or None)
_ENCODINGS: dict[str, tuple[int, type, int | None]] = {
    'bgr8': (3, np.uint8, None),
    '8UC3': (3, np.uint8, None),
    'rgb8': (3, np.uint8, cv2.COLOR_RGB2BGR),
    'bgra8': (4, np.uint8, cv2.COLOR_BGRA2BGR),
    '8UC4': (4, np.uint8, cv2.COLOR_BGRA2BGR),
    'rgba8': (4, np.uint8, cv2.COLOR_RGBA2BGR),
    'mono8': (1, np.uint8, cv2.COLOR_GRAY2BGR),
    '8UC1': (1, np.uint8, cv2.COLOR_GRAY2BGR),
    'mono16': (1, np.uint16, cv2.COLOR_GRAY2BGR),
    '16UC1': (1, np.uint16, cv2.COLOR_GRAY2BGR),
}
SUPPORTED_ENCODINGS = tuple(_ENCODINGS)


# encoding: unknown encoding / format name; empty: no pixels or bytes; step, size: raw buffer does not fit its
# fields, or a compressed payload cannot be decoded; array: not a BGR array; too_large: above max_image_pixels;
# format: a compressed payload that is not what its 'format' field says (or neither PNG nor JPEG); header: a
# compressed payload whose header cannot be read, or that decodes to another size than its header declares.
CAUSES = ('encoding', 'empty', 'step', 'size', 'array', 'too_large', 'format', 'header')


class ImageFormatError(VadError):
    def __init__(self, cause: str, message: str):
        super().__init__(message)
        self.cause = cause          # one of CAUSES


def shown(value: object, limit: int = 40) -> str:
    """repr of a value from the input, cut to `limit` characters (messages stay small whatever arrives)."""
    text = limits.excerpt(value, limit)        # bounded whatever the value's size (never repr() of all of it)
    return text if len(text) <= limit else text[:limit - 3] + '...'


def to_bgr(encoding: str, height: int, width: int, step: int, data, is_bigendian: bool = False) -> np.ndarray:
    """A (height, width, 3) uint8 BGR array (a copy) from the fields of a sensor_msgs/Image."""
    if encoding not in _ENCODINGS:
        raise ImageFormatError('encoding', f"unsupported encoding {shown(encoding)}: publish one of "
                               f"{', '.join(SUPPORTED_ENCODINGS)} (or convert with image_proc)")
    if height <= 0 or width <= 0:
        raise ImageFormatError('empty', f'empty image ({width}x{height}): width and height must be > 0')
    channels, dtype, conversion = _ENCODINGS[encoding]
    row_bytes = width * channels * np.dtype(dtype).itemsize
    if step < row_bytes:
        raise ImageFormatError('step', f"step {step} is smaller than width*channels*bytes = {row_bytes} for "
                               f"'{encoding}' at width {width}")
    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size != step * height:
        raise ImageFormatError('size', f'buffer has {buf.size} bytes but height*step = {height}*{step} = '
                               f'{height * step}: truncated or mislabelled image')
    rows = buf.reshape(height, step)[:, :row_bytes]
    pixels = rows.view(np.dtype(dtype).newbyteorder('>' if is_bigendian else '<')) if dtype is not np.uint8 else rows
    pixels = pixels.reshape(height, width, channels) if channels > 1 else pixels.reshape(height, width)
    if dtype is np.uint16:
        pixels = (pixels >> 8).astype(np.uint8)
    if conversion is None:
        return np.ascontiguousarray(pixels)
    return cv2.cvtColor(np.ascontiguousarray(pixels), conversion)


def check_pixels(width: int, height: int, max_pixels: int) -> None:
    """ImageFormatError('too_large') when width x height exceeds max_pixels (0 = no limit). Checked before a
    raw buffer is decoded, so an oversized frame costs nothing but the check."""
    if max_pixels and width * height > max_pixels:
        raise ImageFormatError('too_large', f'{width}x{height} = {width * height} pixels is above max_image_pixels '
                               f'= {max_pixels}: frame skipped (raise max_image_pixels, or resize the camera '
                               'output, e.g. with image_proc)')


def from_bgr(image: np.ndarray, encoding: str = 'bgr8') -> tuple[int, int, int, bytes]:
    """(height, width, step, data) of a sensor_msgs/Image in `encoding` (bgr8, rgb8, mono8, bgra8, rgba8)."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ImageFormatError('array', f'expected a (H, W, 3) uint8 BGR array, got {image.dtype} {image.shape}')
    conversions = {'bgr8': None, 'rgb8': cv2.COLOR_BGR2RGB, 'mono8': cv2.COLOR_BGR2GRAY,
                   'bgra8': cv2.COLOR_BGR2BGRA, 'rgba8': cv2.COLOR_BGR2RGBA}
    if encoding not in conversions:
        raise ImageFormatError('encoding', f"cannot encode {shown(encoding)}: use one of "
                               f"{', '.join(conversions)}")
    out = image if conversions[encoding] is None else cv2.cvtColor(image, conversions[encoding])
    out = np.ascontiguousarray(out)
    height, width = out.shape[:2]
    return height, width, out.strides[0], out.tobytes()


COMPRESSED_FORMATS = ('jpeg', 'png')
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
JPEG_SOI = b'\xff\xd8\xff'            # start of image, then the first marker's 0xFF
_FORMAT_FIX = ("set the CompressedImage field 'format' to what the data is ('jpeg' or 'png'; image_transport "
               "writes e.g. 'bgr8; jpeg compressed bgr8'), or publish data in the format it names")
# JPEG frame headers (start of frame, SOF0..SOF15 without DHT C4, JPG C8, DAC CC) and marker codes without a length.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE_MARKERS = frozenset(range(0xD0, 0xD8)) | {0x01}


class CompressedHeader(NamedTuple):
    kind: str        # 'png' or 'jpeg', from the data's magic bytes
    width: int
    height: int


def _declared_kinds(fmt: str) -> set[str]:
    """The kinds the 'format' field names ('jpeg', 'png'); empty for an empty field (the data decides)."""
    lowered = fmt.lower()
    kinds = {kind for kind, names in (('jpeg', ('jpeg', 'jpg')), ('png', ('png',)))
             if any(name in lowered for name in names)}
    if lowered.strip() and not kinds:
        raise ImageFormatError('encoding', f"compressed format {shown(fmt)} is not jpeg or png: {_FORMAT_FIX}")
    return kinds


def compressed_header(fmt: str, data) -> CompressedHeader:
    """Kind and declared size of a CompressedImage payload, read from its header without decoding it.

    ImageFormatError: 'encoding' (a format other than jpeg/png), 'empty' (no bytes), 'format' (the data is not
    what `fmt` says, or neither PNG nor JPEG), 'header' (a header that is truncated or cannot be parsed)."""
    declared = _declared_kinds(fmt)
    buf = memoryview(_byte_array(data))
    if len(buf) == 0:
        raise ImageFormatError('empty', 'empty compressed image: no bytes')
    start = bytes(buf[:8])
    kind = 'png' if start == PNG_SIGNATURE else 'jpeg' if start.startswith(JPEG_SOI) else None
    if kind is None:
        raise ImageFormatError('format', f'compressed image data ({len(buf)} bytes, starting {limits.excerpt(start)}) '
                                         f'is neither PNG (signature 89 50 4E 47 0D 0A 1A 0A) nor JPEG (FF D8 FF), '
                                         f'field format = {shown(fmt)}: {_FORMAT_FIX}')
    if declared and kind not in declared:
        raise ImageFormatError('format', f"field 'format' = {shown(fmt)} but the data is {kind.upper()} (its magic "
                                         f'bytes): {_FORMAT_FIX}')
    width, height = _png_size(buf) if kind == 'png' else _jpeg_size(buf)
    return CompressedHeader(kind, width, height)


def _byte_array(data) -> np.ndarray:
    """The payload as a uint8 array, without a copy where it is a buffer (bytes, array.array as rclpy gives it)."""
    try:
        return np.frombuffer(data, np.uint8)
    except (TypeError, ValueError):           # e.g. a list of ints
        return np.frombuffer(bytes(data), np.uint8)


def _bad_header(kind: str, what: str) -> ImageFormatError:
    return ImageFormatError('header', f'{kind} header cannot be read: {what}; the payload must be one whole '
                                      f'{kind} file (check the camera driver or its compressed transport)')


def _png_size(buf: memoryview) -> tuple[int, int]:
    """(width, height) from the IHDR chunk, which the PNG standard puts first: length 13, 'IHDR', 13 bytes, CRC."""
    if len(buf) < 33:
        raise _bad_header('PNG', f'{len(buf)} bytes, truncated before the end of the IHDR chunk (byte 33)')
    length, name = struct.unpack('>I4s', bytes(buf[8:16]))
    if name != b'IHDR' or length != 13:
        raise _bad_header('PNG', f'the first chunk is not a 13-byte IHDR (got {limits.excerpt(name)}, length {length})')
    body = bytes(buf[12:29])
    if zlib.crc32(body) != struct.unpack('>I', bytes(buf[29:33]))[0]:
        raise _bad_header('PNG', 'the IHDR chunk fails its CRC')
    width, height = struct.unpack('>II', body[4:12])
    if not (0 < width < 2 ** 31 and 0 < height < 2 ** 31):
        raise _bad_header('PNG', f'IHDR declares {width}x{height} pixels (each side must be 1 .. 2^31-1)')
    return width, height


def _jpeg_size(buf: memoryview) -> tuple[int, int]:
    """(width, height) from the first frame header (SOFn), walking the marker segments after SOI (each is 0xFF,
    a code, and a 2-byte big-endian length that counts itself), at most MAX_JPEG_HEADER_SEGMENTS of them."""
    n, pos = len(buf), 2
    for _ in range(limits.MAX_JPEG_HEADER_SEGMENTS):
        if pos >= n or buf[pos] != 0xFF:
            what = 'truncated before the frame header' if pos >= n else f'no marker at byte {pos}'
            raise _bad_header('JPEG', what)
        run = bytes(buf[pos:pos + 64])
        code_on = run.lstrip(b'\xff')                  # fill bytes: 0xFF repeated before the marker's code
        if not code_on:
            raise _bad_header('JPEG', f'truncated, or over 63 fill bytes, at byte {pos}')
        pos += len(run) - len(code_on) + 1
        code = code_on[0]
        if code in _STANDALONE_MARKERS:
            continue
        if code in (0x00, 0xD8, 0xD9, 0xDA):
            raise _bad_header('JPEG', f'marker FF {code:02X} at byte {pos - 2} before any frame header (SOFn)')
        if pos + 2 > n:
            raise _bad_header('JPEG', 'truncated before the frame header')
        length = buf[pos] << 8 | buf[pos + 1]
        if length < 2 or pos + length > n:
            raise _bad_header('JPEG', f'segment FF {code:02X} at byte {pos - 2} has length {length}, '
                                      f'{n - pos} bytes left')
        if code in _SOF_MARKERS:
            if length < 8:
                raise _bad_header('JPEG', f'frame header of {length} bytes (at least 8)')
            height, width, components = struct.unpack('>HHB', bytes(buf[pos + 3:pos + 8]))
            if length != 8 + 3 * components or components == 0:
                raise _bad_header('JPEG', f'frame header of {length} bytes for {components} component(s)')
            if width == 0 or height == 0:
                raise _bad_header('JPEG', f'frame header declares {width}x{height} pixels (a height given later by '
                                          'a DNL marker is not supported)')
            return width, height
        pos += length
    raise _bad_header('JPEG', f'no frame header (SOFn) in the first {limits.MAX_JPEG_HEADER_SEGMENTS} segments')


def decode_compressed(fmt: str, data, max_pixels: int = 0) -> np.ndarray:
    """A (H, W, 3) uint8 BGR array from a sensor_msgs/CompressedImage payload (jpeg or png; the format
    string may carry more, e.g. 'bgr8; jpeg compressed bgr8', as image_transport writes it). The header is
    checked first (compressed_header): a frame above max_pixels (0 = no limit) raises 'too_large' before any
    pixel is decoded."""
    header = compressed_header(fmt, data)
    check_pixels(header.width, header.height, max_pixels)
    buf = _byte_array(data)
    try:
        image = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    except cv2.error as e:                  # e.g. OpenCV's own size limit, or a decoder error
        reason = limits.bounded_message(' '.join(str(e).split('error: ', 1)[-1].split()), 240)
        raise ImageFormatError('size', f'compressed image ({buf.size} bytes, {header.kind} {header.width}x'
                                       f'{header.height}) cannot be decoded: corrupt, truncated or beyond the '
                                       f'decoder\'s limits (OpenCV: {reason})') from None
    if image is None:
        raise ImageFormatError('size', f'compressed image ({buf.size} bytes, format {shown(fmt)}) cannot be '
                                       'decoded: corrupt or truncated payload')
    # EXIF orientation may swap the sides of a JPEG; anything else is a decoder that saw another image.
    if sorted(image.shape[:2]) != sorted((header.height, header.width)):
        raise ImageFormatError('header', f'compressed image decoded to {image.shape[1]}x{image.shape[0]} but its '
                                         f'{header.kind} header declares {header.width}x{header.height}: frame '
                                         'skipped (check the camera driver or its compressed transport)')
    return image
