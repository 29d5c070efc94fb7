"""Hostile compressed images, built byte by byte: the probe's of issue 22 (a 274-byte PNG declaring 50000x50000
pixels, a ~630-byte JPEG whose frame header was forged to 30000x30000, a real 389 KB PNG of 20000x20000) and
small real ones to cut, relabel and patch."""
from __future__ import annotations

import functools
import struct
import zlib

import cv2
import numpy as np

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """length, type, body, CRC-32 of type + body: one PNG chunk as the standard has it."""
    return struct.pack('>I', len(body)) + kind + body + struct.pack('>I', zlib.crc32(kind + body))


def png_file(width: int, height: int, idat: bytes, colour_type: int = 2, size: int | None = None) -> bytes:
    """A PNG (8 bits per sample) with the given IHDR size and compressed image data; `size` pads it to exactly
    that many bytes with a tEXt chunk."""
    head = PNG_SIGNATURE + png_chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, colour_type, 0, 0, 0))
    tail = png_chunk(b'IDAT', idat) + png_chunk(b'IEND', b'')
    if size is not None:
        pad = size - len(head) - len(tail) - 12 - len(b'Comment\0')
        assert pad >= 0, f'cannot fit {size} bytes'
        head += png_chunk(b'tEXt', b'Comment\0' + b'x' * pad)
    return head + tail


def png_bomb_50000() -> bytes:
    """274 bytes: IHDR 50000x50000 RGB, the first row of zeros as image data (a decoder allocates first)."""
    data = png_file(50000, 50000, zlib.compress(b'\0' * 150001, 9), size=274)
    assert len(data) == 274
    return data


@functools.lru_cache(maxsize=None)
def png_grey_20000() -> bytes:
    """A whole, valid 20000x20000 8-bit grey PNG of zeros: ~389 KB that decode to 400 MB (1.2 GB as BGR)."""
    return png_grey(20000)


@functools.lru_cache(maxsize=None)
def png_grey(side: int) -> bytes:
    """A whole, valid side x side 8-bit grey PNG of zeros (each row: filter byte 0, then the pixels)."""
    packer, row = zlib.compressobj(9), b'\0' * (side + 1)
    idat = b''.join(packer.compress(row) for _ in range(side)) + packer.flush()
    return png_file(side, side, idat, colour_type=0)


def small_jpeg(width: int = 16, height: int = 16) -> bytes:
    """A real baseline JPEG from OpenCV (quality 95: 631 bytes at 16x16, mostly its tables)."""
    ok, data = cv2.imencode('.jpg', np.zeros((height, width, 3), np.uint8))
    assert ok
    return data.tobytes()


def sof_offset(jpeg: bytes) -> int:
    """Byte offset of the baseline frame header marker (FF C0) of an OpenCV JPEG."""
    at = jpeg.index(b'\xff\xc0')
    assert at > 2
    return at


def jpeg_with_size(width: int, height: int, jpeg: bytes | None = None) -> bytes:
    """A real JPEG whose frame header (SOF0: FF C0, length, precision, height, width) now declares width x height;
    the 30000x30000 forgery of the probe costs 631 bytes."""
    data = bytearray(small_jpeg() if jpeg is None else jpeg)
    at = sof_offset(bytes(data))
    data[at + 5:at + 9] = struct.pack('>HH', height, width)
    return bytes(data)
