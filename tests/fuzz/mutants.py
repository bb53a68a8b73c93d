"""Seeded mutants of real replays, for the fuzz tests, ``benchmarks/fuzz.py`` and the
atheris harness: the edits a disk, a network copy or a crashing recorder make.

Each mutant is named by its kind; the same (data, seed, kind) always gives the same
bytes, so a failure found in CI can be replayed exactly.
"""

from __future__ import annotations

import struct

import numpy as np

KINDS = (
    "bit_flips",
    "truncate",
    "duplicate_chunk",
    "delete_chunk",
    "zero_range",
    "raw_length",
    "payload_size",
    "byte_noise",
    "splice_tail",
)
HEADER = 15  # b"{U\x03raw[$U#l" + the 4-byte raw length


def mutate(data: bytes, rng: np.random.Generator, kind: str) -> bytes:
    """One mutant of ``data`` of the given kind."""
    n = len(data)
    buf = bytearray(data)
    if kind == "bit_flips":
        for at in rng.integers(0, n, size=int(rng.integers(1, 9))):
            buf[at] ^= 1 << int(rng.integers(0, 8))
    elif kind == "truncate":
        buf = buf[: int(rng.integers(0, n))]
    elif kind == "duplicate_chunk":
        start, length = int(rng.integers(HEADER, n)), int(rng.integers(1, 4096))
        at = int(rng.integers(HEADER, n))
        buf[at:at] = buf[start : start + length]
    elif kind == "delete_chunk":
        start = int(rng.integers(HEADER, n))
        del buf[start : start + int(rng.integers(1, 4096))]
    elif kind == "zero_range":
        start = int(rng.integers(0, n))
        length = int(rng.integers(1, 512))
        buf[start : start + length] = bytes(len(buf[start : start + length]))
    elif kind == "raw_length":  # the UBJSON raw array length: 0, short, long, random
        value = int(rng.choice([0, 1, n // 2, n * 4, int(rng.integers(0, 2**32))]))
        buf[11:15] = struct.pack(">I", value % 2**32)
    elif kind == "payload_size":  # an entry of the event-payloads table
        entries = (buf[HEADER + 1] - 1) // 3 if n > HEADER + 1 else 0
        if entries > 0:
            at = HEADER + 2 + 3 * int(rng.integers(0, entries)) + 1
            buf[at : at + 2] = struct.pack(">H", int(rng.integers(0, 2**16)))
    elif kind == "byte_noise":
        start = int(rng.integers(0, n))
        length = int(rng.integers(1, 64))
        noise = rng.integers(0, 256, size=len(buf[start : start + length]), dtype=np.uint8)
        buf[start : start + length] = noise.tobytes()
    elif kind == "splice_tail":  # the front of the game with the end of the file (lost sectors)
        cut, tail = int(rng.integers(HEADER, n)), int(rng.integers(HEADER, n))
        buf = buf[:cut] + buf[tail:]
    else:
        raise ValueError(f"unknown mutation {kind!r}")
    return bytes(buf)


def mutants(sources: dict[str, bytes], count: int, seed: int = 0):
    """``count`` (name, bytes) mutants spread over the sources and kinds, seeded."""
    names = sorted(sources)
    for index in range(count):
        source = names[index % len(names)]
        kind = KINDS[(index // len(names)) % len(KINDS)]
        rng = np.random.default_rng([seed, index])
        yield f"{index:05d}-{kind}-{source}", mutate(sources[source], rng, kind)
