"""bench/gpu/keep_one_gpu_arch.py on a real ELF file (a copy of /bin/true) with a .nv_fatbin section of made-up fat
binaries laid out as nvcc's: only the payloads of the other architectures become zeros, nothing moves."""
from __future__ import annotations

import importlib.util
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if not (shutil.which('objcopy') and shutil.which('readelf')):
    pytest.skip('needs binutils (objcopy, readelf)', allow_module_level=True)

spec = importlib.util.spec_from_file_location('keep_one_gpu_arch', REPO / 'bench' / 'gpu' / 'keep_one_gpu_arch.py')
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


def entry(arch: int, payload: bytes, kind: int = 2, flags: int = 0) -> bytes:
    header = bytearray(64)
    tool.ENTRY_HEADER.pack_into(header, 0, kind, 0x101, len(header), len(payload), 0, 0, 0, 8, arch)
    struct.pack_into('<Q', header, tool.ENTRY_FLAGS_AT, flags)
    return bytes(header) + payload


def fatbin(*entries: bytes) -> bytes:
    body = b''.join(entries)
    return tool.FATBIN_HEADER.pack(tool.FATBIN_MAGIC, 1, tool.FATBIN_HEADER.size, len(body)) + body


def library(tmp_path: Path, section: bytes) -> Path:
    data = tmp_path / 'fatbin.bin'
    data.write_bytes(section)
    out = tmp_path / 'lib.so'
    subprocess.run(['objcopy', '--add-section', f'.nv_fatbin={data}', '--set-section-flags',
                    '.nv_fatbin=alloc,readonly', shutil.which('true'), str(out)], check=True)
    return out


def test_other_architectures_are_blanked_in_place(tmp_path, capsys):
    sm80, sm90, sm120 = b'\x80' * 40, b'\x90' * 24, b'\x12' * 56
    section = fatbin(entry(80, sm80), entry(90, sm90), entry(120, sm120)) + bytes(8) + fatbin(entry(90, sm90[:8]))
    lib = library(tmp_path, section)
    before = lib.read_bytes()
    assert tool.main([str(lib), '--arch', '90']) == 0
    after = lib.read_bytes()
    start, size = tool.fatbin_section(str(lib))
    assert len(after) == len(before) and size == len(section)
    assert after[:start] == before[:start] and after[start + size:] == before[start + size:]
    blanked = {arch: after[offset:offset + n] for offset, n, _, arch, _ in tool.entries(bytearray(after), start, size)}
    assert blanked[80] == bytes(40) and blanked[120] == bytes(56) and blanked[90] == sm90[:8]   # the last sm_90
    assert after.count(sm90) == 1                       # the first fat binary's sm_90 cubin is untouched too
    assert 'kept sm_90 (cubin 0 MiB), blanked 0 MiB' in capsys.readouterr().out


def test_it_refuses_what_it_cannot_keep_working(tmp_path):
    no_sm90 = library(tmp_path, fatbin(entry(80, b'\x80' * 16)))
    with pytest.raises(SystemExit, match='no sm_90 cubin'):
        tool.main([str(no_sm90)])
    compressed = library(tmp_path, fatbin(entry(90, b'\x90' * 16, flags=tool.COMPRESSED)))
    with pytest.raises(SystemExit, match='compressed'):
        tool.main([str(compressed)])
    broken = bytearray(fatbin(entry(90, b'\x90' * 16)))
    struct.pack_into('<Q', broken, 8, len(broken) - 16 + 8)        # entries said to end past the last one
    with pytest.raises(SystemExit, match='runs past its end'):
        tool.main([str(library(tmp_path, bytes(broken) + bytes(64)))])
    assert (tmp_path / 'lib.so').read_bytes().count(b'\x90' * 16) == 1     # nothing written
