"""Writing RGB images as PNG files with numpy and zlib only (no imaging library needed)."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from sli2vol.io.atomic import atomic_path


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_bytes(rgb: np.ndarray) -> bytes:
    """The PNG encoding of an (H, W, 3) uint8 image (8-bit RGB, no filtering, zlib level 6)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {rgb.shape} {rgb.dtype}")
    h, w, _ = rgb.shape
    rows = np.concatenate([np.zeros((h, 1), np.uint8), rgb.reshape(h, w * 3)], axis=1)  # filter 0 per row
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
            + _chunk(b"IEND", b""))


def write_png(rgb: np.ndarray, path: str | Path) -> None:
    """Write an (H, W, 3) uint8 image to ``path`` atomically."""
    data = png_bytes(rgb)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
