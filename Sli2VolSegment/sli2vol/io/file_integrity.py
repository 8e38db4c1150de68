"""Is an image file's data block complete, intact and (NIfTI floats) finite? Checked before SimpleITK reads it.

SimpleITK reads a ``.nii.gz`` cut short, or a ``.nii`` whose data is truncated, without an error (the
missing voxels become 0), and its NIfTI reader turns NaN / infinite floats into 0. These checks read the
format's own header (NIfTI-1/2, NRRD, MetaImage), work out how many bytes the data must hold, and stream
through the data once (decompressing gzip / zlib / bzip2 and so checking its CRC), chunk by chunk, so
memory stays small. Formats and layouts they do not know (DICOM, detached file lists, ASCII encodings)
are left to SimpleITK.
"""
from __future__ import annotations

import bz2
import gzip
import re
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from sli2vol.errors import InputError

CHUNK_BYTES = 1 << 24

# NIfTI datatype code -> numpy dtype of one value (without byte order); others are checked by size only.
_NIFTI_FLOATS = {16: "f4", 32: "f4", 64: "f8", 1792: "f8"}  # float32, complex64, float64, complex128

_NRRD_TYPE_BYTES = [
    (r"(u?int8(_t)?|(signed |unsigned )?char|uchar)", 1),
    (r"(u?int16(_t)?|(signed |unsigned )?short( int)?|ushort)", 2),
    (r"(u?int32(_t)?|(signed |unsigned )?int|uint|float)", 4),
    (r"(u?int64(_t)?|(signed |unsigned )?long long( int)?|u?longlong|double)", 8),
]
_META_TYPE_BYTES = {"MET_CHAR": 1, "MET_UCHAR": 1, "MET_SHORT": 2, "MET_USHORT": 2, "MET_INT": 4, "MET_UINT": 4,
                    "MET_FLOAT": 4, "MET_DOUBLE": 8, "MET_LONG_LONG": 8, "MET_ULONG_LONG": 8}


class _ZlibReader:
    """``read(n)`` over a zlib stream (MetaImage ``CompressedData = True``)."""

    def __init__(self, raw: BinaryIO):
        self.raw, self.inflate, self.buffer = raw, zlib.decompressobj(), b""

    def read(self, n: int) -> bytes:
        while len(self.buffer) < n and not self.inflate.eof:
            data = self.raw.read(CHUNK_BYTES)
            if not data:
                raise EOFError("compressed data ended before its end-of-stream marker")
            self.buffer += self.inflate.decompress(data)
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out


def _open_data(raw: BinaryIO, encoding: str) -> BinaryIO:
    if encoding == "gzip":
        return gzip.GzipFile(fileobj=raw)
    if encoding == "bzip2":
        return bz2.BZ2File(raw)
    if encoding == "zlib":
        return _ZlibReader(raw)
    return raw


def _stream_data(path: Path, stream: BinaryIO, nbytes: int, float_dtype: str | None, compressed: bool) -> None:
    """Read ``nbytes`` of data (``compressed``: on to the stream's end, so that its checksum is verified).

    ``float_dtype`` (e.g. ``"<f4"``): also count NaN / infinite values. Raises :class:`InputError`.
    """
    done, bad, carry = 0, 0, b""
    try:
        while True:
            chunk = stream.read(CHUNK_BYTES)
            if not chunk:
                break
            if float_dtype and done < nbytes:
                block = carry + chunk[: nbytes - done]
                usable = len(block) - len(block) % np.dtype(float_dtype).itemsize
                bad += int(np.count_nonzero(~np.isfinite(np.frombuffer(block[:usable], float_dtype))))
                carry = block[usable:]
            done += len(chunk)
            if done >= nbytes and not compressed:
                break
    except (EOFError, OSError, zlib.error) as exc:
        raise _damaged(path, exc) from exc
    if done < nbytes:
        raise _truncated(path, done, nbytes)
    if bad:
        raise InputError(f"{path} holds {bad} NaN or infinite voxel values; replace them before use")


def _damaged(path: Path, exc: Exception) -> InputError:
    return InputError(f"cannot read {path}: truncated or damaged compressed data ({exc})")


def _check_nifti(path: Path) -> None:
    compressed = path.name.endswith(".gz")
    with open(path, "rb") as raw:
        stream = _open_data(raw, "gzip" if compressed else "raw")
        try:
            header = stream.read(540)
        except gzip.BadGzipFile as exc:
            raise InputError(f"cannot read {path}: not gzip-compressed, although its name ends in .gz") from exc
        except (EOFError, OSError, zlib.error) as exc:
            raise _damaged(path, exc) from exc
        for order in "<>":
            if len(header) >= 4 and struct.unpack(order + "i", header[:4])[0] in (348, 540):
                break
        else:
            return  # not NIfTI: SimpleITK will say so
        if struct.unpack(order + "i", header[:4])[0] == 348:
            if len(header) < 348 or header[344:347] != b"n+1":
                return  # a .hdr/.img pair or a damaged header: left to SimpleITK
            dims = struct.unpack(order + "8h", header[40:56])
            datatype, bitpix = struct.unpack(order + "2h", header[70:74])
            offset = int(struct.unpack(order + "f", header[108:112])[0])
        else:
            if len(header) < 540:
                return
            datatype, bitpix = struct.unpack(order + "2h", header[12:16])
            dims = struct.unpack(order + "8q", header[16:80])
            offset = struct.unpack(order + "q", header[168:176])[0]
        if not 1 <= dims[0] <= 7 or bitpix <= 0 or min(dims[1 : dims[0] + 1]) < 1:
            return
        nbytes = int(np.prod([int(d) for d in dims[1 : dims[0] + 1]], dtype=np.int64)) * bitpix // 8
        float_dtype = order + _NIFTI_FLOATS[datatype] if datatype in _NIFTI_FLOATS else None
        if not compressed:
            if float_dtype is None:
                _check_size(path, offset, nbytes)
                return
            raw.seek(offset)
        else:
            stream.read(max(offset - len(header), 0))
            stream = _Prefixed(header[offset:], stream)
        _stream_data(path, stream, nbytes, float_dtype, compressed)


