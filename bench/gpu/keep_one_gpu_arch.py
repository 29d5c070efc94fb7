"""Blank the GPU code of all but one architecture in a CUDA shared library, so that it compresses to a size the
device tool can carry (64 MiB per call).

onnxruntime-gpu's CUDA provider (libonnxruntime_providers_cuda.so, 270 MiB) holds 218 MiB of device code in its
`.nv_fatbin` section: one cubin per kernel file for each of sm_75, 80, 86, 89, 90 and 120. The lent machines are
H100 / H200 (sm_90), which load only the sm_90 cubins. This tool walks the section's fat binaries (header: magic
0xBA55ED50, version, header size, size of the entries; each entry: kind, header size, payload size, ..., arch)
and overwrites the payload of every entry of another architecture with zeros. Nothing moves: offsets, headers and
the file size stay as they were, so the library loads as before and the CUDA runtime still finds the sm_90
cubin of each kernel; the zeros compress to nothing. (A cubin runs only on its own major architecture, so an sm_90
GPU loses nothing.) Stops without writing where a kept entry is compressed, where the kept architecture has no
cubin, or where the walk does not end exactly at a fat binary's end (an entry would run past it).

    python bench/gpu/keep_one_gpu_arch.py libonnxruntime_providers_cuda.so --arch 90
"""
from __future__ import annotations

import argparse
import collections
import struct
import subprocess
import sys

FATBIN_MAGIC = 0xBA55ED50
FATBIN_HEADER = struct.Struct('<IHHQ')        # magic, version, header size, size of the entries that follow
ENTRY_HEADER = struct.Struct('<HHIQIIHHI')    # kind, _, header size, payload size, compressed size, _, minor,
#                                               major, arch
ENTRY_FLAGS_AT = 40                           # u64 flags; 0x2000 = payload compressed
COMPRESSED = 0x2000
KINDS = {1: 'ptx', 2: 'cubin'}


def fatbin_section(path: str) -> tuple[int, int]:
    """(file offset, size) of the .nv_fatbin section (readelf)."""
    out = subprocess.run(['readelf', '-S', '-W', path], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        fields = line.replace('[ ', '[').split()
        if '.nv_fatbin' in fields:
            i = fields.index('.nv_fatbin')
            return int(fields[i + 3], 16), int(fields[i + 4], 16)
    raise SystemExit(f'{path}: no .nv_fatbin section')


def entries(data: bytearray, start: int, size: int):
    """(payload offset, payload size, kind, arch, flags) of every entry of every fat binary in the section."""
    pos, end = start, start + size
    while pos + FATBIN_HEADER.size <= end:
        magic, _, header_size, entries_size = FATBIN_HEADER.unpack_from(data, pos)
        if magic != FATBIN_MAGIC:
            pos += 8                  # alignment padding between fat binaries
            continue
        entry, stop = pos + header_size, pos + header_size + entries_size
        while entry < stop:
            kind, _, entry_header, payload, _, _, _, _, arch = ENTRY_HEADER.unpack_from(data, entry)
            if entry_header < ENTRY_FLAGS_AT + 8 or entry + entry_header + payload > stop:
                raise SystemExit(f'fat binary at {pos:#x}: the entry at {entry:#x} runs past its end')
            flags, = struct.unpack_from('<Q', data, entry + ENTRY_FLAGS_AT)
            yield entry + entry_header, payload, kind, arch, flags
            entry += entry_header + payload
        if entry != stop:
            raise SystemExit(f'fat binary at {pos:#x}: its entries end at {entry:#x}, not at {stop:#x}')
        pos = stop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('library')
    parser.add_argument('--arch', type=int, default=90, help='the architecture to keep (90 = H100 / H200)')
    parser.add_argument('--out', help='write here (default: in place)')
    args = parser.parse_args(argv)
    data = bytearray(open(args.library, 'rb').read())
    start, size = fatbin_section(args.library)
    found = list(entries(data, start, size))
    kept = collections.Counter()
    blanked = 0
    for offset, payload, kind, arch, flags in found:
        if arch == args.arch:
            if flags & COMPRESSED:
                raise SystemExit(f'a compressed sm_{arch} entry: this tool handles uncompressed fat binaries only')
            kept[KINDS.get(kind, kind)] += payload
            continue
        data[offset:offset + payload] = bytes(payload)
        blanked += payload
    if not kept.get('cubin'):
        raise SystemExit(f'{args.library}: no sm_{args.arch} cubin, nothing would run there')
    open(args.out or args.library, 'wb').write(data)
    print(f'{len(found)} entries in {size / 2 ** 20:.0f} MiB of fat binaries: kept sm_{args.arch} '
          f'({", ".join(f"{k} {v / 2 ** 20:.0f} MiB" for k, v in kept.items())}), blanked {blanked / 2 ** 20:.0f} MiB')
    return 0


if __name__ == '__main__':
    sys.exit(main())
