"""sensor_msgs/Image raw buffers <-> OpenCV BGR arrays, without cv_bridge and without ROS types.

The node decodes the encodings listed here itself (each frame once) and hands other encodings to cv_bridge
where it is installed; the image publisher and the offline rosbag reader use these functions directly. Every
rejection is an ImageFormatError whose `cause` is one of a few fixed keys (CAUSES, for "log once per cause"
and bounded counters) and whose message says what is wrong and what is expected; an offending value from the
input appears in the message only, truncated.
"""
from __future__ import annotations

import cv2
import numpy as np

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


CAUSES = ('encoding', 'empty', 'step', 'size', 'array', 'too_large')


class ImageFormatError(VadError):
    def __init__(self, cause: str, message: str):
        super().__init__(message)
        self.cause = cause          # one of CAUSES


def shown(value: object, limit: int = 40) -> str:
    """repr of a value from the input, cut to `limit` characters (messages stay small whatever arrives)."""
    text = repr(value)
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


def decode_compressed(fmt: str, data) -> np.ndarray:
    """A (H, W, 3) uint8 BGR array from a sensor_msgs/CompressedImage payload (jpeg or png; the format
    string may carry more, e.g. 'bgr8; jpeg compressed bgr8', as image_transport writes it)."""
    lowered = fmt.lower()
    if lowered and not any(f in lowered for f in COMPRESSED_FORMATS + ('jpg',)):
        raise ImageFormatError('encoding', f"compressed format {shown(fmt)} is not jpeg or png")
    buf = np.frombuffer(bytes(data), np.uint8)
    if buf.size == 0:
        raise ImageFormatError('empty', 'empty compressed image: no bytes')
    image = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if image is None:
        raise ImageFormatError('size', f'compressed image ({buf.size} bytes, format {shown(fmt)}) cannot be '
                                       'decoded: corrupt or truncated payload')
    return image
