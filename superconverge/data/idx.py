"""Reader for the IDX format used by MNIST and Fashion-MNIST (plain or gzip-compressed).

Format (http://yann.lecun.com/exdb/mnist/): a 4-byte magic number ``00 00 TT NN`` where ``TT``
is the element type and ``NN`` the number of dimensions, then ``NN`` big-endian ``uint32``
sizes, then the elements in C order, big-endian. Pure NumPy; no Keras import.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from superconverge.data.errors import CorruptDataError
from superconverge.errors import ArgumentError

__all__ = ["IDX_DTYPES", "encode_idx", "parse_idx", "read_idx"]

#: IDX type code -> NumPy dtype (big-endian, as stored on disk).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    """Return the (decompressed) bytes of ``path``; gzip is detected by its magic bytes.

    Reads no more than the header announces (plus one byte, to detect trailing data), so a
    small gzip that inflates to gigabytes is refused without being inflated.
    """
    with open(path, "rb") as handle:
        head = handle.read(2)
    if head != _GZIP_MAGIC:
        return Path(path).read_bytes()
    try:
        with gzip.open(path, "rb") as handle:
            header = handle.read(4)
            if len(header) == 4 and header[0] == header[1] == 0 and header[2] in IDX_DTYPES:
                header += handle.read(4 * header[3])
                limit = _payload_size(header)
                if limit is not None:
                    return header + handle.read(limit + 1)
            return header + handle.read()
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise CorruptDataError(
            f"{path}: corrupt or truncated gzip stream ({exc}). "
            "Delete the file and fetch it again."
        ) from exc


def _payload_size(header: bytes) -> int | None:
    """Bytes of payload a complete IDX header announces, or None if the header is short."""
    ndim = header[3]
    if ndim == 0 or len(header) < 4 + 4 * ndim:
        return None
    shape = np.frombuffer(header, dtype=">u4", count=ndim, offset=4).astype(np.int64)
    return int(np.prod(shape)) * IDX_DTYPES[header[2]].itemsize


def parse_idx(buffer: bytes, *, source: str = "<bytes>") -> np.ndarray:
    """Decode an in-memory IDX buffer into a native-endian NumPy array.

    Raises:
        CorruptDataError: bad magic number, unknown type code, or a payload whose size does not
            match the header (truncated or with trailing bytes).
    """
    if len(buffer) < 4:
        raise CorruptDataError(
            f"{source}: only {len(buffer)} bytes; an IDX file starts with a 4-byte magic number"
        )
    zero0, zero1, type_code, ndim = buffer[0], buffer[1], buffer[2], buffer[3]
    if zero0 != 0 or zero1 != 0 or type_code not in IDX_DTYPES or ndim == 0:
        raise CorruptDataError(
            f"{source}: bad IDX magic number {buffer[:4].hex(' ')} (expected 00 00 <type> <ndim> "
            f"with type in {sorted(hex(t) for t in IDX_DTYPES)} and ndim >= 1). "
            "Is this really an (uncompressed or gzip) IDX file?"
        )
    header_len = 4 + 4 * ndim
    if len(buffer) < header_len:
        raise CorruptDataError(
            f"{source}: truncated IDX header ({len(buffer)} bytes, need {header_len} for {ndim} "
            "dimensions)"
        )
    shape = tuple(int(d) for d in np.frombuffer(buffer, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(buffer) - header_len
    if actual != expected:
        kind = "truncated" if actual < expected else "has trailing bytes"
        raise CorruptDataError(
            f"{source}: IDX payload {kind}: header says shape {shape} of {dtype.name} "
            f"({expected} bytes) but the file holds {actual} bytes after the header. "
            "Delete the file and fetch it again."
        )
    data = np.frombuffer(buffer, dtype=dtype, offset=header_len).reshape(shape)
    return data.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into a NumPy array.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CorruptDataError: the file is not a valid IDX file (see :func:`parse_idx`).
    """
    path = Path(path)
    return parse_idx(_read_bytes(path), source=str(path))


def encode_idx(array: np.ndarray) -> bytes:
    """Encode ``array`` as IDX bytes (the inverse of :func:`parse_idx`; used to write fixtures)."""
    array = np.asarray(array)
    matches = [
        (code, dtype)
        for code, dtype in IDX_DTYPES.items()
        if dtype.kind == array.dtype.kind and dtype.itemsize == array.dtype.itemsize
    ]
    if not matches:
        raise ArgumentError(f"dtype {array.dtype} has no IDX type code")
    code, dtype = matches[0]
    if array.ndim == 0 or array.ndim > 255:
        raise ArgumentError(f"IDX needs 1..255 dimensions, got {array.ndim}")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(array, dtype=dtype).tobytes()