class _Prefixed:
    """``read(n)`` that first returns bytes already read past the header."""

    def __init__(self, prefix: bytes, stream: BinaryIO):
        self.prefix, self.stream = prefix, stream

    def read(self, n: int) -> bytes:
        if self.prefix:
            out, self.prefix = self.prefix[:n], self.prefix[n:]
            return out
        return self.stream.read(n)


def _check_size(path: Path, offset: int, nbytes: int) -> None:
    have = path.stat().st_size - offset
    if have < nbytes:
        raise _truncated(path, max(have, 0), nbytes)


def _truncated(path: Path, have: int, nbytes: int) -> InputError:
    return InputError(f"cannot read {path}: truncated file: the data holds {have} of the {nbytes} bytes "
                      "its header promises")


def _read_header_lines(raw: BinaryIO, last) -> list[str]:
    """Header lines up to the one for which ``last(line)`` is true (not included for a blank line)."""
    lines = []
    while True:
        line = raw.readline(1 << 20)
        if not line:
            return lines
        text = line.decode("latin-1").rstrip("\r\n")
        if last(text):
            return lines + ([text] if text else [])
        lines.append(text)


def _check_nrrd(path: Path) -> None:
    with open(path, "rb") as raw:
        if raw.read(4) != b"NRRD":
            return
        lines = _read_header_lines(raw, lambda text: text == "")
        fields = {}
        for line in lines[1:]:
            key, sep, value = line.partition(": ")
            if sep and not line.startswith("#") and ":=" not in key:
                fields[key.strip().lower()] = value.strip()
        data_offset = raw.tell()
    type_bytes = next((n for pattern, n in _NRRD_TYPE_BYTES if re.fullmatch(pattern, fields.get("type", ""))), None)
    encoding = {"raw": "raw", "gzip": "gzip", "gz": "gzip", "bzip2": "bzip2", "bz2": "bzip2"}.get(fields.get("encoding"))
    detached = fields.get("data file", fields.get("datafile"))
    if type_bytes is None or encoding is None or "sizes" not in fields or "line skip" in fields or "byte skip" in fields:
        return
    if detached is not None:
        if detached.startswith("LIST") or len(detached.split()) > 1:
            return
        path, data_offset = path.parent / detached, 0
        if not path.is_file():
            raise InputError(f"{path}: data file named by the NRRD header not found")
    nbytes = int(np.prod([int(s) for s in fields["sizes"].split()], dtype=np.int64)) * type_bytes
    if encoding == "raw":
        _check_size(path, data_offset, nbytes)
        return
    with open(path, "rb") as raw:
        raw.seek(data_offset)
        _stream_data(path, _open_data(raw, encoding), nbytes, None, compressed=True)


def _check_metaimage(path: Path) -> None:
    with open(path, "rb") as raw:
        lines = _read_header_lines(raw, lambda text: text.split("=")[0].strip() == "ElementDataFile")
        data_offset = raw.tell()
    fields = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.strip()
    if "ElementDataFile" not in fields or "DimSize" not in fields or fields.get("ElementType") not in _META_TYPE_BYTES:
        return
    if fields.get("HeaderSize", "0") != "0" or fields["ElementDataFile"] == "LIST" or "%" in fields["ElementDataFile"]:
        return
    if fields["ElementDataFile"] != "LOCAL":
        path, data_offset = path.parent / fields["ElementDataFile"], 0
        if not path.is_file():
            raise InputError(f"{path}: data file named by the MetaImage header not found")
    nbytes = (int(np.prod([int(s) for s in fields["DimSize"].split()], dtype=np.int64))
              * _META_TYPE_BYTES[fields["ElementType"]] * int(fields.get("ElementNumberOfChannels", "1")))
    if fields.get("CompressedData", "False").lower() != "true":
        _check_size(path, data_offset, nbytes)
        return
    with open(path, "rb") as raw:
        raw.seek(data_offset)
        _stream_data(path, _open_data(raw, "zlib"), nbytes, None, compressed=True)


def check_image_file(path: Path) -> None:
    """Raise :class:`InputError` when a NIfTI, NRRD or MetaImage file's data is truncated or damaged, or
    a NIfTI float image holds NaN / infinite values; other files pass unchecked."""
    name = path.name.lower()
    try:
        if name.endswith((".nii", ".nii.gz")):
            _check_nifti(path)
        elif name.endswith((".nrrd", ".nhdr")):
            _check_nrrd(path)
        elif name.endswith((".mha", ".mhd")):
            _check_metaimage(path)
    except InputError:
        raise
    except (EOFError, OSError, zlib.error) as exc:
        raise InputError(f"cannot read {path}: truncated or damaged file ({exc})") from exc
    except (ValueError, struct.error) as exc:
        raise InputError(f"cannot read {path}: malformed header ({exc})") from exc
